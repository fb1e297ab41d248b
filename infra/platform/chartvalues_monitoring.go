package platform

// prometheusOperatorCRDsChart: chart 31.0.1 needs no values (every CRD is
// on by default).
type prometheusOperatorCRDsChart struct{}

// The values of kube-prometheus-stack 88.5.3 and its grafana subchart
// 12.11.1 that we set (kubePrometheusStackValues).
type (
	kubePrometheusStackChart struct {
		CRDs               enabled            `json:"crds"`
		PrometheusOperator prometheusOperator `json:"prometheusOperator"`
		Prometheus         prometheusValues   `json:"prometheus"`
		Alertmanager       alertmanagerValues `json:"alertmanager"`
		Grafana            grafanaValues      `json:"grafana"`
	}
	prometheusOperator struct {
		AdmissionWebhooks enabled `json:"admissionWebhooks"`
		TLS               enabled `json:"tls"`
	}
	prometheusValues struct {
		PrometheusSpec prometheusSpec `json:"prometheusSpec"`
	}
	prometheusSpec struct {
		ServiceMonitorSelectorNilUsesHelmValues bool                   `json:"serviceMonitorSelectorNilUsesHelmValues"`
		PodMonitorSelectorNilUsesHelmValues     bool                   `json:"podMonitorSelectorNilUsesHelmValues"`
		RuleSelectorNilUsesHelmValues           bool                   `json:"ruleSelectorNilUsesHelmValues"`
		Retention                               string                 `json:"retention"`
		Resources                               helmResources          `json:"resources"`
		StorageSpec                             *prometheusStorageSpec `json:"storageSpec,omitempty"`
	}
	prometheusStorageSpec struct {
		VolumeClaimTemplate prometheusVolumeClaim `json:"volumeClaimTemplate"`
	}
	prometheusVolumeClaim struct {
		Spec prometheusVolumeClaimSpec `json:"spec"`
	}
	prometheusVolumeClaimSpec struct {
		AccessModes []string            `json:"accessModes"`
		Resources   storageRequirements `json:"resources"`
	}
	storageRequirements struct {
		Requests storageRequest `json:"requests"`
	}
	storageRequest struct {
		Storage string `json:"storage"`
	}
	alertmanagerValues struct {
		Config           alertmanagerConfig `json:"config"`
		AlertmanagerSpec *alertmanagerSpec  `json:"alertmanagerSpec,omitempty"`
	}
	// alertmanagerSpec.Secrets are mounted by the operator under
	// /etc/alertmanager/secrets/<name>/.
	alertmanagerSpec struct {
		Secrets []string `json:"secrets"`
	}
)

// The grafana subchart's values (under grafana:).
type (
	grafanaValues struct {
		Admin                 grafanaAdmin        `json:"admin"`
		TestFramework         enabled             `json:"testFramework"`
		Resources             helmResources       `json:"resources"`
		Sidecar               grafanaSidecar      `json:"sidecar"`
		AdditionalDataSources []grafanaDataSource `json:"additionalDataSources"`
		INI                   grafanaINI          `json:"grafana.ini"`
	}
	// grafanaINI is merged into the chart's default grafana.ini map and
	// rendered section by section (templates/_config.tpl).
	grafanaINI struct {
		Analytics grafanaAnalytics `json:"analytics"`
	}
	grafanaAnalytics struct {
		ReportingEnabled      bool `json:"reporting_enabled"`
		CheckForUpdates       bool `json:"check_for_updates"`
		CheckForPluginUpdates bool `json:"check_for_plugin_updates"`
	}
	grafanaAdmin struct {
		ExistingSecret string `json:"existingSecret"`
		UserKey        string `json:"userKey"`
		PasswordKey    string `json:"passwordKey"`
	}
	grafanaSidecar struct {
		Dashboards grafanaDashboardSidecar `json:"dashboards"`
	}
	grafanaDashboardSidecar struct {
		Enabled         bool   `json:"enabled"`
		Label           string `json:"label"`
		LabelValue      string `json:"labelValue"`
		SearchNamespace string `json:"searchNamespace"`
	}
	grafanaDataSource struct {
		Name     string `json:"name"`
		UID      string `json:"uid"`
		Type     string `json:"type"`
		Access   string `json:"access"`
		URL      string `json:"url"`
		Editable bool   `json:"editable"`
	}
)

// alertmanagerConfig is Alertmanager v0.34.0's own configuration file,
// which the chart renders with toYaml (alertmanagerValues). Helm merges
// maps, so every top-level key of the chart's default is set.
type (
	alertmanagerConfig struct {
		Global       alertmanagerGlobal `json:"global"`
		Route        alertRoute         `json:"route"`
		Receivers    []alertReceiver    `json:"receivers"`
		InhibitRules []inhibitRule      `json:"inhibit_rules"`
		Templates    []string           `json:"templates"`
	}
	alertmanagerGlobal struct {
		ResolveTimeout string `json:"resolve_timeout"`
	}
	alertRoute struct {
		Receiver       string          `json:"receiver"`
		GroupBy        []string        `json:"group_by"`
		GroupWait      string          `json:"group_wait"`
		GroupInterval  string          `json:"group_interval"`
		RepeatInterval string          `json:"repeat_interval"`
		Routes         []alertSubRoute `json:"routes"`
	}
	alertSubRoute struct {
		Receiver string   `json:"receiver"`
		Matchers []string `json:"matchers"`
	}
	inhibitRule struct {
		SourceMatchers []string `json:"source_matchers"`
		TargetMatchers []string `json:"target_matchers"`
		Equal          []string `json:"equal,omitempty"`
	}
	alertReceiver struct {
		Name             string            `json:"name"`
		SlackConfigs     []slackConfig     `json:"slack_configs,omitempty"`
		WebhookConfigs   []webhookConfig   `json:"webhook_configs,omitempty"`
		PagerdutyConfigs []pagerdutyConfig `json:"pagerduty_configs,omitempty"`
	}
	slackConfig struct {
		APIURLFile   string `json:"api_url_file"`
		Channel      string `json:"channel"`
		SendResolved bool   `json:"send_resolved"`
		Title        string `json:"title"`
		Text         string `json:"text"`
	}
	webhookConfig struct {
		URLFile      string `json:"url_file"`
		SendResolved bool   `json:"send_resolved"`
	}
	pagerdutyConfig struct {
		RoutingKeyFile string `json:"routing_key_file"`
		SendResolved   bool   `json:"send_resolved"`
		Description    string `json:"description"`
		Severity       string `json:"severity"`
	}
)
