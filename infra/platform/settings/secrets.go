package settings

// secretKeys are the config keys that hold secrets, each set with
// `pulumi config set --secret`.
var secretKeys = []string{
	"appSecretKey", "dbPassword", "dbAdminPassword", "grafanaAdminPassword",
	"backupAccessKeyId", "backupSecretAccessKey",
}

// secretRule says when a secret is required and how long it must be.
type secretRule struct {
	name   string
	minLen int
	needed func(s Settings) bool
	dst    func(x *Secrets) *string
}

func always(Settings) bool { return true }

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
		default:
			*r.dst(&out) = v
		}
	}
	return out
}
