package platform

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crypto-exchange/exchange/infra/platform/settings"
)

// IngressArgs configures the ingress controller.
type IngressArgs struct {
	Settings settings.Ingress
	// CRDsReady orders the controller's ServiceMonitor after its CRD.
	CRDsReady pulumi.ResourceOrInvokeOption
}

// IngressController is an NGINX ingress controller from its Helm chart.
type IngressController struct {
	pulumi.ResourceState

	Namespace pulumi.StringOutput
	ClassName pulumi.StringOutput
}

// NewIngressController installs the controller selected by config.
func NewIngressController(ctx *pulumi.Context, name string, args *IngressArgs, opts ...pulumi.ResourceOption) (*IngressController, error) {
	c := &IngressController{}
	if err := ctx.RegisterComponentResource("exchange:platform:IngressController", name, c, opts...); err != nil {
		return nil, fmt.Errorf("ingress component: %w", err)
	}
	s := args.Settings
	parent := pulumi.Parent(c)
	ns, err := newNamespace(ctx, s.Namespace, psaBaseline, parent)
	if err != nil {
		return nil, err
	}
	values := nginxIngressValues(s)
	if s.Controller == "ingress-nginx" {
		values = ingressNginxValues(s)
	}
	if _, err := newChart(ctx, s.Controller, s.Chart, ns.Metadata.Name().Elem(), values, parent, args.CRDsReady); err != nil {
		return nil, err
	}
	c.Namespace = ns.Metadata.Name().Elem()
	c.ClassName = pulumi.String(s.ClassName).ToStringOutput()
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"namespace": c.Namespace, "className": c.ClassName}); err != nil {
		return nil, fmt.Errorf("ingress outputs: %w", err)
	}
	return c, nil
}

// controllerPodLabels select the controller's pods. Both charts label them
// app.kubernetes.io/name with the chart's name (we set no nameOverride);
// ingress-nginx's chart runs other pods too, told apart by the component.
func controllerPodLabels(s settings.Ingress) map[string]string {
	labels := map[string]string{"app.kubernetes.io/name": s.Chart.Name}
	if s.Controller == "ingress-nginx" {
		labels["app.kubernetes.io/component"] = "controller"
	}
	return labels
}

// nginxIngressValues are verified against F5 nginx-ingress chart 2.6.4.
func nginxIngressValues(s settings.Ingress) pulumi.Map {
	service := pulumi.Map{"type": pulumi.String(s.ServiceType)}
	if s.ServiceType == "NodePort" {
		// Fixed node ports so the minikube URL is stable across reinstalls.
		service["httpPort"] = pulumi.Map{"nodePort": pulumi.Int(s.HTTPNodePort)}
		service["httpsPort"] = pulumi.Map{"nodePort": pulumi.Int(s.HTTPSNodePort)}
	}
	return pulumi.Map{
		"controller": pulumi.Map{
			"replicaCount": pulumi.Int(s.Replicas),
			"ingressClass": pulumi.Map{
				"name":                pulumi.String(s.ClassName),
				"setAsDefaultIngress": pulumi.Bool(true),
			},
			"service":   service,
			"resources": resourcesValues(s.Resources),
			// The chart mounts emptyDirs for NGINX's writable paths.
			"readOnlyRootFilesystem": pulumi.Bool(true),
			// No phoning home: clusters may have no egress.
			"telemetryReporting": pulumi.Map{"enable": pulumi.Bool(false)},
		},
		"prometheus": pulumi.Map{
			"create":         pulumi.Bool(true),
			"service":        pulumi.Map{"create": pulumi.Bool(true)},
			"serviceMonitor": pulumi.Map{"create": pulumi.Bool(true)},
		},
	}
}

// ingressNginxValues are verified against community ingress-nginx chart
// 4.15.1, kept selectable for clusters that still run it.
func ingressNginxValues(s settings.Ingress) pulumi.Map {
	service := pulumi.Map{"type": pulumi.String(s.ServiceType)}
	if s.ServiceType == "NodePort" {
		service["nodePorts"] = pulumi.Map{"http": pulumi.Int(s.HTTPNodePort), "https": pulumi.Int(s.HTTPSNodePort)}
	}
	return pulumi.Map{
		"controller": pulumi.Map{
			"replicaCount": pulumi.Int(s.Replicas),
			"ingressClassResource": pulumi.Map{
				"name":    pulumi.String(s.ClassName),
				"default": pulumi.Bool(true),
			},
			"service":   service,
			"resources": resourcesValues(s.Resources),
			// The webhook's certificate is created and patched by Helm hook
			// Jobs, which helm/v4 Chart does not run.
			"admissionWebhooks": pulumi.Map{"enabled": pulumi.Bool(false)},
			"metrics": pulumi.Map{
				"enabled":        pulumi.Bool(true),
				"serviceMonitor": pulumi.Map{"enabled": pulumi.Bool(true)},
			},
		},
	}
}
