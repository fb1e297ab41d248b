package platform

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	autoscalingv2 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/autoscaling/v2"
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crypto-exchange/exchange/infra/platform/settings"
)

// DatabaseEnv is what every subcommand that touches Postgres needs. pgx and
// pg_dump both read PGPASSWORD, so no password is ever part of a URL.
func (a *ExchangeApp) DatabaseEnv(logLevel string) corev1.EnvVarArray {
	return corev1.EnvVarArray{
		plainEnv("DATABASE_URL", pulumi.String(a.DatabaseURL)),
		secretEnv("PGPASSWORD", a.DBSecret, passwordField),
		plainEnv("LOG_LEVEL", pulumi.String(logLevel)),
	}
}

// poolEnv bounds a subcommand's connection pool (each pool, where it opens
// two): the database's max_connections is computed from these numbers
// (settings.Connections), so no pod may fall back to the service's default
// of 20. The idle bound comes with it, as the service refuses more idle
// connections than open ones.
func poolEnv(open int) corev1.EnvVarArray {
	return corev1.EnvVarArray{
		plainEnv("DB_MAX_OPEN_CONNS", pulumi.String(fmt.Sprint(open))),
		plainEnv("DB_MAX_IDLE_CONNS", pulumi.String(fmt.Sprint(settings.DBIdleConns(open)))),
	}
}

// MigrationJobName changes with the image, so a new release creates a new
// Job (and runs its migrations) while an unchanged image leaves the
// completed Job alone. A replaceOnChanges on the image would do the same
// for the image but needs the old Job deleted first, leaving no record of
// the last successful migration during the rollout.
func MigrationJobName(image string) string {
	sum := sha256.Sum256([]byte(image))
	return "exchange-migrate-" + hex.EncodeToString(sum[:])[:10]
}

// migrationJob runs `exchange migrate` to completion; Pulumi waits for the
// Job to complete before anything that depends on it.
func (a *ExchangeApp) migrationJob(ctx *pulumi.Context, args *ExchangeAppArgs, sa *corev1.ServiceAccount,
	opts ...pulumi.ResourceOption) (*batchv1.Job, error) {
	s := args.Settings
	name := MigrationJobName(s.Image.Ref())
	volumes, mounts := tmpVolume()
	job, err := batchv1.NewJob(ctx, "exchange-migrate", &batchv1.JobArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: a.Namespace, Labels: appLabels(migrateLabel)},
		Spec: &batchv1.JobSpecArgs{
			BackoffLimit:          pulumi.Int(3),
			ActiveDeadlineSeconds: pulumi.Int(600),
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: appLabels(migrateLabel)},
				Spec: &corev1.PodSpecArgs{
					RestartPolicy:                pulumi.String("Never"),
					ServiceAccountName:           sa.Metadata.Name().Elem(),
					AutomountServiceAccountToken: pulumi.Bool(false),
					SecurityContext:              podSecurityContext(),
					Volumes:                      volumes,
					Containers: corev1.ContainerArray{corev1.ContainerArgs{
						Name:            pulumi.String("migrate"),
						Image:           pulumi.String(s.Image.Ref()),
						ImagePullPolicy: pulumi.String("IfNotPresent"),
						Args:            pulumi.ToStringArray(migrateArgs(s.SeedCatalog)),
						Env:             append(a.DatabaseEnv(s.LogLevel), poolEnv(settings.MigrationPoolSize)...),
						Resources:       resourceRequirements(s.Resources),
						SecurityContext: containerSecurityContext(),
						VolumeMounts:    mounts,
					}},
				},
			},
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("migration job: %w", err)
	}
	return job, nil
}

// migrateArgs runs the migrations and, with seed, inserts the default
// assets and markets where they are missing (idempotent), so a fresh
// database has markets to trade.
func migrateArgs(seed bool) []string {
	if seed {
		return []string{"migrate", "--seed"}
	}
	return []string{"migrate"}
}

// preStopSeconds is how long a terminating pod keeps serving before it
// gets SIGTERM: Kubernetes removes it from the Service's endpoints at the
// same moment it runs the hook, and the ingress controller and kube-proxy
// learn of it a moment later. Without the wait, requests routed in that
// moment would meet a closed port.
const preStopSeconds = 5

