package platform

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// policyRuns are the configurations every policy holds for: both committed
// stacks and the S3-compatible variant of dev.
func policyRuns(t *testing.T) map[string]*result {
	t.Helper()
	s3 := stackConfig(t, "dev")
	setConfig(t, s3, "backup", "store", "s3-compatible")
	setConfig(t, s3, "backup", "s3Compatible", map[string]any{
		"endpoint": "http://minio.storage.svc.cluster.local:9000", "bucket": "exchange-backups", "region": "us-east-1",
	})
	runs := map[string]*result{"dev": runStack(t, "dev"), "prod": runStack(t, "prod"), "dev+s3-compatible": run(t, "dev", s3)}
	for name, r := range runs {
		if r.err != nil {
			t.Fatalf("%s: %v", name, r.err)
		}
	}
	return runs
}

// workloadKinds declare pods; the first three run forever and need probes.
var (
	longRunning = []string{"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:DaemonSet"}
	runToEnd    = []string{"kubernetes:batch/v1:Job", "kubernetes:batch/v1:CronJob"}
)

func podSpec(d *declared) any {
	if d.Type == "kubernetes:batch/v1:CronJob" {
		return get(d.Inputs, "spec.jobTemplate.spec.template.spec")
	}
	return get(d.Inputs, "spec.template.spec")
}

func podContainers(d *declared) []any {
	spec := podSpec(d)
	return append(asSlice(get(spec, "initContainers")), asSlice(get(spec, "containers"))...)
}

func TestEveryContainerIsHardened(t *testing.T) {
	for name, r := range policyRuns(t) {
		workloads := 0
		for _, d := range r.resources {
			if !slices.Contains(longRunning, d.Type) && !slices.Contains(runToEnd, d.Type) {
				continue
			}
			workloads++
			pod := get(podSpec(d), "securityContext")
			for _, c := range podContainers(d) {
				where := fmt.Sprintf("%s: %s %s container %v", name, d.Type, d.Name, get(c, "name"))
				for _, q := range []string{"requests.cpu", "requests.memory", "limits.cpu", "limits.memory"} {
					if str(get(c, "resources."+q)) == "" {
						t.Errorf("%s: no resources.%s", where, q)
					}
				}
				sc := get(c, "securityContext")
				if get(sc, "runAsNonRoot") != true && get(pod, "runAsNonRoot") != true {
					t.Errorf("%s: may run as root", where)
				}
				if get(sc, "readOnlyRootFilesystem") != true {
					t.Errorf("%s: root filesystem is writable", where)
				}
				if get(sc, "allowPrivilegeEscalation") != false {
					t.Errorf("%s: privilege escalation allowed", where)
				}
				if !slices.Equal(toStrings(get(sc, "capabilities.drop")), []string{"ALL"}) {
					t.Errorf("%s: capabilities not all dropped", where)
				}
				if get(sc, "seccompProfile.type") != "RuntimeDefault" && get(pod, "seccompProfile.type") != "RuntimeDefault" {
					t.Errorf("%s: no RuntimeDefault seccomp profile", where)
				}
				if slices.Contains(longRunning, d.Type) && (get(c, "livenessProbe") == nil || get(c, "readinessProbe") == nil) {
					t.Errorf("%s: long-running container without liveness and readiness probes", where)
				}
			}
		}
		if workloads != 4 {
			t.Errorf("%s: checked %d workloads, want 4 (deployment, migration job, two cronjobs)", name, workloads)
		}
	}
}

