package platform

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestOutputs(t *testing.T) {
	want := map[string]map[string]string{
		"dev": {
			"siteUrl":        "http://exchange.local:30080",
			"grafanaCommand": "kubectl --namespace monitoring port-forward svc/kube-prometheus-stack-grafana 3000:80",
			"namespace":      "exchange",
			"backupSchedule": "0 2 * * *",
			"verifySchedule": "0 4 * * 0",
			"backupBucket":   "backup-bucket-mock-1234",
		},
		"prod": {
			"siteUrl":        "https://exchange.example.com",
			"grafanaCommand": "kubectl --namespace monitoring port-forward svc/kube-prometheus-stack-grafana 3000:80",
			"namespace":      "exchange",
			"backupSchedule": "0 2 * * *",
			"verifySchedule": "0 4 * * 0",
			"backupBucket":   "backup-bucket-mock-1234",
		},
	}
	for stack, outputs := range want {
		r := runStack(t, stack)
		if len(r.outputs) != len(outputs) {
			t.Errorf("%s: outputs %v, want exactly %v", stack, r.outputs, outputs)
		}
		for k, v := range outputs {
			if got := r.outputs[k]; got != v {
				t.Errorf("%s: output %s = %v, want %q", stack, k, got, v)
			}
		}
	}
}

func TestDevStack(t *testing.T) {
	r := runStack(t, "dev")
	dep := r.one(t, "kubernetes:apps/v1:Deployment", "exchange")
	if got := get(dep.Inputs, "spec.replicas"); got != 1.0 {
		t.Errorf("replicas = %v, want 1", got)
	}
	if len(dep.Ignore) != 0 {
		t.Errorf("with autoscaling off the Deployment must own replicas; ignoreChanges %v", dep.Ignore)
	}
	// Autoscaling off: the HPA is kept, pinned to the count (see
	// TestAutoscalingOffPinsTheHPA).
	assertHPA(t, r, 1, 1, 70)
	if len(r.ofType("kubernetes:policy/v1:PodDisruptionBudget")) != 0 {
		t.Error("dev declares a PDB")
	}
	ingress := r.one(t, "kubernetes:helm.sh/v4:Chart", "nginx-ingress")
	if get(ingress.Inputs, "values.controller.service.type") != "NodePort" ||
		get(ingress.Inputs, "values.controller.service.httpPort.nodePort") != 30080.0 {
		t.Errorf("ingress service values = %v", get(ingress.Inputs, "values.controller.service"))
	}
	ing := r.one(t, "kubernetes:networking.k8s.io/v1:Ingress", "exchange")
	if get(ing.Inputs, "spec.tls") != nil {
		t.Errorf("dev ingress: tls %v", get(ing.Inputs, "spec.tls"))
	}
	if ann, _ := get(ing.Inputs, "metadata.annotations").(map[string]any); ann["pulumi.com/skipAwait"] != "true" {
		t.Errorf("a NodePort controller publishes no address; the Ingress must skip await, annotations %v", ann)
	}
	bucket := r.one(t, "aws:s3/bucketV2:BucketV2", "backup-bucket")
	if bucket.Protect || get(bucket.Inputs, "forceDestroy") != true {
		t.Errorf("dev bucket: protect %v forceDestroy %v, want destroyable", bucket.Protect, get(bucket.Inputs, "forceDestroy"))
	}
	enc := r.one(t, "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2", "backup-bucket-encryption")
	if got := get(enc.Inputs, "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm"); got != "AES256" {
		t.Errorf("dev SSE = %v, want AES256 (SSE-S3)", got)
	}
	r.one(t, "aws:iam/user:User", "backup-writer")
	r.one(t, "aws:iam/accessKey:AccessKey", "backup-writer-key")
	creds := r.one(t, "kubernetes:core/v1:Secret", "exchange-backup-s3")
	if !masked(creds.Masked, "stringData.AWS_SECRET_ACCESS_KEY") || get(creds.Inputs, "stringData.AWS_SECRET_ACCESS_KEY") != mockAWSSecret {
		t.Errorf("backup credentials secret = %v", creds.Masked)
	}
	pg := r.one(t, "kubernetes:helm.sh/v4:Chart", "postgresql")
	if get(pg.Inputs, "values.image.repository") != "bitnamilegacy/postgresql" || get(pg.Inputs, "values.image.registry") != "docker.io" {
		t.Errorf("bitnami image = %v", get(pg.Inputs, "values.image"))
	}
	env := containerEnv(dep, "exchange")
	for k, v := range map[string]string{
		"EXCHANGE_MODE":    "demo",
		"DATABASE_URL":     "postgres://exchange@postgresql.database.svc.cluster.local:5432/exchange?sslmode=disable",
		"SECURE_COOKIES":   "false",
		"HTTP_ADDR":        ":8080",
		"SHUTDOWN_TIMEOUT": "25s",
		"LOG_LEVEL":        "debug",
	} {
		if env[k] != v {
			t.Errorf("env %s = %q, want %q", k, env[k], v)
		}
	}
	if v, ok := env["DATABASE_READ_URL"]; ok {
		t.Errorf("dev has no replica, but DATABASE_READ_URL = %q", v)
	}
	backupEnv := containerEnv(r.one(t, "kubernetes:batch/v1:CronJob", "exchange-backup"), "backup")
	if backupEnv["BACKUP_SSE"] != "AES256" || backupEnv["AWS_ACCESS_KEY_ID"] != "secret:exchange-backup-s3/AWS_ACCESS_KEY_ID" {
		t.Errorf("dev backup env = %v", backupEnv)
	}
	if got := get(dep.Inputs, "spec.template.spec.terminationGracePeriodSeconds"); got != 35.0 {
		t.Errorf("terminationGracePeriodSeconds = %v, want 35 (5s pre-stop wait + 25s drain + 5s)", got)
	}
	if got := get(dep.Inputs, "spec.template.spec.containers.0.lifecycle.preStop.sleep.seconds"); got != 5.0 {
		t.Errorf("preStop sleep = %v, want 5 s for the endpoints to forget the pod before SIGTERM", got)
	}
}

