package settings

import (
	"fmt"
	"regexp"
	"slices"
	"time"
)

// Namespace is the Pulumi config namespace, the project name in Pulumi.yaml.
const Namespace = "exchange"

// Lookup returns the raw value of a fully qualified config key (such as
// "exchange:app"), whether it is stored as a secret, and whether it is set.
// platform.Run backs it with the Pulumi context; tests back it with the
// committed stack files.
type Lookup func(key string) (value string, secret, ok bool)

// objectKeys are the structured config keys, one per concern.
var objectKeys = []string{"kubernetes", "aws", "ingress", "database", "monitoring", "logging", "app", "backup", "alerting"}

// Keys returns every config key (without namespace) the program reads, so a
// test can reject stack files that carry anything else.
func Keys() []string {
	return append(append([]string{}, objectKeys...), secretKeys...)
}

// Load reads every config object, applies defaults, reads the secrets and
// validates the whole result. It returns all problems at once.
func Load(stack string, get Lookup) (*Settings, error) {
	s := defaults()
	s.Stack = stack
	targets := map[string]any{
		"kubernetes": &s.Kubernetes, "aws": &s.AWS, "ingress": &s.Ingress, "database": &s.Database,
		"monitoring": &s.Monitoring, "logging": &s.Logging, "app": &s.App, "backup": &s.Backup,
		"alerting": &s.Alerting,
	}
	var p problems
	for _, name := range objectKeys {
		k := key(name)
		raw, secret, ok := get(k)
		if !ok {
			continue
		}
		if secret {
			p.add("%s: is stored as a secret; allowed plain configuration only (secrets have their own keys)", k)
			continue
		}
		if err := decodeObject(k, raw, targets[name]); err != nil {
			p.errs = append(p.errs, err)
		}
	}
	if err := p.err(); err != nil {
		// Validating half-decoded objects would only add noise.
		return nil, err
	}
	fillChart(&s.Ingress.Chart, s.Ingress.defaultChart())
	if s.Ingress.PodCIDRs == nil {
		// Omitted (an explicit empty list stays empty: trust nobody).
		s.Ingress.PodCIDRs = defaultPodCIDRs(stack)
	}
	fillChart(&s.Database.Chart, s.Database.defaultChart())
	fillImage(&s.Database.Image, s.Database.defaultImage())
	fillImage(&s.Database.MetricsImage, BitnamiExporterImage)

	s.validate(&p)
	s.Secrets = readSecrets(stack, get, s, &p)
	if err := p.err(); err != nil {
		return nil, err
	}
	return &s, nil
}

// key qualifies a config path with the project namespace for messages.
func key(path string) string { return Namespace + ":" + path }

func (s *Settings) validate(p *problems) {
	if s.Kubernetes.Context == "" {
		// An explicit context keeps a stack off whatever cluster happens to
		// be current on the operator's machine.
		p.add("%s: \"\" is not allowed; allowed the kubeconfig context of this stack's cluster, such as minikube", key("kubernetes.context"))
	}
	s.Ingress.validate(p)
	s.Database.validate(p)
	s.Monitoring.validate(p)
	s.Logging.validate(p)
	s.App.validate(p)
	s.Backup.validate(p)
	s.Alerting.validate(p)
	s.validateConnections(p)
	if s.Backup.Store == "aws" && s.AWS.Region == "" {
		p.add("%s: \"\" is not allowed; allowed an AWS region such as eu-central-1 (the backup store is an AWS bucket)", key("aws.region"))
	}
	namespaces := map[string]string{
		"ingress.namespace": s.Ingress.Namespace, "database.namespace": s.Database.Namespace,
		"monitoring.namespace": s.Monitoring.Namespace, "logging.namespace": s.Logging.Namespace,
		"app.namespace": s.App.Namespace,
	}
	if s.Database.Engine == "cloudnative-pg" {
		namespaces["database.operatorNamespace"] = s.Database.OperatorNamespace
	}
	reportSharedNamespaces(p, namespaces)
}

