package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/migrate"
	"github.com/crypto-exchange/exchange/service/internal/pgtest"
)

// A rollout migrates the database before the new pods start. The old pods
// must keep taking traffic on a schema newer than theirs until they are
// replaced; a pod whose binary needs a newer schema than the database has
// must take none.
func TestReadinessFollowsTheSchema(t *testing.T) {
	dbURL := pgtest.URL(t)
	env := "DATABASE_URL=" + dbURL
	if r := runBinary(t, []string{env}, "", "migrate", "--seed"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	s := startReplica(t, dbURL)
	readyz := func() (int, string) {
		res, err := http.Get(s.url + "/readyz")
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	waitFor(t, "ready", 30*time.Second, func() bool { code, _ := readyz(); return code == http.StatusOK })

	latest := migrate.Latest()
	psql(t, env, fmt.Sprintf("INSERT INTO schema_migrations (version, name, checksum) VALUES (%d, 'from the next release', 'x')", latest+1))
	// The checks run at most once a second: past that, the answer is fresh.
	time.Sleep(1100 * time.Millisecond)
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("readyz on a schema one release ahead: %d %s; want 200 (a rollout under way)", code, body)
	}

	psql(t, env, fmt.Sprintf("DELETE FROM schema_migrations WHERE version >= %d", latest))
	var body string
	waitFor(t, "not ready on an older schema", 5*time.Second, func() bool {
		var code int
		code, body = readyz()
		return code == http.StatusServiceUnavailable
	})
	if want := fmt.Sprintf("schema version %d, binary needs %d", latest-1, latest); !strings.Contains(body, want) {
		t.Fatalf("readyz on an older schema: %s; want it to say %q", body, want)
	}
}
