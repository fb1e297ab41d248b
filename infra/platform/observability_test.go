package platform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/crypto-exchange/exchange/infra/stackfile"
)

// stackValue is a value set with `pulumi config set --secret`.
func stackValue(v string) stackfile.Value { return stackfile.Value{Value: v, Secure: true} }

// ruleFile is the Prometheus rule-file format, decoded strictly: a
// misspelt key ("anotations") fails instead of silently dropping the
// runbook.
type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Alert         string            `yaml:"alert"`
			Record        string            `yaml:"record"`
			Expr          string            `yaml:"expr"`
			For           string            `yaml:"for"`
			KeepFiringFor string            `yaml:"keep_firing_for"`
			Labels        map[string]string `yaml:"labels"`
			Annotations   map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readRuleFile(t *testing.T) ruleFile {
	t.Helper()
	raw, err := os.ReadFile("alerts/exchange-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != exchangeRules {
		t.Fatal("the embedded rules differ from alerts/exchange-rules.yaml")
	}
	var f ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("alerts/exchange-rules.yaml: %v", err)
	}
	return f
}

var promDuration = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)

// Every rule is an alert with a severity a route knows, a runbook, and
// names objects the program really declares.
func TestAlertRulesFileIsComplete(t *testing.T) {
	f := readRuleFile(t)
	seen := map[string]bool{}
	count := 0
	for _, g := range f.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q is unnamed or empty", g.Name)
		}
		for _, r := range g.Rules {
			count++
			where := fmt.Sprintf("group %s rule %q", g.Name, r.Alert)
			if r.Alert == "" || r.Record != "" {
				t.Errorf("%s: every rule must be an alert", where)
			}
			if seen[r.Alert] {
				t.Errorf("%s: duplicate alert name", where)
			}
			seen[r.Alert] = true
			if strings.TrimSpace(r.Expr) == "" {
				t.Errorf("%s: no expr", where)
			}
			if r.For != "" && !promDuration.MatchString(r.For) {
				t.Errorf("%s: for %q is not a Prometheus duration", where, r.For)
			}
			if sev := r.Labels["severity"]; sev != "critical" && sev != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", where, sev)
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no %s annotation", where, a)
				}
			}
		}
	}
	// The list; each must stay covered.
	for _, want := range []string{
		"ExchangeHighErrorRatio", "ExchangeHighLatency", "ExchangeNoSequencerLeader", "ExchangeMultipleSequencerLeaders",
		"ExchangeSequencerLagHigh", "ExchangePodsNotReady", "ExchangeDown", "ExchangeBackupTooOld", "ExchangeBackupVerifyFailed",
		"ExchangeDatabaseDown", "ExchangeLedgerInvariantViolated", "ExchangeLedgerCheckStale",
	} {
		if !seen[want] {
			t.Errorf("no alert %s", want)
		}
	}
	if count < 12 {
		t.Errorf("only %d rules", count)
	}
	// Object names the rules select must be the ones declared here.
	for _, name := range []string{
		`cronjob="` + backupCronJob + `"`, `cronjob="` + verifyCronJob + `"`,
		`job_name=~"` + backupCronJob + `-[0-9]+"`, `job_name=~"` + verifyCronJob + `-[0-9]+"`,
		`deployment="` + appName + `"`, `container="exchange"`, `job="` + appName + `"`,
	} {
		if !strings.Contains(exchangeRules, name) {
			t.Errorf("the rules never select %s", name)
		}
	}
}

// The rules are rendered for the configured namespaces; nothing is left
// pointing at the defaults or at a placeholder.
func TestAlertRulesFollowTheNamespaces(t *testing.T) {
	groups, err := AlertRuleGroups("trading", "pg")
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(groups)
	text := string(out)
	for _, bad := range []string{`namespace=\"exchange\"`, `namespace=\"database\"`, "${", "-n exchange ", "-n database "} {
		if strings.Contains(text, bad) {
			t.Errorf("rendered rules still contain %s", bad)
		}
	}
	for _, want := range []string{`namespace=\"trading\"`, `namespace=\"pg\"`, "kubectl -n trading ", "kubectl -n pg "} {
		if !strings.Contains(text, want) {
			t.Errorf("rendered rules lack %s", want)
		}
	}
	saved := exchangeRules
	defer func() { exchangeRules = saved }()
	exchangeRules = strings.Replace(saved, "${app_namespace}", "${app_namespce}", 1)
	if _, err := AlertRuleGroups("trading", "pg"); err == nil || !strings.Contains(err.Error(), "${app_namespce}") {
		t.Errorf("a misspelt placeholder is accepted: %v", err)
	}
}

