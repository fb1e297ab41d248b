package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"text/template"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/crypto-exchange/exchange/service/internal/config"
)

// The dashboard and the alerting rules the infra program provisions
// (infra/platform/observability.go) are checked here, in the service's
// module, because only here can a real server say which metrics exist.
var (
	dashboardPath = filepath.Join("..", "..", "..", "infra", "platform", "dashboards", "exchange.json")
	rulesPath     = filepath.Join("..", "..", "..", "infra", "platform", "alerts", "exchange-rules.yaml")
)

// externalFamilies are the metric families the dashboard and rules may use
// although the service does not export them. Every entry must be used
// (so the list cannot rot) and none may be one the service exports.
// readReplicaFamilies are exported only with DATABASE_READ_URL set;
// TestReadsFromAStreamingReplica (cmd/exchange) reads them from /metrics.
var readReplicaFamilies = map[string]bool{
	"exchange_db_replica_lag_seconds": true,
	"exchange_db_replica_up":          true,
}

var externalFamilies = map[string]string{
	// kube-state-metrics (kube-prometheus-stack 88.5.3 ships 2.20.0):
	// the Deployment, its pods and the backup CronJobs and their Jobs.
	"kube_deployment_spec_replicas":               "kube-state-metrics",
	"kube_deployment_status_replicas_available":   "kube-state-metrics",
	"kube_deployment_status_replicas_unavailable": "kube-state-metrics",
	"kube_pod_container_status_restarts_total":    "kube-state-metrics",
	"kube_cronjob_status_last_successful_time":    "kube-state-metrics",
	"kube_cronjob_created":                        "kube-state-metrics",
	"kube_job_status_start_time":                  "kube-state-metrics",
	"kube_job_failed":                             "kube-state-metrics",
	// The kubelet's cAdvisor (kube-prometheus-stack scrapes it): CPU and
	// memory of the exchange container.
	"container_cpu_usage_seconds_total":  "cAdvisor",
	"container_memory_working_set_bytes": "cAdvisor",
	// PostgreSQL's exporters, one per database engine: the Bitnami chart's
	// postgres-exporter sidecar and CloudNativePG's instance manager.
	"pg_up":             "postgres-exporter (Bitnami)",
	"cnpg_collector_up": "CloudNativePG",
}

// targetLabels are added by Prometheus to every scraped series (the
// ServiceMonitor's target labels), so a selector may use them on any family.
var targetLabels = map[string]bool{
	"namespace": true, "job": true, "pod": true, "instance": true, "service": true, "endpoint": true, "container": true,
}

// query is one PromQL expression and where it came from.
type query struct{ where, expr string }

// Every metric the dashboard and the alerting rules name is one the running
// service exports (or an explicitly listed external one), and every label a
// selector matches on exists on that family.
func TestObservabilityMetricsAreExported(t *testing.T) {
	// The replica runs the ledger monitor; check often so its metrics appear.
	x := newExchange(t, config.ModeDemo, func(c *config.Server) { c.LedgerCheckEvery = 20 * time.Millisecond })

	// Traffic, so the label-dependent series exist: an accepted order, a
	// refused one and a trade (orders and trades per market, rejections per
	// reason, request counts and latencies per route).
	alice, bob := x.trader(), x.trader()
	alice.fund("BTC", "1")
	bob.fund("USDT", "1000")
	alice.place(map[string]any{"market": "BTC-USDT", "side": "sell", "type": "limit", "price": "100", "quantity": "1"})
	bob.place(map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "0.5"})
	bob.wantError("POST", "/api/v1/orders", map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "50"}, 400, "insufficient_funds")

	var families map[string]*dto.MetricFamily
	deadline := time.Now().Add(30 * time.Second)
	for {
		families = scrape(t, x)
		if families["exchange_ledger_check_violations"] != nil && families["exchange_trades_total"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ledger check and the trade never showed in /metrics")
		}
		time.Sleep(20 * time.Millisecond)
	}

	queries := append(dashboardQueries(t), ruleQueries(t)...)
	if len(queries) < 30 {
		t.Fatalf("only %d queries found; the files were not read as intended", len(queries))
	}
	usedExternal := map[string]bool{}
	usedService := map[string]bool{}
	for _, q := range queries {
		expr, err := parser.NewParser(parser.Options{}).ParseExpr(q.expr)
		if err != nil {
			t.Errorf("%s: %v\n%s", q.where, err, q.expr)
			continue
		}
		parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
			vs, ok := node.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			if vs.Name == "" {
				t.Errorf("%s: a selector without a metric name: %s", q.where, vs)
				return nil
			}
			if _, ok := externalFamilies[vs.Name]; ok {
				usedExternal[vs.Name] = true
				return nil
			}
			if _, ok := readReplicaFamilies[vs.Name]; ok && families[vs.Name] == nil {
				return nil // this test runs without DATABASE_READ_URL
			}
			family, labels := familyOf(vs.Name, families)
			if family == "" {
				t.Errorf("%s: metric %s is not exported by the service (nor a listed external family)", q.where, vs.Name)
				return nil
			}
			usedService[family] = true
			for _, m := range vs.LabelMatchers {
				if m.Name != model.MetricNameLabel && !labels[m.Name] && !targetLabels[m.Name] {
					t.Errorf("%s: %s has no label %q (it has %v)", q.where, vs.Name, m.Name, sortedKeys(labels))
				}
			}
			return nil
		})
	}
	for name := range externalFamilies {
		if !usedExternal[name] {
			t.Errorf("external family %s is listed but no query uses it", name)
		}
		if families[name] != nil {
			t.Errorf("%s is listed as external but the service exports it", name)
		}
	}
	// The panels and alerts rest on these; each must be in use.
	for _, want := range []string{
		"http_requests_total", "http_request_duration_seconds", "exchange_orders_accepted_total", "exchange_trades_total",
		"exchange_sequencer_leader", "exchange_sequencer_lag_seconds", "exchange_sequencer_batch_seconds",
		"exchange_ledger_check_violations", "exchange_ledger_check_last_run_timestamp_seconds", "go_sql_in_use_connections",
	} {
		if !usedService[want] {
			t.Errorf("no dashboard panel or alert uses %s", want)
		}
	}
}

