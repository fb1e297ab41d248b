package web

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/marketdata"
	"github.com/crypto-exchange/exchange/service/internal/money"
)

func funcs(asset func(string) (string, error)) template.FuncMap {
	return template.FuncMap{
		"asset":       asset,
		"amount":      amount,
		"when":        when,
		"clock":       clock,
		"change":      change,
		"changeClass": changeClass,
		"grouped":     groupedAny,
		"status":      statusLabel,
		"orderWords":  orderWordsJSON,
		"walletWords": walletWordsJSON,
		"device":      deviceName,
		"outcome":     loginOutcome,
		"deposit":     depositLabel,
		"withdrawal":  withdrawalLabel,
		"bps":         bps,
		"rowOf":       rowOf,
		"switchRow":   switchRow,
	}
}

// amountOr is show(v) for an amount that templates pass as a value or
// as an optional pointer, and a dash for none: the one place that tells
// "no amount" from zero.
func amountOr(v any, show func(money.Amount) string) string {
	switch a := v.(type) {
	case money.Amount:
		return show(a)
	case *money.Amount:
		if a != nil {
			return show(*a)
		}
	}
	return "—"
}

// amount shows an amount exactly as the API does.
func amount(v any) string { return amountOr(v, money.Amount.String) }

// groupedAny is grouped for templates.
func groupedAny(v any) string { return amountOr(v, grouped) }

// bps shows basis points as a percentage: 10 is 0.10%.
func bps(n int) string { return fmt.Sprintf("%d.%02d%%", n/100, n%100) }

func capitalised(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// utcText is a time as messages say it.
func utcText(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") + " UTC" }

// when is a time in a page: UTC in the markup, which site.js rewrites in
// the reader's own zone, keeping UTC in the title for a hover. Nothing in
// it comes from a user, so it is safe as HTML.
func when(t time.Time) template.HTML { return timeTag(t, "", utcText(t)) }

// clock is when, for the time of day only (recent trades).
func clock(t time.Time) template.HTML { return timeTag(t, "clock", t.UTC().Format("15:04:05")) }

func timeTag(t time.Time, kind, text string) template.HTML {
	attr := ""
	if kind != "" {
		attr = ` data-kind="` + kind + `"`
	}
	return template.HTML(`<time datetime="` + t.UTC().Format(time.RFC3339) + `"` + attr + ` title="` + utcText(t) + `">` + text + `</time>`)
}

// changePercent is the 24 h change of the last price. A float is fine
// here: it is a display ratio rounded to two decimals, never an amount.
func changePercent(t marketdata.Ticker) (float64, bool) {
	if t.Last == nil || t.Open24h == nil || *t.Open24h == 0 {
		return 0, false
	}
	return (t.Last.Float64() - t.Open24h.Float64()) / t.Open24h.Float64() * 100, true
}

func change(t marketdata.Ticker) string {
	pct, ok := changePercent(t)
	if !ok {
		return "—"
	}
	return fmt.Sprintf("%+.2f%%", pct)
}

func changeClass(t marketdata.Ticker) string {
	switch pct, _ := changePercent(t); {
	case pct > 0:
		return "up"
	case pct < 0:
		return "down"
	}
	return ""
}

// marketRowView is one row of a market table ("marketrow" in layout.html).
type marketRowView struct {
	Figures figures
	Row     marketRow
	Current bool
}

func rowOf(f figures, r marketRow) marketRowView { return marketRowView{Figures: f, Row: r} }

// switchRow is a row of the market page's switcher; current marks the
// market on screen.
func switchRow(f figures, r marketRow, current string) marketRowView {
	return marketRowView{Figures: f, Row: r, Current: r.Market.Name == current}
}