// One PrometheusRule holds every alert (the backup rules included), in
// the exchange's namespace, after the CRDs.
func TestPrometheusRuleIsDeclared(t *testing.T) {
	f := readRuleFile(t)
	for _, stack := range []string{"dev", "prod"} {
		r := runStack(t, stack)
		rules := r.ofType("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
		if len(rules) != 1 {
			t.Fatalf("%s: %d PrometheusRules, want exactly one", stack, len(rules))
		}
		pr := rules[0]
		if get(pr.Inputs, "metadata.name") != alertRulesName || get(pr.Inputs, "metadata.namespace") != "exchange" {
			t.Errorf("%s: PrometheusRule %v/%v", stack, get(pr.Inputs, "metadata.namespace"), get(pr.Inputs, "metadata.name"))
		}
		if !pr.dependsOn("kubernetes:helm.sh/v4:Chart", "prometheus-operator-crds") {
			t.Errorf("%s: the PrometheusRule does not wait for the CRDs", stack)
		}
		if !strings.Contains(pr.Parent, "exchange:platform:Observability") {
			t.Errorf("%s: PrometheusRule parent %s", stack, pr.Parent)
		}
		groups := asSlice(get(pr.Inputs, "spec.groups"))
		if len(groups) != len(f.Groups) {
			t.Fatalf("%s: %d groups declared, %d in the file", stack, len(groups), len(f.Groups))
		}
		for i, g := range groups {
			rules := asSlice(get(g, "rules"))
			if get(g, "name") != f.Groups[i].Name || len(rules) != len(f.Groups[i].Rules) {
				t.Errorf("%s: group %d = %v with %d rules", stack, i, get(g, "name"), len(rules))
			}
			for j, rule := range rules {
				want := f.Groups[i].Rules[j]
				if get(rule, "alert") != want.Alert || get(rule, "labels.severity") != want.Labels["severity"] ||
					str(get(rule, "annotations.runbook")) == "" || !strings.Contains(str(get(rule, "expr")), `namespace=`) {
					t.Errorf("%s: rule %v declared as %v", stack, want.Alert, rule)
				}
			}
		}
	}
}

func TestDashboardConfigMap(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		r := runStack(t, stack)
		cm := r.one(t, "kubernetes:core/v1:ConfigMap", dashboardConfigMap)
		if get(cm.Inputs, "metadata.namespace") != "monitoring" {
			t.Errorf("%s: dashboard in namespace %v, want monitoring (where Grafana runs)", stack, get(cm.Inputs, "metadata.namespace"))
		}
		if got := get(cm.Inputs, "metadata.labels."+dashboardLabel); got != dashboardLabelValue {
			t.Errorf("%s: dashboard label %s=%v, want %q", stack, dashboardLabel, got, dashboardLabelValue)
		}
		data, _ := get(cm.Inputs, "data").(map[string]any) // the key has a dot
		body := str(data[dashboardFile])
		if body == "" || body != exchangeDashboard || !json.Valid([]byte(body)) {
			t.Errorf("%s: the ConfigMap does not hold the dashboard JSON", stack)
		}
		// The sidecar settings the label relies on are set, not assumed.
		kps := r.one(t, "kubernetes:helm.sh/v4:Chart", kpsRelease)
		for path, want := range map[string]any{
			"values.grafana.sidecar.dashboards.enabled":         true,
			"values.grafana.sidecar.dashboards.label":           dashboardLabel,
			"values.grafana.sidecar.dashboards.labelValue":      dashboardLabelValue,
			"values.grafana.sidecar.dashboards.searchNamespace": "ALL",
		} {
			if got := get(kps.Inputs, path); got != want {
				t.Errorf("%s: %s = %v, want %v", stack, path, got, want)
			}
		}
	}
}

