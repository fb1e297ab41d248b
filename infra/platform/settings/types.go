// Package settings reads, defaults and validates the stack configuration of
// the exchange platform before any resource is declared.
//
// Each concern has one typed struct read from one config object (for example
// `exchange:app`). Unknown keys are rejected and every rule names the key, the
// offending value and what is allowed, so a typo in a stack file stops
// `pulumi preview` instead of silently falling back to a default.
package settings

// Settings is the validated configuration of one stack.
type Settings struct {
	// Stack is the Pulumi stack name; it appears in the hints for missing
	// secrets and in resource names that must be unique per stack.
	Stack      string
	Kubernetes Kubernetes
	AWS        AWS
	Ingress    Ingress
	Database   Database
	Monitoring Monitoring
	Logging    Logging
	App        App
	Backup     Backup
	Alerting   Alerting
	Secrets    Secrets
}

// ChartRef locates a third-party Helm chart. Every chart comes from config so
// a test (or an air-gapped install) can point it at its own repository.
type ChartRef struct {
	// Repo is an HTTP(S) chart repository URL or an oci:// registry prefix.
	Repo    string `json:"repo"`
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Image is a container image reference with a pinned tag.
type Image struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
}

// Ref returns the image reference as a container runtime expects it.
func (i Image) Ref() string { return i.Repository + ":" + i.Tag }

// ResourceList holds Kubernetes quantities for cpu and memory.
type ResourceList struct {
	CPU    string `json:"cpu"`
	Memory string `json:"memory"`
}

// Resources are container requests and limits.
type Resources struct {
	Requests ResourceList `json:"requests"`
	Limits   ResourceList `json:"limits"`
}

// Kubernetes selects the cluster the explicit provider talks to.
type Kubernetes struct {
	// Context is the kubeconfig context; empty means the current context.
	Context string `json:"context"`
	// Kubeconfig is a path to (or the contents of) a kubeconfig file; empty
	// means $KUBECONFIG or ~/.kube/config.
	Kubeconfig string `json:"kubeconfig"`
}

// AWS configures the explicit AWS provider (only created when the backup
// store is an AWS bucket).
type AWS struct {
	Region string `json:"region"`
}

// Ingress configures the NGINX ingress controller.
type Ingress struct {
	// Controller is "nginx-ingress" (F5 NGINX, maintained) or
	// "ingress-nginx" (community chart, retired March 2026).
	Controller    string    `json:"controller"`
	Namespace     string    `json:"namespace"`
	ClassName     string    `json:"className"`
	ServiceType   string    `json:"serviceType"`
	HTTPNodePort  int       `json:"httpNodePort"`
	HTTPSNodePort int       `json:"httpsNodePort"`
	Replicas      int       `json:"replicas"`
	Resources     Resources `json:"resources"`
	Chart         ChartRef  `json:"chart"`
	// PodCIDRs are the address ranges the controller's pods connect to the
	// exchange from. The exchange believes X-Forwarded-For only from a peer
	// in one of them (TRUSTED_PROXIES) and otherwise takes the peer's own
	// address, so a client cannot choose the address its per-IP limits
	// count. An empty list trusts nobody. Omitted, it is the pod network of
	// the stack's cluster (see defaultPodCIDRs).
	PodCIDRs []string `json:"podCIDRs"`
	// RateLimit is what the controller allows each client IP.
	RateLimit RateLimit `json:"rateLimit"`
}

// RateLimit is the ingress controller's limit per client IP in front of the
// exchange. It is a second layer behind the server's own per-user and
// per-IP limits: generous enough that a trader's normal use never meets it
// and those limits decide first, while a flood stops at NGINX before it
// costs the server anything.
type RateLimit struct {
	// RPS is the sustained number of requests per second.
	RPS int `json:"rps"`
	// BurstMultiplier times RPS is how many requests above the rate a client
	// may send at once (a page load, a reconnect) before it gets 429.
	BurstMultiplier int `json:"burstMultiplier"`
	// Connections is the most connections open at once, WebSockets included.
	Connections int `json:"connections"`
}

