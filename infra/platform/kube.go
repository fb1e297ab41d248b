package platform

import (
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crypto-exchange/exchange/infra/platform/settings"
)

// Pod Security Standards levels for namespace labels. The exchange runs
// "restricted"; charts whose pods need host access (node-exporter) run in a
// "privileged" namespace, the others in "baseline".
const (
	psaRestricted = "restricted"
	psaBaseline   = "baseline"
	psaPrivileged = "privileged"
)

// newNamespace creates a namespace enforcing a Pod Security Standard.
func newNamespace(ctx *pulumi.Context, name, psa string, opts ...pulumi.ResourceOption) (*corev1.Namespace, error) {
	ns, err := corev1.NewNamespace(ctx, name, &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String(name),
			Labels: pulumi.StringMap{
				"app.kubernetes.io/part-of":          pulumi.String("exchange-platform"),
				"pod-security.kubernetes.io/enforce": pulumi.String(psa),
				"pod-security.kubernetes.io/warn":    pulumi.String(psa),
			},
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", name, err)
	}
	return ns, nil
}

// resourceRequirements renders settings.Resources for a container spec.
func resourceRequirements(r settings.Resources) *corev1.ResourceRequirementsArgs {
	return &corev1.ResourceRequirementsArgs{
		Requests: pulumi.StringMap{"cpu": pulumi.String(r.Requests.CPU), "memory": pulumi.String(r.Requests.Memory)},
		Limits:   pulumi.StringMap{"cpu": pulumi.String(r.Limits.CPU), "memory": pulumi.String(r.Limits.Memory)},
	}
}

// exchangeUID is the non-root user the exchange image runs as.
const exchangeUID = 65532

// podSecurityContext and containerSecurityContext satisfy the "restricted"
// Pod Security Standard for every exchange pod.
func podSecurityContext() *corev1.PodSecurityContextArgs {
	return &corev1.PodSecurityContextArgs{
		RunAsNonRoot:   pulumi.Bool(true),
		RunAsUser:      pulumi.Int(exchangeUID),
		RunAsGroup:     pulumi.Int(exchangeUID),
		FsGroup:        pulumi.Int(exchangeUID),
		SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}

func containerSecurityContext() *corev1.SecurityContextArgs {
	return &corev1.SecurityContextArgs{
		RunAsNonRoot:             pulumi.Bool(true),
		ReadOnlyRootFilesystem:   pulumi.Bool(true),
		AllowPrivilegeEscalation: pulumi.Bool(false),
		Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
		SeccompProfile:           &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}

// tmpVolume is the only writable path of an exchange container: the root
// filesystem is read-only.
func tmpVolume() (corev1.VolumeArray, corev1.VolumeMountArray) {
	return corev1.VolumeArray{corev1.VolumeArgs{
			Name:     pulumi.String("tmp"),
			EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("256Mi")},
		}},
		corev1.VolumeMountArray{corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")}}
}

// appLabels are the labels of every exchange pod of one component.
func appLabels(component string) pulumi.StringMap {
	return pulumi.StringMap{
		"app.kubernetes.io/name":      pulumi.String("exchange"),
		"app.kubernetes.io/component": pulumi.String(component),
		"app.kubernetes.io/part-of":   pulumi.String("exchange-platform"),
	}
}

// secretEnv reads one key of a Kubernetes Secret into an environment variable.
func secretEnv(name string, secret pulumi.StringInput, key string) corev1.EnvVarArgs {
	return corev1.EnvVarArgs{
		Name: pulumi.String(name),
		ValueFrom: &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{
			Name: secret,
			Key:  pulumi.String(key),
		}},
	}
}

func plainEnv(name string, value pulumi.StringInput) corev1.EnvVarArgs {
	return corev1.EnvVarArgs{Name: pulumi.String(name), Value: value}
}