func TestProdStack(t *testing.T) {
	r := runStack(t, "prod")
	// The server's lag-tolerant reads go to CloudNativePG's replicas, on
	// the server only: the jobs write or must see the primary.
	if got := containerEnv(r.one(t, "kubernetes:apps/v1:Deployment", "exchange"), "exchange")["DATABASE_READ_URL"]; got != "postgres://exchange@exchange-db-ro.database.svc.cluster.local:5432/exchange?sslmode=require" {
		t.Errorf("prod DATABASE_READ_URL = %q, want the -ro Service", got)
	}
	if got, ok := containerEnv(r.one(t, "kubernetes:batch/v1:CronJob", "exchange-backup"), "backup")["DATABASE_READ_URL"]; ok {
		t.Errorf("the backup job reads the replica: %q", got)
	}
	dep := r.one(t, "kubernetes:apps/v1:Deployment", "exchange")
	// With an HPA the Deployment starts at minReplicas and then leaves the
	// count alone; removing the field would reset it to 1 on a live stack.
	if got := get(dep.Inputs, "spec.replicas"); got != 3.0 || !slices.Equal(dep.Ignore, []string{"spec.replicas"}) {
		t.Errorf("with an HPA: replicas %v ignoreChanges %v, want 3 and [spec.replicas]", got, dep.Ignore)
	}
	assertHPA(t, r, 3, 12, 70)
	pdb := r.one(t, "kubernetes:policy/v1:PodDisruptionBudget", "exchange")
	if get(pdb.Inputs, "spec.minAvailable") != 2.0 {
		t.Errorf("pdb minAvailable = %v", get(pdb.Inputs, "spec.minAvailable"))
	}
	ingress := r.one(t, "kubernetes:helm.sh/v4:Chart", "nginx-ingress")
	if get(ingress.Inputs, "values.controller.service.type") != "LoadBalancer" || get(ingress.Inputs, "values.controller.service.httpPort") != nil {
		t.Errorf("prod ingress service = %v", get(ingress.Inputs, "values.controller.service"))
	}
	ing := r.one(t, "kubernetes:networking.k8s.io/v1:Ingress", "exchange")
	if get(ing.Inputs, "spec.tls.0.secretName") != "exchange-tls" || get(ing.Inputs, "spec.tls.0.hosts.0") != "exchange.example.com" {
		t.Errorf("prod ingress tls = %v", get(ing.Inputs, "spec.tls"))
	}
	if ann, _ := get(ing.Inputs, "metadata.annotations").(map[string]any); ann["cert-manager.io/cluster-issuer"] != "letsencrypt-prod" || ann["pulumi.com/skipAwait"] != nil {
		t.Errorf("prod ingress annotations = %v", ann)
	}
	bucket := r.one(t, "aws:s3/bucketV2:BucketV2", "backup-bucket")
	if !bucket.Protect || get(bucket.Inputs, "forceDestroy") != false {
		t.Errorf("prod bucket: protect %v forceDestroy %v", bucket.Protect, get(bucket.Inputs, "forceDestroy"))
	}
	if key := r.one(t, "aws:kms/key:Key", "backup-key"); !key.Protect || get(key.Inputs, "enableKeyRotation") != true {
		t.Errorf("kms key: protect %v rotation %v", key.Protect, get(key.Inputs, "enableKeyRotation"))
	}
	enc := r.one(t, "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2", "backup-bucket-encryption")
	if get(enc.Inputs, "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm") != "aws:kms" ||
		get(enc.Inputs, "rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId") == nil {
		t.Errorf("prod SSE = %v", get(enc.Inputs, "rules"))
	}
	role := r.one(t, "aws:iam/role:Role", "backup-writer")
	trust := str(get(role.Inputs, "assumeRolePolicy"))
	for _, want := range []string{`"sts:AssumeRoleWithWebIdentity"`, `system:serviceaccount:exchange:exchange-backup`, `"sts.amazonaws.com"`} {
		if !strings.Contains(trust, want) {
			t.Errorf("trust policy lacks %s: %s", want, trust)
		}
	}
	sa := r.one(t, "kubernetes:core/v1:ServiceAccount", "exchange-backup")
	if get(sa.Inputs, "metadata.annotations") == nil {
		t.Error("backup service account lacks the IRSA role annotation")
	}
	for _, typ := range []string{"aws:iam/user:User", "aws:iam/accessKey:AccessKey"} {
		if len(r.ofType(typ)) != 0 {
			t.Errorf("prod uses IRSA but declares %s", typ)
		}
	}
	if r.has("kubernetes:core/v1:Secret", "exchange-backup-s3") {
		t.Error("prod uses IRSA but declares a static credentials Secret")
	}
	cluster := r.one(t, "kubernetes:postgresql.cnpg.io/v1:Cluster", "exchange-db")
	if get(cluster.Inputs, "spec.instances") != 3.0 || get(cluster.Inputs, "spec.enableSuperuserAccess") != false {
		t.Errorf("cnpg cluster spec = %v", get(cluster.Inputs, "spec"))
	}
	env := containerEnv(dep, "exchange")
	for k, v := range map[string]string{
		"EXCHANGE_MODE":  "live",
		"DATABASE_URL":   "postgres://exchange@exchange-db-rw.database.svc.cluster.local:5432/exchange?sslmode=require",
		"SECURE_COOKIES": "true",
	} {
		if env[k] != v {
			t.Errorf("env %s = %q, want %q", k, env[k], v)
		}
	}
	// The job must ask for the bucket's KMS key: an explicit AES256 request
	// would override the bucket default.
	backupEnv := containerEnv(r.one(t, "kubernetes:batch/v1:CronJob", "exchange-backup"), "backup")
	if backupEnv["BACKUP_SSE"] != "aws:kms" || !strings.HasPrefix(backupEnv["BACKUP_KMS_KEY_ID"], "arn:aws:kms:") ||
		backupEnv["AWS_SECRET_ACCESS_KEY"] != "" {
		t.Errorf("prod backup env = %v", backupEnv)
	}
	if len(r.ofType("kubernetes:helm.sh/v4:Chart")) != 6 || r.has("kubernetes:helm.sh/v4:Chart", "postgresql") {
		t.Errorf("prod charts: want crds, kube-prometheus-stack, loki, alloy, nginx-ingress, cloudnative-pg")
	}
}