// Burst is the number of requests above the rate NGINX lets through at once.
func (r RateLimit) Burst() int { return r.RPS * r.BurstMultiplier }

// Database configures PostgreSQL.
type Database struct {
	// Engine is "bitnami" (one StatefulSet from the Bitnami chart) or
	// "cloudnative-pg" (operator chart plus a Cluster with read replicas).
	Engine    string `json:"engine"`
	Namespace string `json:"namespace"`
	// OperatorNamespace hosts the CloudNativePG operator.
	OperatorNamespace string `json:"operatorNamespace"`
	Name              string `json:"name"`
	User              string `json:"user"`
	Instances         int    `json:"instances"`
	// MaxConnections fixes PostgreSQL's max_connections; 0 computes it
	// from the stack's worst case. A fixed value must cover that worst
	// case, and changing the pods' bounds within it restarts nothing.
	MaxConnections int `json:"maxConnections"`
	// Image is the PostgreSQL server image; the default depends on Engine.
	Image Image `json:"image"`
	// MetricsImage is the postgres-exporter sidecar of the Bitnami chart.
	MetricsImage Image     `json:"metricsImage"`
	StorageSize  string    `json:"storageSize"`
	StorageClass string    `json:"storageClass"`
	SSLMode      string    `json:"sslMode"`
	Resources    Resources `json:"resources"`
	// Chart is the Bitnami postgresql chart or the CloudNativePG operator
	// chart, depending on Engine.
	Chart ChartRef `json:"chart"`
}

// Monitoring configures kube-prometheus-stack and its CRDs.
type Monitoring struct {
	Namespace           string    `json:"namespace"`
	PrometheusRetention string    `json:"prometheusRetention"`
	PrometheusStorage   string    `json:"prometheusStorageSize"`
	PrometheusResources Resources `json:"prometheusResources"`
	GrafanaResources    Resources `json:"grafanaResources"`
	CRDsChart           ChartRef  `json:"crdsChart"`
	Chart               ChartRef  `json:"chart"`
}

// Logging configures Loki (single binary) and the Alloy log shipper.
type Logging struct {
	Namespace      string    `json:"namespace"`
	Retention      string    `json:"retention"`
	StorageSize    string    `json:"storageSize"`
	LokiResources  Resources `json:"lokiResources"`
	AlloyResources Resources `json:"alloyResources"`
	LokiChart      ChartRef  `json:"lokiChart"`
	AlloyChart     ChartRef  `json:"alloyChart"`
}

// App configures the exchange itself.
type App struct {
	Namespace       string      `json:"namespace"`
	Host            string      `json:"host"`
	Image           Image       `json:"image"`
	Mode            string      `json:"mode"`
	LogLevel        string      `json:"logLevel"`
	Replicas        int         `json:"replicas"`
	ShutdownTimeout string      `json:"shutdownTimeout"`
	Resources       Resources   `json:"resources"`
	Autoscaling     Autoscaling `json:"autoscaling"`
	Disruption      Disruption  `json:"disruptionBudget"`
	TLS             TLS         `json:"tls"`
	// DBPoolSize is each server pod's pool of PostgreSQL connections
	// (DB_MAX_OPEN_CONNS; its replica pool has as many). The database's
	// max_connections is computed from it (connections.go).
	DBPoolSize int `json:"dbPoolSize"`
	// SeedCatalog runs the migration Job as `exchange migrate --seed`, which
	// inserts the default assets and markets where they are missing (so a
	// fresh database has markets). Turn it off once the listings are
	// managed by hand and a default market must never come back.
	SeedCatalog bool `json:"seedCatalog"`
}

// Autoscaling configures the HorizontalPodAutoscaler.
type Autoscaling struct {
	Enabled              bool `json:"enabled"`
	MinReplicas          int  `json:"minReplicas"`
	MaxReplicas          int  `json:"maxReplicas"`
	TargetCPUUtilization int  `json:"targetCPUUtilization"`
}