func (i Ingress) validate(p *problems) {
	p.oneOf(key("ingress.controller"), i.Controller, IngressControllers)
	p.namespace(key("ingress.namespace"), i.Namespace)
	p.objectName(key("ingress.className"), i.ClassName)
	p.oneOf(key("ingress.serviceType"), i.ServiceType, ServiceTypes)
	if i.ServiceType == "NodePort" {
		p.intRange(key("ingress.httpNodePort"), i.HTTPNodePort, 30000, 32767)
		p.intRange(key("ingress.httpsNodePort"), i.HTTPSNodePort, 30000, 32767)
		if i.HTTPNodePort == i.HTTPSNodePort {
			p.add("%s: %d is also the httpNodePort; allowed a different port in 30000..32767", key("ingress.httpsNodePort"), i.HTTPSNodePort)
		}
	} else if slices.Contains(ServiceTypes, i.ServiceType) {
		for _, np := range []struct {
			key  string
			port int
		}{{"ingress.httpNodePort", i.HTTPNodePort}, {"ingress.httpsNodePort", i.HTTPSNodePort}} {
			if np.port != 0 {
				p.add("%s: %d is set but serviceType is %s; allowed 0 unless serviceType is NodePort", key(np.key), np.port, i.ServiceType)
			}
		}
	}
	p.intRange(key("ingress.replicas"), i.Replicas, 1, 10)
	p.resources(key("ingress.resources"), i.Resources)
	p.chart(key("ingress.chart"), i.Chart)
	for n, cidr := range i.PodCIDRs {
		p.trustedCIDR(key(fmt.Sprintf("ingress.podCIDRs[%d]", n)), cidr)
	}
	// Zero would switch a limit off (ingress-nginx) or be refused by the
	// controller (F5); the upper bounds only catch typos.
	p.intRange(key("ingress.rateLimit.rps"), i.RateLimit.RPS, 1, 10000)
	p.intRange(key("ingress.rateLimit.burstMultiplier"), i.RateLimit.BurstMultiplier, 1, 100)
	p.intRange(key("ingress.rateLimit.connections"), i.RateLimit.Connections, 1, 10000)
}

func (d Database) validate(p *problems) {
	p.oneOf(key("database.engine"), d.Engine, DatabaseEngines)
	p.namespace(key("database.namespace"), d.Namespace)
	if d.Engine == "cloudnative-pg" {
		p.namespace(key("database.operatorNamespace"), d.OperatorNamespace)
		p.intRange(key("database.instances"), d.Instances, 1, 9)
	} else if d.Instances != 1 {
		p.add("%s: %d is out of range for engine bitnami; allowed 1..1 (use engine cloudnative-pg for read replicas)", key("database.instances"), d.Instances)
	}
	p.identifier(key("database.name"), d.Name)
	p.identifier(key("database.user"), d.User)
	if d.User == "postgres" {
		p.add("%s: \"postgres\" is the superuser; allowed any other role name, the exchange must not run as superuser", key("database.user"))
	}
	p.image(key("database.image"), d.Image)
	if d.Engine == "bitnami" {
		p.image(key("database.metricsImage"), d.MetricsImage)
	}
	p.storage(key("database.storageSize"), d.StorageSize)
	p.oneOf(key("database.sslMode"), d.SSLMode, SSLModes)
	p.resources(key("database.resources"), d.Resources)
	p.chart(key("database.chart"), d.Chart)
}

func (m Monitoring) validate(p *problems) {
	p.namespace(key("monitoring.namespace"), m.Namespace)
	p.retention(key("monitoring.prometheusRetention"), m.PrometheusRetention)
	if m.PrometheusStorage != "" {
		p.storage(key("monitoring.prometheusStorageSize"), m.PrometheusStorage)
	}
	p.resources(key("monitoring.prometheusResources"), m.PrometheusResources)
	p.resources(key("monitoring.grafanaResources"), m.GrafanaResources)
	p.chart(key("monitoring.crdsChart"), m.CRDsChart)
	p.chart(key("monitoring.chart"), m.Chart)
}

