package platform

import (
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv4 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v4"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crypto-exchange/exchange/infra/platform/settings"
)

// Names other components and the docs rely on.
const (
	grafanaAdminSecret = "grafana-admin"
	// kpsRelease is the kube-prometheus-stack release; the Grafana Service
	// is "<release>-grafana" on port 80.
	kpsRelease = "kube-prometheus-stack"
	// LokiDatasourceUID is the uid dashboards use to query Loki.
	LokiDatasourceUID = "loki"
)

// prometheusPodLabels select the Prometheus servers: the operator labels
// every pod of a Prometheus resource so (Alertmanager's pods are
// "alertmanager"; Grafana and the exporters carry their own names).
var prometheusPodLabels = map[string]string{"app.kubernetes.io/name": "prometheus"}

// MonitoringArgs configures kube-prometheus-stack.
type MonitoringArgs struct {
	Settings settings.Monitoring
	// GrafanaAdminPassword is stored only in a Kubernetes Secret.
	GrafanaAdminPassword pulumi.StringInput
	// LokiURL is added to Grafana as a data source.
	LokiURL string
	// Alerting routes Alertmanager's notifications; AlertReceiverSecret is
	// the receiver's URL or key (unused for receiver none), stored only in a
	// Kubernetes Secret that Alertmanager reads as a file.
	Alerting            settings.Alerting
	AlertReceiverSecret pulumi.StringInput
}

// Monitoring is the Prometheus Operator CRDs plus kube-prometheus-stack
// (Prometheus, Alertmanager, Grafana, kube-state-metrics, node-exporter).
type Monitoring struct {
	pulumi.ResourceState

	Namespace pulumi.StringOutput
	// GrafanaCommand is the kubectl command that opens Grafana locally.
	GrafanaCommand pulumi.StringOutput

	crds *helmv4.Chart
}

// CRDsReady is the option every ServiceMonitor, PodMonitor and
// PrometheusRule user takes, so none races the CRD installation.
func (m *Monitoring) CRDsReady() pulumi.ResourceOrInvokeOption { return dependsOnChart(m.crds) }

// NewMonitoring installs the CRD chart first, then the stack without CRDs.
func NewMonitoring(ctx *pulumi.Context, name string, args *MonitoringArgs, opts ...pulumi.ResourceOption) (*Monitoring, error) {
	m := &Monitoring{}
	if err := ctx.RegisterComponentResource("exchange:platform:Monitoring", name, m, opts...); err != nil {
		return nil, fmt.Errorf("monitoring component: %w", err)
	}
	s := args.Settings
	parent := pulumi.Parent(m)
	ns, err := newNamespace(ctx, s.Namespace, psaPrivileged, parent)
	if err != nil {
		return nil, err
	}
	secret, err := corev1.NewSecret(ctx, grafanaAdminSecret, &corev1.SecretArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(grafanaAdminSecret), Namespace: ns.Metadata.Name().Elem()},
		Type:     pulumi.String("Opaque"),
		StringData: pulumi.StringMap{
			"admin-user":     pulumi.String("admin"),
			"admin-password": pulumi.ToSecret(args.GrafanaAdminPassword).(pulumi.StringOutput),
		},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("grafana admin secret: %w", err)
	}
	chartDeps := []pulumi.Resource{secret}
	if args.Alerting.Receiver != "none" {
		// Alertmanager reads the URL or key from this file
		// (api_url_file, url_file, routing_key_file), so the credential is
		// neither in the chart values nor in the rendered configuration.
		receiver, err := corev1.NewSecret(ctx, alertReceiverSecret, &corev1.SecretArgs{
			Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(alertReceiverSecret), Namespace: ns.Metadata.Name().Elem()},
			Type:       pulumi.String("Opaque"),
			StringData: pulumi.StringMap{alertReceiverKey: pulumi.ToSecret(args.AlertReceiverSecret).(pulumi.StringOutput)},
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("alert receiver secret: %w", err)
		}
		chartDeps = append(chartDeps, receiver)
	}
	m.crds, err = newChart(ctx, "prometheus-operator-crds", s.CRDsChart, ns.Metadata.Name().Elem(), prometheusOperatorCRDsChart{}, parent)
	if err != nil {
		return nil, err
	}
	_, err = newChart(ctx, kpsRelease, s.Chart, ns.Metadata.Name().Elem(), kubePrometheusStackValues(s, args.LokiURL, args.Alerting),
		parent, m.CRDsReady(), pulumi.DependsOn(chartDeps))
	if err != nil {
		return nil, err
	}
	m.Namespace = ns.Metadata.Name().Elem()
	// Then browse http://localhost:3000 and log in as admin.
	m.GrafanaCommand = pulumi.Sprintf("kubectl --namespace %s port-forward svc/%s-grafana 3000:80", m.Namespace, kpsRelease)
	if err := ctx.RegisterResourceOutputs(m, pulumi.Map{
		"namespace":      m.Namespace,
		"grafanaCommand": m.GrafanaCommand,
	}); err != nil {
		return nil, fmt.Errorf("monitoring outputs: %w", err)
	}
	return m, nil
}

