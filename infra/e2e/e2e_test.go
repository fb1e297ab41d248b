//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/crypto-exchange/exchange/infra/platform"
)

// appImage is the exchange image the stack deploys: built by images.sh from
// the repository's Dockerfile and imported into the node (Pulumi.dev.yaml's
// is exchange:dev, which minikube gets with `minikube image load`). Set by
// setup.
var appImage string

const (
	appNS = "exchange"
	// The database URL the program renders for every exchange container
	// (the password comes from a Secret).
	clusterDBURL = "postgres://exchange@postgresql.database.svc.cluster.local:5432/exchange?sslmode=disable"
	// How long the cluster may take to converge after an operation the
	// engine already waited for (status propagation, namespace cleanup).
	settle = 2 * time.Minute
)

// TestInvalidConfigCreatesNothing: on the real engine a config value the
// program refuses fails the preview, and an up, with the program's own
// message, and nothing reaches the cluster or the state.
func TestInvalidConfigCreatesNothing(t *testing.T) {
	tm := newTimings(t)
	ctx := context.Background()
	cfg := env.devConfig(t, env.newTestSecrets())
	cfg.set(t, "exchange:app", "replicas", 0)
	const want = "exchange:app.replicas: 0 is out of range; allowed 1..50"
	var st auto.Stack
	tm.step("invalid: create stack e2e-invalid (app.replicas 0)", func() {
		st = env.newStack(t, "e2e-invalid", cfg)
	})
	tm.step("invalid: preview fails with the program's message", func() {
		log := env.engineLog(t, "invalid-preview")
		_, _, err := previewSteps(t, st, log)
		if err == nil {
			t.Fatalf("preview succeeded with app.replicas 0\n%s", log.tail())
		}
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("preview error does not contain %q:\n%v", want, err)
		}
	})
	tm.step("invalid: up fails the same way", func() {
		log := env.engineLog(t, "invalid-up")
		_, err := st.Up(ctx, optup.ProgressStreams(log.f))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("up error does not contain %q: %v\n%s", want, err, log.tail())
		}
	})
	tm.step("invalid: nothing in the cluster or the state", func() {
		left, err := env.leftovers()
		if err != nil {
			t.Fatal(err)
		}
		if len(left) > 0 {
			t.Errorf("the failed up created: %v", left)
		}
		for _, typ := range stackResourceTypes(t, st) {
			if typ != "pulumi:pulumi:Stack" {
				t.Errorf("the failed up recorded a %s in the state", typ)
			}
		}
	})
}

