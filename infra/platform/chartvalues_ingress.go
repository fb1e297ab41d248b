package platform

// The values of F5 nginx-ingress chart 2.6.4 that we set (nginxIngressValues).
type (
	nginxIngressChart struct {
		Controller nginxIngressController `json:"controller"`
		Prometheus nginxIngressPrometheus `json:"prometheus"`
	}
	nginxIngressController struct {
		ReplicaCount           int                 `json:"replicaCount"`
		IngressClass           nginxIngressClass   `json:"ingressClass"`
		Service                nginxIngressService `json:"service"`
		Resources              helmResources       `json:"resources"`
		Config                 nginxIngressConfig  `json:"config"`
		ReadOnlyRootFilesystem bool                `json:"readOnlyRootFilesystem"`
		TelemetryReporting     nginxTelemetry      `json:"telemetryReporting"`
	}
	nginxIngressClass struct {
		Name                string `json:"name"`
		SetAsDefaultIngress bool   `json:"setAsDefaultIngress"`
	}
	nginxIngressService struct {
		controllerService
		HTTPPort  *nodePort `json:"httpPort,omitempty"`
		HTTPSPort *nodePort `json:"httpsPort,omitempty"`
	}
	nodePort struct {
		NodePort int `json:"nodePort"`
	}
	// nginxIngressConfig.Entries is the controller ConfigMap's data.
	nginxIngressConfig struct {
		Entries nginxConfigEntries `json:"entries"`
	}
	nginxConfigEntries struct {
		HTTPSnippets string `json:"http-snippets"`
	}
	nginxTelemetry struct {
		Enable bool `json:"enable"`
	}
	nginxIngressPrometheus struct {
		Create         bool   `json:"create"`
		Service        create `json:"service"`
		ServiceMonitor create `json:"serviceMonitor"`
	}
)

// The values of community ingress-nginx chart 4.15.1 that we set
// (ingressNginxValues).
type (
	ingressNginxChart struct {
		Controller ingressNginxController `json:"controller"`
	}
	ingressNginxController struct {
		ReplicaCount         int                  `json:"replicaCount"`
		IngressClassResource ingressClassResource `json:"ingressClassResource"`
		Service              ingressNginxService  `json:"service"`
		Resources            helmResources        `json:"resources"`
		AdmissionWebhooks    enabled              `json:"admissionWebhooks"`
		Config               ingressNginxConfig   `json:"config"`
		Metrics              ingressNginxMetrics  `json:"metrics"`
	}
	ingressClassResource struct {
		Name    string `json:"name"`
		Default bool   `json:"default"`
	}
	ingressNginxService struct {
		controllerService
		NodePorts *ingressNginxNodePorts `json:"nodePorts,omitempty"`
	}
	ingressNginxNodePorts struct {
		HTTP  int `json:"http"`
		HTTPS int `json:"https"`
	}
	// ingressNginxConfig is the controller ConfigMap's data, each entry
	// quoted by the chart.
	ingressNginxConfig struct {
		LimitReqStatusCode  string `json:"limit-req-status-code"`
		LimitConnStatusCode string `json:"limit-conn-status-code"`
	}
	ingressNginxMetrics struct {
		Enabled        bool    `json:"enabled"`
		ServiceMonitor enabled `json:"serviceMonitor"`
	}
)

// controllerService is what both charts take for the controller's Service;
// externalTrafficPolicy is left out for ClusterIP.
type controllerService struct {
	Type                  string `json:"type"`
	ExternalTrafficPolicy string `json:"externalTrafficPolicy,omitempty"`
}