// The dashboard is valid JSON whose every data source reference is one
// the program provisions: Prometheus (chart default uid) or Loki.
func TestDashboardDatasourcesAreProvisioned(t *testing.T) {
	raw, err := os.ReadFile("dashboards/exchange.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != exchangeDashboard {
		t.Fatal("the embedded dashboard differs from dashboards/exchange.json")
	}
	var dash map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&dash); err != nil {
		t.Fatalf("dashboards/exchange.json: %v", err)
	}
	if dash["uid"] == "" || dash["title"] == "" {
		t.Error("the dashboard needs a uid and a title")
	}
	r := runStack(t, "dev")
	kps := r.one(t, "kubernetes:helm.sh/v4:Chart", kpsRelease)
	provisioned := map[string]string{PrometheusDatasourceUID: "prometheus"}
	for _, ds := range asSlice(get(kps.Inputs, "values.grafana.additionalDataSources")) {
		provisioned[str(get(ds, "uid"))] = str(get(ds, "type"))
	}
	if provisioned[LokiDatasourceUID] != "loki" {
		t.Fatalf("Loki is not provisioned with uid %s: %v", LokiDatasourceUID, provisioned)
	}
	refs := map[string]int{}
	var walkRefs func(path string, v any)
	walkRefs = func(path string, v any) {
		switch c := v.(type) {
		case map[string]any:
			for k, e := range c {
				if k == "datasource" {
					ds, ok := e.(map[string]any)
					if !ok {
						t.Errorf("%s.datasource = %v, want {type, uid}", path, e)
						continue
					}
					uid, typ := str(ds["uid"]), str(ds["type"])
					if typ == "grafana" && uid == "-- Grafana --" { // the built-in annotations
						continue
					}
					if want, ok := provisioned[uid]; !ok || want != typ {
						t.Errorf("%s.datasource = %s/%s, not a provisioned data source %v", path, typ, uid, provisioned)
					}
					refs[uid]++
					continue
				}
				walkRefs(path+"."+k, e)
			}
		case []any:
			for i, e := range c {
				walkRefs(fmt.Sprintf("%s.%d", path, i), e)
			}
		}
	}
	walkRefs("", dash)
	if refs[PrometheusDatasourceUID] == 0 || refs[LokiDatasourceUID] == 0 {
		t.Errorf("references by uid %v: want both Prometheus and Loki", refs)
	}
	// Every panel has a query, and the Loki logs panel shows the exchange
	// by the labels Alloy sets (namespace, app).
	logs := false
	for _, p := range asSlice(dash["panels"]) {
		if get(p, "type") == "row" {
			continue
		}
		targets := asSlice(get(p, "targets"))
		if len(targets) == 0 {
			t.Errorf("panel %v has no query", get(p, "title"))
		}
		for _, tg := range targets {
			if strings.TrimSpace(str(get(tg, "expr"))) == "" {
				t.Errorf("panel %v has an empty query", get(p, "title"))
			}
		}
		if get(p, "type") == "logs" && get(p, "datasource.uid") == LokiDatasourceUID &&
			strings.Contains(str(get(p, "targets.0.expr")), `namespace="$namespace", app="exchange"`) {
			logs = true
		}
	}
	if !logs {
		t.Error("no Loki logs panel filtered to the exchange")
	}
	if !strings.Contains(alloyConfig("http://loki:3100"), `target_label  = "app"`) ||
		!strings.Contains(alloyConfig("http://loki:3100"), `target_label  = "namespace"`) {
		t.Error("Alloy no longer sets the namespace and app labels the logs panel filters on")
	}
}

