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
	chart, err := newChart(ctx, bitnamiRelease, s.Chart, ns.Metadata.Name().Elem(), bitnamiValues(s),
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
func bitnamiValues(s settings.Database) pulumi.Map {
	registry, repo := splitImage(s.Image.Repository)
	metricsRegistry, metricsRepo := splitImage(s.MetricsImage.Repository)
	primary := pulumi.Map{
		"resources":   resourcesValues(s.Resources),
		"persistence": pulumi.Map{"size": pulumi.String(s.StorageSize)},
		// verify-backup restores into a scratch database, so the exchange
		// role may create databases (it is still not a superuser).
		"initdb": pulumi.Map{"scripts": pulumi.Map{
			"10-exchange-createdb.sql": pulumi.String(fmt.Sprintf("ALTER ROLE %q CREATEDB;\n", s.User)),
		}},
	}
	if s.StorageClass != "" {
		primary["persistence"].(pulumi.Map)["storageClass"] = pulumi.String(s.StorageClass)
	}
	return pulumi.Map{
		"fullnameOverride": pulumi.String(bitnamiRelease),
		// The chart refuses images other than its docker.io/bitnami defaults
		// unless told; bitnamilegacy is where those same builds now live.
		"global": pulumi.Map{"security": pulumi.Map{"allowInsecureImages": pulumi.Bool(true)}},
		"image": pulumi.Map{
			"registry":   pulumi.String(registry),
			"repository": pulumi.String(repo),
			"tag":        pulumi.String(s.Image.Tag),
		},
		"auth": pulumi.Map{
			"username":       pulumi.String(s.User),
			"database":       pulumi.String(s.Name),
			"existingSecret": pulumi.String(bitnamiSecret),
			"secretKeys": pulumi.Map{
				"adminPasswordKey": pulumi.String("postgres-password"),
				"userPasswordKey":  pulumi.String("password"),
			},
		},
		"primary": primary,
		"metrics": pulumi.Map{
			"enabled": pulumi.Bool(true),
			"image": pulumi.Map{
				"registry":   pulumi.String(metricsRegistry),
				"repository": pulumi.String(metricsRepo),
				"tag":        pulumi.String(s.MetricsImage.Tag),
			},
			"serviceMonitor": pulumi.Map{"enabled": pulumi.Bool(true)},
		},
	}
}
