package httpapi_test

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/crypto-exchange/exchange/service/internal/config"
)

func TestHealthReadyMetrics(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c := x.anonymous()
	c.mustJSON("GET", "/healthz", nil, 200, nil)
	c.mustJSON("GET", "/readyz", nil, 200, nil)
	c.mustJSON("GET", "/api/v1/markets", nil, 200, nil)
	c.wantError("GET", "/api/v1/nope", nil, 404, "not_found")
	c.wantError("PUT", "/api/v1/markets", nil, 405, "method_not_allowed")

	// Metrics are for the cluster only: the public listener, the one the
	// Ingress routes to, does not serve them.
	c.wantError("GET", "/metrics", nil, 404, "not_found")
	status, body := x.metrics()
	if status != 200 {
		t.Fatalf("/metrics: %d", status)
	}
	for _, want := range []string{
		`http_requests_total{code="200",method="GET",route="/api/v1/markets"} 1`,
		`http_requests_total{code="404",method="GET",route="unmatched"} 2`, // and the public /metrics
		`http_request_duration_seconds_bucket{method="GET",route="/api/v1/markets",le="+Inf"} 1`,
		"http_requests_in_flight 0", // the scrape is not a public request
		`go_sql_open_connections{db_name="exchange"}`,
		"go_goroutines",
		"process_resident_memory_bytes",
		"exchange_build_info{",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// A schema behind the binary must take the pod out of rotation.
	if err := x.db.Exec("DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)").Error; err != nil {
		t.Fatal(err)
	}
	// Its checks run at most once a second: within one, it says so.
	time.Sleep(1100 * time.Millisecond)
	msg := c.wantError("GET", "/readyz", nil, 503, "not_ready")
	if !strings.Contains(msg, "exchange migrate") {
		t.Fatalf("readyz message %q should say what to do", msg)
	}
}

func TestSecurityHeaders(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	res, err := x.anonymous().http.Get(x.url + "/api/v1/assets")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for h, want := range map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Content-Security-Policy": "default-src 'self'",
		"Referrer-Policy":         "same-origin",
	} {
		if !strings.Contains(res.Header.Get(h), want) {
			t.Errorf("%s = %q, want %q", h, res.Header.Get(h), want)
		}
	}
	if len(res.Header.Get("X-Request-Id")) != 24 {
		t.Errorf("X-Request-Id = %q", res.Header.Get("X-Request-Id"))
	}
}

// The published spec and the registered routes must agree both ways.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	raw, err := os.ReadFile("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &spec); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(spec.OpenAPI, "3.1") {
		t.Fatalf("openapi version %q, want 3.1.x", spec.OpenAPI)
	}
	methods := map[string]bool{"get": true, "post": true, "put": true, "patch": true, "delete": true}
	inSpec := map[string]bool{}
	for path, ops := range spec.Paths {
		for m := range ops {
			if methods[m] {
				inSpec[strings.ToUpper(m)+" "+path] = true
			}
		}
	}
	x := newExchange(t, config.ModeDemo)
	param := regexp.MustCompile(`:(\w+)`)
	served := map[string]bool{}
	for _, r := range x.srv.Routes() {
		// The internal sequencer door is not public API, nor are the web
		// site's pages and static files (package web registers them, so
		// their handlers are named after it).
		if r.Method == "echo_route_not_found" || strings.HasPrefix(r.Path, "/*") || strings.HasPrefix(r.Path, "/internal/") ||
			strings.Contains(r.Name, "/internal/web.") {
			continue
		}
		served[r.Method+" "+param.ReplaceAllString(r.Path, "{$1}")] = true
	}
	var missing, extra []string
	for r := range served {
		if !inSpec[r] {
			missing = append(missing, r)
		}
	}
	for r := range inSpec {
		if !served[r] {
			extra = append(extra, r)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing)+len(extra) > 0 {
		t.Fatalf("served but not in openapi.yaml: %v\nin openapi.yaml but not served: %v", missing, extra)
	}
}
