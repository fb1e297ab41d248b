package web

import (
	"encoding/json"
	"strings"

	"github.com/crypto-exchange/exchange/service/internal/orders"
)

// The site's one table from the orders' typed vocabulary to words: the
// templates, the messages and (as JSON in the market page) its script all
// read these. The API keeps its snake_case names.

var statusWords = map[orders.Status]string{
	orders.StatusOpen:            "open",
	orders.StatusPartiallyFilled: "partly filled",
	orders.StatusFilled:          "filled",
	orders.StatusCancelled:       "cancelled",
}

// reasonWords are a short label for tables and, for messages, what
// follows "was cancelled".
type reasonWords struct {
	Short string `json:"short"`
	Long  string `json:"long"`
}

var cancelReasonWords = map[orders.CancelReason]reasonWords{
	orders.CancelUser:         {"by you", "at your request"},
	orders.CancelSelfTrade:    {"self-trade prevention", "by self-trade prevention: an order of yours on the other side would have traded with it"},
	orders.CancelIOCRemainder: {"not filled at once", "because it did not trade at once: an immediate-or-cancel or market order never rests on the book"},
	orders.CancelFOKUnfilled:  {"fill or kill", "because it could not be filled in full at once (fill or kill)"},
	orders.CancelMarketHalted: {"market halted", "because the market was halted"},
	orders.CancelAdmin:        {"by an admin", "by an admin"},
	orders.CancelDisconnect:   {"connection closed", "because the API connection that asked for cancel-on-disconnect closed"},
}

func statusWord(s orders.Status) string {
	if w, ok := statusWords[s]; ok {
		return w
	}
	return strings.ReplaceAll(s.String(), "_", " ")
}

// statusLabel is an order's status with the reason of a cancellation,
// as a table shows it: "cancelled · self-trade prevention".
func statusLabel(v orders.JSON) string {
	if w, ok := cancelReasonWords[v.CancelReason]; ok && v.Status == orders.StatusCancelled {
		return statusWord(v.Status) + " · " + w.Short
	}
	return statusWord(v.Status)
}

// reasonSentence explains a cancellation, to follow "was cancelled"; ""
// when there is no reason kept.
func reasonSentence(r orders.CancelReason) string { return cancelReasonWords[r].Long }

// orderWordsJSON is the vocabulary for the market page's script, keyed
// by the API's names, which are what the orders channel carries.
func orderWordsJSON() string {
	out := struct {
		Status  map[string]string      `json:"status"`
		Reasons map[string]reasonWords `json:"reasons"`
	}{map[string]string{}, map[string]reasonWords{}}
	for s, w := range statusWords {
		out.Status[s.String()] = w
	}
	for r, w := range cancelReasonWords {
		out.Reasons[r.String()] = w
	}
	b, _ := json.Marshal(out) // maps of strings always encode
	return string(b)
}
