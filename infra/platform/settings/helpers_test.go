package settings

import (
	"path/filepath"
	"testing"

	"github.com/crypto-exchange/exchange/infra/stackfile"
)

// testSecrets stand in for `pulumi config set --secret` values, which the
// committed stack files deliberately do not contain.
var testSecrets = map[string]string{
	"exchange:appSecretKey":          "test-app-secret-key-0123456789abcdefghij",
	"exchange:dbPassword":            "test-db-password-0123456789",
	"exchange:dbAdminPassword":       "test-db-admin-password-0123456789",
	"exchange:grafanaAdminPassword":  "test-grafana-password-0123456789",
	"exchange:backupAccessKeyId":     "test-access-key-id",
	"exchange:backupSecretAccessKey": "test-secret-access-key-0123456789",
	"exchange:alertReceiverSecret":   "https://hooks.slack.com/services/TEST/ALERT/receiver-secret-0123",
}

// config is a stack's config as the engine hands it over: committed file
// plus test secrets, keyed "exchange:<key>".
type config map[string]stackfile.Value

// committed reads Pulumi.<stack>.yaml at the repository root.
func committed(t *testing.T, stack string) config {
	t.Helper()
	values, err := stackfile.Read(filepath.Join("..", "..", "..", "Pulumi."+stack+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := config(values)
	for k, v := range testSecrets {
		cfg[k] = stackfile.Value{Value: v, Secure: true}
	}
	return cfg
}

func (c config) lookup(key string) (string, bool, bool) {
	v, ok := c[key]
	return v.Value, v.Secure, ok
}

// set changes one value inside a structured key: set("app", "tls.enabled", true).
func (c config) set(t *testing.T, object, path string, value any) {
	t.Helper()
	if err := stackfile.Set(c, "exchange:"+object, path, value); err != nil {
		t.Fatal(err)
	}
}

func (c config) load(stack string) (*Settings, error) { return Load(stack, c.lookup) }

func mustLoad(t *testing.T, stack string, c config) *Settings {
	t.Helper()
	s, err := c.load(stack)
	if err != nil {
		t.Fatalf("stack %s: %v", stack, err)
	}
	return s
}
