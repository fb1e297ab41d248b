package web_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The browser tests drive Debian's Chromium (apt-get install chromium).
// Without it they fail: a missing browser must not pass as a green run.
func chromiumPath(t *testing.T) string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	// Google Chrome as a fallback: GitHub's runners have it preinstalled.
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("Chromium is needed for the browser tests: apt-get install chromium (or set CHROMIUM to its path)")
	return ""
}

const stepTimeout = 20 * time.Second

// browser is one headless Chromium; each tab gets its own browser context,
// so each user has their own cookies.
type browser struct {
	t   *testing.T
	ctx context.Context
	url string
}

func newBrowser(t *testing.T, baseURL string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		// Without these Chromium reaches out to Google's services, which
		// this machine's closed network refuses, and that slows it down.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no deadline
		t.Fatalf("start Chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx, url: baseURL}
}

// tab is one user's window. It collects the page's uncaught exceptions and
// console errors, and the test fails if there are any.
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
	url  string

	mu     sync.Mutex
	errors []string
	// outages: the test cuts this tab's connection on purpose, so the
	// browser's own reports of failed connections are expected.
	outages bool
}

func (b *browser) tab(name string, width, height int64, mobile bool) *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	// The first run opens the tab and binds it to the context it gets:
	// that must be the tab's own, not a step's deadline.
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("%s: open a tab: %v", name, err)
	}
	p := &tab{t: b.t, name: name, ctx: ctx, url: b.url}
	var vp []chromedp.EmulateViewportOption
	if mobile {
		vp = append(vp, chromedp.EmulateScale(2), chromedp.EmulateMobile)
	}
	p.do(chromedp.EmulateViewport(width, height, vp...))
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				p.mu.Lock()
				p.errors = append(p.errors, m.Text)
				p.mu.Unlock()
			}
		}
	}()
	b.t.Cleanup(p.checkConsole)
	return p
}

func (p *tab) checkConsole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.errors {
		// A refused form answers 4xx by design; the browser logs that.
		if strings.Contains(e, "the server responded with a status of 4") {
			continue
		}
		if p.outages && (strings.Contains(e, "WebSocket connection to") || strings.Contains(e, "net::ERR_")) {
			continue
		}
		p.t.Errorf("%s: browser console error: %s", p.name, e)
	}
}

// do runs actions with a deadline and fails the test on error.
func (p *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
}

// open loads a page of the site.
func (p *tab) open(path string) {
	p.t.Helper()
	p.do(chromedp.Navigate(p.url+path), chromedp.WaitReady(chromedp.CSS("footer")))
}

// submit clicks a button that posts a form and waits for the next page.
// A live page may redraw the button between finding it and clicking it
// (a wallet update replaces the withdrawals table); the click then fails
// before any mouse event is sent, and is tried again on the new button,
// as a person would.
func (p *tab) submit(button string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		_, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(button)))
		if err == nil {
			return
		}
		if attempt == 3 || !staleNode(err) {
			p.t.Fatalf("%s: submit %s: %v", p.name, button, err)
		}
	}
}

// staleNode tells DevTools' answer for a node that left the document
// between the query and the action.
func staleNode(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Could not find node with given id") ||
		strings.Contains(msg, "No node with given id found") ||
		strings.Contains(msg, "Node is detached from document")
}

// typeIn types into an input, as a person with a keyboard would.
func (p *tab) typeIn(sel, text string) {
	p.t.Helper()
	p.do(chromedp.Evaluate[chromedp.Void](`document.querySelector(`+quoteJS(sel)+`).value = ''`), chromedp.SendKeys(chromedp.CSS(sel), text))
}

func (p *tab) text(sel string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("%s: text of %s: %v", p.name, sel, err)
	}
	return s
}

// waitText waits until the element's text contains want, with no reload.
func (p *tab) waitText(sel, want string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](
		`(() => { const e = document.querySelector(arguments[0]); return !!e && e.textContent.includes(arguments[1]); })()`,
		chromedp.WithPollingArgs(sel, want), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		got, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`(e => e ? e.textContent : "(no such element)")(document.querySelector(`+quoteJS(sel)+`))`))
		p.screenshot("failed-" + p.name)
		p.t.Fatalf("%s: %s never showed %q; it shows %q", p.name, sel, want, strings.Join(strings.Fields(got), " "))
	}
}

// waitTrue waits until the expression js holds, with no reload.
func (p *tab) waitTrue(js, what string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		p.screenshot("failed-" + p.name)
		p.t.Fatalf("%s: never saw %s: %v", p.name, what, err)
	}
}

func quoteJS(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

// waitLive waits until the page's WebSocket is subscribed and the page
// has asked for what it shows.
func (p *tab) waitLive() {
	p.t.Helper()
	p.do(chromedp.WaitVisible(chromedp.CSS(`body[data-live="live"]`)))
}

// markPage tags the current document; stillSamePage proves that what the
// test saw next arrived without a reload.
func (p *tab) markPage() {
	p.t.Helper()
	p.do(chromedp.Evaluate[chromedp.Void](`window.__noReload = true`))
}

func (p *tab) stillSamePage() {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__noReload === true`))
	if err != nil || !same {
		p.t.Fatalf("%s: the page was reloaded (or the check failed: %v)", p.name, err)
	}
}

// screenshots are kept after the test for people to look at.
var (
	shotsOnce sync.Once
	shotsDir  string
)

func screenshotDir(t *testing.T) string {
	shotsOnce.Do(func() {
		dir := os.Getenv("SCREENSHOT_DIR")
		if dir == "" {
			var err error
			if dir, err = os.MkdirTemp("", "exchange-web-screenshots-"); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		shotsDir = dir
	})
	return shotsDir
}

// screenshot saves the whole page as NAME.png.
func (p *tab) screenshot(name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("%s: screenshot: %v", p.name, err)
	}
	path := filepath.Join(screenshotDir(p.t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot %s", path)
}