var (
	exactVersion = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+$`)
	pinnedImage  = regexp.MustCompile(`^[a-z0-9./_-]+(:[0-9]+)?[a-z0-9./_-]*:[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
)

func TestEveryImageAndChartIsPinned(t *testing.T) {
	for name, r := range policyRuns(t) {
		for _, d := range r.resources {
			if d.Type == "kubernetes:helm.sh/v4:Chart" {
				if v := str(get(d.Inputs, "version")); !exactVersion.MatchString(v) {
					t.Errorf("%s: chart %s has version %q, want an exact pin", name, d.Name, v)
				}
			}
			for _, c := range podContainers(d) {
				img := str(get(c, "image"))
				if !pinnedImage.MatchString(img) || strings.HasSuffix(img, ":latest") {
					t.Errorf("%s: %s %s runs image %q, want repository:tag with a fixed tag", name, d.Type, d.Name, img)
				}
			}
			if img := get(d.Inputs, "spec.imageName"); img != nil && !pinnedImage.MatchString(str(img)) {
				t.Errorf("%s: %s %s image %v is not pinned", name, d.Type, d.Name, img)
			}
			walk(d.Inputs, "", func(path string, v any) {
				s, ok := v.(string)
				if !ok {
					return
				}
				if s == "latest" || strings.HasSuffix(s, ":latest") || (strings.HasSuffix(path, ".tag") && s == "") {
					t.Errorf("%s: %s %s: %s = %q is not a pin", name, d.Type, d.Name, path, s)
				}
			})
		}
	}
}

func TestBackupBucketIsPrivateAndEncrypted(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		r := runStack(t, stack)
		bucket := r.one(t, "aws:s3/bucketV2:BucketV2", "backup-bucket")
		for _, forbidden := range []string{"acl", "grants", "policy", "website"} {
			if get(bucket.Inputs, forbidden) != nil {
				t.Errorf("%s: bucket sets %s; access must only come from the bucket policy and IAM", stack, forbidden)
			}
		}
		pab := r.one(t, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "backup-bucket-public-access")
		for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
			if get(pab.Inputs, k) != true {
				t.Errorf("%s: public access block %s is not true", stack, k)
			}
		}
		own := r.one(t, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "backup-bucket-ownership")
		if get(own.Inputs, "rule.objectOwnership") != "BucketOwnerEnforced" {
			t.Errorf("%s: object ownership %v", stack, get(own.Inputs, "rule.objectOwnership"))
		}
		enc := r.one(t, "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2", "backup-bucket-encryption")
		if alg := get(enc.Inputs, "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm"); alg != "AES256" && alg != "aws:kms" {
			t.Errorf("%s: bucket encryption %v", stack, alg)
		}
		ver := r.one(t, "aws:s3/bucketVersioningV2:BucketVersioningV2", "backup-bucket-versioning")
		if get(ver.Inputs, "versioningConfiguration.status") != "Enabled" {
			t.Errorf("%s: versioning not enabled", stack)
		}
		lc := r.one(t, "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2", "backup-bucket-lifecycle")
		rule := get(lc.Inputs, "rules.0")
		if get(rule, "filter.prefix") != "postgres/" || get(rule, "expiration.days") == nil ||
			get(rule, "noncurrentVersionExpiration.noncurrentDays") == nil || get(rule, "abortIncompleteMultipartUpload.daysAfterInitiation") != 1.0 {
			t.Errorf("%s: lifecycle rule %v", stack, rule)
		}
		var policy policyDoc
		pol := r.one(t, "aws:s3/bucketPolicy:BucketPolicy", "backup-bucket-tls-only")
		if err := json.Unmarshal([]byte(str(get(pol.Inputs, "policy"))), &policy); err != nil {
			t.Fatalf("%s: bucket policy: %v", stack, err)
		}
		deny := policy.Statement[0]
		if deny.Effect != "Deny" || deny.Principal != "*" || deny.Action != "s3:*" ||
			fmt.Sprint(deny.Condition) != "map[Bool:map[aws:SecureTransport:false]]" {
			t.Errorf("%s: bucket policy does not deny plain HTTP: %+v", stack, deny)
		}
		if !pol.dependsOn("BucketPublicAccessBlock", "backup-bucket-public-access") {
			t.Errorf("%s: bucket policy is not ordered after the public access block", stack)
		}
	}
}

// The writer may only list, read and write objects under the backup prefix.
func TestBackupWriterIsLeastPrivilege(t *testing.T) {
	cases := map[string]string{"dev": "aws:iam/userPolicy:UserPolicy", "prod": "aws:iam/rolePolicy:RolePolicy"}
	for stack, typ := range cases {
		r := runStack(t, stack)
		var doc policyDoc
		if err := json.Unmarshal([]byte(str(get(r.one(t, typ, "backup-writer-policy").Inputs, "policy"))), &doc); err != nil {
			t.Fatal(err)
		}
		allowed := map[string]bool{"s3:ListBucket": true, "s3:PutObject": true, "s3:GetObject": true,
			"s3:AbortMultipartUpload": true, "kms:GenerateDataKey": true, "kms:Decrypt": true}
		for _, st := range doc.Statement {
			if st.Effect != "Allow" {
				continue
			}
			for _, a := range toStrings(anySlice(st.Action)) {
				if !allowed[a] {
					t.Errorf("%s: writer may %s", stack, a)
				}
			}
			for _, res := range toStrings(anySlice(st.Resource)) {
				if strings.Contains(res, "*") && !strings.HasSuffix(res, "/postgres/*") {
					t.Errorf("%s: writer resource %s is wider than the backup prefix", stack, res)
				}
			}
			if st.Action == "s3:ListBucket" && fmt.Sprint(st.Condition) != "map[StringLike:map[s3:prefix:[postgres/*]]]" {
				t.Errorf("%s: listing is not limited to the prefix: %v", stack, st.Condition)
			}
		}
	}
}