// An existing S3-compatible store (offline minikube, the e2e sandbox) must
// not need AWS at all: no AWS provider, no AWS resource.
// Turning autoscaling off keeps the HPA, pinned to app.replicas, and the
// Deployment (which owns the count again) is changed only after the HPA:
// Pulumi deletes a resource dropped from the program only after every
// create and update, so a deleted HPA would still hold its old bounds
// while the Deployment's count changed, and could scale it back into them.
// Turning it on is the same update the other way.
func TestAutoscalingOffPinsTheHPA(t *testing.T) {
	cfg := stackConfig(t, "prod")
	setConfig(t, cfg, "app", "autoscaling.enabled", false)
	// Outside the configured range (3..12), and not a default anywhere.
	setConfig(t, cfg, "app", "replicas", 2)
	setConfig(t, cfg, "app", "autoscaling.targetCPUUtilization", 50)
	setConfig(t, cfg, "app", "disruptionBudget.minAvailable", 1)
	r := run(t, "prod", cfg)
	if r.err != nil {
		t.Fatal(r.err)
	}
	dep := r.one(t, "kubernetes:apps/v1:Deployment", "exchange")
	if got := get(dep.Inputs, "spec.replicas"); got != 2.0 || len(dep.Ignore) != 0 {
		t.Errorf("autoscaling off: replicas %v ignoreChanges %v, want 2 and none (the program owns the count)", got, dep.Ignore)
	}
	// The target is not read with autoscaling off: the pinned HPA's is fixed.
	assertHPA(t, r, 2, 2, 70)
	if ann, _ := get(dep.Inputs, "metadata.annotations").(map[string]any); ann["pulumi.com/patchForce"] != "true" {
		t.Errorf("the Deployment must take the count back from the HPA's field manager; annotations %v", ann)
	}
}

