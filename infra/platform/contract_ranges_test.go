package platform

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/crypto-exchange/exchange/infra/platform/settings"
)

// The ranges half of the contract: for each variable whose setting the
// program bounds, every value it may render (each member of an
// enumeration, both ends of a range, the shortest secret), rendered by the
// program itself. service/internal/config's contract test loads each one
// and, for an enumeration, checks it is the service's whole set.
type (
	rangesFile struct {
		Note      string       `json:"note"`
		Variables []rangeCase  `json:"variables"`
		Ingress   []ingressCap `json:"ingress"`
	}
	rangeCase struct {
		Env     string `json:"env"`
		Setting string `json:"setting"`
		// Command is the exchange subcommand (container args[0]) whose
		// loaders read Env.
		Command string   `json:"command"`
		Values  []string `json:"values,omitempty"`
		// OneOf: Values are every value the program allows.
		OneOf bool `json:"oneOf,omitempty"`
		// Pattern is the program's regular expression for the value; the
		// service's must be the same.
		Pattern string `json:"pattern,omitempty"`
		// Alongside[i] holds the other variables the setting renders
		// together with Values[i] (a pool's idle bound with its size):
		// the service must accept them together.
		Alongside []map[string]string `json:"alongside,omitempty"`
	}
	// ingressCap is the ingress controller's per-client-IP limit of a
	// committed stack, in front of the server's own budgets.
	ingressCap struct {
		Stack       string `json:"stack"`
		RPS         int    `json:"rps"`
		Burst       int    `json:"burst"`
		Connections int    `json:"connections"`
	}
)

func TestServiceContractRanges(t *testing.T) {
	file := rangesFile{Note: contractNote}
	serve := func(env, object, path string, oneOf bool, values ...any) {
		file.Variables = append(file.Variables, rangeCase{
			Env: env, Setting: "exchange:" + object + "." + path, Command: "serve", OneOf: oneOf,
			Values: renderEach(t, "Deployment/exchange", env, object, path, values),
		})
	}
	serve("SHUTDOWN_TIMEOUT", "app", "shutdownTimeout", false,
		settings.MinShutdownTimeout.String(), settings.MaxShutdownTimeout.String())
	serve("EXCHANGE_MODE", "app", "mode", true, anys(settings.AppModes)...)
	serve("LOG_LEVEL", "app", "logLevel", true, anys(settings.LogLevels)...)
	// Every SSL mode ends up in DATABASE_URL, which pgx must parse.
	serve("DATABASE_URL", "database", "sslMode", false, anys(settings.SSLModes)...)
	// The pool size comes with its idle bound, which the service checks
	// against it.
	pools := renderTogether(t, "Deployment/exchange", []string{"DB_MAX_OPEN_CONNS", "DB_MAX_IDLE_CONNS"}, "app", "dbPoolSize",
		[]any{settings.MinDBPoolSize, settings.MaxDBPoolSize})
	pool := rangeCase{Env: "DB_MAX_OPEN_CONNS", Setting: "exchange:app.dbPoolSize", Command: "serve"}
	for _, rendered := range pools {
		pool.Values = append(pool.Values, rendered["DB_MAX_OPEN_CONNS"])
		pool.Alongside = append(pool.Alongside, map[string]string{"DB_MAX_IDLE_CONNS": rendered["DB_MAX_IDLE_CONNS"]})
	}
	file.Variables = append(file.Variables, pool)
	file.Variables = append(file.Variables, rangeCase{
		Env: "BACKUP_SSE", Setting: "exchange:backup.s3Compatible.sse", Command: "backup", OneOf: true,
		Values: renderEach(t, "CronJob/exchange-backup", "BACKUP_SSE", "backup", "s3Compatible.sse", anys(settings.BackupSSEModes)),
	}, rangeCase{
		Env: "BACKUP_S3_BUCKET", Setting: "exchange:backup.s3Compatible.bucket", Command: "backup",
		Pattern: settings.S3BucketNamePattern,
	})
	secretKey := placeholderSecret("appSecretKey")
	if len(secretKey) != settings.MinSecretLength("appSecretKey") {
		t.Fatalf("the SECRET_KEY placeholder %q is not the shortest appSecretKey the program allows (%d bytes)", secretKey, settings.MinSecretLength("appSecretKey"))
	}
	file.Variables = append(file.Variables, rangeCase{
		Env: "SECRET_KEY", Setting: "exchange:appSecretKey", Command: "serve",
		Values: []string{renderedPlaceholder(t, "SECRET_KEY")},
	})
	for _, stack := range []string{"dev", "prod"} {
		rl := loadSettings(t, stack).Ingress.RateLimit
		file.Ingress = append(file.Ingress, ingressCap{Stack: stack, RPS: rl.RPS, Burst: rl.Burst(), Connections: rl.Connections})
	}
	golden(t, filepath.Join(contractDir, "ranges.json"), file)
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// renderEach runs dev (with an S3-compatible store, so every backup setting
// applies) once per value of object.path and returns what the program
// rendered for env in workload.
func renderEach(t *testing.T, workload, env, object, path string, values []any) []string {
	t.Helper()
	var out []string
	for _, rendered := range renderTogether(t, workload, []string{env}, object, path, values) {
		out = append(out, rendered[env])
	}
	return out
}

// renderTogether is renderEach for a setting that renders several
// variables: per value, what the program rendered for each of envs.
func renderTogether(t *testing.T, workload string, envs []string, object, path string, values []any) []map[string]string {
	t.Helper()
	var out []map[string]string
	for _, v := range values {
		cfg := contractScenarios(t)["dev-s3-compatible"]
		setConfig(t, cfg, object, path, v)
		if path == "s3Compatible.sse" && v != "aws:kms" {
			setConfig(t, cfg, object, "s3Compatible.kmsKeyId", "")
		}
		if path == "dbPoolSize" {
			// The largest pool needs more than dev's fixed max_connections:
			// let the program compute it.
			setConfig(t, cfg, "database", "maxConnections", 0)
		}
		r := run(t, "dev", cfg)
		if r.err != nil {
			t.Fatalf("%s.%s = %v is in the program's range but the program refuses it: %v", object, path, v, r.err)
		}
		rendered := map[string]string{}
		for _, c := range exchangeContainers(t, r) {
			for _, e := range c.Env {
				if c.Workload == workload && slices.Contains(envs, e.Name) && e.Value != nil {
					rendered[e.Name] = *e.Value
				}
			}
		}
		for _, env := range envs {
			if _, ok := rendered[env]; !ok {
				t.Fatalf("%s.%s = %v: %s renders no %s", object, path, v, workload, env)
			}
		}
		out = append(out, rendered)
	}
	return out
}

// renderedPlaceholder is what the server reads for a secret env in dev.
func renderedPlaceholder(t *testing.T, env string) string {
	t.Helper()
	r := run(t, "dev", contractConfig(t, "dev"))
	for _, c := range exchangeContainers(t, r) {
		for _, e := range c.Env {
			if c.Workload == "Deployment/exchange" && e.Name == env && e.Placeholder != "" {
				return e.Placeholder
			}
		}
	}
	t.Fatalf("the server reads no secret %s", env)
	return ""
}

// loadSettings validates a committed stack as the program does.
func loadSettings(t *testing.T, stack string) *settings.Settings {
	t.Helper()
	cfg := stackConfig(t, stack)
	s, err := settings.Load(stack, func(key string) (string, bool, bool) {
		v, ok := cfg[key]
		return v.Value, v.Secure, ok
	})
	if err != nil {
		t.Fatal(fmt.Errorf("stack %s: %w", stack, err))
	}
	return s
}
