package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // the zones the browser is told to use, whatever the machine has

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// Browser helpers for what a page shows: figures in columns, times in a
// zone, the pointer over the chart.

// timezone makes the tab's browser live in zone, as a reader there would.
func (p *tab) timezone(zone string) {
	p.t.Helper()
	p.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone})
		return err
	}))
}

// column checks that every cell sel matches shows a figure with commas
// between thousands and exactly decimals decimals, and that the decimal
// points of the cells on screen line up (within half a pixel): the column
// reads as a column. It returns the cells' texts.
func (p *tab) column(sel string, decimals int) []string {
	p.t.Helper()
	var cells []string
	p.evalJSON(`[...document.querySelectorAll(`+quoteJS(sel)+`)].map((td) => td.textContent.trim())`, &cells)
	if len(cells) == 0 {
		p.t.Fatalf("%s: no cells match %s", p.name, sel)
	}
	frac := ""
	if decimals > 0 {
		frac = fmt.Sprintf(`\.\d{%d}`, decimals)
	}
	re := regexp.MustCompile(`^\d{1,3}(,\d{3})*` + frac + `$`)
	for _, c := range cells {
		if !re.MatchString(c) {
			p.screenshot("failed-column-" + p.name)
			p.t.Fatalf("%s: %s shows %q, want %d decimals and thousands separators (all: %q)", p.name, sel, c, decimals, cells)
		}
	}
	if decimals == 0 {
		return cells
	}
	// The left edge of each cell's decimal point, for cells laid out.
	var xs []float64
	p.evalJSON(`[...document.querySelectorAll(`+quoteJS(sel)+`)].flatMap((td) => {
		const w = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
		for (let n = w.nextNode(); n; n = w.nextNode()) {
			const i = n.data.indexOf('.');
			if (i < 0) continue;
			const r = document.createRange();
			r.setStart(n, i); r.setEnd(n, i + 1);
			const box = r.getBoundingClientRect();
			return box.width ? [box.left] : [];
		}
		return [];
	})`, &xs)
	for _, x := range xs {
		if x-xs[0] > 0.5 || xs[0]-x > 0.5 {
			p.screenshot("failed-alignment-" + p.name)
			p.t.Fatalf("%s: the decimal points of %s do not line up: %v (%q)", p.name, sel, xs, cells)
		}
	}
	return cells
}

// localTimes checks the <time> elements sel matches: each shows its UTC
// instant in zone, as layout, and says it in UTC on hover. It returns how
// many it checked.
func (p *tab) localTimes(sel, zone, layout string) int {
	p.t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		p.t.Fatal(err)
	}
	var got [][3]string
	p.evalJSON(`[...document.querySelectorAll(`+quoteJS(sel)+`)].map((e) => [e.dateTime, e.textContent, e.title])`, &got)
	for _, g := range got {
		at, err := time.Parse(time.RFC3339Nano, g[0])
		if err != nil {
			p.t.Fatalf("%s: a time's datetime %q: %v", p.name, g[0], err)
		}
		if want := at.In(loc).Format(layout); g[1] != want {
			p.t.Fatalf("%s: %s shows %q for %s, want %q in %s", p.name, sel, g[1], g[0], want, zone)
		}
		if want := at.UTC().Format("2006-01-02 15:04:05") + " UTC"; g[2] != want {
			p.t.Fatalf("%s: %s says %q on hover, want %q", p.name, sel, g[2], want)
		}
	}
	return len(got)
}

// pointAt moves the mouse to a point of the viewport.
func (p *tab) pointAt(x, y float64) {
	p.t.Helper()
	p.do(chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x, y))
}

// box is an element's place in the viewport, once scrolled into view.
type box struct{ Left, Top, Width, Height float64 }

func (p *tab) box(sel string) box {
	p.t.Helper()
	var b box
	p.evalJSON(`(() => { const e = document.querySelector(`+quoteJS(sel)+`); e.scrollIntoView({ block: 'center' });
		const r = e.getBoundingClientRect(); return { Left: r.left, Top: r.top, Width: r.width, Height: r.height }; })()`, &b)
	return b
}

func (p *tab) evalJSON(js string, out any) {
	p.t.Helper()
	s := p.eval(`JSON.stringify(` + js + `)`)
	if err := json.NewDecoder(strings.NewReader(s)).Decode(out); err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, s, err)
	}
}
