package platform

import (
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	autoscalingv2 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/autoscaling/v2"
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crypto-exchange/exchange/infra/platform/settings"
)

// server declares the Deployment and everything that routes to, scales,
// protects and scrapes it.
func (a *ExchangeApp) server(ctx *pulumi.Context, args *ExchangeAppArgs, sa *corev1.ServiceAccount,
	appSec *corev1.Secret, job *batchv1.Job) error {
	s := args.Settings
	parent := pulumi.Parent(a)
	labels := appLabels(serverLabel)
	// The HPA comes first and the Deployment depends on it: see autoscaler.
	hpa, err := a.autoscaler(ctx, args)
	if err != nil {
		return err
	}
	dep, err := a.deployment(ctx, args, sa, appSec, job, hpa)
	if err != nil {
		return err
	}
	svc, err := corev1.NewService(ctx, appName, &corev1.ServiceArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(appName), Namespace: a.Namespace, Labels: labels},
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("ClusterIP"),
			Selector: labels,
			Ports: corev1.ServicePortArray{
				corev1.ServicePortArgs{
					Name: pulumi.String(httpPortName), Port: pulumi.Int(80), TargetPort: pulumi.String(httpPortName),
				},
				// For the ServiceMonitor, which names a Service port. The
				// Ingress routes to http only, and the NetworkPolicy admits
				// only Prometheus and the server pods here.
				corev1.ServicePortArgs{
					Name: pulumi.String(internalPortName), Port: pulumi.Int(internalPort), TargetPort: pulumi.String(internalPortName),
				},
			},
		},
	}, parent, pulumi.DependsOn([]pulumi.Resource{dep}))
	if err != nil {
		return fmt.Errorf("exchange service: %w", err)
	}
	if err := a.ingress(ctx, args, svc); err != nil {
		return err
	}
	if s.Disruption.Enabled {
		if _, err := policyv1.NewPodDisruptionBudget(ctx, appName, &policyv1.PodDisruptionBudgetArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(appName), Namespace: a.Namespace, Labels: labels},
			Spec: &policyv1.PodDisruptionBudgetSpecArgs{
				MinAvailable: pulumi.Int(s.Disruption.MinAvailable),
				Selector:     &metav1.LabelSelectorArgs{MatchLabels: labels},
			},
		}, parent); err != nil {
			return fmt.Errorf("exchange disruption budget: %w", err)
		}
	}
	if _, err := apiextensions.NewCustomResource(ctx, appName, &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("monitoring.coreos.com/v1"),
		Kind:       pulumi.String("ServiceMonitor"),
		Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(appName), Namespace: a.Namespace, Labels: labels},
		OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{
			"selector": pulumi.Map{"matchLabels": labels},
			// Metrics are served on the internal listener only; the public
			// one answers 404 for /metrics.
			"endpoints": pulumi.Array{pulumi.Map{
				"port": pulumi.String(internalPortName), "path": pulumi.String("/metrics"), "interval": pulumi.String("30s"),
			}},
		}},
	}, parent, args.CRDsReady, pulumi.DependsOn([]pulumi.Resource{svc})); err != nil {
		return fmt.Errorf("exchange service monitor: %w", err)
	}
	return nil
}

// pinnedCPUUtilization is the CPU target of the pinned HPA (autoscaling
// off). It decides nothing: with minReplicas = maxReplicas the controller
// can only hold the count. It is a constant (the default of
// app.autoscaling.targetCPUUtilization) because the settings neither check
// nor read app.autoscaling's fields while autoscaling is off.
const pinnedCPUUtilization = 70

// hpaBounds are the HPA's minReplicas, maxReplicas and CPU target: the
// configured range with autoscaling on; pinned to app.replicas with it off.
func hpaBounds(s settings.App) (minReplicas, maxReplicas, cpuTarget int) {
	if as := s.Autoscaling; as.Enabled {
		return as.MinReplicas, as.MaxReplicas, as.TargetCPUUtilization
	}
	return s.Replicas, s.Replicas, pinnedCPUUtilization
}

