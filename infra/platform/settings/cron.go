package settings

import (
	"strconv"
	"strings"
)

// cronField is the range of one of the five standard cron fields.
type cronField struct {
	name   string
	lo, hi int
	names  []string // optional three-letter names, index 0 == lo
}

var cronFields = []cronField{
	{name: "minute", lo: 0, hi: 59},
	{name: "hour", lo: 0, hi: 23},
	{name: "day of month", lo: 1, hi: 31},
	{name: "month", lo: 1, hi: 12, names: []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
	{name: "day of week", lo: 0, hi: 7, names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}},
}

// cronMacros are the shorthands the Kubernetes CronJob controller accepts.
var cronMacros = []string{"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}

// validCron reports whether s is a schedule the CronJob controller accepts:
// five fields of numbers, ranges, lists, steps and '*', or a macro. A time
// zone prefix is refused because CronJob has its own timeZone field.
func validCron(s string) bool {
	for _, m := range cronMacros {
		if s == m {
			return true
		}
	}
	parts := strings.Fields(s)
	if len(parts) != len(cronFields) {
		return false
	}
	for i, part := range parts {
		if !validCronField(part, cronFields[i]) {
			return false
		}
	}
	return true
}

func validCronField(s string, f cronField) bool {
	for _, item := range strings.Split(s, ",") {
		rng, step, hasStep := strings.Cut(item, "/")
		if hasStep {
			n, err := strconv.Atoi(step)
			if err != nil || n < 1 || n > f.hi {
				return false
			}
		}
		if rng == "*" || rng == "?" {
			continue
		}
		from, to, isRange := strings.Cut(rng, "-")
		a, ok := cronValue(from, f)
		if !ok {
			return false
		}
		if isRange {
			b, ok := cronValue(to, f)
			if !ok || b < a {
				return false
			}
		}
	}
	return true
}

func cronValue(s string, f cronField) (int, bool) {
	for i, n := range f.names {
		if strings.EqualFold(s, n) {
			return f.lo + i, true
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < f.lo || n > f.hi {
		return 0, false
	}
	return n, true
}

func (p *problems) cron(key, v string) {
	if !validCron(v) {
		p.add("%s: %q is not a valid cron schedule; allowed five fields (minute hour day-of-month month day-of-week) such as \"0 2 * * *\", or a macro such as @daily", key, v)
	}
}