// assertHPA checks the one HPA: its target, bounds and CPU target, and that
// the Deployment depends on it (so Pulumi changes the HPA's bounds before
// the Deployment's count) and not the other way round (which would be a
// cycle, or the old order).
func assertHPA(t *testing.T, r *result, minReplicas, maxReplicas, cpuTarget float64) {
	t.Helper()
	const hpaType = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
	hpa := r.one(t, hpaType, "exchange")
	ref := fmt.Sprintf("%v %v/%v", get(hpa.Inputs, "spec.scaleTargetRef.apiVersion"),
		get(hpa.Inputs, "spec.scaleTargetRef.kind"), get(hpa.Inputs, "spec.scaleTargetRef.name"))
	if ref != "apps/v1 Deployment/exchange" {
		t.Errorf("hpa scaleTargetRef = %s, want apps/v1 Deployment/exchange", ref)
	}
	if got, want := []any{get(hpa.Inputs, "spec.minReplicas"), get(hpa.Inputs, "spec.maxReplicas")}, []any{minReplicas, maxReplicas}; !slices.Equal(got, want) {
		t.Errorf("hpa min/max = %v, want %v", got, want)
	}
	if get(hpa.Inputs, "spec.metrics.0.resource.name") != "cpu" || get(hpa.Inputs, "spec.metrics.0.resource.target.averageUtilization") != cpuTarget ||
		len(get(hpa.Inputs, "spec.metrics").([]any)) != 1 {
		t.Errorf("hpa metrics = %v, want cpu utilization %v", get(hpa.Inputs, "spec.metrics"), cpuTarget)
	}
	dep := r.one(t, "kubernetes:apps/v1:Deployment", "exchange")
	if !dep.dependsOn(hpaType, "exchange") {
		t.Errorf("the Deployment does not depend on the HPA; dependencies %v", dep.Deps)
	}
	if !dep.dependsOn("kubernetes:batch/v1:Job", "exchange-migrate") {
		t.Errorf("the Deployment no longer waits for the migration Job; dependencies %v", dep.Deps)
	}
	for _, d := range hpa.Deps {
		if strings.Contains(d, "kubernetes:apps/v1:Deployment") {
			t.Errorf("the HPA depends on the Deployment (%s): Pulumi would change the count before the bounds", d)
		}
	}
}

