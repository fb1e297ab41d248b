package settings

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crypto-exchange/exchange/infra/stackfile"
)

func TestCommittedStacksAreValid(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		t.Run(stack, func(t *testing.T) {
			mustLoad(t, stack, committed(t, stack))
		})
	}
}

func TestDevIsASmallMinikube(t *testing.T) {
	s := mustLoad(t, "dev", committed(t, "dev"))
	checks := []struct {
		what string
		ok   bool
	}{
		{"kubernetes context minikube", s.Kubernetes.Context == "minikube"},
		{"one app replica", s.App.Replicas == 1},
		{"no autoscaler", !s.App.Autoscaling.Enabled},
		{"no disruption budget", !s.App.Disruption.Enabled},
		{"NodePort ingress", s.Ingress.ServiceType == "NodePort" && s.Ingress.HTTPNodePort == 30080},
		{"no TLS", !s.App.TLS.Enabled},
		{"demo mode", s.App.Mode == "demo"},
		{"bitnami postgres", s.Database.Engine == "bitnami" && s.Database.Instances == 1},
		{"bitnamilegacy image", strings.HasPrefix(s.Database.Image.Repository, "docker.io/bitnamilegacy/")},
		{"bucket may be destroyed", s.Backup.AWS.ForceDestroy && !s.Backup.AWS.Protect},
		{"SSE-S3", s.Backup.AWS.Encryption == "sse-s3"},
		{"IAM user writer", s.Backup.AWS.Writer == "iam-user"},
		{"small app", s.App.Resources.Limits.Memory == "256Mi"},
		{"no alert receiver", s.Alerting.Receiver == "none" && s.Secrets.AlertReceiverSecret == ""},
		{"seeded catalog", s.App.SeedCatalog},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("dev: want %s", c.what)
		}
	}
}

func TestProdIsHighlyAvailable(t *testing.T) {
	s := mustLoad(t, "prod", committed(t, "prod"))
	checks := []struct {
		what string
		ok   bool
	}{
		{"3+ replicas", s.App.Replicas >= 3 && s.App.Autoscaling.MinReplicas >= 3},
		{"autoscaler", s.App.Autoscaling.Enabled},
		{"disruption budget", s.App.Disruption.Enabled && s.App.Disruption.MinAvailable >= 2},
		{"LoadBalancer ingress", s.Ingress.ServiceType == "LoadBalancer" && s.Ingress.Replicas >= 2},
		{"TLS via cert-manager", s.App.TLS.Enabled && s.App.TLS.ClusterIssuer != ""},
		{"live mode", s.App.Mode == "live"},
		{"cloudnative-pg with read replicas", s.Database.Engine == "cloudnative-pg" && s.Database.Instances >= 3},
		{"TLS to postgres", s.Database.SSLMode == "require"},
		{"protected bucket", s.Backup.AWS.Protect && !s.Backup.AWS.ForceDestroy},
		{"KMS", s.Backup.AWS.Encryption == "kms"},
		{"IRSA writer", s.Backup.AWS.Writer == "irsa"},
		{"persistent prometheus", s.Monitoring.PrometheusStorage != ""},
		{"image from GHCR", s.App.Image.Repository == "ghcr.io/crypto-exchange/exchange"},
		{"alerts posted to Slack", s.Alerting.Receiver == "slack" && s.Alerting.SlackChannel != "" &&
			s.Secrets.AlertReceiverSecret == testSecrets["exchange:alertReceiverSecret"]},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("prod: want %s", c.what)
		}
	}
}

