package platform

import (
	"fmt"
	"strconv"
	"strings"

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
	var values any = nginxIngressValues(s)
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

// rateLimitAnnotations are what the selected controller reads on the
// exchange's Ingress: its per-client-IP limits. Each controller ignores the
// other's annotations, so they must be in the dialect of the one deployed.
func rateLimitAnnotations(s settings.Ingress) map[string]string {
	rl := s.RateLimit
	if s.Controller == "ingress-nginx" {
		// internal/ingress/annotations/ratelimit/main.go at controller-v1.15.1:
		// limit_req burst=rps*multiplier nodelay, and limit_conn, both keyed
		// by $binary_remote_addr (limit-conn-zone-variable's default).
		return map[string]string{
			"nginx.ingress.kubernetes.io/limit-rps":              strconv.Itoa(rl.RPS),
			"nginx.ingress.kubernetes.io/limit-burst-multiplier": strconv.Itoa(rl.BurstMultiplier),
			"nginx.ingress.kubernetes.io/limit-connections":      strconv.Itoa(rl.Connections),
		}
	}
	// F5: parseRateLimitAnnotations in internal/configs/annotations.go at
	// v5.5.4. It has no per-client connection annotation; that limit is in
	// the controller's ConfigMap (nginxIngressValues). Key and reject code
	// are the controller's defaults, spelt out so they cannot drift; no
	// delay, as ingress-nginx: a burst is served at once or refused.
	return map[string]string{
		"nginx.org/limit-req-rate":        fmt.Sprintf("%dr/s", rl.RPS),
		"nginx.org/limit-req-burst":       strconv.Itoa(rl.Burst()),
		"nginx.org/limit-req-no-delay":    "true",
		"nginx.org/limit-req-key":         "${binary_remote_addr}",
		"nginx.org/limit-req-reject-code": "429",
	}
}

// externalService is what both charts need for a NodePort or LoadBalancer
// Service. externalTrafficPolicy Local keeps the client's address (no SNAT
// to a node's), which the per-client limits and the exchange's per-IP
// limits count; ClusterIP has no such field.
func externalService(s settings.Ingress) controllerService {
	service := controllerService{Type: s.ServiceType}
	if s.ServiceType != "ClusterIP" {
		service.ExternalTrafficPolicy = "Local"
	}
	return service
}

// connectionLimitSnippet caps the connections per client IP for the F5
// controller, which has no annotation for it: http-snippets go into the
// http block of nginx.conf, so every server the controller renders (only
// the exchange's here) inherits the limit. 429 matches the request limit.
func connectionLimitSnippet(rl settings.RateLimit) string {
	return strings.Join([]string{
		"limit_conn_zone $binary_remote_addr zone=per_client_conn:10m;",
		fmt.Sprintf("limit_conn per_client_conn %d;", rl.Connections),
		"limit_conn_status 429;",
	}, "\n")
}

// nginxIngressValues are verified against F5 nginx-ingress chart 2.6.4.
func nginxIngressValues(s settings.Ingress) nginxIngressChart {
	service := nginxIngressService{controllerService: externalService(s)}
	if s.ServiceType == "NodePort" {
		// Fixed node ports so the minikube URL is stable across reinstalls.
		service.HTTPPort = &nodePort{NodePort: s.HTTPNodePort}
		service.HTTPSPort = &nodePort{NodePort: s.HTTPSNodePort}
	}
	return nginxIngressChart{
		Controller: nginxIngressController{
			ReplicaCount: s.Replicas,
			IngressClass: nginxIngressClass{Name: s.ClassName, SetAsDefaultIngress: true},
			Service:      service,
			Resources:    resourcesValues(s.Resources),
			// Rendered as the ConfigMap's data (controller-configmap.yaml);
			// read by internal/configs/configmaps.go whether or not
			// snippets are enabled for Ingress annotations (they are not).
			Config: nginxIngressConfig{Entries: nginxConfigEntries{HTTPSnippets: connectionLimitSnippet(s.RateLimit)}},
			// The chart mounts emptyDirs for NGINX's writable paths.
			ReadOnlyRootFilesystem: true,
			// No phoning home: clusters may have no egress.
			TelemetryReporting: nginxTelemetry{Enable: false},
		},
		Prometheus: nginxIngressPrometheus{Create: true, Service: create{Create: true}, ServiceMonitor: create{Create: true}},
	}
}

// ingressNginxValues are verified against community ingress-nginx chart
// 4.15.1, kept selectable for clusters that still run it.
func ingressNginxValues(s settings.Ingress) ingressNginxChart {
	service := ingressNginxService{controllerService: externalService(s)}
	if s.ServiceType == "NodePort" {
		service.NodePorts = &ingressNginxNodePorts{HTTP: s.HTTPNodePort, HTTPS: s.HTTPSNodePort}
	}
	return ingressNginxChart{Controller: ingressNginxController{
		ReplicaCount:         s.Replicas,
		IngressClassResource: ingressClassResource{Name: s.ClassName, Default: true},
		Service:              service,
		Resources:            resourcesValues(s.Resources),
		// The webhook's certificate is created and patched by Helm hook
		// Jobs, which helm/v4 Chart does not run.
		AdmissionWebhooks: enabled{Enabled: false},
		// The ConfigMap: rejected requests and connections get 429 Too
		// Many Requests, as from the server and the F5 controller, not the
		// default 503 that reads as an outage. use-forwarded-headers stays
		// off: no proxy in front is trusted, so NGINX counts and forwards
		// the TCP peer's address.
		Config:  ingressNginxConfig{LimitReqStatusCode: "429", LimitConnStatusCode: "429"},
		Metrics: ingressNginxMetrics{Enabled: true, ServiceMonitor: enabled{Enabled: true}},
	}}
}
