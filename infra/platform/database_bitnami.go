package platform

import (
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crypto-exchange/exchange/infra/platform/settings"
)

const (
	// bitnamiRelease is also the fullnameOverride, so the Service is
	// "postgresql" whatever the chart's naming helpers do.
	bitnamiRelease = "postgresql"
	bitnamiSecret  = "postgresql-credentials"
)

// bitnami installs one PostgreSQL StatefulSet with a persistent volume.
func (d *Database) bitnami(ctx *pulumi.Context, args *DatabaseArgs) (string, error) {
	s := args.Settings
	parent := pulumi.Parent(d)
	ns, err := newNamespace(ctx, s.Namespace, psaBaseline, parent)
	if err != nil {
		return "", err
	}
	secret, err := corev1.NewSecret(ctx, bitnamiSecret, &corev1.SecretArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(bitnamiSecret), Namespace: ns.Metadata.Name().Elem()},
		Type:     pulumi.String("Opaque"),
		StringData: pulumi.StringMap{
			"postgres-password": pulumi.ToSecret(args.AdminPassword).(pulumi.StringOutput),
			"password":          pulumi.ToSecret(args.Password).(pulumi.StringOutput),
		},
	}, parent)
	if err != nil {
		return "", fmt.Errorf("postgresql credentials secret: %w", err)
	}
	params := serverParameters{MaxConnections: args.MaxConnections}
	chart, err := newChart(ctx, bitnamiRelease, s.Chart, ns.Metadata.Name().Elem(), bitnamiValues(s, params),
		parent, args.CRDsReady, pulumi.DependsOn([]pulumi.Resource{secret}))
	if err != nil {
		return "", err
	}
	d.ready = dependsOnChart(chart)
	d.PodLabels = map[string]string{
		"app.kubernetes.io/name":      "postgresql",
		"app.kubernetes.io/instance":  bitnamiRelease,
		"app.kubernetes.io/component": "primary",
	}
	return fmt.Sprintf("%s.%s.svc.cluster.local", bitnamiRelease, s.Namespace), nil
}

// bitnamiValues are verified against bitnami/charts postgresql 17.1.0.
func bitnamiValues(s settings.Database, params serverParameters) bitnamiPostgresChart {
	registry, repo := splitImage(s.Image.Repository)
	metricsRegistry, metricsRepo := splitImage(s.MetricsImage.Repository)
	return bitnamiPostgresChart{
		FullnameOverride: bitnamiRelease,
		// The chart's image check (common.errors.insecureImages in
		// bitnami/common 2.31.8, run from NOTES.txt) only warns about the
		// bitnamilegacy images, where the chart's own builds now live; it
		// refuses an image relocated to another registry (a mirror, an
		// air-gapped install: database.image is configurable) unless this
		// is set, and then only warns.
		Global: bitnamiGlobal{Security: bitnamiSecurity{AllowInsecureImages: true}},
		Image:  bitnamiImage{Registry: registry, Repository: repo, Tag: s.Image.Tag},
		Auth: bitnamiAuth{
			Username:       s.User,
			Database:       s.Name,
			ExistingSecret: bitnamiSecret,
			SecretKeys:     bitnamiAuthSecrets{AdminPasswordKey: "postgres-password", UserPasswordKey: "password"},
		},
		Primary: bitnamiPrimary{
			Resources:   resourcesValues(s.Resources),
			Persistence: bitnamiPersistence{Size: s.StorageSize, StorageClass: s.StorageClass},
			// verify-backup restores into a scratch database, so the
			// exchange role may create databases (it is still not a
			// superuser).
			Initdb: bitnamiInitdb{Scripts: map[string]string{
				"10-exchange-createdb.sql": fmt.Sprintf("ALTER ROLE %q CREATEDB;\n", s.User),
			}},
			// The chart mounts it as conf.d/override.conf; the image's
			// postgresql.conf includes conf.d after its own
			// max_connections, so ours wins. A change rolls the pod
			// (checksum/extended-configuration), which max_connections
			// needs (templates/primary/*.yaml at 17.1.0).
			ExtendedConfiguration: params.conf(),
		},
		Metrics: bitnamiMetrics{
			Enabled:        true,
			Image:          bitnamiImage{Registry: metricsRegistry, Repository: metricsRepo, Tag: s.MetricsImage.Tag},
			ServiceMonitor: enabled{Enabled: true},
		},
	}
}