// Disruption configures the PodDisruptionBudget.
type Disruption struct {
	Enabled      bool `json:"enabled"`
	MinAvailable int  `json:"minAvailable"`
}

// TLS configures HTTPS on the Ingress.
type TLS struct {
	Enabled    bool   `json:"enabled"`
	SecretName string `json:"secretName"`
	// ClusterIssuer, when set, asks cert-manager to issue SecretName.
	ClusterIssuer string `json:"clusterIssuer"`
}

// Backup configures the backup store and the backup CronJobs.
type Backup struct {
	Schedule       string `json:"schedule"`
	VerifySchedule string `json:"verifySchedule"`
	RetentionDays  int    `json:"retentionDays"`
	// NoncurrentDays expires overwritten/deleted object versions.
	NoncurrentDays        int       `json:"noncurrentVersionDays"`
	Prefix                string    `json:"prefix"`
	StartingDeadline      int       `json:"startingDeadlineSeconds"`
	ActiveDeadline        int       `json:"activeDeadlineSeconds"`
	BackoffLimit          int       `json:"backoffLimit"`
	Resources             Resources `json:"resources"`
	Store                 string    `json:"store"`
	AWS                   AWSStore  `json:"aws"`
	S3Compatible          S3Store   `json:"s3Compatible"`
	SuccessfulJobsHistory int       `json:"successfulJobsHistory"`
	FailedJobsHistory     int       `json:"failedJobsHistory"`
}

// AWSStore is a bucket this program creates in AWS.
type AWSStore struct {
	// BucketPrefix seeds the generated bucket name (Pulumi appends a suffix).
	BucketPrefix string `json:"bucketPrefix"`
	// ForceDestroy lets `pulumi destroy` delete a non-empty bucket (dev only).
	ForceDestroy bool `json:"forceDestroy"`
	// Protect makes Pulumi refuse to delete the bucket (prod).
	Protect bool `json:"protect"`
	// Encryption is "sse-s3" or "kms".
	Encryption string `json:"encryption"`
	// Writer is "iam-user" (access key in a Kubernetes Secret) or "irsa".
	Writer string `json:"writer"`
	// OIDCProviderARN and OIDCIssuer identify the cluster's IAM OIDC
	// provider; both are required for the irsa writer.
	OIDCProviderARN string `json:"oidcProviderArn"`
	OIDCIssuer      string `json:"oidcIssuer"`
}

// S3Store is an existing S3-compatible bucket (MinIO, a local test server).
type S3Store struct {
	Endpoint       string `json:"endpoint"`
	Bucket         string `json:"bucket"`
	Region         string `json:"region"`
	ForcePathStyle bool   `json:"forcePathStyle"`
	// SSE is the server-side encryption the backup job requests per object
	// (BACKUP_SSE): AES256, aws:kms, or none for a store that refuses SSE
	// requests (MinIO without a KMS).
	SSE string `json:"sse"`
	// KMSKeyID is the key for aws:kms; empty uses the bucket's default key.
	KMSKeyID string `json:"kmsKeyId"`
}

// Alerting configures where Alertmanager sends the alerts.
type Alerting struct {
	// Receiver is "none" (every alert goes to the null receiver), "slack",
	// "webhook" or "pagerduty"; the URL or routing key is the secret
	// alertReceiverSecret.
	Receiver string `json:"receiver"`
	// SlackChannel is the channel the slack receiver posts to.
	SlackChannel string `json:"slackChannel"`
	// RepeatInterval is how often a still-firing alert is sent again.
	RepeatInterval string `json:"repeatInterval"`
}

// Secrets are read from Pulumi secrets only; their values never appear in
// error messages or outputs.
type Secrets struct {
	AppSecretKey          string
	DBPassword            string
	DBAdminPassword       string
	GrafanaAdminPassword  string
	BackupAccessKeyID     string
	BackupSecretAccessKey string
	// AlertReceiverSecret is the Slack or webhook URL, or the PagerDuty
	// routing key, of the alerting receiver.
	AlertReceiverSecret string
}
