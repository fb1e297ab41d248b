package config

import (
	"bytes"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/jackc/pgx/v5/pgconn"
)

// The service's half of the infra↔service contract (docs/infra.md).
// testdata/infra/*.json is the environment the Pulumi program
// (infra/platform, TestServiceContract) renders for every exchange
// container; it is regenerated there, never edited here. Each container's
// environment goes through the loaders its subcommand runs, as the kubelet
// hands it over, and every variable rendered must be read by one of them
// (or by the library named for it in libraryVars): a variable renamed on
// either side fails here.

type (
	infraEnvFile struct {
		Note       string           `json:"note"`
		Scenario   string           `json:"scenario"`
		Containers []infraContainer `json:"containers"`
	}
	infraContainer struct {
		Workload  string     `json:"workload"`
		Container string     `json:"container"`
		Args      []string   `json:"args"`
		Env       []infraEnv `json:"env"`
	}
	infraEnv struct {
		Name         string  `json:"name"`
		Value        *string `json:"value"`
		SecretKeyRef *struct {
			Name string `json:"name"`
			Key  string `json:"key"`
		} `json:"secretKeyRef"`
		Placeholder string `json:"placeholder"`
		FieldRef    string `json:"fieldRef"`
	}
)

// readInfra decodes a golden file strictly: a field the program starts to
// render that this side does not know fails instead of being dropped.
func readInfra(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the infra contract file is missing (go test ./infra/platform -run TestServiceContract -update writes it): %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// loaders are what each subcommand runs before anything else, in the order
// cmd/exchange runs them (serve.go, admin.go's runMigrate, backup.go).
var loaders = map[string][]func(Getenv) error{
	"serve":         {loadLogLevel, loadServer, loadDB},
	"migrate":       {loadLogLevel, loadDB},
	"backup":        {loadLogLevel, loadBackupDatabase, loadBackup},
	"verify-backup": {loadLogLevel, loadBackup, loadBackupDatabase},
}

func loadLogLevel(e Getenv) error { _, err := LogLevel(e); return err }
func loadBackup(e Getenv) error   { _, err := LoadBackup(e); return err }
func loadBackupDatabase(e Getenv) error {
	db, err := LoadDatabase(e)
	if err != nil {
		return err
	}
	return RequirePostgresURL("DATABASE_URL", db.URL)
}

// libraryVars are read by a library, not by this package; checkLibraries
// proves each is.
var libraryVars = map[string]string{
	"PGPASSWORD":            "pgx (pgconn.ParseConfig), and pg_dump/pg_restore",
	"AWS_ACCESS_KEY_ID":     "the AWS SDK's environment credentials",
	"AWS_SECRET_ACCESS_KEY": "the AWS SDK's environment credentials",
}

// podIP stands in for what the downward API's status.podIP gives.
const podIP = "10.244.0.17"

func TestInfraEnvironmentLoads(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "infra", "*.json"))
	scenarios := 0
	for _, path := range files {
		if filepath.Base(path) == "ranges.json" {
			continue
		}
		scenarios++
		var f infraEnvFile
		readInfra(t, path, &f)
		if len(f.Containers) < 4 {
			t.Errorf("%s: %d containers; the program declares at least the server, the migration and the two backup jobs", path, len(f.Containers))
		}
		for _, c := range f.Containers {
			t.Run(f.Scenario+"/"+c.Workload, func(t *testing.T) {
				env, referenced := kubeletEnv(t, c)
				if len(c.Args) == 0 || loaders[c.Args[0]] == nil {
					t.Fatalf("args %v: not a subcommand this test knows the loaders of", c.Args)
				}
				read := map[string]bool{}
				getenv := func(k string) string { read[k] = true; return env[k] }
				for _, load := range loaders[c.Args[0]] {
					if err := load(getenv); err != nil {
						t.Fatalf("the service refuses what the program renders: %v", err)
					}
				}
				for _, e := range c.Env {
					_, byLibrary := libraryVars[e.Name]
					if !read[e.Name] && !byLibrary && !referenced[e.Name] {
						t.Errorf("%s is rendered by the program but read by nothing %q runs: renamed on one side?", e.Name, c.Args[0])
					}
				}
				checkLibraries(t, env)
				checkValues(t, c.Args[0], env)
			})
		}
	}
	if scenarios < 3 {
		t.Fatalf("found %d infra scenarios in testdata/infra; want dev, prod and dev-s3-compatible", scenarios)
	}
}

// kubeletEnv is the environment the container starts with: Secret
// references become their placeholders, status.podIP the stand-in, and
// $(NAME) in a value expands from the entries above. It also returns the
// names some value references.
func kubeletEnv(t *testing.T, c infraContainer) (map[string]string, map[string]bool) {
	t.Helper()
	env, referenced := map[string]string{}, map[string]bool{}
	for _, e := range c.Env {
		switch {
		case e.SecretKeyRef != nil:
			if !strings.HasPrefix(e.Placeholder, "placeholder:") {
				t.Fatalf("%s: a Secret's value must be a placeholder in the golden file, got %q", e.Name, e.Placeholder)
			}
			env[e.Name] = e.Placeholder
		case e.FieldRef == "status.podIP":
			env[e.Name] = podIP
		case e.FieldRef != "":
			t.Fatalf("%s: fieldRef %s is not modelled here", e.Name, e.FieldRef)
		case e.Value != nil:
			env[e.Name] = expand(t, e.Name, *e.Value, env, referenced)
		default:
			t.Fatalf("%s: neither a value nor a reference", e.Name)
		}
	}
	return env, referenced
}

