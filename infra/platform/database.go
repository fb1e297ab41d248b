package platform

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crypto-exchange/exchange/infra/platform/settings"
)

// DatabaseArgs configures PostgreSQL.
type DatabaseArgs struct {
	Settings settings.Database
	// Password is the exchange role's password, AdminPassword the Bitnami
	// superuser's; both stay Pulumi secrets.
	Password      pulumi.StringInput
	AdminPassword pulumi.StringInput
	// MaxConnections is PostgreSQL's max_connections on every instance:
	// the stack's worst case (settings.Connections), which depends on the
	// exchange's pods and pools, hence an argument and not a setting.
	MaxConnections int
	// CRDsReady orders the metrics PodMonitor/ServiceMonitor after its CRD.
	CRDsReady pulumi.ResourceOrInvokeOption
}

// Database is PostgreSQL from either engine. Both give the exchange the same
// contract: host, port, database, user, a password and the pod labels a
// NetworkPolicy needs to allow traffic to the server.
type Database struct {
	pulumi.ResourceState

	// Connection facts are plain strings: they follow from config, and the
	// DATABASE_URL built from them must be known at preview.
	Host string
	// ReadHost serves the streaming replicas (CloudNativePG's -ro Service
	// with more than one instance); empty when there are none.
	ReadHost  string
	Port      int
	Name      string
	User      string
	Namespace string
	SSLMode   string
	// Password is a secret output; consumers put it into their own Secret.
	Password pulumi.StringOutput
	// PodLabels select the PostgreSQL server pods.
	PodLabels map[string]string

	ready pulumi.ResourceOrInvokeOption
}

// Ready is the option that orders a consumer (the migration Job) after the
// database server is up.
func (d *Database) Ready() pulumi.ResourceOrInvokeOption { return d.ready }

// NewDatabase declares the engine selected by config.
func NewDatabase(ctx *pulumi.Context, name string, args *DatabaseArgs, opts ...pulumi.ResourceOption) (*Database, error) {
	d := &Database{}
	if err := ctx.RegisterComponentResource("exchange:platform:Database", name, d, opts...); err != nil {
		return nil, fmt.Errorf("database component: %w", err)
	}
	s := args.Settings
	var (
		host string
		err  error
	)
	if s.Engine == "cloudnative-pg" {
		host, err = d.cloudNativePG(ctx, args)
	} else {
		host, err = d.bitnami(ctx, args)
	}
	if err != nil {
		return nil, err
	}
	d.Host, d.Port, d.Name, d.User, d.Namespace, d.SSLMode = host, 5432, s.Name, s.User, s.Namespace, s.SSLMode
	d.Password = pulumi.ToSecret(args.Password).(pulumi.StringOutput)
	if err := ctx.RegisterResourceOutputs(d, pulumi.Map{
		"host": pulumi.String(d.Host), "port": pulumi.Int(d.Port), "database": pulumi.String(d.Name),
		"user": pulumi.String(d.User), "namespace": pulumi.String(d.Namespace),
		"maxConnections": pulumi.Int(args.MaxConnections),
	}); err != nil {
		return nil, fmt.Errorf("database outputs: %w", err)
	}
	return d, nil
}

// serverParameters are the PostgreSQL settings the program sets on either
// engine, rendered as each one takes them.
type serverParameters struct {
	MaxConnections int
}

// conf is the postgresql.conf form (Bitnami's extended configuration).
func (p serverParameters) conf() string {
	return fmt.Sprintf("max_connections = %d\n", p.MaxConnections)
}

// cnpg is the Cluster's postgresql.parameters (a map of strings).
func (p serverParameters) cnpg() cnpgParameters {
	return cnpgParameters{MaxConnections: fmt.Sprint(p.MaxConnections)}
}

// splitImage splits "registry/repo/name" into the registry and the rest, as
// the Bitnami chart wants them; a name without a registry host gets docker.io.
func splitImage(repository string) (registry, repo string) {
	first, rest, found := strings.Cut(repository, "/")
	if found && strings.ContainsAny(first, ".:") {
		return first, rest
	}
	return "docker.io", repository
}
