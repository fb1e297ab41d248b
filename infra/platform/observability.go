package platform

import (
	_ "embed"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"
)

// The exchange's Grafana dashboard and alerting rules live as plain files
// next to this program, so they can be read, diffed and tested as what they
// are (tests in service/internal/httpapi check every metric they name
// against a running server).
var (
	//go:embed dashboards/exchange.json
	exchangeDashboard string
	//go:embed alerts/exchange-rules.yaml
	exchangeRules string
)

const (
	// The Grafana dashboard sidecar of kube-prometheus-stack loads every
	// ConfigMap with this label and value (values grafana.sidecar.dashboards,
	// set explicitly in kubePrometheusStackValues).
	dashboardLabel      = "grafana_dashboard"
	dashboardLabelValue = "1"
	dashboardConfigMap  = "exchange-dashboard"
	dashboardFile       = "exchange.json"
	// PrometheusDatasourceUID is the uid of the Prometheus data source the
	// chart provisions (grafana.sidecar.datasources.uid, chart default).
	PrometheusDatasourceUID = "prometheus"
	// alertRulesName names the PrometheusRule of the exchange.
	alertRulesName = "exchange"
)

// ObservabilityArgs places the dashboard and the alerting rules.
type ObservabilityArgs struct {
	// MonitoringNamespace holds the dashboard ConfigMap, next to Grafana.
	MonitoringNamespace pulumi.StringInput
	// AppNamespace holds the PrometheusRule, next to what it watches.
	AppNamespace pulumi.StringInput
	// Placeholders of the rules file: the namespaces as configured.
	AppNamespaceName      string
	DatabaseNamespaceName string
	// CRDsReady orders the PrometheusRule after its CRD.
	CRDsReady pulumi.ResourceOrInvokeOption
}

// Observability is the exchange's Grafana dashboard (a ConfigMap the
// sidecar provisions) and its PrometheusRule.
type Observability struct {
	pulumi.ResourceState
}

// NewObservability declares the dashboard and the alerting rules.
func NewObservability(ctx *pulumi.Context, name string, args *ObservabilityArgs, opts ...pulumi.ResourceOption) (*Observability, error) {
	o := &Observability{}
	if err := ctx.RegisterComponentResource("exchange:platform:Observability", name, o, opts...); err != nil {
		return nil, fmt.Errorf("observability component: %w", err)
	}
	parent := pulumi.Parent(o)
	if _, err := corev1.NewConfigMap(ctx, dashboardConfigMap, &corev1.ConfigMapArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(dashboardConfigMap),
			Namespace: args.MonitoringNamespace,
			Labels: pulumi.StringMap{
				dashboardLabel:              pulumi.String(dashboardLabelValue),
				"app.kubernetes.io/part-of": pulumi.String("exchange-platform"),
			},
		},
		Data: pulumi.StringMap{dashboardFile: pulumi.String(exchangeDashboard)},
	}, parent); err != nil {
		return nil, fmt.Errorf("dashboard configmap: %w", err)
	}
	groups, err := AlertRuleGroups(args.AppNamespaceName, args.DatabaseNamespaceName)
	if err != nil {
		return nil, err
	}
	if _, err := apiextensions.NewCustomResource(ctx, alertRulesName+"-rules", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("monitoring.coreos.com/v1"),
		Kind:       pulumi.String("PrometheusRule"),
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(alertRulesName),
			Namespace: args.AppNamespace,
			Labels:    pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String("exchange-platform")},
		},
		OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{"groups": toInput(groups)}},
	}, parent, args.CRDsReady); err != nil {
		return nil, fmt.Errorf("exchange alert rules: %w", err)
	}
	if err := ctx.RegisterResourceOutputs(o, pulumi.Map{}); err != nil {
		return nil, fmt.Errorf("observability outputs: %w", err)
	}
	return o, nil
}

var placeholder = regexp.MustCompile(`\$\{[A-Za-z_]*\}`)

// AlertRuleGroups renders alerts/exchange-rules.yaml for the configured
// namespaces and returns its groups. An unknown placeholder is an error, so
// a typo in the file cannot ship a rule that matches nothing.
func AlertRuleGroups(appNamespace, databaseNamespace string) ([]any, error) {
	text := strings.NewReplacer(
		"${app_namespace}", appNamespace,
		"${database_namespace}", databaseNamespace,
	).Replace(exchangeRules)
	if left := placeholder.FindAllString(text, -1); len(left) > 0 {
		return nil, fmt.Errorf("alerts/exchange-rules.yaml: unknown placeholders %v; allowed ${app_namespace}, ${database_namespace}", left)
	}
	var file struct {
		Groups []any `yaml:"groups"`
	}
	if err := yaml.Unmarshal([]byte(text), &file); err != nil {
		return nil, fmt.Errorf("alerts/exchange-rules.yaml: %w", err)
	}
	if len(file.Groups) == 0 {
		return nil, fmt.Errorf("alerts/exchange-rules.yaml: no rule groups")
	}
	return file.Groups, nil
}

// toInput turns decoded YAML or JSON into Pulumi inputs (with sorted map
// keys, so the declared object does not change from run to run).
func toInput(v any) pulumi.Input {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		m := pulumi.Map{}
		for _, k := range keys {
			if t[k] != nil { // an empty YAML value means "not set"
				m[k] = toInput(t[k])
			}
		}
		return m
	case []any:
		a := pulumi.Array{}
		for _, e := range t {
			a = append(a, toInput(e))
		}
		return a
	case string:
		return pulumi.String(t)
	case bool:
		return pulumi.Bool(t)
	case int:
		return pulumi.Int(t)
	case float64:
		return pulumi.Float64(t)
	default:
		return pulumi.String(fmt.Sprint(t))
	}
}