func TestS3CompatibleStoreNeedsNoAWS(t *testing.T) {
	cfg := stackConfig(t, "dev")
	setConfig(t, cfg, "backup", "store", "s3-compatible")
	setConfig(t, cfg, "backup", "s3Compatible", map[string]any{
		"endpoint": "http://minio.storage.svc.cluster.local:9000", "bucket": "exchange-backups", "region": "us-east-1", "forcePathStyle": true,
	})
	r := run(t, "dev", cfg)
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, d := range r.resources {
		if strings.HasPrefix(d.Type, "aws:") || d.Type == "pulumi:providers:aws" {
			t.Errorf("declares %s %s", d.Type, d.Name)
		}
	}
	cj := r.one(t, "kubernetes:batch/v1:CronJob", "exchange-backup")
	env := containerEnv(cj, "backup")
	for k, v := range map[string]string{
		"BACKUP_S3_ENDPOINT": "http://minio.storage.svc.cluster.local:9000", "BACKUP_S3_BUCKET": "exchange-backups",
		"BACKUP_S3_FORCE_PATH_STYLE": "true", "AWS_REGION": "us-east-1", "BACKUP_S3_PREFIX": "postgres/",
		"AWS_SECRET_ACCESS_KEY": "secret:exchange-backup-s3/AWS_SECRET_ACCESS_KEY",
	} {
		if env[k] != v {
			t.Errorf("env %s = %q, want %q", k, env[k], v)
		}
	}
	creds := r.one(t, "kubernetes:core/v1:Secret", "exchange-backup-s3")
	if get(creds.Inputs, "stringData.AWS_SECRET_ACCESS_KEY") != testSecrets["exchange:backupSecretAccessKey"] ||
		!masked(creds.Masked, "stringData.AWS_SECRET_ACCESS_KEY") {
		t.Error("configured S3 credentials are not stored as a secret")
	}
	pol := r.one(t, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "exchange-backup-egress")
	if got := policyPorts(get(pol.Inputs, "spec.egress.0.ports")); !slices.Equal(got, []string{"TCP/443", "TCP/9000"}) {
		t.Errorf("backup egress ports = %v, want 443 and the endpoint's 9000", got)
	}
	if r.outputs["backupBucket"] != "exchange-backups" {
		t.Errorf("backupBucket output = %v", r.outputs["backupBucket"])
	}
}

