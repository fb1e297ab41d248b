package platform

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// exposureRuns are the configurations whose exposure is checked: both
// committed stacks and dev with the community ingress-nginx controller.
func exposureRuns(t *testing.T) map[string]*result {
	t.Helper()
	nginx := stackConfig(t, "dev")
	setConfig(t, nginx, "ingress", "controller", "ingress-nginx")
	setConfig(t, nginx, "ingress", "chart", map[string]any{})
	runs := map[string]*result{"dev": runStack(t, "dev"), "prod": runStack(t, "prod"), "dev+ingress-nginx": run(t, "dev", nginx)}
	for name, r := range runs {
		if r.err != nil {
			t.Fatalf("%s: %v", name, r.err)
		}
	}
	return runs
}

// containerPorts maps a container's port names to their numbers.
func containerPorts(d *declared, container string) map[string]any {
	ports := map[string]any{}
	for _, c := range podContainers(d) {
		if get(c, "name") == container {
			for _, p := range asSlice(get(c, "ports")) {
				ports[str(get(p, "name"))] = get(p, "containerPort")
			}
		}
	}
	return ports
}

// servicePorts renders a Service's ports as "name port→targetPort".
func servicePorts(svc *declared) []string {
	var out []string
	for _, p := range asSlice(get(svc.Inputs, "spec.ports")) {
		out = append(out, fmt.Sprintf("%v %v→%v", get(p, "name"), get(p, "port"), get(p, "targetPort")))
	}
	return out
}

// The server has two listeners: the public one (API, site, probes) and
// the internal one (/metrics, the sequencer's door for the other
// replicas). The container declares both, the env says where each listens,
// and other replicas are told to use the internal one.
func TestServerListeners(t *testing.T) {
	for name, r := range exposureRuns(t) {
		dep := r.one(t, "kubernetes:apps/v1:Deployment", appName)
		if got, want := containerPorts(dep, "exchange"), map[string]any{"http": 8080.0, "internal": 9090.0}; !maps.Equal(got, want) {
			t.Errorf("%s: container ports %v, want %v", name, got, want)
		}
		env := containerEnv(dep, "exchange")
		for k, v := range map[string]string{
			"HTTP_ADDR":     ":8080",
			"INTERNAL_ADDR": ":9090",
			"ADVERTISE_URL": "http://$(POD_IP):9090",
		} {
			if env[k] != v {
				t.Errorf("%s: env %s = %q, want %q", name, k, env[k], v)
			}
		}
		ctr := podContainers(dep)[0]
		for _, probe := range []string{"startupProbe", "livenessProbe", "readinessProbe"} {
			if port := get(ctr, probe+".httpGet.port"); port != httpPortName {
				t.Errorf("%s: %s on port %v, want the public listener (http): it is what traders depend on", name, probe, port)
			}
		}
	}
}

// Prometheus scrapes the internal port; the public one answers 404 for
// /metrics.
func TestMetricsAreScrapedOnTheInternalPort(t *testing.T) {
	for name, r := range exposureRuns(t) {
		svc := r.one(t, "kubernetes:core/v1:Service", appName)
		if got, want := servicePorts(svc), []string{"http 80→http", "internal 9090→internal"}; !slices.Equal(got, want) {
			t.Errorf("%s: service ports %v, want %v", name, got, want)
		}
		sm := r.one(t, "kubernetes:monitoring.coreos.com/v1:ServiceMonitor", appName)
		eps := asSlice(get(sm.Inputs, "spec.endpoints"))
		if len(eps) != 1 || get(eps[0], "port") != internalPortName || get(eps[0], "path") != "/metrics" {
			t.Errorf("%s: service monitor endpoints %v, want only /metrics on port %s", name, eps, internalPortName)
		}
		if fmt.Sprint(get(sm.Inputs, "spec.selector.matchLabels")) != fmt.Sprint(get(svc.Inputs, "metadata.labels")) {
			t.Errorf("%s: service monitor selects %v, not the Service (%v)", name, get(sm.Inputs, "spec.selector.matchLabels"), get(svc.Inputs, "metadata.labels"))
		}
	}
}

