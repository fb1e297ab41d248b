//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// assertFixtures checks what the fixture charts rendered from the values
// the program passed, so those values reached Helm for real.
func assertFixtures(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	kube := env.kube
	sts, err := kube.AppsV1().StatefulSets("database").Get(ctx, "postgresql", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("statefulset database/postgresql: %v", err)
	}
	{
		c := checker{t, "statefulset postgresql (fixture)"}
		c.eq("readyReplicas", sts.Status.ReadyReplicas, 1)
		c.eq("image", sts.Spec.Template.Spec.Containers[0].Image, env.postgresImage)
	}
	if _, err := kube.CoreV1().Services("database").Get(ctx, "postgresql", metav1.GetOptions{}); err != nil {
		t.Errorf("service database/postgresql: %v", err)
	}
	initdb, err := kube.CoreV1().ConfigMaps("database").Get(ctx, "postgresql-init-scripts", metav1.GetOptions{})
	if err != nil || !strings.Contains(initdb.Data["10-exchange-createdb.sql"], `ALTER ROLE "exchange" CREATEDB;`) {
		t.Errorf("configmap database/postgresql-init-scripts lacks the CREATEDB script (err %v)", err)
	}
	ic, err := kube.NetworkingV1().IngressClasses().Get(ctx, "nginx", metav1.GetOptions{})
	if err != nil || ic.Annotations["ingressclass.kubernetes.io/is-default-class"] != "true" {
		t.Errorf("ingressclass nginx (default) missing: %v", err)
	}
	ctl, err := kube.CoreV1().Services("ingress").Get(ctx, "nginx-ingress-controller", metav1.GetOptions{})
	if err != nil {
		t.Errorf("service ingress/nginx-ingress-controller: %v", err)
	} else {
		c := checker{t, "service nginx-ingress-controller (fixture)"}
		c.eq("type", ctl.Spec.Type, corev1.ServiceTypeNodePort)
		c.eq("http nodePort", ctl.Spec.Ports[0].NodePort, 30080)
		c.eq("https nodePort", ctl.Spec.Ports[1].NodePort, 30443)
	}
	for _, sm := range []struct{ ns, name string }{{"ingress", "nginx-ingress"}, {"database", "postgresql"}} {
		env.custom(t, serviceMonitors, sm.ns, sm.name)
	}
	env.custom(t, prometheusRules, "monitoring", "kube-prometheus-stack-fixture")
	kps, err := kube.CoreV1().ConfigMaps("monitoring").Get(ctx, "kube-prometheus-stack-values", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("configmap monitoring/kube-prometheus-stack-values: %v", err)
	}
	{
		c := checker{t, "kube-prometheus-stack values (fixture)"}
		c.eq("retention", kps.Data["retention"], "2d")
		c.eq("grafana admin secret", kps.Data["grafanaAdminSecret"], "grafana-admin")
		c.holds("Loki data source", strings.Contains(kps.Data["datasources.yaml"], "url: http://loki.logging.svc.cluster.local:3100"))
	}
	alloy, err := kube.CoreV1().ConfigMaps("logging").Get(ctx, "alloy", metav1.GetOptions{})
	if err != nil || !strings.Contains(alloy.Data["config.alloy"], `url = "http://loki.logging.svc.cluster.local:3100/loki/api/v1/push"`) {
		t.Errorf("configmap logging/alloy lacks the Loki push URL (err %v)", err)
	}
	loki, err := kube.CoreV1().ConfigMaps("logging").Get(ctx, "loki", metav1.GetOptions{})
	if err != nil || loki.Data["retention_period"] != "72h" {
		t.Errorf("configmap logging/loki: retention %v (err %v), want 72h", loki.Data, err)
	}
	if _, err := kube.CoreV1().Services("logging").Get(ctx, "loki", metav1.GetOptions{}); err != nil {
		t.Errorf("service logging/loki: %v", err)
	}
}

// ruleSummary is one line per rule, "group/alert-or-record: expr", so the
// rules as stored can be compared with the rule file.
func ruleSummary(groups []any) []string {
	var out []string
	for _, g := range groups {
		gm, _ := g.(map[string]any)
		rules, _ := gm["rules"].([]any)
		for _, r := range rules {
			rm, _ := r.(map[string]any)
			name, _ := rm["alert"].(string)
			if name == "" {
				name, _ = rm["record"].(string)
			}
			expr, _ := rm["expr"].(string)
			out = append(out, fmt.Sprintf("%v/%s for=%v severity=%v: %s", gm["name"], name, rm["for"],
				nested(rm, "labels", "severity"), strings.Join(strings.Fields(expr), " ")))
		}
	}
	return out
}

func nested(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
