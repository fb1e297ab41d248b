package config

import (
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/crypto-exchange/exchange/service/internal/ratelimit"
)

// The ranges half of the contract: testdata/infra/ranges.json holds, for
// each variable whose setting the program bounds, every value the program
// may render for it (infra/platform, TestServiceContractRanges).
type (
	infraRanges struct {
		Note      string         `json:"note"`
		Variables []infraRange   `json:"variables"`
		Ingress   []infraIngress `json:"ingress"`
	}
	infraRange struct {
		Env     string   `json:"env"`
		Setting string   `json:"setting"`
		Command string   `json:"command"`
		Values  []string `json:"values"`
		OneOf   bool     `json:"oneOf"`
		Pattern string   `json:"pattern"`
		// Alongside[i]: the other variables the program renders with
		// Values[i] (a pool's idle bound with its size), set together.
		Alongside []map[string]string `json:"alongside"`
	}
	infraIngress struct {
		Stack       string `json:"stack"`
		RPS         int    `json:"rps"`
		Burst       int    `json:"burst"`
		Connections int    `json:"connections"`
	}
)

// serviceSets are every value the service accepts for an enumerated
// variable; the program must offer exactly these.
var serviceSets = map[string][]string{
	"EXCHANGE_MODE": {string(ModeDemo), string(ModeLive)},
	"LOG_LEVEL":     {"debug", "info", "warn", "error"},
	"BACKUP_SSE":    {SSES3, SSEKMS, SSENone},
}

// servicePatterns are the service's own rules for patterned variables.
var servicePatterns = map[string]*regexp.Regexp{
	"BACKUP_S3_BUCKET": bucketName,
}

func TestInfraRangesAgree(t *testing.T) {
	var ranges infraRanges
	readInfra(t, filepath.Join("testdata", "infra", "ranges.json"), &ranges)
	base := baseEnvironments(t)
	if len(ranges.Variables) == 0 {
		t.Fatal("ranges.json lists no variables")
	}
	for _, r := range ranges.Variables {
		t.Run(r.Env, func(t *testing.T) {
			if r.Pattern != "" {
				if p := servicePatterns[r.Env]; p == nil || p.String() != r.Pattern {
					t.Errorf("%s allows %s as %s; the service's rule is %v", r.Setting, r.Pattern, r.Env, p)
				}
			}
			if r.OneOf {
				set, known := serviceSets[r.Env]
				if got := slices.Sorted(slices.Values(r.Values)); !known || !slices.Equal(got, slices.Sorted(slices.Values(set))) {
					t.Errorf("%s allows %v; the service accepts %v for %s", r.Setting, r.Values, set, r.Env)
				}
			}
			if r.Pattern == "" && len(r.Values) == 0 {
				t.Fatal("neither values nor a pattern: nothing to check")
			}
			env, ok := base[r.Command]
			if !ok {
				t.Fatalf("no rendered container runs %q", r.Command)
			}
			if r.Alongside != nil && len(r.Alongside) != len(r.Values) {
				t.Fatalf("%d values but %d sets of variables alongside them", len(r.Values), len(r.Alongside))
			}
			for i, v := range r.Values {
				env := maps.Clone(env)
				set := map[string]string{r.Env: v}
				if r.Alongside != nil {
					maps.Copy(set, r.Alongside[i])
				}
				maps.Copy(env, set)
				read := map[string]bool{}
				getenv := func(k string) string { read[k] = true; return env[k] }
				for _, load := range loaders[r.Command] {
					if err := load(getenv); err != nil {
						t.Errorf("%s may render %v, which the service refuses: %v", r.Setting, set, err)
					}
				}
				for k := range set {
					if !read[k] {
						t.Errorf("%q reads no %s", r.Command, k)
					}
				}
				checkValues(t, r.Command, env)
			}
		})
	}
	checkIngressLimits(t, ranges.Ingress)
}

// baseEnvironments: per subcommand, the environment the committed dev stack
// gives it, of which each range value replaces one variable (dev requests
// SSE-S3 without a KMS key, which every BACKUP_SSE value may replace).
func baseEnvironments(t *testing.T) map[string]map[string]string {
	t.Helper()
	var f infraEnvFile
	readInfra(t, filepath.Join("testdata", "infra", "dev.json"), &f)
	out := map[string]map[string]string{}
	for _, c := range f.Containers {
		out[c.Args[0]], _ = kubeletEnv(t, c)
	}
	return out
}

// cancelsAboveIngress is the one per-user budget a single trader can spend
// faster than NGINX lets one address through (docs/infra.md): 100 cancels/s
// on one replica against 50 requests/s.
var cancelsAboveIngress = []ratelimit.Class{ratelimit.Cancels}

// checkIngressLimits compares the ingress controller's per-IP limit with the
// server's per-user budgets: every budget a trader may spend on one replica
// must fit through NGINX (rate and burst), except those documented.
func checkIngressLimits(t *testing.T, ingress []infraIngress) {
	t.Helper()
	if len(ingress) == 0 {
		t.Fatal("ranges.json has no ingress limits")
	}
	for _, in := range ingress {
		var above []ratelimit.Class
		for class, scopes := range ratelimit.Defaults() {
			r, ok := scopes[ratelimit.ByUser]
			if !ok {
				continue
			}
			if float64(r.Limit)/r.Period.Seconds() > float64(in.RPS) || r.Burst > in.Burst {
				above = append(above, class)
			}
		}
		slices.Sort(above)
		if !slices.Equal(above, cancelsAboveIngress) {
			t.Errorf("%s: the per-user budgets above NGINX's %d/s (bursts of %d) per address are %v, documented %v: "+
				"change the budgets, exchange:ingress.rateLimit, or docs/infra.md and this list", in.Stack, in.RPS, in.Burst, above, cancelsAboveIngress)
		}
	}
}