// scrape reads /metrics as Prometheus would.
func scrape(t *testing.T, x *exchange) map[string]*dto.MetricFamily {
	t.Helper()
	status, body := x.metrics()
	if status != 200 {
		t.Fatalf("/metrics: %d", status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

// familyOf maps a series name to its family (a histogram's _bucket, _sum
// and _count, a summary's _sum and _count) and the family's label names.
func familyOf(name string, families map[string]*dto.MetricFamily) (string, map[string]bool) {
	labels := func(f *dto.MetricFamily, extra ...string) map[string]bool {
		out := map[string]bool{}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				out[l.GetName()] = true
			}
		}
		for _, e := range extra {
			out[e] = true
		}
		return out
	}
	if f := families[name]; f != nil {
		return name, labels(f)
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		f := families[base]
		if !ok || f == nil {
			continue
		}
		switch {
		case f.GetType() == dto.MetricType_HISTOGRAM && suffix == "_bucket":
			return base, labels(f, "le")
		case f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY:
			if suffix != "_bucket" {
				return base, labels(f)
			}
		}
	}
	return "", nil
}

// Grafana's built-in interval variables, replaced by a duration so the
// query parses as PromQL; the dashboard's own variables by a value.
var grafanaIntervals = regexp.MustCompile(`\$(__rate_interval|__interval|__range|__auto)\b|\$\{(__rate_interval|__interval|__range|__auto)\}`)

// dashboardQueries returns the Prometheus queries of the dashboard: every
// panel target (and variable query) whose data source is Prometheus.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	dash := readDashboard(t)
	vars := map[string]bool{}
	var out []query
	for _, v := range asList(asMap(dash["templating"])["list"]) {
		vm := asMap(v)
		vars[fmt.Sprint(vm["name"])] = true
		if vm["type"] != "query" {
			continue
		}
		q := vm["query"]
		if m, ok := q.(map[string]any); ok {
			q = m["query"]
		}
		// label_values(metric, label) names a metric; anything else must be
		// PromQL.
		s := fmt.Sprint(q)
		if m := regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)$`).FindStringSubmatch(s); m != nil {
			s = m[1]
		}
		out = append(out, query{"dashboard variable " + fmt.Sprint(vm["name"]), s})
	}
	substitute := func(expr string) string {
		expr = grafanaIntervals.ReplaceAllString(expr, "5m")
		for v := range vars {
			expr = strings.ReplaceAll(expr, "${"+v+"}", "x")
			expr = regexp.MustCompile(`\$`+regexp.QuoteMeta(v)+`\b`).ReplaceAllString(expr, "x")
		}
		return expr
	}
	var walk func(panels []any, dsType string)
	walk = func(panels []any, inherited string) {
		for _, p := range panels {
			pm := asMap(p)
			panelDS := inherited
			if ds := asMap(pm["datasource"]); ds["type"] != nil {
				panelDS = fmt.Sprint(ds["type"])
			}
			for i, tg := range asList(pm["targets"]) {
				tm := asMap(tg)
				typ := panelDS
				if ds := asMap(tm["datasource"]); ds["type"] != nil {
					typ = fmt.Sprint(ds["type"])
				}
				if typ != "prometheus" {
					continue
				}
				out = append(out, query{fmt.Sprintf("dashboard panel %q query %d", pm["title"], i), substitute(fmt.Sprint(tm["expr"]))})
			}
			walk(asList(pm["panels"]), panelDS)
		}
	}
	walk(asList(dash["panels"]), "")
	return out
}

func readDashboard(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	return dash
}

// alertRule is one rule of the rules file (strictly decoded).
type alertRule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// readRules reads the rules file with its namespace placeholders filled
// in, as the infra program does.
func readRules(t *testing.T) map[string][]alertRule {
	t.Helper()
	raw, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer("${app_namespace}", "exchange", "${database_namespace}", "database").Replace(string(raw))
	var file struct {
		Groups []struct {
			Name  string      `yaml:"name"`
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(text))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("%s: %v", rulesPath, err)
	}
	out := map[string][]alertRule{}
	for _, g := range file.Groups {
		out[g.Name] = append(out[g.Name], g.Rules...)
	}
	return out
}

func ruleQueries(t *testing.T) []query {
	var out []query
	for group, rules := range readRules(t) {
		for _, r := range rules {
			out = append(out, query{fmt.Sprintf("rule %s/%s", group, r.Alert), r.Expr})
		}
	}
	return out
}

// promTemplateFuncs are the functions Prometheus offers alert templates
// (template/template.go); only their names matter for parsing.
var promTemplateFuncs = func() template.FuncMap {
	f := template.FuncMap{}
	for _, name := range []string{"query", "first", "label", "value", "strvalue", "args", "reReplaceAll", "safeHtml", "match",
		"title", "toUpper", "toLower", "graphLink", "tableLink", "sortByLabel", "humanize", "humanize1024", "humanizeDuration",
		"humanizePercentage", "humanizeTimestamp", "toTime", "toDuration", "pathPrefix", "externalURL", "parseDuration", "now",
		"stripPort", "stripDomain"} {
		f[name] = func(...any) any { return nil }
	}
	return f
}()

// The rules file parses: every expression is PromQL, every duration a
// Prometheus duration, every annotation a valid template, and every rule
// has a severity and its summary, description and runbook.
func TestAlertRulesParse(t *testing.T) {
	groups := readRules(t)
	if len(groups) == 0 {
		t.Fatal("no rule groups")
	}
	names := map[string]bool{}
	for group, rules := range groups {
		for _, r := range rules {
			where := fmt.Sprintf("rule %s/%s", group, r.Alert)
			if r.Alert == "" || names[r.Alert] {
				t.Errorf("%s: missing or duplicate alert name", where)
			}
			names[r.Alert] = true
			if _, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr); err != nil {
				t.Errorf("%s: %v", where, err)
			}
			if r.For != "" {
				if _, err := model.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for: %v", where, err)
				}
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", where, s)
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no %s annotation", where, a)
				}
			}
			for k, v := range r.Annotations {
				// Prometheus defines these before expanding a template.
				defs := "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"
				if _, err := template.New(k).Funcs(promTemplateFuncs).Option("missingkey=zero").Parse(defs + v); err != nil {
					t.Errorf("%s: annotation %s: %v", where, k, err)
				}
			}
		}
	}
}

// The dashboard is valid JSON, its Prometheus queries parse, and every data
// source reference is one the infra program provisions (uids prometheus,
// the chart's default, and loki).
func TestDashboardQueriesParse(t *testing.T) {
	dash := readDashboard(t)
	for _, q := range dashboardQueries(t) {
		if _, err := parser.NewParser(parser.Options{}).ParseExpr(q.expr); err != nil {
			t.Errorf("%s: %v\n%s", q.where, err, q.expr)
		}
	}
	provisioned := map[string]string{"prometheus": "prometheus", "loki": "loki"}
	var check func(path string, v any)
	check = func(path string, v any) {
		switch c := v.(type) {
		case map[string]any:
			for k, e := range c {
				if k != "datasource" {
					check(path+"."+k, e)
					continue
				}
				ds := asMap(e)
				uid, typ := fmt.Sprint(ds["uid"]), fmt.Sprint(ds["type"])
				if typ == "grafana" {
					continue // built-in annotations
				}
				if provisioned[uid] != typ {
					t.Errorf("%s.datasource = %v, want uid prometheus or loki", path, e)
				}
			}
		case []any:
			for i, e := range c {
				check(fmt.Sprintf("%s.%d", path, i), e)
			}
		}
	}
	check("", dash)
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