// autoscaler declares the HPA of the server Deployment, whether autoscaling
// is on or off: off, it is pinned (minReplicas = maxReplicas = app.replicas).
//
// Pulumi runs creates and updates before deletes (pulumi/pulumi#2877,
// #7535), so an HPA dropped from the program would be deleted only after
// the Deployment's new count was set; meanwhile the HPA controller, which
// enforces minReplicas and maxReplicas before it looks at metrics
// (reconcileAutoscaler in k8s.io/kubernetes pkg/controller/podautoscaler/
// horizontal.go), could scale the Deployment back into the old range, and
// nothing would correct it after the delete (seen in the end-to-end test:
// 2 replicas asked, 3 left). Kept and pinned, the HPA is updated, and the
// Deployment depends on it, so the bounds change before the count does;
// whatever the controller does in between moves toward the configured
// count, and afterwards the pinned HPA itself holds that count. Turning
// autoscaling on is the same update the other way: the range widens first,
// then the Deployment lets go of spec.replicas.
//
// scaleTargetRef names the Deployment by its constant name, not by its
// output: the Deployment depends on the HPA, not the other way round. On a
// new stack the HPA exists a moment before its target (the controller
// reports FailedGetScale until then).
func (a *ExchangeApp) autoscaler(ctx *pulumi.Context, args *ExchangeAppArgs) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	minReplicas, maxReplicas, cpuTarget := hpaBounds(args.Settings)
	hpa, err := autoscalingv2.NewHorizontalPodAutoscaler(ctx, appName, &autoscalingv2.HorizontalPodAutoscalerArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(appName), Namespace: a.Namespace, Labels: appLabels(serverLabel)},
		Spec: &autoscalingv2.HorizontalPodAutoscalerSpecArgs{
			ScaleTargetRef: &autoscalingv2.CrossVersionObjectReferenceArgs{
				ApiVersion: pulumi.String("apps/v1"), Kind: pulumi.String("Deployment"), Name: pulumi.String(appName),
			},
			MinReplicas: pulumi.Int(minReplicas),
			MaxReplicas: pulumi.Int(maxReplicas),
			// Declared even when pinned: the API server would default an
			// empty list to CPU at 80%.
			Metrics: autoscalingv2.MetricSpecArray{autoscalingv2.MetricSpecArgs{
				Type: pulumi.String("Resource"),
				Resource: &autoscalingv2.ResourceMetricSourceArgs{
					Name: pulumi.String("cpu"),
					Target: &autoscalingv2.MetricTargetArgs{
						Type:               pulumi.String("Utilization"),
						AverageUtilization: pulumi.Int(cpuTarget),
					},
				},
			}},
		},
	}, pulumi.Parent(a))
	if err != nil {
		return nil, fmt.Errorf("exchange autoscaler: %w", err)
	}
	return hpa, nil
}

// ingress routes the configured host to the Service's http port, and only
// there (the internal port serves metrics and the replicas' forwarding),
// with the controller's per-client limits, and with TLS (and a cert-manager
// issuer annotation) when configured.
func (a *ExchangeApp) ingress(ctx *pulumi.Context, args *ExchangeAppArgs, svc *corev1.Service) error {
	s := args.Settings
	annotations := pulumi.ToStringMap(args.IngressAnnotations)
	if args.SkipIngressAwait {
		// Without a LoadBalancer the controller may never publish an address
		// in the Ingress status, which Pulumi would otherwise wait for.
		annotations["pulumi.com/skipAwait"] = pulumi.String("true")
	}
	spec := &networkingv1.IngressSpecArgs{
		IngressClassName: pulumi.String(args.IngressClass),
		Rules: networkingv1.IngressRuleArray{networkingv1.IngressRuleArgs{
			Host: pulumi.String(s.Host),
			Http: &networkingv1.HTTPIngressRuleValueArgs{Paths: networkingv1.HTTPIngressPathArray{networkingv1.HTTPIngressPathArgs{
				Path:     pulumi.String("/"),
				PathType: pulumi.String("Prefix"),
				Backend: &networkingv1.IngressBackendArgs{Service: &networkingv1.IngressServiceBackendArgs{
					Name: svc.Metadata.Name().Elem(),
					Port: &networkingv1.ServiceBackendPortArgs{Name: pulumi.String(httpPortName)},
				}},
			}}},
		}},
	}
	if s.TLS.Enabled {
		spec.Tls = networkingv1.IngressTLSArray{networkingv1.IngressTLSArgs{
			Hosts:      pulumi.StringArray{pulumi.String(s.Host)},
			SecretName: pulumi.String(s.TLS.SecretName),
		}}
		if s.TLS.ClusterIssuer != "" {
			annotations["cert-manager.io/cluster-issuer"] = pulumi.String(s.TLS.ClusterIssuer)
		}
	}
	meta := &metav1.ObjectMetaArgs{Name: pulumi.String(appName), Namespace: a.Namespace, Labels: appLabels(serverLabel)}
	if len(annotations) > 0 {
		meta.Annotations = annotations
	}
	if _, err := networkingv1.NewIngress(ctx, appName, &networkingv1.IngressArgs{Metadata: meta, Spec: spec}, pulumi.Parent(a)); err != nil {
		return fmt.Errorf("exchange ingress: %w", err)
	}
	return nil
}