// Dev notifies nobody; prod posts to Slack with the URL read from a
// mounted Secret, so the URL is in no chart value and no output.
func TestAlertmanagerRoutingPerStack(t *testing.T) {
	dev := runStack(t, "dev")
	am := get(dev.one(t, "kubernetes:helm.sh/v4:Chart", kpsRelease).Inputs, "values.alertmanager")
	if get(am, "config.route.receiver") != nullReceiver || len(asSlice(get(am, "config.receivers"))) != 1 ||
		get(am, "config.receivers.0.name") != nullReceiver || get(am, "alertmanagerSpec.secrets") != nil {
		t.Errorf("dev alertmanager = %v, want only the null receiver", am)
	}
	if dev.has("kubernetes:core/v1:Secret", alertReceiverSecret) {
		t.Error("dev declares an alert receiver Secret")
	}

	url := testSecrets["exchange:alertReceiverSecret"]
	prod := runStack(t, "prod")
	kps := prod.one(t, "kubernetes:helm.sh/v4:Chart", kpsRelease)
	am = get(kps.Inputs, "values.alertmanager")
	slack := get(am, "config.receivers.1.slack_configs.0")
	if get(am, "config.route.receiver") != oncallReceiver || get(am, "config.receivers.1.name") != oncallReceiver ||
		get(slack, "api_url_file") != "/etc/alertmanager/secrets/alertmanager-receiver/credential" ||
		get(slack, "channel") != "#exchange-alerts" || get(slack, "send_resolved") != true ||
		!strings.Contains(str(get(slack, "text")), ".Annotations.runbook") ||
		get(am, "config.route.repeat_interval") != "4h" {
		t.Errorf("prod alertmanager = %v", am)
	}
	if !slices.Equal(toStrings(get(am, "alertmanagerSpec.secrets")), []string{alertReceiverSecret}) {
		t.Errorf("alertmanagerSpec.secrets = %v, want the receiver Secret mounted", get(am, "alertmanagerSpec.secrets"))
	}
	// Watchdog and InfoInhibitor must not reach a person.
	if routes := fmt.Sprint(get(am, "config.route.routes")); !strings.Contains(routes, `alertname = "Watchdog"`) {
		t.Errorf("routes %s do not silence the Watchdog", routes)
	}
	sec := prod.one(t, "kubernetes:core/v1:Secret", alertReceiverSecret)
	if get(sec.Inputs, "metadata.namespace") != "monitoring" || get(sec.Inputs, "stringData."+alertReceiverKey) != url ||
		!masked(sec.Masked, "stringData."+alertReceiverKey) {
		t.Errorf("receiver secret = %v", sec.Masked)
	}
	if !kps.dependsOn("kubernetes:core/v1:Secret", alertReceiverSecret) {
		t.Error("kube-prometheus-stack does not wait for the receiver Secret")
	}
	walk(kps.Inputs, "", func(path string, v any) {
		if strings.Contains(str(v), url) {
			t.Errorf("chart value %s holds the receiver URL", path)
		}
	})

	// The other receivers, from the same secret.
	for receiver, want := range map[string][2]string{
		"webhook":   {"webhook_configs", "url_file"},
		"pagerduty": {"pagerduty_configs", "routing_key_file"},
	} {
		cfg := stackConfig(t, "prod")
		setConfig(t, cfg, "alerting", "receiver", receiver)
		setConfig(t, cfg, "alerting", "slackChannel", "")
		secret := "https://alert-relay.example.com/hook"
		if receiver == "pagerduty" {
			secret = "0123456789abcdef0123456789ABCDEF"
		}
		cfg["exchange:alertReceiverSecret"] = stackValue(secret)
		r := run(t, "prod", cfg)
		if r.err != nil {
			t.Fatalf("%s: %v", receiver, r.err)
		}
		am := get(r.one(t, "kubernetes:helm.sh/v4:Chart", kpsRelease).Inputs, "values.alertmanager")
		if get(am, "config.receivers.1."+want[0]+".0."+want[1]) != alertReceiverFile {
			t.Errorf("%s: receiver = %v", receiver, get(am, "config.receivers.1"))
		}
		if get(r.one(t, "kubernetes:core/v1:Secret", alertReceiverSecret).Inputs, "stringData."+alertReceiverKey) != secret {
			t.Errorf("%s: the receiver secret does not hold the configured value", receiver)
		}
	}
}

// The service's follow-ups: replicas reach the leader at the pod's address,
// the migration seeds the catalogue, no profiler is exposed.
func TestExchangeServerWiring(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		r := runStack(t, stack)
		dep := r.one(t, "kubernetes:apps/v1:Deployment", appName)
		var names []string
		for _, c := range podContainers(dep) {
			for _, e := range asSlice(get(c, "env")) {
				names = append(names, str(get(e, "name")))
				switch get(e, "name") {
				case "POD_IP":
					if get(e, "valueFrom.fieldRef.fieldPath") != "status.podIP" {
						t.Errorf("%s: POD_IP = %v, want the downward API status.podIP", stack, e)
					}
				case "ADVERTISE_URL":
					// The leader takes forwarded commands on its internal
					// listener; the public one no longer serves /internal/.
					if get(e, "value") != "http://$(POD_IP):9090" {
						t.Errorf("%s: ADVERTISE_URL = %v, want the pod's internal port", stack, get(e, "value"))
					}
				}
			}
		}
		pod, adv := slices.Index(names, "POD_IP"), slices.Index(names, "ADVERTISE_URL")
		if pod < 0 || adv < 0 || pod > adv {
			t.Errorf("%s: env %v: POD_IP must be declared before ADVERTISE_URL expands it", stack, names)
		}
		for _, d := range r.resources {
			for _, c := range podContainers(d) {
				for _, e := range asSlice(get(c, "env")) {
					if n := str(get(e, "name")); n == "PPROF_ADDR" || n == "LEDGER_CHECK_INTERVAL" {
						t.Errorf("%s: %s %s sets %s", stack, d.Type, d.Name, n)
					}
				}
			}
		}
		job := r.one(t, "kubernetes:batch/v1:Job", "exchange-migrate")
		if args := toStrings(get(job.Inputs, "spec.template.spec.containers.0.args")); !slices.Equal(args, []string{"migrate", "--seed"}) {
			t.Errorf("%s: migration args %v", stack, args)
		}
	}
	cfg := stackConfig(t, "prod")
	setConfig(t, cfg, "app", "seedCatalog", false)
	r := run(t, "prod", cfg)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if args := toStrings(get(r.one(t, "kubernetes:batch/v1:Job", "exchange-migrate").Inputs, "spec.template.spec.containers.0.args")); !slices.Equal(args, []string{"migrate"}) {
		t.Errorf("seedCatalog false: migration args %v", args)
	}
}