// terminationGrace leaves the service the pre-stop wait and its whole
// SHUTDOWN_TIMEOUT to drain and hand its leadership over, plus a margin
// before the kubelet sends SIGKILL.
func terminationGrace(shutdownTimeout string) int {
	d, _ := time.ParseDuration(shutdownTimeout) // validated by settings
	return preStopSeconds + int(d.Seconds()) + 5
}

// deployment declares `exchange serve`, rolled only after the migration Job
// for its image has completed, and changed only after the HPA (so a new
// count never meets the HPA's old bounds; see autoscaler).
func (a *ExchangeApp) deployment(ctx *pulumi.Context, args *ExchangeAppArgs, sa *corev1.ServiceAccount,
	appSec *corev1.Secret, job *batchv1.Job, hpa *autoscalingv2.HorizontalPodAutoscaler) (*appsv1.Deployment, error) {
	s := args.Settings
	labels := appLabels(serverLabel)
	volumes, mounts := tmpVolume()
	env := append(a.DatabaseEnv(s.LogLevel), poolEnv(s.DBPoolSize)...)
	env = append(env,
		secretEnv("SECRET_KEY", appSec.Metadata.Name().Elem(), secretKeyField),
		plainEnv("EXCHANGE_MODE", pulumi.String(s.Mode)),
		plainEnv("HTTP_ADDR", pulumi.String(fmt.Sprintf(":%d", httpPort))),
		// Set although it is the server's default: the ports, the Service,
		// the ServiceMonitor and the NetworkPolicies all assume it.
		plainEnv("INTERNAL_ADDR", pulumi.String(fmt.Sprintf(":%d", internalPort))),
		// X-Forwarded-For is believed only from the ingress controller's
		// pods; any other peer is taken at its own address.
		plainEnv("TRUSTED_PROXIES", pulumi.String(strings.Join(args.TrustedProxies, ","))),
		plainEnv("SHUTDOWN_TIMEOUT", pulumi.String(s.ShutdownTimeout)),
		// Cookies are Secure exactly when the site is served over HTTPS.
		plainEnv("SECURE_COOKIES", pulumi.String(fmt.Sprint(s.TLS.Enabled))),
		// Followers forward sequencer commands to the leader at the address
		// it advertises: the pod's own IP and its internal port, which the
		// public listener does not serve (POD_IP must come first for the
		// $(POD_IP) expansion).
		corev1.EnvVarArgs{Name: pulumi.String("POD_IP"), ValueFrom: &corev1.EnvVarSourceArgs{
			FieldRef: &corev1.ObjectFieldSelectorArgs{FieldPath: pulumi.String("status.podIP")},
		}},
		plainEnv("ADVERTISE_URL", pulumi.String(fmt.Sprintf("http://$(POD_IP):%d", internalPort))),
	)
	if a.DatabaseReadURL != "" {
		env = append(env, plainEnv("DATABASE_READ_URL", pulumi.String(a.DatabaseReadURL)))
	}
	spec := &appsv1.DeploymentSpecArgs{
		RevisionHistoryLimit: pulumi.Int(5),
		Selector:             &metav1.LabelSelectorArgs{MatchLabels: labels},
		// Never below the desired count during a rollout: a new pod must be
		// ready before an old one goes.
		Strategy: &appsv1.DeploymentStrategyArgs{
			Type: pulumi.String("RollingUpdate"),
			RollingUpdate: &appsv1.RollingUpdateDeploymentArgs{
				MaxUnavailable: pulumi.Int(0),
				// The connection budget counts this pod (settings).
				MaxSurge: pulumi.Int(settings.ServerMaxSurge),
			},
		},
		Template: &corev1.PodTemplateSpecArgs{
			Metadata: &metav1.ObjectMetaArgs{Labels: labels},
			Spec: &corev1.PodSpecArgs{
				ServiceAccountName:            sa.Metadata.Name().Elem(),
				AutomountServiceAccountToken:  pulumi.Bool(false),
				SecurityContext:               podSecurityContext(),
				TerminationGracePeriodSeconds: pulumi.Int(terminationGrace(s.ShutdownTimeout)),
				TopologySpreadConstraints:     spreadConstraints(labels),
				Volumes:                       volumes,
				Containers: corev1.ContainerArray{corev1.ContainerArgs{
					Name:            pulumi.String("exchange"),
					Image:           pulumi.String(s.Image.Ref()),
					ImagePullPolicy: pulumi.String("IfNotPresent"),
					Args:            pulumi.StringArray{pulumi.String("serve")},
					Ports: corev1.ContainerPortArray{
						corev1.ContainerPortArgs{
							Name: pulumi.String(httpPortName), ContainerPort: pulumi.Int(httpPort), Protocol: pulumi.String("TCP"),
						},
						corev1.ContainerPortArgs{
							Name: pulumi.String(internalPortName), ContainerPort: pulumi.Int(internalPort), Protocol: pulumi.String("TCP"),
						},
					},
					Env:             env,
					Resources:       resourceRequirements(s.Resources),
					SecurityContext: containerSecurityContext(),
					VolumeMounts:    mounts,
					// Startup gives migrations-current checks and cold caches
					// a minute before liveness may restart the pod. The probes
					// ask the public listener: the one traders depend on.
					StartupProbe:   httpProbe("/healthz", 2, 30),
					LivenessProbe:  httpProbe("/healthz", 10, 3),
					ReadinessProbe: httpProbe("/readyz", 5, 2),
					// The kubelet's own sleep (Kubernetes 1.30 and later):
					// the image needs no shell or sleep binary for it.
					Lifecycle: &corev1.LifecycleArgs{PreStop: &corev1.LifecycleHandlerArgs{
						Sleep: &corev1.SleepActionArgs{Seconds: pulumi.Int(preStopSeconds)},
					}},
				}},
			},
		},
	}
	opts := []pulumi.ResourceOption{pulumi.Parent(a), pulumi.DependsOn([]pulumi.Resource{job, hpa})}
	replicas := s.Replicas
	if s.Autoscaling.Enabled {
		// With autoscaling on the replica count is the HPA's. Dropping the
		// field instead would make the API server default it to 1 until the
		// HPA scales back: a stack switching autoscaling on would lose all
		// but one pod. Ignored, the provider keeps the live count while it
		// owns the field and leaves it out once the HPA has taken it over.
		// With autoscaling off the program sets the count, and the pinned
		// HPA holds the same one.
		replicas = s.Autoscaling.MinReplicas
		opts = append(opts, pulumi.IgnoreChanges([]string{"spec.replicas"}))
	}
	spec.Replicas = pulumi.Int(replicas)
	dep, err := appsv1.NewDeployment(ctx, appName, &appsv1.DeploymentArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String(appName), Namespace: a.Namespace, Labels: labels,
			// The program is the source of truth for what it declares: when
			// autoscaling is switched off again, the count the HPA owned
			// goes back to the program instead of failing with an apply
			// conflict.
			Annotations: pulumi.StringMap{"pulumi.com/patchForce": pulumi.String("true")},
		},
		Spec: spec,
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("exchange deployment: %w", err)
	}
	return dep, nil
}

func httpProbe(path string, period, failures int) *corev1.ProbeArgs {
	return &corev1.ProbeArgs{
		HttpGet:          &corev1.HTTPGetActionArgs{Path: pulumi.String(path), Port: pulumi.String(httpPortName)},
		PeriodSeconds:    pulumi.Int(period),
		TimeoutSeconds:   pulumi.Int(2),
		FailureThreshold: pulumi.Int(failures),
	}
}

// spreadConstraints prefer spreading replicas over nodes and zones without
// making a single-node cluster (minikube) unschedulable.
func spreadConstraints(labels pulumi.StringMap) corev1.TopologySpreadConstraintArray {
	var out corev1.TopologySpreadConstraintArray
	for _, key := range []string{"kubernetes.io/hostname", "topology.kubernetes.io/zone"} {
		out = append(out, corev1.TopologySpreadConstraintArgs{
			MaxSkew:           pulumi.Int(1),
			TopologyKey:       pulumi.String(key),
			WhenUnsatisfiable: pulumi.String("ScheduleAnyway"),
			LabelSelector:     &metav1.LabelSelectorArgs{MatchLabels: labels},
		})
	}
	return out
}