// The Ingress sends every request to the Service's http port, which leads
// to the container's public listener (8080), never to the internal one: no
// request from outside can reach /metrics or the sequencer's door.
func TestIngressReachesOnlyThePublicListener(t *testing.T) {
	for name, r := range exposureRuns(t) {
		ing := r.one(t, "kubernetes:networking.k8s.io/v1:Ingress", appName)
		if b := get(ing.Inputs, "spec.defaultBackend"); b != nil {
			t.Errorf("%s: ingress has a default backend %v", name, b)
		}
		svc := r.one(t, "kubernetes:core/v1:Service", appName)
		targets := map[string]string{} // service port name → container port name
		for _, p := range asSlice(get(svc.Inputs, "spec.ports")) {
			targets[str(get(p, "name"))] = str(get(p, "targetPort"))
		}
		listeners := containerPorts(r.one(t, "kubernetes:apps/v1:Deployment", appName), "exchange")
		paths := 0
		for _, rule := range asSlice(get(ing.Inputs, "spec.rules")) {
			for _, path := range asSlice(get(rule, "http.paths")) {
				paths++
				backend := get(path, "backend.service")
				port := str(get(backend, "port.name"))
				if get(backend, "name") != appName || port != httpPortName || get(backend, "port.number") != nil {
					t.Errorf("%s: ingress path %v goes to %v, want service %s port %s", name, get(path, "path"), backend, appName, httpPortName)
				}
				if port == internalPortName || targets[port] == internalPortName {
					t.Errorf("%s: ingress path %v reaches the internal listener", name, get(path, "path"))
				}
				if got := listeners[targets[port]]; got != float64(httpPort) {
					t.Errorf("%s: ingress path %v ends on container port %v, want the public listener %d", name, get(path, "path"), got, httpPort)
				}
			}
		}
		if paths == 0 {
			t.Errorf("%s: ingress has no paths", name)
		}
	}
}

// The server believes X-Forwarded-For only from the ingress controller's
// pod network, which defaults per cluster and may be configured.
func TestTrustedProxies(t *testing.T) {
	trusted := func(r *result) string {
		return containerEnv(r.one(t, "kubernetes:apps/v1:Deployment", appName), "exchange")["TRUSTED_PROXIES"]
	}
	for stack, want := range map[string]string{"dev": "10.244.0.0/16", "prod": "192.168.0.0/16"} {
		if got := trusted(runStack(t, stack)); got != want {
			t.Errorf("%s: TRUSTED_PROXIES = %q, want %q", stack, got, want)
		}
	}
	cfg := stackConfig(t, "prod")
	setConfig(t, cfg, "ingress", "podCIDRs", []any{"10.0.0.0/16", "100.64.0.0/16"})
	if got := trusted(run(t, "prod", cfg)); got != "10.0.0.0/16,100.64.0.0/16" {
		t.Errorf("configured pod CIDRs: TRUSTED_PROXIES = %q", got)
	}
	cfg = stackConfig(t, "dev")
	setConfig(t, cfg, "ingress", "podCIDRs", []any{})
	r := run(t, "dev", cfg)
	env := containerEnv(r.one(t, "kubernetes:apps/v1:Deployment", appName), "exchange")
	if v, set := env["TRUSTED_PROXIES"]; !set || v != "" {
		t.Errorf("no pod CIDRs: TRUSTED_PROXIES = %q (set %v), want it set and empty (trust nobody)", v, set)
	}
}

