package web

import (
	"strings"
	"unicode"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
)

// typedAmount reads an amount as people type it into a form and returns
// the plain decimal the API takes ("" for an empty field): spaces around
// it are dropped, and commas (or spaces) between groups of three digits
// are thousands separators, so " 48000 " and "50,000.5" are fine. A comma
// anywhere else is refused rather than guessed at: "1,5" may mean one and
// a half, and reading it as fifteen would trade ten times the amount. The
// JSON API stays strict; this is only the forms' reading. label is the
// form's word for the field, for the message.
func typedAmount(raw, label string) (string, error) {
	s := strings.TrimFunc(raw, unicode.IsSpace)
	if s == "" {
		return "", nil
	}
	whole, frac, _ := strings.Cut(s, ".")
	sep := rune(0)
	for _, r := range whole {
		if isGroupSeparator(r) || unicode.IsSpace(r) {
			if !isGroupSeparator(r) {
				return "", badGrouping(raw, label)
			}
			if sep != 0 && r != sep {
				return "", badGrouping(raw, label)
			}
			sep = r
		}
	}
	if strings.ContainsFunc(frac, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
		return "", badGrouping(raw, label)
	}
	if sep == 0 {
		return s, nil // money.Parse decides the rest
	}
	groups := strings.Split(whole, string(sep))
	for i, g := range groups {
		if len(g) == 0 || len(g) > 3 || i > 0 && len(g) != 3 || !digits(g) {
			return "", badGrouping(raw, label)
		}
	}
	out := strings.Join(groups, "")
	if strings.Contains(s, ".") {
		out += "." + frac
	}
	return out, nil
}

// isGroupSeparator: a comma, or a space as some locales group digits
// (plain, no-break, narrow no-break, thin); never a tab or a line break.
func isGroupSeparator(r rune) bool {
	return r == ',' || r == ' ' || r == '\u00a0' || r == '\u202f' || r == '\u2009'
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func badGrouping(raw, label string) error {
	shown := []rune(strings.TrimSpace(raw))
	if len(shown) > 32 { // an echo, not a copy of whatever was pasted
		shown = append(shown[:32], '…')
	}
	return apierr.New(apierr.InvalidAmount, "%s %q is not an amount we can read: use a point for decimals, and commas only between groups of three digits (1,250.5)", label, string(shown))
}