// expand resolves $(NAME) from the variables defined above, as the kubelet
// does ($$ is a literal $). A reference to nothing would reach the service
// as literal text, so it fails.
func expand(t *testing.T, name, s string, env map[string]string, referenced map[string]bool) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case strings.HasPrefix(s[i:], "$$"):
			b.WriteByte('$')
			i++
		case strings.HasPrefix(s[i:], "$("):
			end := strings.IndexByte(s[i:], ')')
			if end < 0 {
				t.Fatalf("%s=%q: unterminated $(", name, s)
			}
			ref := s[i+2 : i+end]
			v, ok := env[ref]
			if !ok {
				t.Fatalf("%s=%q references $(%s), which no variable above defines", name, s, ref)
			}
			referenced[ref] = true
			b.WriteString(v)
			i += end
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// checkLibraries proves the variables in libraryVars reach their readers:
// the password pgx uses is PGPASSWORD's (DATABASE_URL carries none), and
// the AWS SDK takes the access key from the environment.
func checkLibraries(t *testing.T, env map[string]string) {
	t.Helper()
	if u, err := url.Parse(env["DATABASE_URL"]); err != nil || u.User == nil {
		t.Errorf("DATABASE_URL %q: want a postgres:// URL naming the role", env["DATABASE_URL"])
	} else if _, has := u.User.Password(); has {
		t.Errorf("DATABASE_URL carries a password; it must come from PGPASSWORD")
	}
	if pw, ok := env["PGPASSWORD"]; ok {
		t.Setenv("PGPASSWORD", pw)
		cfg, err := pgconn.ParseConfig(env["DATABASE_URL"])
		if err != nil || cfg.Password != pw {
			t.Errorf("pgx does not take the password from PGPASSWORD: %v", err)
		}
	}
	if id, ok := env["AWS_ACCESS_KEY_ID"]; ok {
		t.Setenv("AWS_ACCESS_KEY_ID", id)
		t.Setenv("AWS_SECRET_ACCESS_KEY", env["AWS_SECRET_ACCESS_KEY"])
		ec, err := awsconfig.NewEnvConfig()
		if err != nil || ec.Credentials.AccessKeyID != id || ec.Credentials.SecretAccessKey != env["AWS_SECRET_ACCESS_KEY"] {
			t.Errorf("the AWS SDK does not read the rendered credentials: %+v %v", ec.Credentials, err)
		}
	}
}

// checkValues: what the loaders made of the environment is what the
// program meant.
func checkValues(t *testing.T, command string, env map[string]string) {
	t.Helper()
	same := func(what string, got, rendered any) {
		if got != rendered {
			t.Errorf("%s: the service has %v, the program rendered %v", what, got, rendered)
		}
	}
	db, _ := LoadDatabase(envOf(env))
	same("DATABASE_URL", db.URL, env["DATABASE_URL"])
	// The program sizes PostgreSQL's max_connections from the pools it
	// renders for these two (docs/infra.md), so neither may fall back to
	// the service's default.
	if command == "serve" || command == "migrate" {
		for _, name := range []string{"DB_MAX_OPEN_CONNS", "DB_MAX_IDLE_CONNS"} {
			if _, ok := env[name]; !ok {
				t.Errorf("%s: the program renders no %s; the database's connection budget assumes it does", command, name)
			}
		}
		same("DB_MAX_OPEN_CONNS", strconv.Itoa(db.MaxOpenConns), env["DB_MAX_OPEN_CONNS"])
		same("DB_MAX_IDLE_CONNS", strconv.Itoa(db.MaxIdleConns), env["DB_MAX_IDLE_CONNS"])
	}
	switch command {
	case "serve":
		s, _ := LoadServer(envOf(env))
		shutdown, _ := time.ParseDuration(env["SHUTDOWN_TIMEOUT"])
		same("SHUTDOWN_TIMEOUT", s.ShutdownTimeout, shutdown)
		same("EXCHANGE_MODE", string(s.Mode), env["EXCHANGE_MODE"])
		same("SECURE_COOKIES", s.SecureCookies, env["SECURE_COOKIES"] == "true")
		same("SECRET_KEY (length)", len(s.SecretKey), len(env["SECRET_KEY"]))
		same("TRUSTED_PROXIES (networks)", len(s.TrustedProxies), countCIDRs(env["TRUSTED_PROXIES"]))
		// Other replicas reach this one's internal listener at the
		// advertised address.
		u, err := url.Parse(s.Advertise)
		_, internalPort, _ := net.SplitHostPort(s.InternalAddr)
		if err != nil || u.Hostname() != podIP || u.Port() != internalPort || s.InternalAddr == s.Addr {
			t.Errorf("ADVERTISE_URL %q does not name the pod's internal listener %q", s.Advertise, s.InternalAddr)
		}
	case "backup", "verify-backup":
		b, _ := LoadBackup(envOf(env))
		same("BACKUP_S3_BUCKET", b.Bucket, env["BACKUP_S3_BUCKET"])
		same("BACKUP_S3_PREFIX", b.Prefix, strings.Trim(env["BACKUP_S3_PREFIX"], "/"))
		same("AWS_REGION", b.Region, env["AWS_REGION"])
		same("BACKUP_S3_ENDPOINT", b.Endpoint, env["BACKUP_S3_ENDPOINT"])
		same("BACKUP_S3_FORCE_PATH_STYLE", b.ForcePathStyle, env["BACKUP_S3_FORCE_PATH_STYLE"] == "true")
		same("BACKUP_SSE", b.SSE, env["BACKUP_SSE"])
		same("BACKUP_KMS_KEY_ID", b.KMSKeyID, env["BACKUP_KMS_KEY_ID"])
	}
}

func countCIDRs(s string) int {
	if s == "" {
		return 0
	}
	return len(strings.Split(s, ","))
}
