package settings

import "time"

// Pinned third-party chart versions. Each is the newest release whose source
// (Chart.yaml and values.yaml at the release tag) was read to verify the
// values this program sets; docs/infra.md lists the keys and the tags.
var (
	// F5 NGINX Ingress Controller, tag v5.5.4 of nginx/kubernetes-ingress.
	NginxIngressChart = ChartRef{Repo: "https://helm.nginx.com/stable", Name: "nginx-ingress", Version: "2.6.4"}
	// Community ingress-nginx (retired March 2026), tag helm-chart-4.15.1.
	IngressNginxChart = ChartRef{Repo: "https://kubernetes.github.io/ingress-nginx", Name: "ingress-nginx", Version: "4.15.1"}
	// Bitnami PostgreSQL, tag postgresql/17.1.0 of bitnami/charts.
	BitnamiPostgresChart = ChartRef{Repo: "oci://registry-1.docker.io/bitnamicharts", Name: "postgresql", Version: "17.1.0"}
	// CloudNativePG operator 1.30.0, tag cloudnative-pg-v0.29.0.
	CloudNativePGChart = ChartRef{Repo: "https://cloudnative-pg.github.io/charts", Name: "cloudnative-pg", Version: "0.29.0"}
	// Prometheus Operator CRDs v0.93.1, same operator as the stack below.
	PrometheusCRDsChart = ChartRef{Repo: "https://prometheus-community.github.io/helm-charts", Name: "prometheus-operator-crds", Version: "31.0.1"}
	// kube-prometheus-stack (operator v0.93.1, Grafana chart 12.11.1).
	KubePrometheusStackChart = ChartRef{Repo: "https://prometheus-community.github.io/helm-charts", Name: "kube-prometheus-stack", Version: "88.5.3"}
	// Loki 3.7.6; the OSS chart moved to grafana-community in March 2026.
	LokiChart = ChartRef{Repo: "https://grafana-community.github.io/helm-charts", Name: "loki", Version: "18.11.0"}
	// Grafana Alloy v1.18.1, tag helm-chart/1.11.1 of grafana/alloy.
	AlloyChart = ChartRef{Repo: "https://grafana.github.io/helm-charts", Name: "alloy", Version: "1.11.1"}
)

// Pinned database images. Bitnami stopped publishing free images under
// docker.io/bitnami in August 2025; the last free builds live on as
// docker.io/bitnamilegacy with the same tags the 17.1.0 chart defaults to.
var (
	BitnamiPostgresImage = Image{Repository: "docker.io/bitnamilegacy/postgresql", Tag: "17.6.0-debian-12-r4"}
	BitnamiExporterImage = Image{Repository: "docker.io/bitnamilegacy/postgres-exporter", Tag: "0.17.1-debian-12-r16"}
	// CloudNativePG operand image, same PostgreSQL major (17) as the Bitnami
	// image so one pg_dump in the exchange image serves both engines.
	CloudNativePGImage = Image{Repository: "ghcr.io/cloudnative-pg/postgresql", Tag: "17.6"}
)

// Allowed values of the enumerated keys, in the order error messages list them.
var (
	IngressControllers = []string{"nginx-ingress", "ingress-nginx"}
	ServiceTypes       = []string{"NodePort", "LoadBalancer", "ClusterIP"}
	DatabaseEngines    = []string{"bitnami", "cloudnative-pg"}
	SSLModes           = []string{"disable", "require", "verify-full"}
	AppModes           = []string{"demo", "live"}
	LogLevels          = []string{"debug", "info", "warn", "error"}
	BackupStores       = []string{"aws", "s3-compatible"}
	Encryptions        = []string{"sse-s3", "kms"}
	Writers            = []string{"iam-user", "irsa"}
	BackupSSEModes     = []string{"AES256", "aws:kms", "none"}
	AlertReceivers     = []string{"none", "slack", "webhook", "pagerduty"}
)

// Bounds that the exchange's own configuration loader enforces too, on the
// variable a setting becomes: app.shutdownTimeout is SHUTDOWN_TIMEOUT,
// backup.s3Compatible.bucket is BACKUP_S3_BUCKET. The platform's contract
// test hands them (and the enumerations above) to the service's tests, which
// check that the service accepts all of them (docs/infra.md).
const (
	MinShutdownTimeout = time.Second
	MaxShutdownTimeout = 5 * time.Minute
	// S3BucketNamePattern is S3's rule for general-purpose bucket names.
	S3BucketNamePattern = `^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`
)

func res(reqCPU, reqMem, limCPU, limMem string) Resources {
	return Resources{
		Requests: ResourceList{CPU: reqCPU, Memory: reqMem},
		Limits:   ResourceList{CPU: limCPU, Memory: limMem},
	}
}

