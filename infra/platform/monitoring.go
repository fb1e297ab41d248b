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

// MonitoringArgs configures kube-prometheus-stack.
type MonitoringArgs struct {
	Settings settings.Monitoring
	// GrafanaAdminPassword is stored only in a Kubernetes Secret.
	GrafanaAdminPassword pulumi.StringInput
	// LokiURL is added to Grafana as a data source.
	LokiURL string
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
	m.crds, err = newChart(ctx, "prometheus-operator-crds", s.CRDsChart, ns.Metadata.Name().Elem(), pulumi.Map{}, parent)
	if err != nil {
		return nil, err
	}
	_, err = newChart(ctx, kpsRelease, s.Chart, ns.Metadata.Name().Elem(), kubePrometheusStackValues(s, args.LokiURL),
		parent, m.CRDsReady(), pulumi.DependsOn([]pulumi.Resource{secret}))
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
func kubePrometheusStackValues(s settings.Monitoring, lokiURL string) pulumi.Map {
	prometheusSpec := pulumi.Map{
		// Select every ServiceMonitor/PodMonitor/PrometheusRule, not only
		// those labelled with this release: ours are declared outside it.
		"serviceMonitorSelectorNilUsesHelmValues": pulumi.Bool(false),
		"podMonitorSelectorNilUsesHelmValues":     pulumi.Bool(false),
		"ruleSelectorNilUsesHelmValues":           pulumi.Bool(false),
		"retention":                               pulumi.String(s.PrometheusRetention),
		"resources":                               resourcesValues(s.PrometheusResources),
	}
	if s.PrometheusStorage != "" {
		prometheusSpec["storageSpec"] = pulumi.Map{"volumeClaimTemplate": pulumi.Map{"spec": pulumi.Map{
			"accessModes": pulumi.StringArray{pulumi.String("ReadWriteOnce")},
			"resources":   pulumi.Map{"requests": pulumi.Map{"storage": pulumi.String(s.PrometheusStorage)}},
		}}}
	}
	return pulumi.Map{
		// The CRDs come from the prometheus-operator-crds chart, installed
		// before this one.
		"crds": pulumi.Map{"enabled": pulumi.Bool(false)},
		"prometheusOperator": pulumi.Map{
			// The webhook certificates are made by Helm hook Jobs, which
			// helm/v4 Chart does not run; the operator's own TLS uses that
			// same hook-made Secret.
			"admissionWebhooks": pulumi.Map{"enabled": pulumi.Bool(false)},
			"tls":               pulumi.Map{"enabled": pulumi.Bool(false)},
		},
		"prometheus": pulumi.Map{"prometheusSpec": prometheusSpec},
		"grafana": pulumi.Map{
			"admin": pulumi.Map{
				"existingSecret": pulumi.String(grafanaAdminSecret),
				"userKey":        pulumi.String("admin-user"),
				"passwordKey":    pulumi.String("admin-password"),
			},
			// The chart's test pod is a Helm test hook.
			"testFramework": pulumi.Map{"enabled": pulumi.Bool(false)},
			"resources":     resourcesValues(s.GrafanaResources),
			"additionalDataSources": pulumi.Array{pulumi.Map{
				"name":     pulumi.String("Loki"),
				"uid":      pulumi.String(LokiDatasourceUID),
				"type":     pulumi.String("loki"),
				"access":   pulumi.String("proxy"),
				"url":      pulumi.String(lokiURL),
				"editable": pulumi.Bool(false),
			}},
		},
	}
}