// TestUpPreviewUpdateDestroy is the life of a stack on a real engine and
// API server: up, idempotent preview, an in-place update, autoscaling,
// destroy.
func TestUpPreviewUpdateDestroy(t *testing.T) {
	tm := newTimings(t)
	ctx := context.Background()
	sec := env.newTestSecrets()
	cfg := env.devConfig(t, sec)
	var st auto.Stack
	tm.step("create stack e2e from Pulumi.dev.yaml", func() {
		if left, err := env.leftovers(); err != nil || len(left) > 0 {
			t.Fatalf("the cluster is not clean before the run: %v %v", left, err)
		}
		st = env.newStack(t, "e2e", cfg)
	})
	destroyed := false
	t.Cleanup(func() {
		if destroyed {
			return
		}
		log := env.engineLog(t, "cleanup-destroy")
		if _, err := st.Destroy(ctx, optdestroy.ProgressStreams(log.f)); err != nil {
			t.Logf("cleanup destroy: %v", err)
		}
	})

	tm.step("up (create everything)", func() {
		log := env.engineLog(t, "up")
		res, err := st.Up(ctx, optup.ProgressStreams(log.f))
		if err != nil {
			t.Fatalf("up: %v\n%s", err, log.tail())
		}
		outs := res.Outputs
		c := checker{t, "stack outputs"}
		c.eq("namespace", outs["namespace"].Value, appNS)
		c.eq("siteUrl", outs["siteUrl"].Value, "http://exchange.local:30080")
		c.eq("backupBucket", outs["backupBucket"].Value, storeBucket)
		c.eq("backupSchedule", outs["backupSchedule"].Value, "0 2 * * *")
		for k, o := range outs {
			if o.Secret {
				t.Errorf("output %s is a secret; outputs should hold nothing sensitive", k)
			}
		}
	})
	var migrationUID string
	tm.step("assert the objects (client-go)", func() {
		migrationUID = assertPlatform(t, cfg, sec, 2)
	})
	// After the trades of assertPlatform, so the backup holds them and the
	// verification's ledger check has something to check.
	tm.step("backup CronJobs run: backup, then verify-backup", func() {
		assertBackupJobs(t)
	})
	tm.step("NetworkPolicies enforced: each peer reaches its port only", func() {
		assertPoliciesEnforced(t)
	})
	tm.step("preview --expect-no-changes (idempotent)", func() {
		log := env.engineLog(t, "preview-no-changes")
		ops, _, err := previewSteps(t, st, log, optpreview.ExpectNoChanges())
		if err != nil {
			t.Fatalf("a second preview wants changes %v: %v\n%s", changed(ops), err, log.tail())
		}
	})

	cfg.set(t, "exchange:app", "replicas", 3)
	tm.step("replicas 2→3: preview is an update, not a replace", func() {
		if err := st.SetConfig(ctx, "exchange:app", cfg.value("exchange:app")); err != nil {
			t.Fatal(err)
		}
		log := env.engineLog(t, "preview-replicas")
		ops, _, err := previewSteps(t, st, log)
		if err != nil {
			t.Fatalf("preview: %v\n%s", err, log.tail())
		}
		// With autoscaling off the HPA is pinned to the count, so it moves
		// with it.
		want := []string{"update " + depStep, "update " + hpaStep}
		if got := changed(ops); !slices.Equal(got, want) {
			t.Fatalf("preview after changing replicas plans %v, want only %v", got, want)
		}
	})
	tm.step("up (replicas 3): the HPA first, then the count", func() {
		log := env.engineLog(t, "up-replicas")
		res, steps, err := upSteps(t, st, log)
		if err != nil {
			t.Fatalf("up: %v\n%s", err, log.tail())
		}
		if ch := *res.Summary.ResourceChanges; ch["update"] != 2 || ch["create"]+ch["delete"]+ch["replace"] != 0 {
			t.Errorf("up changed %v, want two updates (the HPA and the Deployment)", ch)
		}
		requireBefore(t, steps, "done update "+hpaStep, "start update "+depStep)
		assertHPA(t, 3, 3, 70)
		eventually(t, settle, "deployment exchange with 3 replicas", func() error {
			return deploymentAvailable(env.deployment(t, appNS, "exchange"), 3)
		})
		job, err := env.kube.BatchV1().Jobs(appNS).Get(ctx, platform.MigrationJobName(appImage), metav1.GetOptions{})
		if err != nil || string(job.UID) != migrationUID {
			t.Errorf("the migration Job was recreated by a replicas change (uid %s → %v, err %v)", migrationUID, job.UID, err)
		}
	})

	cfg.set(t, "exchange:app", "autoscaling", map[string]any{
		"enabled": true, "minReplicas": 3, "maxReplicas": 6, "targetCPUUtilization": 70,
	})
	tm.step("autoscaling on: preview updates only the HPA", func() {
		if err := st.SetConfig(ctx, "exchange:app", cfg.value("exchange:app")); err != nil {
			t.Fatal(err)
		}
		log := env.engineLog(t, "preview-autoscaling")
		ops, _, err := previewSteps(t, st, log)
		if err != nil {
			t.Fatalf("preview: %v\n%s", err, log.tail())
		}
		// The pinned HPA (3..3) gets the configured range; the Deployment is
		// untouched: its count stays until the HPA takes it.
		want := []string{"update " + hpaStep}
		if got := changed(ops); !slices.Equal(got, want) {
			t.Fatalf("preview after enabling autoscaling plans %v, want %v", got, want)
		}
	})
	tm.step("up (autoscaling)", func() {
		log := env.engineLog(t, "up-autoscaling")
		if _, err := st.Up(ctx, optup.ProgressStreams(log.f)); err != nil {
			t.Fatalf("up: %v\n%s", err, log.tail())
		}
		// Had the program dropped spec.replicas, the API server would have
		// defaulted it to 1 here, before the HPA scaled back up.
		if r := env.deployment(t, appNS, "exchange").Spec.Replicas; r == nil || *r != 3 {
			t.Errorf("right after enabling autoscaling the Deployment asks for %v replicas, want 3 (no dip)", r)
		}
		assertHPA(t, 3, 6, 70)
		// The HPA owns the count now; it keeps at least minReplicas.
		eventually(t, settle, "deployment exchange available under the HPA", func() error {
			return deploymentAvailable(env.deployment(t, appNS, "exchange"), 3)
		})
	})

	tm.step("the autoscaler scales out to 4: preview plans nothing", func() {
		// What the HPA controller does: write the scale subresource as
		// another field manager. (Without a metrics server the real HPA
		// leaves a count inside min..max alone.)
		scale, err := env.kube.AppsV1().Deployments(appNS).GetScale(ctx, "exchange", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		scale.Spec.Replicas = 4
		if _, err := env.kube.AppsV1().Deployments(appNS).UpdateScale(ctx, "exchange", scale,
			metav1.UpdateOptions{FieldManager: "e2e-autoscaler"}); err != nil {
			t.Fatal(err)
		}
		log := env.engineLog(t, "preview-scaled-out")
		ops, _, err := previewSteps(t, st, log, optpreview.ExpectNoChanges())
		if err != nil {
			t.Fatalf("after the autoscaler scaled out the preview wants %v: %v\n%s", changed(ops), err, log.tail())
		}
		log = env.engineLog(t, "up-scaled-out")
		if _, err := st.Up(ctx, optup.ProgressStreams(log.f)); err != nil {
			t.Fatalf("up: %v\n%s", err, log.tail())
		}
		eventually(t, settle, "deployment exchange keeps the autoscaler's 4 replicas", func() error {
			return deploymentAvailable(env.deployment(t, appNS, "exchange"), 4)
		})
	})

	cfg.set(t, "exchange:app", "autoscaling", map[string]any{"enabled": false})
	cfg.set(t, "exchange:app", "replicas", 2)
	tm.step("autoscaling off, replicas 2: the program takes the count back", func() {
		if err := st.SetConfig(ctx, "exchange:app", cfg.value("exchange:app")); err != nil {
			t.Fatal(err)
		}
		log := env.engineLog(t, "up-autoscaling-off")
		_, steps, err := upSteps(t, st, log)
		if err != nil {
			t.Fatalf("up (the autoscaler's field manager owns spec.replicas): %v\n%s", err, log.tail())
		}
		// The HPA is pinned to 2..2 before the count changes, so the HPA
		// controller can only move it toward 2 (had the HPA been deleted
		// instead, which Pulumi does last, its minReplicas 3 could have
		// scaled the Deployment back up after the count was set: the
		// failure this step once saw).
		requireBefore(t, steps, "done update "+hpaStep, "start update "+depStep)
		assertHPA(t, 2, 2, 70)
		eventually(t, settle, "deployment exchange back to 2 replicas", func() error {
			return deploymentAvailable(env.deployment(t, appNS, "exchange"), 2)
		})
		// And it stays there while the HPA controller syncs the pinned HPA
		// (every 5 s in this control plane).
		holds(t, 12*time.Second, "deployment exchange stays at 2 replicas", func() error {
			return deploymentAvailable(env.deployment(t, appNS, "exchange"), 2)
		})
	})

	tm.step("rolling update to a new image tag under a trader's load", func() {
		assertRollUnderLoad(t, st, cfg)
	})

	tm.step("destroy", func() {
		log := env.engineLog(t, "destroy")
		if _, err := st.Destroy(ctx, optdestroy.ProgressStreams(log.f)); err != nil {
			t.Fatalf("destroy: %v\n%s", err, log.tail())
		}
		destroyed = true
	})
	tm.step("nothing of ours is left", func() {
		eventually(t, settle, "no object of ours left", func() error {
			left, err := env.leftovers()
			if err != nil {
				return err
			}
			if len(left) > 0 {
				return fmt.Errorf("left: %v", left)
			}
			return nil
		})
		for _, typ := range stackResourceTypes(t, st) {
			t.Errorf("the state still holds a %s after destroy", typ)
		}
	})
	tm.step("remove stack e2e", func() {
		if err := st.Workspace().RemoveStack(ctx, "e2e"); err != nil {
			t.Fatal(err)
		}
	})
}

// assertPlatform checks, through the Kubernetes API, what the first up
// created. It returns the migration Job's UID.
func assertPlatform(t *testing.T, cfg stackConfig, sec testSecrets, replicas int32) string {
	t.Helper()
	assertNamespacesAndSecrets(t, sec)
	job := assertMigrationJob(t, cfg)
	// The migration Job's pod really ran the image's `exchange migrate`
	// against the PostgreSQL pod, on the real node, and exited 0.
	assertMigrationPod(t, job.Name)
	assertServer(t, replicas)
	assertServiceAndIngress(t, replicas)
	assertPolicyObjects(t)
	assertMonitoringObjects(t)
	assertBackupCronJobs(t)
	assertStoreAccess(t)
	assertFixtures(t)
	assertDatabase(t, sec)
	assertTrading(t)
	return string(job.UID)
}

// assertHPA checks the server's HPA: it scales the Deployment between min
// and max replicas on CPU utilization (with autoscaling off min = max =
// app.replicas: pinned).
func assertHPA(t *testing.T, minReplicas, maxReplicas, cpuTarget int32) {
	t.Helper()
	hpa, err := env.kube.AutoscalingV2().HorizontalPodAutoscalers(appNS).Get(context.Background(), "exchange", metav1.GetOptions{})
	if err != nil {
		t.Errorf("hpa exchange: %v", err)
		return
	}
	c := checker{t, "hpa exchange"}
	c.eq("scaleTargetRef", hpa.Spec.ScaleTargetRef.APIVersion+" "+hpa.Spec.ScaleTargetRef.Kind+"/"+hpa.Spec.ScaleTargetRef.Name, "apps/v1 Deployment/exchange")
	c.holds(fmt.Sprintf("minReplicas %d", minReplicas), hpa.Spec.MinReplicas != nil && *hpa.Spec.MinReplicas == minReplicas)
	c.eq("maxReplicas", hpa.Spec.MaxReplicas, maxReplicas)
	c.holds(fmt.Sprintf("cpu utilization target %d", cpuTarget), len(hpa.Spec.Metrics) == 1 && hpa.Spec.Metrics[0].Resource != nil &&
		hpa.Spec.Metrics[0].Resource.Name == corev1.ResourceCPU && hpa.Spec.Metrics[0].Resource.Target.AverageUtilization != nil &&
		*hpa.Spec.Metrics[0].Resource.Target.AverageUtilization == cpuTarget)
}

// assertNamespacesAndSecrets: our namespaces' Pod Security levels, and the
// Secrets hold the configured values (the engine decrypted them).
func assertNamespacesAndSecrets(t *testing.T, sec testSecrets) {
	t.Helper()
	ctx := context.Background()
	kube := env.kube
	for ns, level := range ourNamespaces {
		n, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			t.Errorf("namespace %s: %v", ns, err)
			continue
		}
		c := checker{t, "namespace " + ns}
		c.eq("pod-security enforce", n.Labels["pod-security.kubernetes.io/enforce"], level)
		c.eq("part-of", n.Labels["app.kubernetes.io/part-of"], "exchange-platform")
	}

	for _, s := range []struct{ ns, name, key, want string }{
		{appNS, "exchange-app", "secret-key", sec.appSecretKey},
		{appNS, "exchange-db", "password", sec.dbPassword},
		{appNS, "exchange-backup-s3", "AWS_ACCESS_KEY_ID", sec.accessKeyID},
		{appNS, "exchange-backup-s3", "AWS_SECRET_ACCESS_KEY", sec.secretAccessKey},
		{"database", "postgresql-credentials", "password", sec.dbPassword},
		{"database", "postgresql-credentials", "postgres-password", sec.dbAdminPassword},
		{"monitoring", "grafana-admin", "admin-password", sec.grafanaAdminPassword},
	} {
		got, err := kube.CoreV1().Secrets(s.ns).Get(ctx, s.name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("secret %s/%s: %v", s.ns, s.name, err)
			continue
		}
		if string(got.Data[s.key]) != s.want {
			t.Errorf("secret %s/%s: key %s does not hold the configured value", s.ns, s.name, s.key)
		}
	}

}