// defaults returns the values used for every key a stack file omits. They
// are the small, safe, dev-sized choices; prod overrides them explicitly.
func defaults() Settings {
	return Settings{
		AWS: AWS{Region: "eu-central-1"},
		Ingress: Ingress{
			Controller:  "nginx-ingress",
			Namespace:   "ingress",
			ClassName:   "nginx",
			ServiceType: "LoadBalancer",
			Replicas:    1,
			Resources:   res("100m", "128Mi", "500m", "256Mi"),
			// 50 requests/s sustained and bursts of 250 per client IP are far
			// above what a trader's browser or bot sends (the server's own
			// limits answer long before); 100 connections leave room for
			// many tabs, WebSockets and bots behind one address.
			RateLimit: RateLimit{RPS: 50, BurstMultiplier: 5, Connections: 100},
		},
		Database: Database{
			Engine:            "bitnami",
			Namespace:         "database",
			OperatorNamespace: "cnpg-system",
			Name:              "exchange",
			User:              "exchange",
			Instances:         1,
			StorageSize:       "8Gi",
			SSLMode:           "disable",
			Resources:         res("250m", "256Mi", "1", "1Gi"),
		},
		Monitoring: Monitoring{
			Namespace:           "monitoring",
			PrometheusRetention: "2d",
			PrometheusResources: res("200m", "512Mi", "1", "2Gi"),
			GrafanaResources:    res("100m", "128Mi", "500m", "256Mi"),
			CRDsChart:           PrometheusCRDsChart,
			Chart:               KubePrometheusStackChart,
		},
		Logging: Logging{
			Namespace:      "logging",
			Retention:      "168h",
			StorageSize:    "10Gi",
			LokiResources:  res("100m", "256Mi", "1", "1Gi"),
			AlloyResources: res("50m", "64Mi", "250m", "256Mi"),
			LokiChart:      LokiChart,
			AlloyChart:     AlloyChart,
		},
		App: App{
			Namespace:       "exchange",
			Mode:            "demo",
			LogLevel:        "info",
			Replicas:        1,
			ShutdownTimeout: "25s",
			DBPoolSize:      DefaultDBPoolSize,
			Resources:       res("100m", "128Mi", "500m", "256Mi"),
			Autoscaling:     Autoscaling{MinReplicas: 3, MaxReplicas: 10, TargetCPUUtilization: 70},
			Disruption:      Disruption{MinAvailable: 1},
			SeedCatalog:     true,
		},
		Backup: Backup{
			Schedule:              "0 2 * * *",
			VerifySchedule:        "0 4 * * 0",
			RetentionDays:         30,
			NoncurrentDays:        7,
			Prefix:                "postgres/",
			StartingDeadline:      600,
			ActiveDeadline:        3600,
			BackoffLimit:          2,
			SuccessfulJobsHistory: 3,
			FailedJobsHistory:     3,
			Resources:             res("100m", "128Mi", "1", "256Mi"),
			Store:                 "aws",
			AWS: AWSStore{
				BucketPrefix: "exchange-backups",
				Encryption:   "sse-s3",
				Writer:       "iam-user",
			},
			S3Compatible: S3Store{SSE: "AES256"},
		},
		Alerting: Alerting{Receiver: "none", RepeatInterval: "4h"},
	}
}

// The networks the ingress controller's pods connect to the exchange from,
// on the clusters the committed stacks target: the default of
// ingress.podCIDRs.
const (
	// MinikubePodCIDR is what minikube's bridge and kindnet CNIs hand out to
	// pods (DefaultPodCIDR in pkg/minikube/cni, minikube v1.38.1), kind's
	// default as well.
	MinikubePodCIDR = "10.244.0.0/16"
	// EKSDefaultVPCCIDR is the VPC that eksctl and the EKS user guide's VPC
	// template create. With the AWS VPC CNI (EKS's default) pods get
	// addresses from the VPC's subnets, so the controller connects from the
	// VPC's range. Pulumi.prod.yaml names no VPC; a cluster in another VPC
	// must set ingress.podCIDRs to that VPC's CIDR (docs/deploy.md).
	EKSDefaultVPCCIDR = "192.168.0.0/16"
)

// defaultPodCIDRs depends on the stack because the network is the
// cluster's, which no other setting describes: prod runs on EKS, every
// other stack (dev, the e2e stacks, tests) on minikube or a kind-like
// cluster. A wrong guess fails safe: the exchange then trusts nobody's
// X-Forwarded-For and counts every client under the controller's address.
func defaultPodCIDRs(stack string) []string {
	if stack == "prod" {
		return []string{EKSDefaultVPCCIDR}
	}
	return []string{MinikubePodCIDR}
}

// defaultChart returns the chart of the selected ingress controller.
func (i Ingress) defaultChart() ChartRef {
	if i.Controller == "ingress-nginx" {
		return IngressNginxChart
	}
	return NginxIngressChart
}

// The database chart and image depend on the engine, so their defaults are
// applied after decoding, field by field, to allow overriding only a version.
func (d Database) defaultChart() ChartRef {
	if d.Engine == "cloudnative-pg" {
		return CloudNativePGChart
	}
	return BitnamiPostgresChart
}

func (d Database) defaultImage() Image {
	if d.Engine == "cloudnative-pg" {
		return CloudNativePGImage
	}
	return BitnamiPostgresImage
}

// fillChart copies every empty field of c from def.
func fillChart(c *ChartRef, def ChartRef) {
	if c.Repo == "" {
		c.Repo = def.Repo
	}
	if c.Name == "" {
		c.Name = def.Name
	}
	if c.Version == "" {
		c.Version = def.Version
	}
}

func fillImage(i *Image, def Image) {
	if i.Repository == "" {
		i.Repository = def.Repository
	}
	if i.Tag == "" {
		i.Tag = def.Tag
	}
}