// masked reports whether the value at path, or an object containing it, is
// a Pulumi secret in the masked view.
func masked(v any, path string) bool {
	parts := strings.Split(path, ".")
	for i := range parts {
		if get(v, strings.Join(parts[:i+1], ".")) == "[secret]" {
			return true
		}
	}
	return false
}

func anySlice(v any) any {
	if s, ok := v.(string); ok {
		return []any{s}
	}
	return v
}

// No secret reaches an output or a non-secret input, and every Kubernetes
// Secret value that came from config or AWS is a Pulumi secret.
func TestNoSecretLeaks(t *testing.T) {
	secrets := []string{mockAWSSecret}
	for _, v := range testSecrets {
		secrets = append(secrets, v)
	}
	for name, r := range policyRuns(t) {
		if len(r.secretOutputs) != 0 {
			t.Errorf("%s: outputs %v are secret; outputs must hold nothing sensitive", name, r.secretOutputs)
		}
		for k, v := range r.outputs {
			for _, s := range secrets {
				if strings.Contains(fmt.Sprint(v), s) {
					t.Errorf("%s: output %s reveals a secret", name, k)
				}
			}
		}
		for _, d := range r.resources {
			walk(d.Masked, "", func(path string, v any) {
				for _, s := range secrets {
					if str(v) != "" && strings.Contains(str(v), s) {
						t.Errorf("%s: %s %s: %s holds a secret in plain text", name, d.Type, d.Name, path)
					}
				}
			})
		}
		for _, d := range r.ofType("kubernetes:core/v1:Secret") {
			found := 0
			walk(d.Inputs, "", func(path string, v any) {
				if slices.Contains(secrets, str(v)) {
					found++
					if !masked(d.Masked, path[1:]) {
						t.Errorf("%s: Secret %s: %s is not a Pulumi secret", name, d.Name, path)
					}
				}
			})
			if found == 0 {
				t.Errorf("%s: Secret %s holds no configured secret", name, d.Name)
			}
		}
	}
}

// ServiceMonitors, PodMonitors and PrometheusRules (ours and the charts'
// that create them) are ordered after the Prometheus Operator CRDs.
func TestMonitoringObjectsWaitForCRDs(t *testing.T) {
	monitoringKinds := []string{"ServiceMonitor", "PodMonitor", "PrometheusRule"}
	for name, r := range policyRuns(t) {
		count := 0
		for _, d := range r.resources {
			kind := d.Type[strings.LastIndex(d.Type, ":")+1:]
			isMonitor := strings.HasPrefix(d.Type, "kubernetes:monitoring.coreos.com/") && slices.Contains(monitoringKinds, kind)
			chartWithMonitors := d.Type == "kubernetes:helm.sh/v4:Chart" &&
				slices.Contains([]string{"kube-prometheus-stack", "nginx-ingress", "ingress-nginx", "postgresql", "cloudnative-pg"}, d.Name)
			if !isMonitor && !chartWithMonitors {
				continue
			}
			count++
			if !d.dependsOn("kubernetes:helm.sh/v4:Chart", "prometheus-operator-crds") {
				t.Errorf("%s: %s %s does not depend on the CRD chart", name, d.Type, d.Name)
			}
		}
		if count < 5 {
			t.Errorf("%s: only %d monitoring users checked", name, count)
		}
	}
}

// The database precedes the migration Job, which precedes the Deployment.
func TestRolloutOrder(t *testing.T) {
	cases := map[string][2]string{
		"dev":  {"kubernetes:helm.sh/v4:Chart", "postgresql"},
		"prod": {"kubernetes:postgresql.cnpg.io/v1:Cluster", "exchange-db"},
	}
	for stack, db := range cases {
		r := runStack(t, stack)
		job := r.one(t, "kubernetes:batch/v1:Job", "exchange-migrate")
		if !job.dependsOn(db[0], db[1]) {
			t.Errorf("%s: migration job does not wait for %s %s", stack, db[0], db[1])
		}
		if dep := r.one(t, "kubernetes:apps/v1:Deployment", "exchange"); !dep.dependsOn("kubernetes:batch/v1:Job", "exchange-migrate") {
			t.Errorf("%s: deployment does not wait for the migration job", stack)
		}
	}
	prod := runStack(t, "prod")
	if !prod.one(t, "kubernetes:postgresql.cnpg.io/v1:Cluster", "exchange-db").dependsOn("kubernetes:helm.sh/v4:Chart", "cloudnative-pg") {
		t.Error("the Cluster does not wait for the CloudNativePG operator (and its CRDs and webhook)")
	}
}