// The Ingress carries the per-client limits in the dialect of the
// controller that is deployed (each ignores the other's annotations), and
// the controller sees and counts the client's own address.
func TestIngressRateLimit(t *testing.T) {
	f5 := map[string]string{
		"nginx.org/limit-req-rate":        "50r/s",
		"nginx.org/limit-req-burst":       "250",
		"nginx.org/limit-req-no-delay":    "true",
		"nginx.org/limit-req-key":         "${binary_remote_addr}",
		"nginx.org/limit-req-reject-code": "429",
	}
	community := map[string]string{
		"nginx.ingress.kubernetes.io/limit-rps":              "50",
		"nginx.ingress.kubernetes.io/limit-burst-multiplier": "5",
		"nginx.ingress.kubernetes.io/limit-connections":      "100",
	}
	runs := exposureRuns(t)
	for name, want := range map[string]map[string]string{"dev": f5, "prod": f5, "dev+ingress-nginx": community} {
		ing := runs[name].one(t, "kubernetes:networking.k8s.io/v1:Ingress", appName)
		ann, _ := get(ing.Inputs, "metadata.annotations").(map[string]any)
		limits := map[string]string{}
		for k, v := range ann {
			if strings.HasPrefix(k, "nginx.org/") || strings.HasPrefix(k, "nginx.ingress.kubernetes.io/") {
				limits[k] = str(v)
			}
		}
		if !maps.Equal(limits, want) {
			t.Errorf("%s: ingress controller annotations %v, want exactly %v", name, limits, want)
		}
	}
	if ann, _ := get(runs["prod"].one(t, "kubernetes:networking.k8s.io/v1:Ingress", appName).Inputs, "metadata.annotations").(map[string]any); ann["cert-manager.io/cluster-issuer"] != "letsencrypt-prod" {
		t.Errorf("prod: the limits replaced the cert-manager annotation: %v", ann)
	}

	// F5 has no connection annotation: the limit is in its ConfigMap.
	for _, stack := range []string{"dev", "prod"} {
		c := runs[stack].one(t, "kubernetes:helm.sh/v4:Chart", "nginx-ingress")
		snippet := str(get(c.Inputs, "values.controller.config.entries.http-snippets"))
		want := "limit_conn_zone $binary_remote_addr zone=per_client_conn:10m;\nlimit_conn per_client_conn 100;\nlimit_conn_status 429;"
		if snippet != want {
			t.Errorf("%s: nginx-ingress http-snippets\n%s\nwant\n%s", stack, snippet, want)
		}
		if got := get(c.Inputs, "values.controller.service.externalTrafficPolicy"); got != "Local" {
			t.Errorf("%s: nginx-ingress externalTrafficPolicy %v, want Local (keeps the client's address)", stack, got)
		}
	}
	c := runs["dev+ingress-nginx"].one(t, "kubernetes:helm.sh/v4:Chart", "ingress-nginx")
	// Only the status codes: use-forwarded-headers, real-ip and proxy
	// protocol stay off, so NGINX counts (and forwards in X-Forwarded-For)
	// the TCP peer's address, which a client cannot choose.
	if got := fmt.Sprint(get(c.Inputs, "values.controller.config")); got != "map[limit-conn-status-code:429 limit-req-status-code:429]" {
		t.Errorf("ingress-nginx: controller.config = %s, want only the 429 status codes", got)
	}
	if got := get(c.Inputs, "values.controller.service.externalTrafficPolicy"); got != "Local" {
		t.Errorf("ingress-nginx: externalTrafficPolicy %v, want Local (keeps the client's address)", got)
	}

	// Configured values reach both dialects.
	for controller, want := range map[string]map[string]string{
		"nginx-ingress": {"nginx.org/limit-req-rate": "20r/s", "nginx.org/limit-req-burst": "60"},
		"ingress-nginx": {"nginx.ingress.kubernetes.io/limit-rps": "20", "nginx.ingress.kubernetes.io/limit-burst-multiplier": "3",
			"nginx.ingress.kubernetes.io/limit-connections": "40"},
	} {
		cfg := stackConfig(t, "dev")
		setConfig(t, cfg, "ingress", "controller", controller)
		setConfig(t, cfg, "ingress", "chart", map[string]any{})
		setConfig(t, cfg, "ingress", "rateLimit", map[string]any{"rps": 20, "burstMultiplier": 3, "connections": 40})
		r := run(t, "dev", cfg)
		if r.err != nil {
			t.Fatal(r.err)
		}
		ann, _ := get(r.one(t, "kubernetes:networking.k8s.io/v1:Ingress", appName).Inputs, "metadata.annotations").(map[string]any)
		for k, v := range want {
			if ann[k] != v {
				t.Errorf("%s: %s = %v, want %q", controller, k, ann[k], v)
			}
		}
		if controller == "nginx-ingress" {
			snippet := str(get(r.one(t, "kubernetes:helm.sh/v4:Chart", controller).Inputs, "values.controller.config.entries.http-snippets"))
			if !strings.Contains(snippet, "limit_conn per_client_conn 40;") {
				t.Errorf("nginx-ingress: connection limit not configured: %q", snippet)
			}
		}
	}

	// A ClusterIP Service has no external traffic policy to set.
	cfg := stackConfig(t, "dev")
	setConfig(t, cfg, "ingress", "serviceType", "ClusterIP")
	setConfig(t, cfg, "ingress", "httpNodePort", 0)
	setConfig(t, cfg, "ingress", "httpsNodePort", 0)
	r := run(t, "dev", cfg)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := get(r.one(t, "kubernetes:helm.sh/v4:Chart", "nginx-ingress").Inputs, "values.controller.service"); fmt.Sprint(got) != "map[type:ClusterIP]" {
		t.Errorf("ClusterIP controller service values %v", got)
	}
}

// A pod CIDR that is not one, or a limit of zero or less, stops the
// program before anything is declared, with a message naming the key.
func TestInvalidIngressSettingsDeclareNothing(t *testing.T) {
	cases := []struct {
		path  string
		value any
		want  string
	}{
		{"podCIDRs", []any{"10.244.0.0/16", "10.244.0.1"}, `exchange:ingress.podCIDRs[1]: "10.244.0.1" is not a CIDR`},
		{"podCIDRs", []any{"not-a-network"}, `exchange:ingress.podCIDRs[0]: "not-a-network" is not a CIDR`},
		{"rateLimit.rps", 0, `exchange:ingress.rateLimit.rps: 0 is out of range; allowed 1..10000`},
		{"rateLimit.rps", -1, `exchange:ingress.rateLimit.rps: -1 is out of range; allowed 1..10000`},
		{"rateLimit.connections", -100, `exchange:ingress.rateLimit.connections: -100 is out of range; allowed 1..10000`},
	}
	for _, c := range cases {
		cfg := stackConfig(t, "dev")
		setConfig(t, cfg, "ingress", c.path, c.value)
		r := run(t, "dev", cfg)
		if r.err == nil || !strings.Contains(r.err.Error(), c.want) {
			t.Errorf("ingress.%s %v: error %v, want it to contain %q", c.path, c.value, r.err, c.want)
		}
		if len(r.resources) != 0 {
			t.Errorf("ingress.%s %v: declared %d resources before failing", c.path, c.value, len(r.resources))
		}
	}
}