// The committed files carry only keys the program reads, and every chart
// ref and image there is the one the code pins (so docs/infra.md, the code
// defaults and the stacks cannot drift apart).
func TestStackFilesUseOnlyKnownKeysAndPinnedDefaults(t *testing.T) {
	known := Keys()
	for _, stack := range []string{"dev", "prod"} {
		values, err := stackfile.Read(filepath.Join("..", "..", "..", "Pulumi."+stack+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for k := range values {
			name, ok := strings.CutPrefix(k, Namespace+":")
			if !ok || !slices.Contains(known, name) {
				t.Errorf("%s: unknown config key %s", stack, k)
			}
		}
		s := mustLoad(t, stack, committed(t, stack))
		for what, got := range map[string]ChartRef{
			"ingress": s.Ingress.Chart, "database": s.Database.Chart, "crds": s.Monitoring.CRDsChart,
			"kube-prometheus-stack": s.Monitoring.Chart, "loki": s.Logging.LokiChart, "alloy": s.Logging.AlloyChart,
		} {
			pinned := []ChartRef{NginxIngressChart, IngressNginxChart, BitnamiPostgresChart, CloudNativePGChart,
				PrometheusCRDsChart, KubePrometheusStackChart, LokiChart, AlloyChart}
			if !slices.Contains(pinned, got) {
				t.Errorf("%s: %s chart %+v is not one of the pinned charts", stack, what, got)
			}
		}
		if img := s.Database.Image; img != BitnamiPostgresImage && img != CloudNativePGImage {
			t.Errorf("%s: database image %s is not a pinned one", stack, img.Ref())
		}
	}
}

// Secrets never sit in a stack file in plain text.
func TestStackFilesHoldNoPlaintextSecrets(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		values, err := stackfile.Read(filepath.Join("..", "..", "..", "Pulumi."+stack+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range secretKeys {
			if v, ok := values[Namespace+":"+k]; ok && !v.Secure {
				t.Errorf("%s: %s is committed in plain text", stack, k)
			}
		}
	}
}

func TestOmittedObjectsGetDefaults(t *testing.T) {
	c := config{}
	for k, v := range testSecrets {
		c[k] = stackfile.Value{Value: v, Secure: true}
	}
	c.set(t, "kubernetes", "context", "kind-test")
	c.set(t, "app", "host", "exchange.test")
	c.set(t, "app", "image", map[string]any{"repository": "exchange", "tag": "1.0.0"})
	// Overriding only the version keeps the pinned repository and name.
	c.set(t, "logging", "lokiChart", map[string]any{"version": "18.12.0"})
	s := mustLoad(t, "test", c)
	if s.Ingress.Chart != NginxIngressChart {
		t.Errorf("ingress chart = %+v, want the F5 default %+v", s.Ingress.Chart, NginxIngressChart)
	}
	if s.Database.Image != BitnamiPostgresImage || s.Database.MetricsImage != BitnamiExporterImage {
		t.Errorf("database images = %+v / %+v", s.Database.Image, s.Database.MetricsImage)
	}
	want := ChartRef{Repo: LokiChart.Repo, Name: LokiChart.Name, Version: "18.12.0"}
	if s.Logging.LokiChart != want {
		t.Errorf("loki chart = %+v, want %+v", s.Logging.LokiChart, want)
	}
	if s.Alerting.Receiver != "none" || s.Alerting.RepeatInterval != "4h" || !s.App.SeedCatalog || s.Backup.S3Compatible.SSE != "AES256" {
		t.Errorf("alerting %+v, seedCatalog %v, s3 sse %q: defaults not applied", s.Alerting, s.App.SeedCatalog, s.Backup.S3Compatible.SSE)
	}
	if s.Backup.Schedule != "0 2 * * *" || s.App.ShutdownTimeout != "25s" {
		t.Errorf("backup schedule %q, shutdown %q: defaults not applied", s.Backup.Schedule, s.App.ShutdownTimeout)
	}
	if want := (RateLimit{RPS: 50, BurstMultiplier: 5, Connections: 100}); s.Ingress.RateLimit != want || s.Ingress.RateLimit.Burst() != 250 {
		t.Errorf("ingress rate limit = %+v, want %+v (burst 250)", s.Ingress.RateLimit, want)
	}
	if !slices.Equal(s.Ingress.PodCIDRs, []string{MinikubePodCIDR}) {
		t.Errorf("ingress pod CIDRs = %v, want minikube's %s", s.Ingress.PodCIDRs, MinikubePodCIDR)
	}
}

// The networks the exchange trusts X-Forwarded-For from default to the pod
// network of each stack's cluster; a stack may name its own, or none.
func TestPodCIDRsFollowTheCluster(t *testing.T) {
	for stack, want := range map[string][]string{"dev": {"10.244.0.0/16"}, "prod": {"192.168.0.0/16"}} {
		if got := mustLoad(t, stack, committed(t, stack)).Ingress.PodCIDRs; !slices.Equal(got, want) {
			t.Errorf("%s: pod CIDRs %v, want %v", stack, got, want)
		}
	}
	c := committed(t, "prod")
	c.set(t, "ingress", "podCIDRs", []any{"10.0.0.0/16", "100.64.0.0/16"})
	if got := mustLoad(t, "prod", c).Ingress.PodCIDRs; !slices.Equal(got, []string{"10.0.0.0/16", "100.64.0.0/16"}) {
		t.Errorf("configured pod CIDRs = %v", got)
	}
	c = committed(t, "dev")
	c.set(t, "ingress", "podCIDRs", []any{})
	if got := mustLoad(t, "dev", c).Ingress.PodCIDRs; got == nil || len(got) != 0 {
		t.Errorf("an explicit empty list (trust nobody) became %v", got)
	}
	c = committed(t, "dev")
	c.set(t, "ingress", "rateLimit", map[string]any{"rps": 20})
	if got := mustLoad(t, "dev", c).Ingress.RateLimit; got != (RateLimit{RPS: 20, BurstMultiplier: 5, Connections: 100}) {
		t.Errorf("overriding only rps gives %+v", got)
	}
}

func TestEngineSelectsChartAndImage(t *testing.T) {
	c := committed(t, "dev")
	c.set(t, "database", "engine", "cloudnative-pg")
	c.set(t, "database", "image", map[string]any{})
	c.set(t, "database", "chart", map[string]any{})
	s := mustLoad(t, "dev", c)
	if s.Database.Chart != CloudNativePGChart || s.Database.Image != CloudNativePGImage {
		t.Errorf("cloudnative-pg engine got chart %+v image %+v", s.Database.Chart, s.Database.Image)
	}
	c = committed(t, "dev")
	c.set(t, "ingress", "controller", "ingress-nginx")
	c.set(t, "ingress", "chart", map[string]any{})
	if s := mustLoad(t, "dev", c); s.Ingress.Chart != IngressNginxChart {
		t.Errorf("ingress-nginx controller got chart %+v", s.Ingress.Chart)
	}
}
