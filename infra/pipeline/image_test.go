package pipeline

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/crypto-exchange/exchange/infra/platform/settings"
	"github.com/crypto-exchange/exchange/infra/stackfile"
)

// stackImage is exchange:app.image of a committed stack file.
func stackImage(t *testing.T, stack string) settings.Image {
	t.Helper()
	var app struct {
		Image settings.Image `json:"image"`
	}
	stackObject(t, stack, "app", &app)
	return app.Image
}

// stackObject decodes exchange:<key> of a committed stack file into v.
func stackObject(t *testing.T, stack, key string, v any) {
	t.Helper()
	values, err := stackfile.Read(repoPath("Pulumi." + stack + ".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := values[settings.Namespace+":"+key]
	if !ok {
		return
	}
	if err := json.Unmarshal([]byte(raw.Value), v); err != nil {
		t.Fatalf("Pulumi.%s.yaml %s:%s: %v", stack, settings.Namespace, key, err)
	}
}

var majorOf = regexp.MustCompile(`^(?:[^:]+:)?(\d+)(?:\.|$|-)`)

// imageMajor is the leading major version of an image reference or tag
// (postgres:17.6 → 17, 17.6.0-debian-12-r4 → 17).
func imageMajor(t *testing.T, what, ref string) string {
	t.Helper()
	m := majorOf.FindStringSubmatch(ref)
	if m == nil {
		t.Fatalf("%s: %q names no major version", what, ref)
	}
	return m[1]
}

// platformPGMajor is the PostgreSQL major both stacks deploy; it fails the
// test when they differ (one pg_dump must serve both).
func platformPGMajor(t *testing.T) string {
	t.Helper()
	major := ""
	for _, stack := range []string{"dev", "prod"} {
		var db struct {
			Engine string         `json:"engine"`
			Image  settings.Image `json:"image"`
		}
		stackObject(t, stack, "database", &db)
		tag := db.Image.Tag
		if tag == "" { // the engine's default image
			switch db.Engine {
			case "cloudnative-pg":
				tag = settings.CloudNativePGImage.Tag
			default:
				tag = settings.BitnamiPostgresImage.Tag
			}
		}
		m := imageMajor(t, "Pulumi."+stack+".yaml database.image", tag)
		if major != "" && m != major {
			t.Fatalf("the stacks deploy PostgreSQL %s and %s; the image's one pg_dump cannot match both", major, m)
		}
		major = m
	}
	return major
}

// pg_dump must be at least the server's major and pg_restore must read what
// it writes: the image's client, the PostgreSQL the tests run against in
// both CI systems, and the servers the stacks deploy are one major.
func TestDockerfilePGMajorMatchesServers(t *testing.T) {
	want := platformPGMajor(t)
	m := regexp.MustCompile(`(?m)^ARG PG_MAJOR=(\d+)$`).FindStringSubmatch(readFile(t, "Dockerfile"))
	if m == nil {
		t.Fatal("Dockerfile has no ARG PG_MAJOR=<major>")
	}
	if m[1] != want {
		t.Errorf("the image installs the PostgreSQL %s client, the platform deploys PostgreSQL %s", m[1], want)
	}
	for _, image := range gitlabServices(t, "test") {
		if got := imageMajor(t, ".gitlab-ci.yml test service", image); got != want {
			t.Errorf(".gitlab-ci.yml tests against PostgreSQL %s (%s), the platform deploys %s", got, image, want)
		}
	}
}