// kubePrometheusStackValues are verified against kube-prometheus-stack 88.5.3
// and its grafana subchart 12.11.1 (see docs/infra.md).
func kubePrometheusStackValues(s settings.Monitoring, lokiURL string, alerting settings.Alerting) kubePrometheusStackChart {
	spec := prometheusSpec{
		// Select every ServiceMonitor/PodMonitor/PrometheusRule, not only
		// those labelled with this release: ours are declared outside it.
		ServiceMonitorSelectorNilUsesHelmValues: false,
		PodMonitorSelectorNilUsesHelmValues:     false,
		RuleSelectorNilUsesHelmValues:           false,
		Retention:                               s.PrometheusRetention,
		Resources:                               resourcesValues(s.PrometheusResources),
	}
	if s.PrometheusStorage != "" {
		spec.StorageSpec = &prometheusStorageSpec{VolumeClaimTemplate: prometheusVolumeClaim{Spec: prometheusVolumeClaimSpec{
			AccessModes: []string{"ReadWriteOnce"},
			Resources:   storageRequirements{Requests: storageRequest{Storage: s.PrometheusStorage}},
		}}}
	}
	return kubePrometheusStackChart{
		// The CRDs come from the prometheus-operator-crds chart, installed
		// before this one.
		CRDs: enabled{Enabled: false},
		// The webhook certificates are made by Helm hook Jobs, which
		// helm/v4 Chart does not run; the operator's own TLS uses that same
		// hook-made Secret.
		PrometheusOperator: prometheusOperator{AdmissionWebhooks: enabled{Enabled: false}, TLS: enabled{Enabled: false}},
		Prometheus:         prometheusValues{PrometheusSpec: spec},
		Alertmanager:       alertmanagerChartValues(alerting),
		Grafana: grafanaValues{
			Admin: grafanaAdmin{ExistingSecret: grafanaAdminSecret, UserKey: "admin-user", PasswordKey: "admin-password"},
			// The chart's test pod is a Helm test hook.
			TestFramework: enabled{Enabled: false},
			Resources:     resourcesValues(s.GrafanaResources),
			// The chart's defaults, pinned here because the exchange
			// dashboard's ConfigMap (observability.go) relies on them.
			Sidecar: grafanaSidecar{Dashboards: grafanaDashboardSidecar{
				Enabled: true, Label: dashboardLabel, LabelValue: dashboardLabelValue, SearchNamespace: "ALL",
			}},
			AdditionalDataSources: []grafanaDataSource{{
				Name: "Loki", UID: LokiDatasourceUID, Type: "loki", Access: "proxy", URL: lokiURL, Editable: false,
			}},
			// No phoning home: the cluster may have no egress, and an
			// exchange's monitoring has no business telling anyone what it
			// runs. Usage reports and the checks for new Grafana and plugin
			// versions are all on by default (the chart sets only
			// check_for_updates: true).
			INI: grafanaINI{Analytics: grafanaAnalytics{
				ReportingEnabled: false, CheckForUpdates: false, CheckForPluginUpdates: false,
			}},
		},
	}
}