// Every resource belongs to a component and uses the explicit provider.
func TestComponentsOwnTheirResources(t *testing.T) {
	for name, r := range policyRuns(t) {
		for _, d := range r.resources {
			switch {
			case strings.HasPrefix(d.Type, "pulumi:providers:"):
				continue
			case strings.HasPrefix(d.Type, "exchange:platform:"):
				if !strings.Contains(d.Parent, "pulumi:pulumi:Stack") {
					t.Errorf("%s: component %s is not a child of the stack", name, d.Name)
				}
				continue
			}
			if !strings.Contains(d.Parent, "exchange:platform:") {
				t.Errorf("%s: %s %s is not parented to a component (parent %q)", name, d.Type, d.Name, d.Parent)
			}
			provider := strings.SplitN(d.Type, ":", 2)[0]
			if !strings.Contains(d.Provider, "pulumi:providers:"+provider+"::"+provider) {
				t.Errorf("%s: %s %s uses provider %q, want the explicit %s provider", name, d.Type, d.Name, d.Provider, provider)
			}
		}
	}
}

func TestNetworkPolicies(t *testing.T) {
	r := runStack(t, "dev")
	deny := r.one(t, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "default-deny")
	if get(deny.Inputs, "spec.ingress") != nil || get(deny.Inputs, "spec.egress") != nil ||
		!slices.Equal(toStrings(get(deny.Inputs, "spec.policyTypes")), []string{"Ingress", "Egress"}) {
		t.Errorf("default deny = %v", deny.Inputs["spec"])
	}
	in := r.one(t, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "exchange-server-ingress")
	// Exactly: the controller to the public port, Prometheus (not Grafana,
	// Alertmanager or the exporters that share its namespace) to the
	// internal port, the server pods to each other's internal port. The
	// controller never reaches /metrics or the sequencer's door, and
	// Prometheus and the peers have no business on the public port.
	want := []string{
		"ingress map[app.kubernetes.io/name:nginx-ingress] → [TCP/8080]",
		"monitoring map[app.kubernetes.io/name:prometheus] → [TCP/9090]",
		"(own namespace) map[app.kubernetes.io/component:server app.kubernetes.io/name:exchange app.kubernetes.io/part-of:exchange-platform] → [TCP/9090]",
	}
	if got := ingressRules(in); !slices.Equal(got, want) {
		t.Errorf("server ingress admits\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !slices.Equal(toStrings(get(in.Inputs, "spec.policyTypes")), []string{"Ingress"}) {
		t.Errorf("server ingress policy types %v", get(in.Inputs, "spec.policyTypes"))
	}
	eg := r.one(t, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "exchange-database-egress")
	db := get(eg.Inputs, "spec.egress.0")
	labels, _ := get(db, "to.0.namespaceSelector.matchLabels").(map[string]any)
	if labels[namespaceLabel] != "database" || get(db, "to.0.podSelector.matchLabels") == nil ||
		!slices.Equal(policyPorts(get(db, "ports")), []string{"TCP/5432"}) {
		t.Errorf("database egress = %v", db)
	}
	if dns := policyPorts(get(eg.Inputs, "spec.egress.1.ports")); !slices.Equal(dns, []string{"TCP/53", "UDP/53"}) {
		t.Errorf("dns egress = %v", dns)
	}
	if len(asSlice(get(eg.Inputs, "spec.egress"))) != 2 {
		t.Errorf("exchange pods may reach more than Postgres and DNS: %v", get(eg.Inputs, "spec.egress"))
	}
	backup := r.one(t, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "exchange-backup-egress")
	if got := policyPorts(get(backup.Inputs, "spec.egress.0.ports")); !slices.Equal(got, []string{"TCP/443"}) {
		t.Errorf("backup egress to AWS = %v", got)
	}
}

// ingressRules renders each ingress rule of a NetworkPolicy as "namespace
// podLabels → ports", one line per peer.
func ingressRules(policy *declared) []string {
	var out []string
	for _, rule := range asSlice(get(policy.Inputs, "spec.ingress")) {
		ports := policyPorts(get(rule, "ports"))
		for _, p := range asSlice(get(rule, "from")) {
			ns := "(own namespace)"
			if labels, ok := get(p, "namespaceSelector.matchLabels").(map[string]any); ok {
				ns = fmt.Sprint(labels[namespaceLabel])
			}
			out = append(out, fmt.Sprintf("%s %v → %v", ns, get(p, "podSelector.matchLabels"), ports))
		}
	}
	return out
}

// walk calls fn for every leaf under v with its dotted path.
func walk(v any, path string, fn func(path string, v any)) {
	switch c := v.(type) {
	case map[string]any:
		for k, e := range c {
			walk(e, path+"."+k, fn)
		}
	case []any:
		for i, e := range c {
			walk(e, fmt.Sprintf("%s.%d", path, i), fn)
		}
	default:
		fn(path, v)
	}
}
