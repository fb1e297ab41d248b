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
		"change":      change,
		"changeClass": changeClass,
		"grouped":     groupedAny,
		"status":      statusLabel,
		"orderWords":  orderWordsJSON,
		"bps":         bps,
	}
}

// amount shows an amount exactly as the API does, and a dash for none.
func amount(v any) string {
	switch a := v.(type) {
	case money.Amount:
		return a.String()
	case *money.Amount:
		if a != nil {
			return a.String()
		}
	}
	return "—"
}

// groupedAny is grouped for templates, with a dash for no amount.
func groupedAny(v any) string {
	switch a := v.(type) {
	case money.Amount:
		return grouped(a)
	case *money.Amount:
		if a != nil {
			return grouped(*a)
		}
	}
	return "—"
}

// bps shows basis points as a percentage: 10 is 0.10%.
func bps(n int) string { return fmt.Sprintf("%d.%02d%%", n/100, n%100) }

func capitalised(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

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
