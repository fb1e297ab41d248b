package settings

import (
	"strings"
	"testing"

	"github.com/crypto-exchange/exchange/infra/stackfile"
)

// Each case breaks one rule in an otherwise valid committed stack and
// expects exactly one message naming the key, the value and what is allowed.
func TestEachRuleRejectsWithExactMessage(t *testing.T) {
	type change func(t *testing.T, c config)
	set := func(object, path string, value any) change {
		return func(t *testing.T, c config) { c.set(t, object, path, value) }
	}
	both := func(changes ...change) change {
		return func(t *testing.T, c config) {
			for _, ch := range changes {
				ch(t, c)
			}
		}
	}
	s3compat := both(set("backup", "store", "s3-compatible"),
		set("backup", "s3Compatible", map[string]any{"endpoint": "http://minio.minio.svc:9000", "bucket": "backups", "region": "us-east-1", "forcePathStyle": true}))
	cases := []struct {
		name, stack string
		change      change
		want        string
	}{
		// kubernetes
		{"context required", "dev", set("kubernetes", "context", ""),
			`exchange:kubernetes.context: "" is not allowed; allowed the kubeconfig context of this stack's cluster, such as minikube`},
		// app
		{"replicas range", "dev", set("app", "replicas", 0),
			`exchange:app.replicas: 0 is out of range; allowed 1..50`},
		{"mode enum", "dev", set("app", "mode", "paper"),
			`exchange:app.mode: "paper" is not allowed; allowed one of demo, live`},
		{"log level enum", "dev", set("app", "logLevel", "verbose"),
			`exchange:app.logLevel: "verbose" is not allowed; allowed one of debug, info, warn, error`},
		{"host malformed", "dev", set("app", "host", "Exchange_Local"),
			`exchange:app.host: "Exchange_Local" is not a valid hostname; allowed a lowercase DNS name with at least two labels, such as exchange.example.com`},
		{"host single label", "dev", set("app", "host", "localhost"),
			`exchange:app.host: "localhost" is not a valid hostname; allowed a lowercase DNS name with at least two labels, such as exchange.example.com`},
		{"image latest", "dev", set("app", "image.tag", "latest"),
			`exchange:app.image.tag: "latest" is not a pinned image tag; allowed a fixed tag such as 1.2.3 or a commit SHA (not latest)`},
		{"image tag empty", "dev", set("app", "image.tag", ""),
			`exchange:app.image.tag: "" is not a pinned image tag; allowed a fixed tag such as 1.2.3 or a commit SHA (not latest)`},
		{"image repository URL", "dev", set("app", "image.repository", "https://ghcr.io/x"),
			`exchange:app.image.repository: "https://ghcr.io/x" is not an image repository; allowed a name such as ghcr.io/org/image`},
		{"shutdown timeout", "dev", set("app", "shutdownTimeout", "25"),
			`exchange:app.shutdownTimeout: "25" is not allowed; allowed a Go duration from 1s to 5m0s, such as 25s`},
		{"cpu quantity", "dev", set("app", "resources.requests.cpu", "lots"),
			`exchange:app.resources.requests.cpu: "lots" is not a valid Kubernetes quantity; allowed forms such as 100m, 0.5, 128Mi, 1Gi`},
		{"namespace name", "dev", set("app", "namespace", "Exchange"),
			`exchange:app.namespace: "Exchange" is not a valid namespace name; allowed lowercase letters, digits and '-', at most 63 characters, starting and ending alphanumeric`},
		{"hpa max below min", "prod", set("app", "autoscaling.maxReplicas", 2),
			`exchange:app.autoscaling.maxReplicas: 2 is out of range; allowed 3..50`},
		{"hpa target", "prod", set("app", "autoscaling.targetCPUUtilization", 100),
			`exchange:app.autoscaling.targetCPUUtilization: 100 is out of range; allowed 10..95`},
		{"pool size too small", "dev", set("app", "dbPoolSize", 1),
			`exchange:app.dbPoolSize: 1 is out of range; allowed 2..100`},
		{"pool size too large", "prod", set("app", "dbPoolSize", 101),
			`exchange:app.dbPoolSize: 101 is out of range; allowed 2..100`},
		// Computed max_connections (the committed stacks fix theirs).
		{"connections above the ceiling", "prod", both(set("database", "maxConnections", 0), set("app", "dbPoolSize", 30)),
			`exchange:app.dbPoolSize: 30 with app.autoscaling.maxReplicas 12 needs 504 PostgreSQL connections on the primary, (12 + 1 surge) server pods × (30 pool + 2 own) + 1 leader + 8 jobs + 12 database agents + 3 reserved + 64 margin; allowed at most 500: lower app.dbPoolSize or app.autoscaling.maxReplicas, or put a connection pooler in front of PostgreSQL`},
		{"connections above the ceiling without autoscaling", "dev", both(set("database", "maxConnections", 0), set("app", "replicas", 40)),
			`exchange:app.dbPoolSize: 10 with app.replicas 40 needs 530 PostgreSQL connections on the primary, (40 + 1 surge) server pods × (10 pool + 2 own) + 1 leader + 8 jobs + 2 database agents + 3 reserved + 24 margin; allowed at most 500: lower app.dbPoolSize or app.replicas, or put a connection pooler in front of PostgreSQL`},
		{"pods beyond a fixed max_connections", "prod", set("app", "autoscaling.maxReplicas", 16),
			`exchange:database.maxConnections: 250 is less than the 252 connections the stack may open, (16 + 1 surge) server pods × (10 pool + 2 own) + 1 leader + 8 jobs + 12 database agents + 3 reserved + 24 margin: raise it (PostgreSQL restarts) or lower app.dbPoolSize or app.autoscaling.maxReplicas`},
		{"max_connections range", "dev", set("database", "maxConnections", 600),
			`exchange:database.maxConnections: 600 is out of range; allowed 100..500`},
		{"pdb blocks drains", "prod", set("app", "disruptionBudget.minAvailable", 3),
			`exchange:app.disruptionBudget.minAvailable: 3 is out of range for 3 replicas; allowed 1..2 (below the replica count, so nodes can still be drained)`},
		{"tls secret name", "dev", set("app", "tls", map[string]any{"enabled": true, "secretName": ""}),
			`exchange:app.tls.secretName: "" is not a valid Kubernetes object name; allowed lowercase letters, digits, '-' and '.', at most 253 characters, starting and ending alphanumeric`},
		{"issuer without tls", "dev", set("app", "tls.clusterIssuer", "letsencrypt"),
			`exchange:app.tls.clusterIssuer: "letsencrypt" is set but tls.enabled is false; allowed only with tls.enabled true`},
		// backup
		{"cron words", "dev", set("backup", "schedule", "every day"),
			`exchange:backup.schedule: "every day" is not a valid cron schedule; allowed five fields (minute hour day-of-month month day-of-week) such as "0 2 * * *", or a macro such as @daily`},
		{"cron minute range", "dev", set("backup", "schedule", "61 2 * * *"),
			`exchange:backup.schedule: "61 2 * * *" is not a valid cron schedule; allowed five fields (minute hour day-of-month month day-of-week) such as "0 2 * * *", or a macro such as @daily`},
		{"cron weekday range", "dev", set("backup", "verifySchedule", "0 4 * * 8"),
			`exchange:backup.verifySchedule: "0 4 * * 8" is not a valid cron schedule; allowed five fields (minute hour day-of-month month day-of-week) such as "0 2 * * *", or a macro such as @daily`},
		{"retention days", "dev", set("backup", "retentionDays", 0),
			`exchange:backup.retentionDays: 0 is out of range; allowed 1..3650`},
		{"noncurrent days", "dev", set("backup", "noncurrentVersionDays", 400),
			`exchange:backup.noncurrentVersionDays: 400 is out of range; allowed 1..365`},
		{"starting deadline", "dev", set("backup", "startingDeadlineSeconds", 10),
			`exchange:backup.startingDeadlineSeconds: 10 is out of range; allowed 60..86400`},
		{"backoff limit", "dev", set("backup", "backoffLimit", 11),
			`exchange:backup.backoffLimit: 11 is out of range; allowed 0..10`},
		{"prefix", "dev", set("backup", "prefix", "/postgres"),
			`exchange:backup.prefix: "/postgres" is not a valid key prefix; allowed letters, digits, '-', '_', '.' and '/' ending in '/', not starting with '/'`},
		{"store enum", "dev", set("backup", "store", "gcs"),
			`exchange:backup.store: "gcs" is not allowed; allowed one of aws, s3-compatible`},
		{"encryption enum", "dev", set("backup", "aws.encryption", "none"),
			`exchange:backup.aws.encryption: "none" is not allowed; allowed one of sse-s3, kms`},
		{"writer enum", "dev", set("backup", "aws.writer", "root"),
			`exchange:backup.aws.writer: "root" is not allowed; allowed one of iam-user, irsa`},
		{"bucket prefix", "dev", set("backup", "aws.bucketPrefix", "Exchange"),
			`exchange:backup.aws.bucketPrefix: "Exchange" is not a valid bucket name prefix; allowed 3..37 lowercase letters, digits and '-', starting with a letter or digit`},
		{"protected but force destroy", "prod", set("backup", "aws.forceDestroy", true),
			`exchange:backup.aws.forceDestroy: true contradicts protect: true; allowed false for a protected bucket`},
		{"oidc provider arn", "prod", set("backup", "aws.oidcProviderArn", "oidc"),
			`exchange:backup.aws.oidcProviderArn: "oidc" is not an IAM OIDC provider ARN; allowed arn:aws:iam::<account>:oidc-provider/<issuer host and path>`},
		{"oidc issuer scheme", "prod", set("backup", "aws.oidcIssuer", "https://oidc.eks.eu-central-1.amazonaws.com/id/X"),
			`exchange:backup.aws.oidcIssuer: "https://oidc.eks.eu-central-1.amazonaws.com/id/X" is not an OIDC issuer; allowed the issuer host and path without scheme, such as oidc.eks.eu-central-1.amazonaws.com/id/ABC123`},
		{"aws region", "dev", set("aws", "region", ""),
			`exchange:aws.region: "" is not allowed; allowed an AWS region such as eu-central-1 (the backup store is an AWS bucket)`},
		{"s3 endpoint", "dev", both(s3compat, set("backup", "s3Compatible.endpoint", "minio:9000")),
			`exchange:backup.s3Compatible.endpoint: "minio:9000" is not an S3 endpoint; allowed an http:// or https:// URL with host and optional port, no path`},
		{"s3 endpoint with credentials", "dev", both(s3compat, set("backup", "s3Compatible.endpoint", "https://AKIAHUNTER2:hunter2-secret@minio:9000")),
			`exchange:backup.s3Compatible.endpoint: "<redacted>" holds credentials; allowed a URL without them (they are the secrets backupAccessKeyId and backupSecretAccessKey)`},
		{"s3 endpoint port", "dev", both(s3compat, set("backup", "s3Compatible.endpoint", "http://minio:99999")),
			`exchange:backup.s3Compatible.endpoint: "http://minio:99999" has an invalid port; allowed 1..65535`},
		{"s3 bucket", "dev", both(s3compat, set("backup", "s3Compatible.bucket", "B")),
			`exchange:backup.s3Compatible.bucket: "B" is not a valid bucket name; allowed 3..63 lowercase letters, digits, '.' and '-'`},
		{"s3 region", "dev", both(s3compat, set("backup", "s3Compatible.region", "")),
			`exchange:backup.s3Compatible.region: "" is not allowed; allowed the region the endpoint expects, such as us-east-1`},
		{"s3 sse enum", "dev", both(s3compat, set("backup", "s3Compatible.sse", "sse-s3")),
			`exchange:backup.s3Compatible.sse: "sse-s3" is not allowed; allowed one of AES256, aws:kms, none`},
		{"s3 kms key without kms", "dev", both(s3compat, set("backup", "s3Compatible.kmsKeyId", "alias/backups")),
			`exchange:backup.s3Compatible.kmsKeyId: "alias/backups" is set but sse is AES256; allowed only with sse aws:kms`},
		// alerting
		{"receiver enum", "dev", set("alerting", "receiver", "email"),
			`exchange:alerting.receiver: "email" is not allowed; allowed one of none, slack, webhook, pagerduty`},
		{"slack channel", "prod", set("alerting", "slackChannel", "exchange-alerts"),
			`exchange:alerting.slackChannel: "exchange-alerts" is not a Slack channel; allowed '#' and a lowercase channel name, such as #exchange-alerts`},
		{"slack channel empty", "prod", set("alerting", "slackChannel", ""),
			`exchange:alerting.slackChannel: "" is not a Slack channel; allowed '#' and a lowercase channel name, such as #exchange-alerts`},
		{"slack channel without slack", "dev", set("alerting", "slackChannel", "#alerts"),
			`exchange:alerting.slackChannel: "#alerts" is set but receiver is none; allowed only with receiver slack`},
		{"repeat interval form", "dev", set("alerting", "repeatInterval", "4 hours"),
			`exchange:alerting.repeatInterval: "4 hours" is not allowed; allowed whole minutes or hours from 5m to 168h, such as 4h`},
		{"repeat interval range", "prod", set("alerting", "repeatInterval", "1m"),
			`exchange:alerting.repeatInterval: "1m" is not allowed; allowed whole minutes or hours from 5m to 168h, such as 4h`},
		{"repeat interval compound", "prod", set("alerting", "repeatInterval", "1h30m"),
			`exchange:alerting.repeatInterval: "1h30m" is not allowed; allowed whole minutes or hours from 5m to 168h, such as 4h`},
		// ingress
		{"controller enum", "dev", set("ingress", "controller", "traefik"),
			`exchange:ingress.controller: "traefik" is not allowed; allowed one of nginx-ingress, ingress-nginx`},
		{"service type enum", "dev", set("ingress", "serviceType", "Ingress"),
			`exchange:ingress.serviceType: "Ingress" is not allowed; allowed one of NodePort, LoadBalancer, ClusterIP`},
		{"node port range", "dev", set("ingress", "httpNodePort", 80),
			`exchange:ingress.httpNodePort: 80 is out of range; allowed 30000..32767`},
		{"node ports equal", "dev", set("ingress", "httpsNodePort", 30080),
			`exchange:ingress.httpsNodePort: 30080 is also the httpNodePort; allowed a different port in 30000..32767`},
		{"node port without NodePort", "prod", set("ingress", "httpNodePort", 30080),
			`exchange:ingress.httpNodePort: 30080 is set but serviceType is LoadBalancer; allowed 0 unless serviceType is NodePort`},
		{"ingress replicas", "dev", set("ingress", "replicas", 0),
			`exchange:ingress.replicas: 0 is out of range; allowed 1..10`},
		{"class name", "dev", set("ingress", "className", "NGINX"),
			`exchange:ingress.className: "NGINX" is not a valid Kubernetes object name; allowed lowercase letters, digits, '-' and '.', at most 253 characters, starting and ending alphanumeric`},
		{"pod CIDR without prefix length", "dev", set("ingress", "podCIDRs", []any{"10.244.0.0"}),
			`exchange:ingress.podCIDRs[0]: "10.244.0.0" is not a CIDR; allowed an address range such as 10.244.0.0/16, the network the ingress controller's pods connect from`},
		{"pod CIDR out of range", "prod", set("ingress", "podCIDRs", []any{"192.168.0.0/16", "10.0.0.0/33"}),
			`exchange:ingress.podCIDRs[1]: "10.0.0.0/33" is not a CIDR; allowed an address range such as 10.244.0.0/16, the network the ingress controller's pods connect from`},
		{"pod CIDRs as one string", "dev", set("ingress", "podCIDRs", "10.244.0.0/16,10.0.0.0/8"),
			`exchange:ingress.podCIDRs: a string is not allowed; allowed a list`},
		{"pod CIDR trusting everyone", "dev", set("ingress", "podCIDRs", []any{"0.0.0.0/0"}),
			`exchange:ingress.podCIDRs[0]: "0.0.0.0/0" trusts every address; allowed the network the ingress controller's pods connect from, such as 10.244.0.0/16`},
		{"pod CIDR trusting every IPv6 address", "dev", set("ingress", "podCIDRs", []any{"::/0"}),
			`exchange:ingress.podCIDRs[0]: "::/0" trusts every address; allowed the network the ingress controller's pods connect from, such as 10.244.0.0/16`},
		{"rate limit zero", "dev", set("ingress", "rateLimit.rps", 0),
			`exchange:ingress.rateLimit.rps: 0 is out of range; allowed 1..10000`},
		{"rate limit negative", "prod", set("ingress", "rateLimit.rps", -50),
			`exchange:ingress.rateLimit.rps: -50 is out of range; allowed 1..10000`},
		{"burst multiplier zero", "dev", set("ingress", "rateLimit.burstMultiplier", 0),
			`exchange:ingress.rateLimit.burstMultiplier: 0 is out of range; allowed 1..100`},
		{"connection limit zero", "dev", set("ingress", "rateLimit.connections", 0),
			`exchange:ingress.rateLimit.connections: 0 is out of range; allowed 1..10000`},
		{"rate limit unknown key", "dev", set("ingress", "rateLimit.rpm", 3000),
			`exchange:ingress.rateLimit: unknown key "rpm"; allowed keys: burstMultiplier, connections, rps`},
		{"chart version range", "dev", set("ingress", "chart.version", "^2.6"),
			`exchange:ingress.chart.version: "^2.6" is not a pinned chart version; allowed an exact version such as 1.2.3`},
		{"chart version latest", "dev", set("logging", "lokiChart.version", "latest"),
			`exchange:logging.lokiChart.version: "latest" is not a pinned chart version; allowed an exact version such as 1.2.3`},
		{"chart repo", "dev", set("monitoring", "chart.repo", "prometheus-community.github.io"),
			`exchange:monitoring.chart.repo: "prometheus-community.github.io" is not a chart repository URL; allowed an https://, http:// or oci:// URL`},
		{"chart name", "dev", set("monitoring", "crdsChart.name", "prometheus-community/prometheus-operator-crds"),
			`exchange:monitoring.crdsChart.name: "prometheus-community/prometheus-operator-crds" is not a chart name; allowed the bare chart name such as loki`},
		// database
		{"engine enum", "dev", set("database", "engine", "mysql"),
			`exchange:database.engine: "mysql" is not allowed; allowed one of bitnami, cloudnative-pg`},
		{"bitnami replicas", "dev", set("database", "instances", 3),
			`exchange:database.instances: 3 is out of range for engine bitnami; allowed 1..1 (use engine cloudnative-pg for read replicas)`},
		{"cnpg instances", "prod", set("database", "instances", 10),
			`exchange:database.instances: 10 is out of range; allowed 1..9`},
		{"database name", "dev", set("database", "name", "Exchange-DB"),
			`exchange:database.name: "Exchange-DB" is not a valid PostgreSQL identifier; allowed lowercase letters, digits and '_', starting with a letter or '_', at most 63 characters`},
		{"superuser", "dev", set("database", "user", "postgres"),
			`exchange:database.user: "postgres" is the superuser; allowed any other role name, the exchange must not run as superuser`},
		{"storage size", "dev", set("database", "storageSize", "2GB"),
			`exchange:database.storageSize: "2GB" is not a valid volume size; allowed a whole number with Mi, Gi or Ti, such as 10Gi`},
		{"ssl mode", "dev", set("database", "sslMode", "prefer"),
			`exchange:database.sslMode: "prefer" is not allowed; allowed one of disable, require, verify-full`},
		{"database image latest", "dev", set("database", "image.tag", "latest"),
			`exchange:database.image.tag: "latest" is not a pinned image tag; allowed a fixed tag such as 1.2.3 or a commit SHA (not latest)`},
		// monitoring and logging
		{"prometheus retention", "dev", set("monitoring", "prometheusRetention", "2 days"),
			`exchange:monitoring.prometheusRetention: "2 days" is not a retention period; allowed a whole number of h, d, w or y, such as 168h or 15d`},
		{"prometheus storage", "prod", set("monitoring", "prometheusStorageSize", "100G"),
			`exchange:monitoring.prometheusStorageSize: "100G" is not a valid volume size; allowed a whole number with Mi, Gi or Ti, such as 10Gi`},
		{"loki retention", "dev", set("logging", "retention", "0h"),
			`exchange:logging.retention: "0h" is not a retention period; allowed a whole number of h, d, w or y, such as 168h or 15d`},
		{"shared namespace", "dev", set("logging", "namespace", "monitoring"),
			`exchange:monitoring.namespace: "monitoring" is already used by exchange:logging.namespace; allowed a namespace of its own`},
		// decoding
		{"unknown key", "dev", set("app", "replica", 2),
			`exchange:app: unknown key "replica"; allowed keys: autoscaling, dbPoolSize, disruptionBudget, host, image, logLevel, mode, namespace, replicas, resources, seedCatalog, shutdownTimeout, tls`},
		{"unknown nested key", "dev", set("app", "image.digest", "sha256:abc"),
			`exchange:app.image: unknown key "digest"; allowed keys: repository, tag`},
		{"wrong type", "dev", set("app", "replicas", "three"),
			`exchange:app.replicas: a string is not allowed; allowed a whole number`},
		{"fraction", "dev", set("backup", "retentionDays", 1.5),
			`exchange:backup.retentionDays: a number 1.5 is not allowed; allowed a whole number`},
		{"not a mapping", "dev", func(t *testing.T, c config) { c["exchange:app"] = stackfile.Value{Value: "exchange.local"} },
			`exchange:app: "exchange.local" is not a mapping; allowed a YAML mapping of the keys below exchange:app in the stack file`},
		{"object stored as secret", "dev", func(t *testing.T, c config) {
			v := c["exchange:app"]
			v.Secure = true
			c["exchange:app"] = v
		}, `exchange:app: is stored as a secret; allowed plain configuration only (secrets have their own keys)`},
		// secrets
		{"missing secret", "dev", func(t *testing.T, c config) { delete(c, "exchange:appSecretKey") },
			`exchange:appSecretKey: is not set; it is required, set it with: pulumi config set --secret appSecretKey -s dev`},
		{"plaintext secret", "prod", func(t *testing.T, c config) {
			c["exchange:dbPassword"] = stackfile.Value{Value: testSecrets["exchange:dbPassword"]}
		}, `exchange:dbPassword: is stored in plain text; allowed only as a secret, set it with: pulumi config set --secret dbPassword -s prod`},
		{"short secret key", "dev", func(t *testing.T, c config) {
			c["exchange:appSecretKey"] = stackfile.Value{Value: "too-short", Secure: true}
		}, `exchange:appSecretKey: the secret is 9 bytes long; allowed at least 32 bytes, set it with: pulumi config set --secret appSecretKey -s dev`},
		{"short grafana password", "dev", func(t *testing.T, c config) {
			c["exchange:grafanaAdminPassword"] = stackfile.Value{Value: "admin", Secure: true}
		}, `exchange:grafanaAdminPassword: the secret is 5 bytes long; allowed at least 16 bytes, set it with: pulumi config set --secret grafanaAdminPassword -s dev`},
		{"bitnami needs admin password", "dev", func(t *testing.T, c config) { delete(c, "exchange:dbAdminPassword") },
			`exchange:dbAdminPassword: is not set; it is required, set it with: pulumi config set --secret dbAdminPassword -s dev`},
		{"receiver needs its secret", "prod", func(t *testing.T, c config) { delete(c, "exchange:alertReceiverSecret") },
			`exchange:alertReceiverSecret: is not set; it is required, set it with: pulumi config set --secret alertReceiverSecret -s prod`},
		{"slack receiver secret is an https URL", "prod", func(t *testing.T, c config) {
			c["exchange:alertReceiverSecret"] = stackfile.Value{Value: "http://hooks.slack.com/services/x", Secure: true}
		}, `exchange:alertReceiverSecret: the secret is not an https:// URL; allowed the Slack incoming-webhook URL, such as https://hooks.slack.com/services/..., set it with: pulumi config set --secret alertReceiverSecret -s prod`},
		{"webhook receiver secret is a URL", "dev", both(set("alerting", "receiver", "webhook"), func(t *testing.T, c config) {
			c["exchange:alertReceiverSecret"] = stackfile.Value{Value: "alert-relay:8080", Secure: true}
		}), `exchange:alertReceiverSecret: the secret is not an http:// or https:// URL; allowed the URL Alertmanager posts the alerts to, set it with: pulumi config set --secret alertReceiverSecret -s dev`},
		{"pagerduty routing key", "dev", set("alerting", "receiver", "pagerduty"),
			`exchange:alertReceiverSecret: the secret is not a PagerDuty routing key; allowed the 32-character integration key of a PagerDuty Events API v2 integration, set it with: pulumi config set --secret alertReceiverSecret -s dev`},
		{"plaintext receiver secret", "prod", func(t *testing.T, c config) {
			c["exchange:alertReceiverSecret"] = stackfile.Value{Value: testSecrets["exchange:alertReceiverSecret"]}
		}, `exchange:alertReceiverSecret: is stored in plain text; allowed only as a secret, set it with: pulumi config set --secret alertReceiverSecret -s prod`},
		{"s3-compatible needs credentials", "dev", both(s3compat, func(t *testing.T, c config) { delete(c, "exchange:backupSecretAccessKey") }),
			`exchange:backupSecretAccessKey: is not set; it is required, set it with: pulumi config set --secret backupSecretAccessKey -s dev`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := committed(t, tc.stack)
			tc.change(t, c)
			s, err := c.load(tc.stack)
			if err == nil {
				t.Fatalf("accepted; want error %q (got %+v)", tc.want, s)
			}
			if err.Error() != tc.want {
				t.Errorf("error\n got: %s\nwant: %s", err, tc.want)
			}
		})
	}
}

