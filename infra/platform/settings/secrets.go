package settings

import (
	"net/url"
	"regexp"
)

// secretKeys are the config keys that hold secrets, each set with
// `pulumi config set --secret`.
var secretKeys = []string{
	"appSecretKey", "dbPassword", "dbAdminPassword", "grafanaAdminPassword",
	"backupAccessKeyId", "backupSecretAccessKey", "alertReceiverSecret",
}

// secretRule says when a secret is required and how long it must be.
type secretRule struct {
	name   string
	minLen int
	needed func(s Settings) bool
	dst    func(x *Secrets) *string
	// format, when set, returns what the value is not and what is allowed
	// (both free of the value) if the value has the wrong form.
	format func(s Settings, v string) (isNot, allowed string)
}

func always(Settings) bool { return true }

// MinSecretLength is the shortest value the program accepts for the secret
// config key name (0 for an unknown key). appSecretKey becomes the
// exchange's SECRET_KEY, whose own minimum the contract test checks.
func MinSecretLength(name string) int {
	for _, r := range secretRules {
		if r.name == name {
			return r.minLen
		}
	}
	return 0
}

var secretRules = []secretRule{
	// The service refuses a SECRET_KEY shorter than 32 bytes.
	{name: "appSecretKey", minLen: 32, needed: always, dst: func(x *Secrets) *string { return &x.AppSecretKey }},
	{name: "dbPassword", minLen: 16, needed: always, dst: func(x *Secrets) *string { return &x.DBPassword }},
	// Only the Bitnami chart takes a superuser password; CloudNativePG
	// keeps superuser access disabled.
	{name: "dbAdminPassword", minLen: 16, needed: func(s Settings) bool { return s.Database.Engine == "bitnami" },
		dst: func(x *Secrets) *string { return &x.DBAdminPassword }},
	{name: "grafanaAdminPassword", minLen: 16, needed: always, dst: func(x *Secrets) *string { return &x.GrafanaAdminPassword }},
	// An AWS bucket gets its writer identity from this program; an existing
	// S3-compatible store needs credentials handed in.
	{name: "backupAccessKeyId", minLen: 3, needed: usesS3Compatible, dst: func(x *Secrets) *string { return &x.BackupAccessKeyID }},
	{name: "backupSecretAccessKey", minLen: 8, needed: usesS3Compatible, dst: func(x *Secrets) *string { return &x.BackupSecretAccessKey }},
	// The alert receiver's URL or key is a credential: anyone holding a
	// Slack incoming-webhook URL may post to the channel.
	{name: "alertReceiverSecret", minLen: 1, needed: func(s Settings) bool { return s.Alerting.Receiver != "none" },
		dst: func(x *Secrets) *string { return &x.AlertReceiverSecret }, format: receiverSecretFormat},
}

// pagerDutyKey is an Events API v2 integration (routing) key.
var pagerDutyKey = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)

func receiverSecretFormat(s Settings, v string) (string, string) {
	switch s.Alerting.Receiver {
	case "slack":
		if u, err := url.Parse(v); err != nil || u.Scheme != "https" || u.Host == "" {
			return "not an https:// URL", "the Slack incoming-webhook URL, such as https://hooks.slack.com/services/...,"
		}
	case "webhook":
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return "not an http:// or https:// URL", "the URL Alertmanager posts the alerts to,"
		}
	case "pagerduty":
		if !pagerDutyKey.MatchString(v) {
			return "not a PagerDuty routing key", "the 32-character integration key of a PagerDuty Events API v2 integration,"
		}
	}
	return "", ""
}

func usesS3Compatible(s Settings) bool { return s.Backup.Store == "s3-compatible" }

// readSecrets reads the secrets s needs. Messages name the key and the exact
// command to fix it, never the value.
func readSecrets(stack string, get Lookup, s Settings, p *problems) Secrets {
	var out Secrets
	for _, r := range secretRules {
		if !r.needed(s) {
			continue
		}
		k := key(r.name)
		fix := "pulumi config set --secret " + r.name + " -s " + stack
		v, secret, ok := get(k)
		switch {
		case !ok || v == "":
			p.add("%s: is not set; it is required, set it with: %s", k, fix)
		case !secret:
			p.add("%s: is stored in plain text; allowed only as a secret, set it with: %s", k, fix)
		case len(v) < r.minLen:
			p.add("%s: the secret is %d bytes long; allowed at least %d bytes, set it with: %s", k, len(v), r.minLen, fix)
		case r.format != nil && formatProblem(r, s, v):
			isNot, allowed := r.format(s, v)
			p.add("%s: the secret is %s; allowed %s set it with: %s", k, isNot, allowed, fix)
		default:
			*r.dst(&out) = v
		}
	}
	return out
}

func formatProblem(r secretRule, s Settings, v string) bool {
	isNot, _ := r.format(s, v)
	return isNot != ""
}