func (l Logging) validate(p *problems) {
	p.namespace(key("logging.namespace"), l.Namespace)
	p.retention(key("logging.retention"), l.Retention)
	p.storage(key("logging.storageSize"), l.StorageSize)
	p.resources(key("logging.lokiResources"), l.LokiResources)
	p.resources(key("logging.alloyResources"), l.AlloyResources)
	p.chart(key("logging.lokiChart"), l.LokiChart)
	p.chart(key("logging.alloyChart"), l.AlloyChart)
}

func (a App) validate(p *problems) {
	p.namespace(key("app.namespace"), a.Namespace)
	p.hostname(key("app.host"), a.Host)
	p.image(key("app.image"), a.Image)
	p.oneOf(key("app.mode"), a.Mode, AppModes)
	p.oneOf(key("app.logLevel"), a.LogLevel, LogLevels)
	p.intRange(key("app.replicas"), a.Replicas, 1, 50)
	p.duration(key("app.shutdownTimeout"), a.ShutdownTimeout, MinShutdownTimeout, MaxShutdownTimeout)
	p.intRange(key("app.dbPoolSize"), a.DBPoolSize, MinDBPoolSize, MaxDBPoolSize)
	p.resources(key("app.resources"), a.Resources)
	replicas := a.Replicas
	if a.Autoscaling.Enabled {
		as := a.Autoscaling
		p.intRange(key("app.autoscaling.minReplicas"), as.MinReplicas, 1, 50)
		p.intRange(key("app.autoscaling.maxReplicas"), as.MaxReplicas, as.MinReplicas, 50)
		p.intRange(key("app.autoscaling.targetCPUUtilization"), as.TargetCPUUtilization, 10, 95)
		replicas = as.MinReplicas
	}
	if a.Disruption.Enabled && (a.Disruption.MinAvailable < 1 || a.Disruption.MinAvailable >= replicas) {
		// minAvailable equal to the replica count blocks every node drain.
		p.add("%s: %d is out of range for %d replicas; allowed 1..%d (below the replica count, so nodes can still be drained)",
			key("app.disruptionBudget.minAvailable"), a.Disruption.MinAvailable, replicas, replicas-1)
	}
	if a.TLS.Enabled {
		p.objectName(key("app.tls.secretName"), a.TLS.SecretName)
	} else if a.TLS.ClusterIssuer != "" {
		p.add("%s: %q is set but tls.enabled is false; allowed only with tls.enabled true", key("app.tls.clusterIssuer"), a.TLS.ClusterIssuer)
	}
}

