// Package platform is the Pulumi program of the exchange platform: ingress,
// PostgreSQL, monitoring, logging, the exchange and its backups.
//
// Run is the whole program. infra/main.go hands it to pulumi.Run; the
// end-to-end tests hand the same function to the Automation API as an inline
// program, so nothing here may depend on the Go language host.
package platform

import (
	"fmt"
	"sort"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crypto-exchange/exchange/infra/platform/settings"
)

// Run reads and validates the whole stack configuration, then declares the
// platform and exports its outputs. Nothing is declared when the
// configuration is invalid.
func Run(ctx *pulumi.Context) error {
	outputs, err := declare(ctx)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(outputs))
	for k := range outputs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ctx.Export(k, outputs[k])
	}
	return nil
}

// declare is Run without the exports, so tests can inspect the outputs
// (the mock engine does not hand stack outputs back).
func declare(ctx *pulumi.Context) (map[string]pulumi.Output, error) {
	s, err := settings.Load(ctx.Stack(), func(key string) (string, bool, bool) {
		v, ok := ctx.GetConfig(key)
		return v, ctx.IsConfigSecret(key), ok
	})
	if err != nil {
		return nil, fmt.Errorf("invalid configuration of stack %s:\n%w", ctx.Stack(), err)
	}
	k8s, err := kubernetesProvider(ctx, s.Kubernetes)
	if err != nil {
		return nil, err
	}
	onCluster := pulumi.Providers(k8s)
	secrets := s.Secrets

	monitoring, err := NewMonitoring(ctx, "monitoring", &MonitoringArgs{
		Settings:             s.Monitoring,
		GrafanaAdminPassword: secret(secrets.GrafanaAdminPassword),
		LokiURL:              LokiURL(s.Logging),
		Alerting:             s.Alerting,
		AlertReceiverSecret:  secret(secrets.AlertReceiverSecret),
	}, onCluster)
	if err != nil {
		return nil, err
	}
	if _, err := NewLogging(ctx, "logging", &LoggingArgs{Settings: s.Logging}, onCluster); err != nil {
		return nil, err
	}
	if _, err := NewIngressController(ctx, "ingress", &IngressArgs{Settings: s.Ingress, CRDsReady: monitoring.CRDsReady()}, onCluster); err != nil {
		return nil, err
	}
	db, err := NewDatabase(ctx, "database", &DatabaseArgs{
		Settings:       s.Database,
		Password:       secret(secrets.DBPassword),
		AdminPassword:  secret(secrets.DBAdminPassword),
		MaxConnections: s.Connections().MaxConnections,
		CRDsReady:      monitoring.CRDsReady(),
	}, onCluster)
	if err != nil {
		return nil, err
	}
	storeOpts := []pulumi.ResourceOption{}
	if s.Backup.Store == "aws" {
		awsProv, err := awsProvider(ctx, s)
		if err != nil {
			return nil, err
		}
		storeOpts = append(storeOpts, pulumi.Providers(awsProv))
	}
	store, err := NewBackupStore(ctx, "backup-store", &BackupStoreArgs{
		Settings:                s.Backup,
		Region:                  s.AWS.Region,
		ServiceAccountNamespace: s.App.Namespace,
		ServiceAccountName:      backupServiceAccount,
		AccessKeyID:             secret(secrets.BackupAccessKeyID),
		SecretAccessKey:         secret(secrets.BackupSecretAccessKey),
	}, storeOpts...)
	if err != nil {
		return nil, err
	}
	app, err := NewExchangeApp(ctx, "exchange", &ExchangeAppArgs{
		Settings:            s.App,
		SecretKey:           secret(secrets.AppSecretKey),
		Database:            db,
		IngressNamespace:    s.Ingress.Namespace,
		IngressPodLabels:    controllerPodLabels(s.Ingress),
		IngressClass:        s.Ingress.ClassName,
		IngressAnnotations:  rateLimitAnnotations(s.Ingress),
		TrustedProxies:      s.Ingress.PodCIDRs,
		SkipIngressAwait:    s.Ingress.ServiceType != "LoadBalancer",
		MonitoringNamespace: s.Monitoring.Namespace,
		PrometheusPodLabels: prometheusPodLabels,
		CRDsReady:           monitoring.CRDsReady(),
	}, onCluster)
	if err != nil {
		return nil, err
	}
	backups, err := NewBackupJobs(ctx, "backup", &BackupJobsArgs{
		Settings: s.Backup,
		App:      s.App,
		Exchange: app,
		Store:    store,
	}, onCluster)
	if err != nil {
		return nil, err
	}
	if _, err := NewObservability(ctx, "observability", &ObservabilityArgs{
		MonitoringNamespace:   monitoring.Namespace,
		AppNamespace:          app.Namespace,
		AppNamespaceName:      s.App.Namespace,
		DatabaseNamespaceName: s.Database.Namespace,
		CRDsReady:             monitoring.CRDsReady(),
	}, onCluster); err != nil {
		return nil, err
	}

	return map[string]pulumi.Output{
		"siteUrl":        pulumi.String(SiteURL(s)).ToStringOutput(),
		"grafanaCommand": monitoring.GrafanaCommand,
		"backupBucket":   store.Bucket,
		"namespace":      app.Namespace,
		"backupSchedule": backups.Schedule,
		"verifySchedule": backups.VerifySchedule,
	}, nil
}

// secret marks a config secret as a Pulumi secret output, so it stays
// encrypted in state and masked in previews wherever it flows.
func secret(v string) pulumi.StringOutput {
	return pulumi.ToSecret(pulumi.String(v)).(pulumi.StringOutput)
}

// SiteURL is where the exchange answers: https when TLS is on, and the
// controller's node port when it is exposed as a NodePort (minikube).
func SiteURL(s *settings.Settings) string {
	scheme, port := "http", s.Ingress.HTTPNodePort
	if s.App.TLS.Enabled {
		scheme, port = "https", s.Ingress.HTTPSNodePort
	}
	if s.Ingress.ServiceType == "NodePort" {
		return fmt.Sprintf("%s://%s:%d", scheme, s.App.Host, port)
	}
	return fmt.Sprintf("%s://%s", scheme, s.App.Host)
}

// kubernetesProvider is explicit so a stack can never deploy to whatever
// context happens to be current on the operator's machine.
func kubernetesProvider(ctx *pulumi.Context, k settings.Kubernetes) (*kubernetes.Provider, error) {
	args := &kubernetes.ProviderArgs{}
	if k.Context != "" {
		args.Context = pulumi.String(k.Context)
	}
	if k.Kubeconfig != "" {
		args.Kubeconfig = pulumi.String(k.Kubeconfig)
	}
	p, err := kubernetes.NewProvider(ctx, "kubernetes", args)
	if err != nil {
		return nil, fmt.Errorf("kubernetes provider: %w", err)
	}
	return p, nil
}

// awsProvider is created only for an AWS backup bucket, so an S3-compatible
// setup needs neither AWS credentials nor the AWS provider plugin.
func awsProvider(ctx *pulumi.Context, s *settings.Settings) (*aws.Provider, error) {
	p, err := aws.NewProvider(ctx, "aws", &aws.ProviderArgs{
		Region: pulumi.String(s.AWS.Region),
		DefaultTags: &aws.ProviderDefaultTagsArgs{Tags: pulumi.StringMap{
			"project": pulumi.String(settings.Namespace),
			"stack":   pulumi.String(s.Stack),
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("aws provider: %w", err)
	}
	return p, nil
}
