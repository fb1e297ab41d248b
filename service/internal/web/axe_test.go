package web_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// axe-core runs in the browser tests against every page. Its code is not
// in this repository: scripts/axe-core.sh fetches the pinned version once
// into a cache, verified against its pinned integrity, and prints where
// it is. Without it the tests fail (never skip).

var (
	axeOnce   sync.Once
	axeSource string
	axeErr    error
)

func axeScript(t *testing.T) string {
	t.Helper()
	axeOnce.Do(func() {
		script, err := filepath.Abs("../../../scripts/axe-core.sh")
		if err != nil {
			axeErr = err
			return
		}
		cmd := exec.Command(script)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			axeErr = &axeFetchError{err: err, stderr: stderr.String()}
			return
		}
		b, err := os.ReadFile(strings.TrimSpace(string(out)))
		axeSource, axeErr = string(b), err
	})
	if axeErr != nil {
		t.Fatalf("axe-core is needed for the accessibility checks and could not be had: %v", axeErr)
	}
	return axeSource
}

type axeFetchError struct {
	err    error
	stderr string
}

func (e *axeFetchError) Error() string {
	return "scripts/axe-core.sh: " + e.err.Error() + ": " + e.stderr
}

// axeRules are what the pages are held to: WCAG 2.2 A and AA, and axe's
// best practices.
const axeRules = `['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']`

// axeExclusions are rules turned off, each with the reason. Kept short.
var axeExclusions = map[string]string{}

type axeViolation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
}

// accessible runs axe-core on the page the tab shows and fails the test
// with every violation found.
func (p *tab) accessible(what string) {
	p.t.Helper()
	src := axeScript(p.t)
	// Evaluated through DevTools, the script is the test's own: the
	// page's CSP (its own scripts only) does not apply to it.
	if p.eval(`String(!!window.axe)`) != "true" {
		p.do(chromedp.Evaluate[chromedp.Void](src + "\n;undefined"))
	}
	var off []string
	for id := range axeExclusions {
		off = append(off, `'`+id+`': { enabled: false }`)
	}
	js := `(async () => {
		const r = await axe.run(document, { runOnly: { type: 'tag', values: ` + axeRules + ` }, rules: {` + strings.Join(off, ", ") + `}, resultTypes: ['violations'] });
		return JSON.stringify(r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
			targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ' :: ' + n.failureSummary.replace(/\s+/g, ' ').slice(0, 200)) })));
	})()`
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: axe-core on %s: %v", p.name, what, err)
	}
	var vs []axeViolation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		p.t.Fatalf("%s: axe-core's answer %q: %v", p.name, out, err)
	}
	if len(vs) == 0 {
		return
	}
	var b strings.Builder
	for _, v := range vs {
		b.WriteString("\n  " + v.ID + " (" + v.Impact + "): " + v.Help)
		for _, n := range v.Targets {
			b.WriteString("\n      " + n)
		}
	}
	p.screenshot("failed-axe-" + p.name + "-" + strings.NewReplacer("/", "_", "?", "_").Replace(what))
	p.t.Errorf("%s: axe-core finds %d violations on %s:%s", p.name, len(vs), what, b.String())
}

// The fetch script refuses a cached tarball that is not the pinned one,
// loudly, rather than hand the tests something else to run.
func TestAxeCoreScriptRefusesAChangedTarball(t *testing.T) {
	script, err := filepath.Abs("../../../scripts/axe-core.sh")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(src), "\nAXE_VERSION=")
	version, _, _ := strings.Cut(rest, "\n")
	if !ok || version == "" {
		t.Fatal("scripts/axe-core.sh pins no AXE_VERSION")
	}
	cache := t.TempDir()
	dir := filepath.Join(cache, "exchange", "axe-core-"+version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "axe-core-"+version+".tgz"), []byte("not axe-core"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(script)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+cache)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "integrity") {
		t.Fatalf("a changed tarball was accepted (%v): %s", err, out)
	}
}
