package web

import (
	"encoding/json"
	"strings"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/orders"
	"github.com/crypto-exchange/exchange/service/internal/transfers"
)

// The site's one table from the typed vocabularies (orders, deposits,
// withdrawals, login attempts) to words: the templates, the messages and
// (as JSON in the pages) the scripts all read these. The API keeps its
// own names.

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

// Deposits' and withdrawals' statuses, for the wallet page and its
// script. A pending one that the first of its two admins approved says
// so: the trader sees it move before it is decided.
var depositWords = map[transfers.DepositStatus]string{
	transfers.DepositPending:  "pending",
	transfers.DepositCredited: "credited",
	transfers.DepositRejected: "rejected",
}

var withdrawalWords = map[transfers.WithdrawalStatus]string{
	transfers.WithdrawalPending:   "pending",
	transfers.WithdrawalCompleted: "sent",
	transfers.WithdrawalRejected:  "rejected",
	transfers.WithdrawalCancelled: "cancelled by you",
}

// cancelWords label the wallet's cancel button (the script's too).
const cancelWords = "Cancel"

const approvedOnceWords = "approved by 1 of 2 admins"

func transferLabel(word string, pending, approvedOnce bool) string {
	if pending && approvedOnce {
		return word + " · " + approvedOnceWords
	}
	return word
}

func depositLabel(d transfers.Deposit) string {
	return transferLabel(depositWords[d.Status], d.Status == transfers.DepositPending, d.ApprovedBy != nil)
}

func withdrawalLabel(w transfers.Withdrawal) string {
	return transferLabel(withdrawalWords[w.Status], w.Status == transfers.WithdrawalPending, w.ApprovedBy != nil)
}

// walletWordsJSON is the vocabulary for the wallet page's script, keyed
// by the API's names, which are what the balances channel carries.
func walletWordsJSON() string {
	out := struct {
		Deposit      map[string]string `json:"deposit"`
		Withdrawal   map[string]string `json:"withdrawal"`
		ApprovedOnce string            `json:"approved_once"`
		Cancel       string            `json:"cancel"`
	}{map[string]string{}, map[string]string{}, approvedOnceWords, cancelWords}
	for s, w := range depositWords {
		out.Deposit[string(s)] = w
	}
	for s, w := range withdrawalWords {
		out.Withdrawal[string(s)] = w
	}
	b, _ := json.Marshal(out) // maps of strings always encode
	return string(b)
}

// loginOutcomeWords say how each kept login attempt ended.
var loginOutcomeWords = map[auth.LoginOutcome]string{
	auth.LoginSucceeded:     "signed in",
	auth.LoginWrongPassword: "wrong password",
	auth.LoginCodeRequired:  "right password, two-factor code asked",
	auth.LoginWrongCode:     "wrong two-factor code",
	auth.LoginFrozen:        "refused: account frozen",
}

func loginOutcome(o auth.LoginOutcome) string {
	if w, ok := loginOutcomeWords[o]; ok {
		return w
	}
	return strings.ReplaceAll(string(o), "_", " ")
}