// A stack with several mistakes reports all of them in one run.
func TestAllProblemsAreReportedTogether(t *testing.T) {
	c := committed(t, "dev")
	c.set(t, "app", "replicas", 0)
	c.set(t, "backup", "schedule", "daily")
	delete(c, "exchange:dbPassword")
	_, err := c.load("dev")
	want := `exchange:app.replicas: 0 is out of range; allowed 1..50
exchange:backup.schedule: "daily" is not a valid cron schedule; allowed five fields (minute hour day-of-month month day-of-week) such as "0 2 * * *", or a macro such as @daily
exchange:dbPassword: is not set; it is required, set it with: pulumi config set --secret dbPassword -s dev`
	if err == nil || err.Error() != want {
		t.Errorf("error\n got: %v\nwant: %s", err, want)
	}
}

// Secret values never appear in messages, even when they break a rule.
func TestMessagesNeverContainSecretValues(t *testing.T) {
	c := committed(t, "dev")
	c["exchange:appSecretKey"] = stackfile.Value{Value: "short-but-secret", Secure: true}
	c["exchange:dbPassword"] = stackfile.Value{Value: "plain-password-0123456789"}
	c.set(t, "alerting", "receiver", "webhook")
	c["exchange:alertReceiverSecret"] = stackfile.Value{Value: "ftp://user:hunter2-token@relay", Secure: true}
	_, err := c.load("dev")
	if err == nil {
		t.Fatal("accepted invalid secrets")
	}
	if !strings.Contains(err.Error(), "exchange:alertReceiverSecret: the secret is not an http:// or https:// URL") {
		t.Errorf("the receiver secret's form is not checked: %v", err)
	}
	for _, v := range []string{"short-but-secret", "plain-password-0123456789", "hunter2-token", "ftp://"} {
		if strings.Contains(err.Error(), v) {
			t.Errorf("message reveals secret %q: %v", v, err)
		}
	}
}
