package platform

import (
	"path/filepath"
	"testing"
)

// chartValueScenarios reach every branch of the chart value builders: both
// ingress controllers with each Service type, both database engines (with
// and without a storage class), every alert receiver, Prometheus with and
// without a volume.
func chartValueScenarios(t *testing.T) map[string]*result {
	t.Helper()
	nginxClusterIP := stackConfig(t, "dev")
	setConfig(t, nginxClusterIP, "ingress", "serviceType", "ClusterIP")
	setConfig(t, nginxClusterIP, "ingress", "httpNodePort", 0)
	setConfig(t, nginxClusterIP, "ingress", "httpsNodePort", 0)

	communityNodePort := stackConfig(t, "dev")
	setConfig(t, communityNodePort, "ingress", "controller", "ingress-nginx")
	setConfig(t, communityNodePort, "database", "storageClass", "standard")
	setConfig(t, communityNodePort, "alerting", "receiver", "webhook")
	communityNodePort["exchange:alertReceiverSecret"] = stackValue("https://alerts.example.com/hook")

	communityLoadBalancer := stackConfig(t, "prod")
	setConfig(t, communityLoadBalancer, "ingress", "controller", "ingress-nginx")
	setConfig(t, communityLoadBalancer, "database", "storageClass", "gp3")
	setConfig(t, communityLoadBalancer, "alerting", "receiver", "pagerduty")
	setConfig(t, communityLoadBalancer, "alerting", "slackChannel", "")
	communityLoadBalancer["exchange:alertReceiverSecret"] = stackValue("0123456789abcdef0123456789ABCDEF")

	runs := map[string]*result{
		"dev":                          runStack(t, "dev"),
		"prod":                         runStack(t, "prod"),
		"dev-nginx-clusterip":          run(t, "dev", nginxClusterIP),
		"dev-ingress-nginx-webhook":    run(t, "dev", communityNodePort),
		"prod-ingress-nginx-pagerduty": run(t, "prod", communityLoadBalancer),
	}
	for name, r := range runs {
		if r.err != nil {
			t.Fatalf("%s: %v", name, r.err)
		}
	}
	return runs
}

// TestChartValuesGolden keeps the values every chart receives (and the
// CloudNativePG Cluster's spec), per scenario, in testdata/chart-values/: a
// change to any chart value shows up as a reviewed diff of those files. They
// were first written from the untyped pulumi.Map values the program used
// before, which the typed values (chartvalues*.go) then matched byte for
// byte; the only later differences are Alloy's rbac split and the analytics
// switches (docs/infra.md).
func TestChartValuesGolden(t *testing.T) {
	for name, r := range chartValueScenarios(t) {
		values := map[string]any{}
		for _, c := range r.ofType("kubernetes:helm.sh/v4:Chart") {
			values[c.Name] = c.Inputs["values"]
		}
		if len(values) < 6 {
			t.Errorf("%s: only %d charts declared: %v", name, len(values), values)
		}
		// The CloudNativePG Cluster is not a chart, but its spec is built
		// the same way (cnpgClusterSpec).
		for _, c := range r.ofType("kubernetes:postgresql.cnpg.io/v1:Cluster") {
			values["Cluster/"+c.Name] = c.Inputs["spec"]
		}
		golden(t, filepath.Join("testdata", "chart-values", name+".json"), values)
	}
}
