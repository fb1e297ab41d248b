package platform

import (
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crypto-exchange/exchange/infra/platform/settings"
)

const (
	cnpgCluster = "exchange-db"
	cnpgSecret  = "exchange-db-app"
)

// cnpgOperatorResources are fixed: the operator's load does not grow with
// the database, only with the number of clusters.
var cnpgOperatorResources = settings.Resources{
	Requests: settings.ResourceList{CPU: "100m", Memory: "128Mi"},
	Limits:   settings.ResourceList{CPU: "500m", Memory: "512Mi"},
}

// cloudNativePG installs the operator chart, then a Cluster: one primary and
// Instances-1 streaming replicas behind the -rw and -ro Services.
func (d *Database) cloudNativePG(ctx *pulumi.Context, args *DatabaseArgs) (string, error) {
	s := args.Settings
	parent := pulumi.Parent(d)
	opNS, err := newNamespace(ctx, s.OperatorNamespace, psaBaseline, parent)
	if err != nil {
		return "", err
	}
	operator, err := newChart(ctx, "cloudnative-pg", s.Chart, opNS.Metadata.Name().Elem(), cloudNativePGValues(), parent, args.CRDsReady)
	if err != nil {
		return "", err
	}
	ns, err := newNamespace(ctx, s.Namespace, psaBaseline, parent)
	if err != nil {
		return "", err
	}
	secret, err := corev1.NewSecret(ctx, cnpgSecret, &corev1.SecretArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(cnpgSecret), Namespace: ns.Metadata.Name().Elem()},
		Type:     pulumi.String("kubernetes.io/basic-auth"),
		StringData: pulumi.StringMap{
			"username": pulumi.String(s.User),
			"password": pulumi.ToSecret(args.Password).(pulumi.StringOutput),
		},
	}, parent)
	if err != nil {
		return "", fmt.Errorf("cloudnative-pg app secret: %w", err)
	}
	spec, err := toPulumiMap(cnpgClusterSpec(s, serverParameters{MaxConnections: args.MaxConnections}))
	if err != nil {
		return "", fmt.Errorf("cloudnative-pg cluster spec: %w", err)
	}
	cluster, err := apiextensions.NewCustomResource(ctx, cnpgCluster, &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("postgresql.cnpg.io/v1"),
		Kind:       pulumi.String("Cluster"),
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(cnpgCluster),
			Namespace: ns.Metadata.Name().Elem(),
			// Pulumi has no built-in readiness for custom resources; this
			// makes it wait until the operator reports the cluster Ready.
			Annotations: pulumi.StringMap{"pulumi.com/waitFor": pulumi.String("condition=Ready")},
		},
		OtherFields: kubernetes.UntypedArgs{"spec": spec},
	}, parent, dependsOnChart(operator), pulumi.DependsOn([]pulumi.Resource{secret}))
	if err != nil {
		return "", fmt.Errorf("cloudnative-pg cluster: %w", err)
	}
	// The Cluster's monitoring.enablePodMonitor is deprecated upstream in
	// favour of a PodMonitor of one's own.
	if _, err := apiextensions.NewCustomResource(ctx, cnpgCluster+"-metrics", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("monitoring.coreos.com/v1"),
		Kind:       pulumi.String("PodMonitor"),
		Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(cnpgCluster), Namespace: ns.Metadata.Name().Elem()},
		OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{
			"selector":            pulumi.Map{"matchLabels": pulumi.StringMap{"cnpg.io/cluster": pulumi.String(cnpgCluster)}},
			"podMetricsEndpoints": pulumi.Array{pulumi.Map{"port": pulumi.String("metrics")}},
		}},
	}, parent, args.CRDsReady, pulumi.DependsOn([]pulumi.Resource{cluster})); err != nil {
		return "", fmt.Errorf("cloudnative-pg pod monitor: %w", err)
	}
	d.ready = pulumi.DependsOn([]pulumi.Resource{cluster})
	d.PodLabels = map[string]string{"cnpg.io/cluster": cnpgCluster}
	if s.Instances > 1 {
		// The operator's -ro Service selects the replicas only: the
		// exchange's lag-tolerant reads go there while they keep up.
		d.ReadHost = fmt.Sprintf("%s-ro.%s.svc.cluster.local", cnpgCluster, s.Namespace)
	}
	return fmt.Sprintf("%s-rw.%s.svc.cluster.local", cnpgCluster, s.Namespace), nil
}

// cloudNativePGValues are verified against cloudnative-pg chart 0.29.0.
func cloudNativePGValues() cloudNativePGChart {
	return cloudNativePGChart{
		CRDs:       create{Create: true},
		Resources:  resourcesValues(cnpgOperatorResources),
		Monitoring: cnpgMonitoring{PodMonitorEnabled: true},
	}
}

// cnpgClusterSpec follows the Cluster CRD schema shipped in chart 0.29.0
// (operator 1.30.0).
func cnpgClusterSpec(s settings.Database, params serverParameters) cnpgClusterSpecValues {
	return cnpgClusterSpecValues{
		Instances:             s.Instances,
		ImageName:             s.Image.Ref(),
		EnableSuperuserAccess: false,
		Storage:               cnpgStorage{Size: s.StorageSize, StorageClass: s.StorageClass},
		Resources:             resourcesValues(s.Resources),
		Affinity:              cnpgAffinity{EnablePodAntiAffinity: true, TopologyKey: "kubernetes.io/hostname"},
		// One configuration for every instance. max_connections needs a
		// restart, which the operator does itself, instance by instance
		// (the primary first when it decreases: a standby may not run
		// with less than its primary).
		PostgreSQL: cnpgPostgreSQL{Parameters: params.cnpg()},
		Bootstrap: cnpgBootstrap{Initdb: cnpgInitdb{
			Database: s.Name,
			Owner:    s.User,
			Secret:   cnpgSecretRef{Name: cnpgSecret},
			// verify-backup restores into a scratch database.
			PostInitApplicationSQL: []string{fmt.Sprintf("ALTER ROLE %q CREATEDB", s.User)},
		}},
	}
}
