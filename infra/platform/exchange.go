package platform

import (
	"fmt"
	"net/url"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crypto-exchange/exchange/infra/platform/settings"
)

// Object names inside the exchange namespace.
const (
	appName        = "exchange"
	appSecret      = "exchange-app"
	dbSecret       = "exchange-db"
	httpPort       = 8080
	httpPortName   = "http"
	serverLabel    = "server"
	migrateLabel   = "migrate"
	backupLabel    = "backup"
	verifyLabel    = "verify-backup"
	secretKeyField = "secret-key"
	passwordField  = "password"
)

// The server's internal listener serves /metrics and the sequencer's door
// for the other replicas. Only Prometheus and the server pods may reach it,
// and the Ingress never routes to it; the public one (httpPort) serves
// neither.
const (
	internalPort     = 9090
	internalPortName = "internal"
)

// ExchangeAppArgs wires the exchange to the platform.
type ExchangeAppArgs struct {
	Settings  settings.App
	SecretKey pulumi.StringInput
	Database  *Database
	// The ingress controller's pods (namespace and pod labels) are the only
	// pods outside the app allowed to reach its public port, Prometheus'
	// the only ones allowed to reach its internal port.
	IngressNamespace string
	IngressPodLabels map[string]string
	IngressClass     string
	// IngressAnnotations are the controller's own (its per-client limits),
	// added to the Ingress.
	IngressAnnotations map[string]string
	// TrustedProxies are the networks the controller's pods connect from;
	// the server believes X-Forwarded-For only from them.
	TrustedProxies []string
	// SkipIngressAwait is set when the controller has no LoadBalancer.
	SkipIngressAwait    bool
	MonitoringNamespace string
	PrometheusPodLabels map[string]string
	CRDsReady           pulumi.ResourceOrInvokeOption
}

// ExchangeApp is the exchange: namespace, Secrets, migration Job,
// Deployment, Service, Ingress, autoscaling, disruption budget, network
// policies and ServiceMonitor.
type ExchangeApp struct {
	pulumi.ResourceState

	Namespace pulumi.StringOutput
	// DBSecret holds the database password under key "password"; the
	// backup jobs read it too.
	DBSecret pulumi.StringOutput
	// DatabaseURL has no password: PGPASSWORD carries it.
	DatabaseURL string
	// DatabaseReadURL is the replicas' URL for the server's lag-tolerant
	// reads, with the same user and password; empty without replicas.
	DatabaseReadURL string
}

// NewExchangeApp declares the exchange workloads.
func NewExchangeApp(ctx *pulumi.Context, name string, args *ExchangeAppArgs, opts ...pulumi.ResourceOption) (*ExchangeApp, error) {
	a := &ExchangeApp{}
	if err := ctx.RegisterComponentResource("exchange:platform:ExchangeApp", name, a, opts...); err != nil {
		return nil, fmt.Errorf("exchange component: %w", err)
	}
	s := args.Settings
	parent := pulumi.Parent(a)
	ns, err := newNamespace(ctx, s.Namespace, psaRestricted, parent)
	if err != nil {
		return nil, err
	}
	a.Namespace = ns.Metadata.Name().Elem()
	a.DatabaseURL = databaseURL(args.Database, args.Database.Host)
	if args.Database.ReadHost != "" {
		a.DatabaseReadURL = databaseURL(args.Database, args.Database.ReadHost)
	}
	appSec, err := newSecret(ctx, appSecret, a.Namespace, secretKeyField, args.SecretKey, parent)
	if err != nil {
		return nil, err
	}
	dbSec, err := newSecret(ctx, dbSecret, a.Namespace, passwordField, args.Database.Password, parent)
	if err != nil {
		return nil, err
	}
	a.DBSecret = dbSec.Metadata.Name().Elem()
	if err := a.networkPolicies(ctx, args); err != nil {
		return nil, err
	}
	sa, err := corev1.NewServiceAccount(ctx, appName, &corev1.ServiceAccountArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(appName), Namespace: a.Namespace},
		// The exchange never talks to the Kubernetes API.
		AutomountServiceAccountToken: pulumi.Bool(false),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("exchange service account: %w", err)
	}
	job, err := a.migrationJob(ctx, args, sa, parent, args.Database.Ready(), pulumi.DependsOn([]pulumi.Resource{dbSec}))
	if err != nil {
		return nil, err
	}
	if err := a.server(ctx, args, sa, appSec, job); err != nil {
		return nil, err
	}
	if err := ctx.RegisterResourceOutputs(a, pulumi.Map{"namespace": a.Namespace}); err != nil {
		return nil, fmt.Errorf("exchange outputs: %w", err)
	}
	return a, nil
}

// newSecret stores one secret value under key in a Kubernetes Secret.
func newSecret(ctx *pulumi.Context, name string, namespace pulumi.StringInput, key string, value pulumi.StringInput,
	opts ...pulumi.ResourceOption) (*corev1.Secret, error) {
	sec, err := corev1.NewSecret(ctx, name, &corev1.SecretArgs{
		Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: namespace},
		Type:       pulumi.String("Opaque"),
		StringData: pulumi.StringMap{key: pulumi.ToSecret(value).(pulumi.StringOutput)},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	return sec, nil
}

// databaseURL is what pgx and pg_dump both parse; the password is left out
// on purpose and comes from PGPASSWORD.
func databaseURL(db *Database, host string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(db.User),
		Host:     fmt.Sprintf("%s:%d", host, db.Port),
		Path:     "/" + db.Name,
		RawQuery: url.Values{"sslmode": {db.SSLMode}}.Encode(),
	}
	return u.String()
}