// assertMonitoringObjects: the ServiceMonitor scrapes the internal port,
// the alert rules are the program's, and the dashboards are JSON.
func assertMonitoringObjects(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	kube := env.kube
	sm := env.custom(t, serviceMonitors, appNS, "exchange")
	{
		eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		port := ""
		if len(eps) == 1 {
			port, _, _ = unstructured.NestedString(eps[0].(map[string]any), "port")
		}
		checker{t, "servicemonitor exchange"}.eq("endpoint port", port, "internal")
	}
	// The alerting rules are the program's rule file, rendered for the
	// configured namespaces, and survived the CRD's schema unchanged.
	want, err := platform.AlertRuleGroups(appNS, "database")
	if err != nil {
		t.Fatal(err)
	}
	rule := env.custom(t, prometheusRules, appNS, "exchange")
	got, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	if g, w := ruleSummary(got), ruleSummary(want); !slices.Equal(g, w) {
		t.Errorf("prometheusrule exchange/exchange: rules\n%s\nwant (alerts/exchange-rules.yaml)\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
	}
	if !slices.ContainsFunc(ruleSummary(want), func(r string) bool { return strings.Contains(r, "/ExchangeBackupTooOld ") }) {
		t.Errorf("prometheusrule exchange/exchange: no ExchangeBackupTooOld alert watching the backup CronJob")
	}

	// The dashboards (issue 6): Grafana's sidecar loads ConfigMaps labelled
	// grafana_dashboard=1; the program declares at least the exchange's, and
	// each holds a dashboard as JSON.
	dashboards, err := kube.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{LabelSelector: "grafana_dashboard=1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(dashboards.Items) == 0 {
		t.Errorf("no dashboard ConfigMap (label grafana_dashboard=1)")
	}
	for _, cm := range dashboards.Items {
		for k, v := range cm.Data {
			var d struct {
				Title  string `json:"title"`
				Panels []any  `json:"panels"`
			}
			if err := json.Unmarshal([]byte(v), &d); err != nil || d.Title == "" || len(d.Panels) == 0 {
				t.Errorf("dashboard configmap %s/%s: %s is not a dashboard with a title and panels (%v)", cm.Namespace, cm.Name, k, err)
			}
		}
		fmt.Printf("e2e: dashboard ConfigMap %s/%s\n", cm.Namespace, cm.Name)
	}

}