func TestIngressNginxIsSelectable(t *testing.T) {
	cfg := stackConfig(t, "dev")
	setConfig(t, cfg, "ingress", "controller", "ingress-nginx")
	setConfig(t, cfg, "ingress", "chart", map[string]any{})
	r := run(t, "dev", cfg)
	if r.err != nil {
		t.Fatal(r.err)
	}
	c := r.one(t, "kubernetes:helm.sh/v4:Chart", "ingress-nginx")
	for path, want := range map[string]any{
		"chart":   "ingress-nginx",
		"version": "4.15.1",
		"values.controller.admissionWebhooks.enabled":      false,
		"values.controller.service.nodePorts.http":         30080.0,
		"values.controller.ingressClassResource.name":      "nginx",
		"values.controller.metrics.serviceMonitor.enabled": true,
		"repositoryOpts.repo":                              "https://kubernetes.github.io/ingress-nginx",
	} {
		if got := get(c.Inputs, path); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	if r.has("kubernetes:helm.sh/v4:Chart", "nginx-ingress") {
		t.Error("both controllers declared")
	}
	// The app admits the controller's pods only, not the chart's others.
	in := r.one(t, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "exchange-server-ingress")
	if got := fmt.Sprint(get(in.Inputs, "spec.ingress.0.from.0.podSelector.matchLabels")); got != "map[app.kubernetes.io/component:controller app.kubernetes.io/name:ingress-nginx]" {
		t.Errorf("server ingress admits %s from the ingress namespace", got)
	}
}

func TestMigrationJobFollowsTheImage(t *testing.T) {
	if MigrationJobName("exchange:dev") == MigrationJobName("exchange:dev2") {
		t.Fatal("different images give the same Job name")
	}
	cfg := stackConfig(t, "dev")
	first := run(t, "dev", cfg)
	setConfig(t, cfg, "app", "image.tag", "dev2")
	second := run(t, "dev", cfg)
	name := func(r *result) any {
		return get(r.one(t, "kubernetes:batch/v1:Job", "exchange-migrate").Inputs, "metadata.name")
	}
	if name(first) != MigrationJobName("exchange:dev") || name(second) != MigrationJobName("exchange:dev2") {
		t.Errorf("job names %v, %v do not follow the image", name(first), name(second))
	}
	if args := get(first.one(t, "kubernetes:batch/v1:Job", "exchange-migrate").Inputs, "spec.template.spec.containers.0.args"); !slices.Equal(toStrings(args), []string{"migrate", "--seed"}) {
		t.Errorf("migration job args = %v", args)
	}
}

// A rejected configuration stops the program before anything is declared.
func TestInvalidConfigurationDeclaresNothing(t *testing.T) {
	cfg := stackConfig(t, "dev")
	setConfig(t, cfg, "app", "replicas", 0)
	r := run(t, "dev", cfg)
	want := "invalid configuration of stack dev:\nexchange:app.replicas: 0 is out of range; allowed 1..50"
	if r.err == nil || !strings.Contains(r.err.Error(), want) {
		t.Fatalf("error = %v, want it to contain %q", r.err, want)
	}
	if len(r.resources) != 0 {
		t.Errorf("declared %d resources before failing", len(r.resources))
	}
}

// containerEnv maps a container's env to values; secret refs read
// "secret:<name>/<key>".
func containerEnv(d *declared, container string) map[string]string {
	env := map[string]string{}
	for _, c := range podContainers(d) {
		if get(c, "name") != container {
			continue
		}
		for _, e := range asSlice(get(c, "env")) {
			if ref := get(e, "valueFrom.secretKeyRef"); ref != nil {
				env[str(get(e, "name"))] = "secret:" + str(get(ref, "name")) + "/" + str(get(ref, "key"))
				continue
			}
			env[str(get(e, "name"))] = str(get(e, "value"))
		}
	}
	return env
}

func policyPorts(v any) []string {
	var out []string
	for _, p := range asSlice(v) {
		out = append(out, fmt.Sprintf("%s/%v", get(p, "protocol"), get(p, "port")))
	}
	slices.Sort(out)
	return out
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func toStrings(v any) []string {
	var out []string
	for _, e := range asSlice(v) {
		out = append(out, str(e))
	}
	return out
}