func (b Backup) validate(p *problems) {
	p.cron(key("backup.schedule"), b.Schedule)
	p.cron(key("backup.verifySchedule"), b.VerifySchedule)
	p.intRange(key("backup.retentionDays"), b.RetentionDays, 1, 3650)
	p.intRange(key("backup.noncurrentVersionDays"), b.NoncurrentDays, 1, 365)
	if !validPrefix(b.Prefix) {
		p.add("%s: %q is not a valid key prefix; allowed letters, digits, '-', '_', '.' and '/' ending in '/', not starting with '/'", key("backup.prefix"), b.Prefix)
	}
	p.intRange(key("backup.startingDeadlineSeconds"), b.StartingDeadline, 60, 86400)
	p.intRange(key("backup.activeDeadlineSeconds"), b.ActiveDeadline, 60, 86400)
	p.intRange(key("backup.backoffLimit"), b.BackoffLimit, 0, 10)
	p.intRange(key("backup.successfulJobsHistory"), b.SuccessfulJobsHistory, 1, 20)
	p.intRange(key("backup.failedJobsHistory"), b.FailedJobsHistory, 1, 20)
	p.resources(key("backup.resources"), b.Resources)
	p.oneOf(key("backup.store"), b.Store, BackupStores)
	switch b.Store {
	case "aws":
		a := b.AWS
		if !bucketPrefix.MatchString(a.BucketPrefix) {
			p.add("%s: %q is not a valid bucket name prefix; allowed 3..37 lowercase letters, digits and '-', starting with a letter or digit", key("backup.aws.bucketPrefix"), a.BucketPrefix)
		}
		p.oneOf(key("backup.aws.encryption"), a.Encryption, Encryptions)
		p.oneOf(key("backup.aws.writer"), a.Writer, Writers)
		if a.Protect && a.ForceDestroy {
			p.add("%s: true contradicts protect: true; allowed false for a protected bucket", key("backup.aws.forceDestroy"))
		}
		if a.Writer == "irsa" {
			if !oidcProviderARN.MatchString(a.OIDCProviderARN) {
				p.add("%s: %q is not an IAM OIDC provider ARN; allowed arn:aws:iam::<account>:oidc-provider/<issuer host and path>", key("backup.aws.oidcProviderArn"), a.OIDCProviderARN)
			}
			if !oidcIssuer.MatchString(a.OIDCIssuer) {
				p.add("%s: %q is not an OIDC issuer; allowed the issuer host and path without scheme, such as oidc.eks.eu-central-1.amazonaws.com/id/ABC123", key("backup.aws.oidcIssuer"), a.OIDCIssuer)
			}
		}
	case "s3-compatible":
		s := b.S3Compatible
		p.endpoint(key("backup.s3Compatible.endpoint"), s.Endpoint)
		if !bucketName.MatchString(s.Bucket) {
			p.add("%s: %q is not a valid bucket name; allowed 3..63 lowercase letters, digits, '.' and '-'", key("backup.s3Compatible.bucket"), s.Bucket)
		}
		if s.Region == "" {
			p.add("%s: \"\" is not allowed; allowed the region the endpoint expects, such as us-east-1", key("backup.s3Compatible.region"))
		}
		p.oneOf(key("backup.s3Compatible.sse"), s.SSE, BackupSSEModes)
		if s.KMSKeyID != "" && s.SSE != "aws:kms" {
			p.add("%s: %q is set but sse is %s; allowed only with sse aws:kms", key("backup.s3Compatible.kmsKeyId"), s.KMSKeyID, s.SSE)
		}
	}
}

// slackChannel is a public or private channel name as Slack allows it.
var slackChannel = regexp.MustCompile(`^#[a-z0-9][a-z0-9._-]{0,79}$`)

// alertInterval is a whole number of minutes or hours, a duration both Go
// and Alertmanager parse the same way.
var alertInterval = regexp.MustCompile(`^[1-9][0-9]*(m|h)$`)

func (a Alerting) validate(p *problems) {
	p.oneOf(key("alerting.receiver"), a.Receiver, AlertReceivers)
	if a.Receiver == "slack" && !slackChannel.MatchString(a.SlackChannel) {
		p.add("%s: %q is not a Slack channel; allowed '#' and a lowercase channel name, such as #exchange-alerts", key("alerting.slackChannel"), a.SlackChannel)
	} else if a.Receiver != "slack" && a.SlackChannel != "" {
		p.add("%s: %q is set but receiver is %s; allowed only with receiver slack", key("alerting.slackChannel"), a.SlackChannel, a.Receiver)
	}
	d, err := time.ParseDuration(a.RepeatInterval)
	if !alertInterval.MatchString(a.RepeatInterval) || err != nil || d < 5*time.Minute || d > 168*time.Hour {
		p.add("%s: %q is not allowed; allowed whole minutes or hours from 5m to 168h, such as 4h", key("alerting.repeatInterval"), a.RepeatInterval)
	}
}

// reportSharedNamespaces refuses two concerns in one namespace: each
// component owns (creates and deletes) its namespace.
func reportSharedNamespaces(p *problems, namespaces map[string]string) {
	owner := map[string]string{}
	for _, k := range sortedStrings(namespaces) {
		ns := namespaces[k]
		if first, taken := owner[ns]; taken {
			p.add("%s: %q is already used by %s; allowed a namespace of its own", key(k), ns, key(first))
			continue
		}
		owner[ns] = k
	}
}
