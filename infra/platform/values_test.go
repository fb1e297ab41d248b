package platform

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The values below were checked against each chart's values.yaml and
// templates at the pinned version (docs/infra.md). These tests keep them:
// above all the switches that turn off features helm/v4 Chart cannot run
// because they rely on Helm hooks.
func TestChartValues(t *testing.T) {
	dev := runStack(t, "dev")
	prod := runStack(t, "prod")
	checks := []struct {
		r     *result
		chart string
		want  map[string]any
	}{
		{dev, "kube-prometheus-stack", map[string]any{
			"values.crds.enabled": false,
			"values.prometheusOperator.admissionWebhooks.enabled":                      false,
			"values.prometheusOperator.tls.enabled":                                    false,
			"values.grafana.testFramework.enabled":                                     false,
			"values.grafana.admin.existingSecret":                                      grafanaAdminSecret,
			"values.grafana.admin.passwordKey":                                         "admin-password",
			"values.prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues": false,
			"values.prometheus.prometheusSpec.ruleSelectorNilUsesHelmValues":           false,
			"values.prometheus.prometheusSpec.retention":                               "2d",
			"values.grafana.additionalDataSources.0.uid":                               LokiDatasourceUID,
			"values.grafana.additionalDataSources.0.url":                               "http://loki.logging.svc.cluster.local:3100",
			"name":    "kube-prometheus-stack",
			"version": "88.5.3",
		}},
		{prod, "kube-prometheus-stack", map[string]any{
			"values.prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.resources.requests.storage": "100Gi",
		}},
		{dev, "prometheus-operator-crds", map[string]any{"version": "31.0.1", "namespace": "monitoring"}},
		{dev, "loki", map[string]any{
			"values.deploymentMode":                           "Monolithic",
			"values.loki.storage.type":                        "filesystem",
			"values.loki.limits_config.retention_period":      "72h",
			"values.loki.compactor.retention_enabled":         true,
			"values.loki.compactor.delete_request_store":      "filesystem",
			"values.loki.commonConfig.replication_factor":     1.0,
			"values.singleBinary.replicas":                    1.0,
			"values.read.replicas":                            0.0,
			"values.test.enabled":                             false,
			"values.lokiCanary.enabled":                       false,
			"values.chunksCache.enabled":                      false,
			"values.gateway.enabled":                          false,
			"values.loki.schemaConfig.configs.0.object_store": "filesystem",
			"values.loki.analytics.reporting_enabled":         false,
			"repositoryOpts.repo":                             "https://grafana-community.github.io/helm-charts",
		}},
		{dev, "alloy", map[string]any{
			"values.controller.type":                              "deployment",
			"values.crds.create":                                  false,
			"values.alloy.securityContext.runAsNonRoot":           true,
			"values.alloy.securityContext.readOnlyRootFilesystem": true,
			"values.alloy.enableReporting":                        false,
		}},
		{dev, "nginx-ingress", map[string]any{
			"values.controller.ingressClass.name":         "nginx",
			"values.controller.readOnlyRootFilesystem":    true,
			"values.controller.telemetryReporting.enable": false,
			"values.prometheus.serviceMonitor.create":     true,
			"repositoryOpts.repo":                         "https://helm.nginx.com/stable",
		}},
		{dev, "postgresql", map[string]any{
			"chart":                   "oci://registry-1.docker.io/bitnamicharts/postgresql",
			"values.fullnameOverride": "postgresql",
			"values.global.security.allowInsecureImages": true,
			"values.auth.existingSecret":                 "postgresql-credentials",
			"values.auth.username":                       "exchange",
			"values.metrics.image.repository":            "bitnamilegacy/postgres-exporter",
			"values.primary.persistence.size":            "2Gi",
		}},
		{prod, "cloudnative-pg", map[string]any{
			"values.crds.create":                  true,
			"values.monitoring.podMonitorEnabled": true,
			"namespace":                           "cnpg-system",
		}},
	}
	for _, c := range checks {
		d := c.r.one(t, "kubernetes:helm.sh/v4:Chart", c.chart)
		for path, want := range c.want {
			if got := get(d.Inputs, path); got != want {
				t.Errorf("%s: %s = %v, want %v", c.chart, path, got, want)
			}
		}
	}
	alloyConfig := str(get(dev.one(t, "kubernetes:helm.sh/v4:Chart", "alloy").Inputs, "values.alloy.configMap.content"))
	if !strings.Contains(alloyConfig, `url = "http://loki.logging.svc.cluster.local:3100/loki/api/v1/push"`) ||
		!strings.Contains(alloyConfig, `loki.source.kubernetes "pods"`) {
		t.Errorf("alloy config does not ship pod logs to Loki:\n%s", alloyConfig)
	}
}

// Nothing in the platform reports usage or checks for updates: the cluster
// may have no egress, and nobody outside needs to know what it runs.
func TestNoPhoningHome(t *testing.T) {
	r := runStack(t, "prod")
	grafana, _ := get(r.one(t, "kubernetes:helm.sh/v4:Chart", kpsRelease).Inputs, "values.grafana").(map[string]any)
	analytics := get(grafana["grafana.ini"], "analytics")
	for _, key := range []string{"reporting_enabled", "check_for_updates", "check_for_plugin_updates"} {
		if got := get(analytics, key); got != false {
			t.Errorf("grafana.ini analytics.%s = %v, want false", key, got)
		}
	}
	for chart, path := range map[string]string{
		"loki":          "values.loki.analytics.reporting_enabled",
		"alloy":         "values.alloy.enableReporting",
		"nginx-ingress": "values.controller.telemetryReporting.enable",
	} {
		if got := get(r.one(t, "kubernetes:helm.sh/v4:Chart", chart).Inputs, path); got != false {
			t.Errorf("%s: %s = %v, want false", chart, path, got)
		}
	}
}

// Alloy's ClusterRole is rbac.rules followed by rbac.clusterRules: together
// exactly what alloyConfig's components call, each list non-empty (the
// chart renders an empty one as a literal [] that breaks the YAML).
func TestAlloyClusterRoleIsLeastPrivilege(t *testing.T) {
	alloy := runStack(t, "dev").one(t, "kubernetes:helm.sh/v4:Chart", "alloy")
	var granted []string
	for _, list := range []string{"values.rbac.rules", "values.rbac.clusterRules"} {
		rules := asSlice(get(alloy.Inputs, list))
		if len(rules) == 0 {
			t.Errorf("%s is empty or left to the chart's default", list)
		}
		for _, rule := range rules {
			if get(rule, "nonResourceURLs") != nil {
				t.Errorf("%s grants non-resource URLs: %v", list, rule)
			}
			for _, group := range asSlice(get(rule, "apiGroups")) {
				for _, res := range asSlice(get(rule, "resources")) {
					for _, verb := range asSlice(get(rule, "verbs")) {
						granted = append(granted, fmt.Sprintf("%s/%s:%s", group, res, verb))
					}
				}
			}
		}
	}
	slices.Sort(granted)
	want := []string{"/pods/log:get", "/pods:get", "/pods:list", "/pods:watch"}
	if !slices.Equal(granted, want) {
		t.Errorf("alloy ClusterRole grants %v, want exactly %v", granted, want)
	}
	if !strings.Contains(str(get(alloy.Inputs, "values.alloy.configMap.content")), `loki.source.kubernetes "pods"`) {
		t.Error("the RBAC above is for loki.source.kubernetes and discovery.kubernetes; the config no longer uses them")
	}
}