// Followers forward commands to the leader's pod on its internal port
// (9090): server pods may talk to each other there, and only there.
func TestServerPodsReachEachOther(t *testing.T) {
	r := runStack(t, "prod")
	in := r.one(t, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "exchange-server-ingress")
	peer := get(in.Inputs, "spec.ingress.2")
	if get(peer, "from.0.namespaceSelector") != nil || fmt.Sprint(get(peer, "from.0.podSelector.matchLabels")) != fmt.Sprint(get(in.Inputs, "spec.podSelector.matchLabels")) ||
		len(asSlice(get(peer, "from"))) != 1 || !slices.Equal(policyPorts(get(peer, "ports")), []string{"TCP/9090"}) {
		t.Errorf("server ingress from peers = %v", peer)
	}
	eg := r.one(t, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "exchange-server-peer-egress")
	if !slices.Equal(toStrings(get(eg.Inputs, "spec.policyTypes")), []string{"Egress"}) ||
		fmt.Sprint(get(eg.Inputs, "spec.egress.0.to.0.podSelector.matchLabels")) != fmt.Sprint(get(in.Inputs, "spec.podSelector.matchLabels")) ||
		get(eg.Inputs, "spec.egress.0.to.0.namespaceSelector") != nil || len(asSlice(get(eg.Inputs, "spec.egress"))) != 1 ||
		!slices.Equal(policyPorts(get(eg.Inputs, "spec.egress.0.ports")), []string{"TCP/9090"}) {
		t.Errorf("server peer egress = %v", eg.Inputs["spec"])
	}
	if labels, _ := get(eg.Inputs, "spec.podSelector.matchLabels").(map[string]any); labels["app.kubernetes.io/component"] != serverLabel {
		t.Errorf("peer egress applies to %v, want the server pods only", labels)
	}
}

// An S3-compatible store chooses its SSE mode (MinIO without a KMS: none).
func TestS3CompatibleServerSideEncryption(t *testing.T) {
	cases := []struct {
		store map[string]any
		want  map[string]string
	}{
		{map[string]any{}, map[string]string{"BACKUP_SSE": "AES256", "BACKUP_KMS_KEY_ID": ""}},
		{map[string]any{"sse": "none"}, map[string]string{"BACKUP_SSE": "none", "BACKUP_KMS_KEY_ID": ""}},
		{map[string]any{"sse": "aws:kms"}, map[string]string{"BACKUP_SSE": "aws:kms", "BACKUP_KMS_KEY_ID": ""}},
		{map[string]any{"sse": "aws:kms", "kmsKeyId": "alias/backups"}, map[string]string{"BACKUP_SSE": "aws:kms", "BACKUP_KMS_KEY_ID": "alias/backups"}},
	}
	for _, c := range cases {
		cfg := stackConfig(t, "dev")
		setConfig(t, cfg, "backup", "store", "s3-compatible")
		store := map[string]any{"endpoint": "http://minio.storage.svc.cluster.local:9000", "bucket": "exchange-backups", "region": "us-east-1"}
		for k, v := range c.store {
			store[k] = v
		}
		setConfig(t, cfg, "backup", "s3Compatible", store)
		r := run(t, "dev", cfg)
		if r.err != nil {
			t.Fatalf("%v: %v", c.store, r.err)
		}
		for _, cj := range []string{"exchange-backup", "exchange-verify-backup"} {
			component := map[string]string{"exchange-backup": "backup", "exchange-verify-backup": "verify-backup"}[cj]
			env := containerEnv(r.one(t, "kubernetes:batch/v1:CronJob", cj), component)
			for k, v := range c.want {
				if env[k] != v {
					t.Errorf("%v: %s env %s = %q, want %q", c.store, cj, k, env[k], v)
				}
			}
		}
	}
}
