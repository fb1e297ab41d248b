package platform

import (
	"fmt"

	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crypto-exchange/exchange/infra/platform/settings"
)

const (
	backupServiceAccount = "exchange-backup"
	backupS3Secret       = "exchange-backup-s3"
	backupCronJob        = "exchange-backup"
	verifyCronJob        = "exchange-verify-backup"
)

// BackupJobsArgs wires the backup CronJobs to the app, database and store.
type BackupJobsArgs struct {
	Settings settings.Backup
	App      settings.App
	Exchange *ExchangeApp
	Store    *BackupStore
}

// BackupJobs runs `exchange backup` on a schedule and `exchange
// verify-backup` weekly, with credentials from the store's writer identity.
// Their alerts are in alerts/exchange-rules.yaml (group exchange-backup).
type BackupJobs struct {
	pulumi.ResourceState

	Schedule       pulumi.StringOutput
	VerifySchedule pulumi.StringOutput
}

// NewBackupJobs declares the backup CronJobs and what they need.
func NewBackupJobs(ctx *pulumi.Context, name string, args *BackupJobsArgs, opts ...pulumi.ResourceOption) (*BackupJobs, error) {
	j := &BackupJobs{}
	if err := ctx.RegisterComponentResource("exchange:platform:BackupJobs", name, j, opts...); err != nil {
		return nil, fmt.Errorf("backup jobs component: %w", err)
	}
	parent := pulumi.Parent(j)
	ns := args.Exchange.Namespace
	saMeta := &metav1.ObjectMetaArgs{Name: pulumi.String(backupServiceAccount), Namespace: ns}
	if args.Store.UsesIRSA {
		saMeta.Annotations = pulumi.StringMap{"eks.amazonaws.com/role-arn": args.Store.RoleARN}
	}
	sa, err := corev1.NewServiceAccount(ctx, backupServiceAccount, &corev1.ServiceAccountArgs{
		Metadata: saMeta,
		// IRSA projects its own token; the default API token is not needed.
		AutomountServiceAccountToken: pulumi.Bool(false),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("backup service account: %w", err)
	}
	env := append(args.Exchange.DatabaseEnv(args.App.LogLevel), j.storeEnv(args)...)
	if !args.Store.UsesIRSA {
		sec, err := corev1.NewSecret(ctx, backupS3Secret, &corev1.SecretArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(backupS3Secret), Namespace: ns},
			Type:     pulumi.String("Opaque"),
			StringData: pulumi.StringMap{
				"AWS_ACCESS_KEY_ID":     args.Store.AccessKeyID,
				"AWS_SECRET_ACCESS_KEY": args.Store.SecretAccessKey,
			},
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("backup credentials secret: %w", err)
		}
		name := sec.Metadata.Name().Elem()
		env = append(env,
			secretEnv("AWS_ACCESS_KEY_ID", name, "AWS_ACCESS_KEY_ID"),
			secretEnv("AWS_SECRET_ACCESS_KEY", name, "AWS_SECRET_ACCESS_KEY"))
	}
	if err := j.egressPolicy(ctx, args); err != nil {
		return nil, err
	}
	s := args.Settings
	for _, cj := range []struct{ name, component, schedule, command string }{
		{backupCronJob, backupLabel, s.Schedule, "backup"},
		{verifyCronJob, verifyLabel, s.VerifySchedule, "verify-backup"},
	} {
		if err := j.cronJob(ctx, args, cj.name, cj.component, cj.schedule, cj.command, sa, env); err != nil {
			return nil, err
		}
	}
	j.Schedule = pulumi.String(s.Schedule).ToStringOutput()
	j.VerifySchedule = pulumi.String(s.VerifySchedule).ToStringOutput()
	if err := ctx.RegisterResourceOutputs(j, pulumi.Map{"schedule": j.Schedule, "verifySchedule": j.VerifySchedule}); err != nil {
		return nil, fmt.Errorf("backup jobs outputs: %w", err)
	}
	return j, nil
}

