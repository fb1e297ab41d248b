package web

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/money"
)

// figures is how many decimals the pages show: each market's prices as
// many as its tick has and amounts as many as its lot has, each asset's
// amounts its precision. Every figure of a column then has the same
// decimals, so in a right-aligned monospaced column the points line up.
// The templates format with it and the scripts get it as JSON
// (data-figures), so a row the script adds reads like one the server drew.
type figures struct {
	Markets map[string]marketFigures `json:"markets"`
	Assets  map[string]int           `json:"assets"`
}

type marketFigures struct {
	Base   string `json:"base"`
	Quote  string `json:"quote"`
	Price  int    `json:"price"`
	Amount int    `json:"amount"`
}

func figuresOf(markets []catalog.Market, assets []catalog.Asset) figures {
	d := figures{Markets: map[string]marketFigures{}, Assets: map[string]int{}}
	for _, m := range markets {
		d.Markets[m.Name] = marketFigures{Base: m.Base, Quote: m.Quote, Price: m.TickSize.Decimals(), Amount: m.LotSize.Decimals()}
	}
	for _, a := range assets {
		d.Assets[a.Symbol] = a.Precision
	}
	return d
}

// figures reads the catalog (cached) into figures.
func (s *site) figures(ctx context.Context) (figures, error) {
	markets, err := s.Catalog.Markets(ctx)
	if err != nil {
		return figures{}, err
	}
	assets, err := s.Catalog.Assets(ctx)
	if err != nil {
		return figures{}, err
	}
	return figuresOf(markets, assets), nil
}

// JSON is what the scripts read from data-figures.
func (d figures) JSON() string {
	b, _ := json.Marshal(d) // maps of strings and ints always encode
	return string(b)
}

// Price, Amount, Total and Asset format an amount for a column of a
// market's prices, its base amounts, its quote totals (price x amount,
// which need the tick's and the lot's decimals together), or an asset's
// amounts; a dash for none.
func (d figures) Price(market string, v any) string  { return fixedAny(v, d.Markets[market].Price) }
func (d figures) Amount(market string, v any) string { return fixedAny(v, d.Markets[market].Amount) }
func (d figures) Asset(asset string, v any) string   { return fixedAny(v, d.Assets[asset]) }
func (d figures) Total(market string, v any) string {
	m := d.Markets[market]
	return fixedAny(v, m.Price+m.Amount)
}

func fixedAny(v any, decimals int) string {
	return amountOr(v, func(a money.Amount) string { return fixed(a, decimals) })
}

// fixed is an amount with commas between thousands and at least decimals
// decimals, padded with zeros. It never drops a digit: an average price
// finer than the tick shows in full, exact, rather than rounded to look
// tidy. decimal.js's fixed does the same for the scripts.
func fixed(a money.Amount, decimals int) string {
	s := grouped(a)
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) < decimals {
		frac += strings.Repeat("0", decimals-len(frac))
	}
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}
