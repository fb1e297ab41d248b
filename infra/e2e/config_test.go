//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"github.com/crypto-exchange/exchange/infra/stackfile"
)

// stackConfig is a stack's config: structured values ("exchange:app") as
// decoded objects, plain values and secrets.
type stackConfig struct {
	objects map[string]map[string]any
	plain   map[string]string
	secrets map[string]string
}

// The test's secrets, long enough for the program's rules.
type testSecrets struct {
	appSecretKey, dbPassword, dbAdminPassword, grafanaAdminPassword, accessKeyID, secretAccessKey string
}

const (
	storeBucket = "exchange-e2e-backups"
	storeRegion = "us-east-1"
)

// chartKeys are the config objects and fields holding the third-party chart
// refs, all pointed at the fixture repository.
var chartKeys = []struct{ key, field string }{
	{"exchange:ingress", "chart"},
	{"exchange:database", "chart"},
	{"exchange:monitoring", "crdsChart"},
	{"exchange:monitoring", "chart"},
	{"exchange:logging", "lokiChart"},
	{"exchange:logging", "alloyChart"},
}

// devConfig is Pulumi.dev.yaml with what this sandbox needs instead of
// minikube and AWS: the local control plane, an existing S3-compatible
// store, the fixture charts, the locally built exchange and PostgreSQL
// images and test secrets. Two replicas with a
// disruption budget, so the PDB is covered too.
func (e *environment) devConfig(t *testing.T, sec testSecrets) stackConfig {
	t.Helper()
	file, err := stackfile.Read(filepath.Join("..", "..", "Pulumi.dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c := stackConfig{objects: map[string]map[string]any{}, plain: map[string]string{}, secrets: map[string]string{}}
	for k, v := range file {
		if v.Secure {
			t.Fatalf("Pulumi.dev.yaml: %s is a secure value; the committed stacks carry none", k)
		}
		var obj map[string]any
		if strings.HasPrefix(v.Value, "{") && json.Unmarshal([]byte(v.Value), &obj) == nil {
			c.objects[k] = obj
		} else {
			c.plain[k] = v.Value
		}
	}
	c.objects["exchange:kubernetes"] = map[string]any{"context": e.kubeContext, "kubeconfig": e.kubeconfig}
	backup := c.object(t, "exchange:backup")
	backup["store"] = "s3-compatible"
	delete(backup, "aws")
	backup["s3Compatible"] = map[string]any{
		"endpoint": e.s3URL, "bucket": storeBucket, "region": storeRegion, "forcePathStyle": true,
	}
	for _, ck := range chartKeys {
		ref, ok := c.object(t, ck.key)[ck.field].(map[string]any)
		if !ok {
			t.Fatalf("Pulumi.dev.yaml: %s.%s is not set", ck.key, ck.field)
		}
		name, _ := ref["name"].(string)
		fixture, ok := e.repo.Charts[name]
		if !ok {
			t.Fatalf("Pulumi.dev.yaml: %s.%s names chart %q, which has no fixture in testdata/charts", ck.key, ck.field, name)
		}
		c.object(t, ck.key)[ck.field] = map[string]any{"repo": e.repo.URL, "name": name, "version": fixture.Version}
	}
	// The database runs for real on the cluster's real node: the
	// PostgreSQL 17 image built here (scripts/e2e/postgres) stands in for
	// Bitnami's, which no registry here serves.
	c.object(t, "exchange:database")["image"] = imageConfig(t, e.postgresImage)
	app := c.object(t, "exchange:app")
	// The exchange image built from the repository's Dockerfile, imported
	// into the node (the dev stack's exchange:dev is loaded into minikube).
	app["image"] = imageConfig(t, appImage)
	app["replicas"] = 2
	app["disruptionBudget"] = map[string]any{"enabled": true, "minAvailable": 1}

	c.secrets["exchange:appSecretKey"] = sec.appSecretKey
	c.secrets["exchange:dbPassword"] = sec.dbPassword
	c.secrets["exchange:dbAdminPassword"] = sec.dbAdminPassword
	c.secrets["exchange:grafanaAdminPassword"] = sec.grafanaAdminPassword
	c.secrets["exchange:backupAccessKeyId"] = sec.accessKeyID
	c.secrets["exchange:backupSecretAccessKey"] = sec.secretAccessKey
	return c
}

func (e *environment) newTestSecrets() testSecrets {
	return testSecrets{
		appSecretKey:         randomHex(32),
		dbPassword:           randomHex(16),
		dbAdminPassword:      randomHex(16),
		grafanaAdminPassword: randomHex(16),
		accessKeyID:          e.storeAccessKey,
		secretAccessKey:      e.storeSecretKey,
	}
}

func (c stackConfig) object(t *testing.T, key string) map[string]any {
	t.Helper()
	obj, ok := c.objects[key]
	if !ok {
		t.Fatalf("config %s is not an object in Pulumi.dev.yaml", key)
	}
	return obj
}

// set sets a (dotted) path inside a config object.
func (c stackConfig) set(t *testing.T, key, path string, v any) {
	t.Helper()
	stackfile.SetPath(c.object(t, key), path, v)
}

// value is one key as the CLI stores it (objects as their JSON text, which
// is also what the engine hands the program for an object).
func (c stackConfig) value(key string) auto.ConfigValue {
	if obj, ok := c.objects[key]; ok {
		raw, err := json.Marshal(obj)
		if err != nil {
			panic(fmt.Sprintf("config %s: %v", key, err))
		}
		return auto.ConfigValue{Value: string(raw)}
	}
	if v, ok := c.secrets[key]; ok {
		return auto.ConfigValue{Value: v, Secret: true}
	}
	return auto.ConfigValue{Value: c.plain[key]}
}

func (c stackConfig) configMap() auto.ConfigMap {
	out := auto.ConfigMap{}
	for _, keys := range [][]string{keysOf(c.objects), keysOf(c.plain), keysOf(c.secrets)} {
		for _, k := range keys {
			out[k] = c.value(k)
		}
	}
	return out
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// imageConfig is an image reference as the program's image settings take
// it, repository and tag: split at the last colon, since a registry's port
// comes before the last slash.
func imageConfig(t *testing.T, ref string) map[string]any {
	t.Helper()
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		t.Fatalf("image %q has no tag", ref)
	}
	return map[string]any{"repository": ref[:i], "tag": ref[i+1:]}
}