// storeEnv tells the backup subcommands where the store is.
func (j *BackupJobs) storeEnv(args *BackupJobsArgs) corev1.EnvVarArray {
	st := args.Store
	env := corev1.EnvVarArray{
		plainEnv("BACKUP_S3_BUCKET", st.Bucket),
		plainEnv("BACKUP_S3_PREFIX", pulumi.String(args.Settings.Prefix)),
		plainEnv("AWS_REGION", pulumi.String(st.Region)),
		plainEnv("BACKUP_S3_FORCE_PATH_STYLE", pulumi.String(fmt.Sprint(st.ForcePathStyle))),
	}
	if st.Endpoint != "" {
		env = append(env, plainEnv("BACKUP_S3_ENDPOINT", pulumi.String(st.Endpoint)))
	}
	if st.SSE != "" {
		env = append(env, plainEnv("BACKUP_SSE", pulumi.String(st.SSE)))
	}
	if st.SSE == "aws:kms" && st.HasKMSKey {
		env = append(env, plainEnv("BACKUP_KMS_KEY_ID", st.KMSKeyARN))
	}
	return env
}

func (j *BackupJobs) cronJob(ctx *pulumi.Context, args *BackupJobsArgs, name, component, schedule, command string,
	sa *corev1.ServiceAccount, env corev1.EnvVarArray) error {
	s := args.Settings
	labels := appLabels(component)
	volumes, mounts := tmpVolume()
	_, err := batchv1.NewCronJob(ctx, name, &batchv1.CronJobArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: args.Exchange.Namespace, Labels: labels},
		Spec: &batchv1.CronJobSpecArgs{
			Schedule: pulumi.String(schedule),
			// Schedules in config are UTC whatever the node's zone.
			TimeZone: pulumi.String("Etc/UTC"),
			// Two dumps at once would double the load for no benefit.
			ConcurrencyPolicy:          pulumi.String("Forbid"),
			StartingDeadlineSeconds:    pulumi.Int(s.StartingDeadline),
			SuccessfulJobsHistoryLimit: pulumi.Int(s.SuccessfulJobsHistory),
			FailedJobsHistoryLimit:     pulumi.Int(s.FailedJobsHistory),
			JobTemplate: &batchv1.JobTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: labels},
				Spec: &batchv1.JobSpecArgs{
					BackoffLimit:          pulumi.Int(s.BackoffLimit),
					ActiveDeadlineSeconds: pulumi.Int(s.ActiveDeadline),
					Template: &corev1.PodTemplateSpecArgs{
						Metadata: &metav1.ObjectMetaArgs{Labels: labels},
						Spec: &corev1.PodSpecArgs{
							RestartPolicy:                pulumi.String("Never"),
							ServiceAccountName:           sa.Metadata.Name().Elem(),
							AutomountServiceAccountToken: pulumi.Bool(false),
							SecurityContext:              podSecurityContext(),
							Volumes:                      volumes,
							Containers: corev1.ContainerArray{corev1.ContainerArgs{
								Name:            pulumi.String(component),
								Image:           pulumi.String(args.App.Image.Ref()),
								ImagePullPolicy: pulumi.String("IfNotPresent"),
								Args:            pulumi.StringArray{pulumi.String(command)},
								Env:             env,
								Resources:       resourceRequirements(s.Resources),
								SecurityContext: containerSecurityContext(),
								VolumeMounts:    mounts,
							}},
						},
					},
				},
			},
		},
	}, pulumi.Parent(j))
	if err != nil {
		return fmt.Errorf("cronjob %s: %w", name, err)
	}
	return nil
}

// egressPolicy lets backup pods reach the store; PostgreSQL and DNS are
// already allowed for every exchange pod.
func (j *BackupJobs) egressPolicy(ctx *pulumi.Context, args *BackupJobsArgs) error {
	// Any destination: S3's addresses are not fixed, and an in-cluster
	// store would not match an ipBlock.
	_, err := networkingv1.NewNetworkPolicy(ctx, "exchange-backup-egress", &networkingv1.NetworkPolicyArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("exchange-backup-egress"), Namespace: args.Exchange.Namespace},
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchExpressions: metav1.LabelSelectorRequirementArray{
				metav1.LabelSelectorRequirementArgs{
					Key:      pulumi.String("app.kubernetes.io/component"),
					Operator: pulumi.String("In"),
					Values:   pulumi.StringArray{pulumi.String(backupLabel), pulumi.String(verifyLabel)},
				},
			}},
			PolicyTypes: pulumi.StringArray{pulumi.String("Egress")},
			Egress: networkingv1.NetworkPolicyEgressRuleArray{networkingv1.NetworkPolicyEgressRuleArgs{
				Ports: tcpPorts(args.Store.EgressPorts...),
			}},
		},
	}, pulumi.Parent(j))
	if err != nil {
		return fmt.Errorf("backup egress policy: %w", err)
	}
	return nil
}