// The alert receiver's credential: a Secret in the monitoring namespace that
// the Prometheus Operator mounts into Alertmanager under
// /etc/alertmanager/secrets/<name>/ (alertmanagerSpec.secrets).
const (
	alertReceiverSecret = "alertmanager-receiver"
	alertReceiverKey    = "credential"
	alertReceiverFile   = "/etc/alertmanager/secrets/" + alertReceiverSecret + "/" + alertReceiverKey
	nullReceiver        = "null"
	oncallReceiver      = "exchange-oncall"
)

// alertmanagerChartValues set the whole Alertmanager configuration: every
// key of the chart's default alertmanager.config is given, because Helm
// merges maps (a key left out would keep the chart's value).
func alertmanagerChartValues(a settings.Alerting) alertmanagerValues {
	receivers := []alertReceiver{{Name: nullReceiver}}
	defaultReceiver := nullReceiver
	if a.Receiver != "none" {
		defaultReceiver = oncallReceiver
		receivers = append(receivers, oncallReceiverConfig(a))
	}
	silence := func(matcher string) alertSubRoute {
		return alertSubRoute{Receiver: nullReceiver, Matchers: []string{matcher}}
	}
	inhibit := func(source, target string, equal ...string) inhibitRule {
		return inhibitRule{SourceMatchers: []string{source}, TargetMatchers: []string{target}, Equal: equal}
	}
	values := alertmanagerValues{Config: alertmanagerConfig{
		Global: alertmanagerGlobal{ResolveTimeout: "5m"},
		Route: alertRoute{
			Receiver:       defaultReceiver,
			GroupBy:        []string{"alertname", "namespace"},
			GroupWait:      "30s",
			GroupInterval:  "5m",
			RepeatInterval: a.RepeatInterval,
			Routes: []alertSubRoute{
				// The chart's always-firing Watchdog and InfoInhibitor, and
				// info-level alerts, are for dashboards, not for people.
				silence(`alertname = "Watchdog"`),
				silence(`alertname = "InfoInhibitor"`),
				silence(`severity = "info"`),
			},
		},
		Receivers: receivers,
		InhibitRules: []inhibitRule{
			// The chart's defaults: a critical alert silences the warning of
			// the same name, a warning the info.
			inhibit(`severity = "critical"`, `severity =~ "warning|info"`, "namespace", "alertname"),
			inhibit(`severity = "warning"`, `severity = "info"`, "namespace", "alertname"),
			inhibit(`alertname = "InfoInhibitor"`, `severity = "info"`, "namespace"),
			// The exchange's paired alerts.
			inhibit(`alertname = "ExchangeHighErrorRatio"`, `alertname = "ExchangeElevatedErrorRatio"`),
			inhibit(`alertname = "ExchangeDown"`, `alertname = "ExchangePodsNotReady"`),
		},
		Templates: []string{"/etc/alertmanager/config/*.tmpl"},
	}}
	if a.Receiver != "none" {
		values.AlertmanagerSpec = &alertmanagerSpec{Secrets: []string{alertReceiverSecret}}
	}
	return values
}

// oncallReceiverConfig reads its URL or key from the mounted Secret. The
// Go templates are Alertmanager's (the chart's tplConfig is off, so Helm
// leaves them alone).
func oncallReceiverConfig(a settings.Alerting) alertReceiver {
	r := alertReceiver{Name: oncallReceiver}
	switch a.Receiver {
	case "slack":
		r.SlackConfigs = []slackConfig{{
			APIURLFile:   alertReceiverFile,
			Channel:      a.SlackChannel,
			SendResolved: true,
			Title:        `[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.alertname }}`,
			Text: "{{ range .Alerts }}*{{ .Labels.severity | toUpper }}* {{ .Annotations.summary }}\n" +
				"{{ .Annotations.description }}\n*Runbook:* {{ .Annotations.runbook }}\n{{ end }}",
		}}
	case "webhook":
		r.WebhookConfigs = []webhookConfig{{URLFile: alertReceiverFile, SendResolved: true}}
	case "pagerduty":
		r.PagerdutyConfigs = []pagerdutyConfig{{
			RoutingKeyFile: alertReceiverFile,
			SendResolved:   true,
			Description:    `{{ .CommonLabels.alertname }}: {{ .CommonAnnotations.summary }}`,
			Severity:       `{{ if eq .CommonLabels.severity "critical" }}critical{{ else }}warning{{ end }}`,
		}}
	}
	return r
}
