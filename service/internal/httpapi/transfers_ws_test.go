package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/crypto-exchange/exchange/service/internal/config"
)

// The balances channel carries each deposit's and withdrawal's new state
// as the admins decide it, so that a page showing a withdrawal as pending
// hears of the first approval (which moves no balance) and of the second.
func TestBalancesChannelCarriesTransfers(t *testing.T) {
	x := newExchange(t, config.ModeLive)
	alice := x.trader()
	u, _ := http.NewRequest("GET", x.url, nil)
	header := http.Header{"Origin": {x.url}}
	for _, ck := range alice.http.Jar.Cookies(u.URL) {
		header.Add("Cookie", ck.Name+"="+ck.Value)
	}
	ws := x.dialWS(header)
	ws.send("subscribe", "balances")
	ws.next("subscribed", "")

	admin, second := x.admin(), x.admin()
	var d depositJSON
	alice.mustJSON("POST", "/api/v1/deposits", map[string]string{"asset": "USDT", "amount": "500"}, 201, &d)
	wantTransfer(t, ws, "deposit", d.ID, "pending", false)
	admin.mustJSON("POST", "/api/v1/admin/deposits/"+d.ID+"/approve", nil, 200, nil)
	wantTransfer(t, ws, "deposit", d.ID, "pending", true)
	// The same over the API: the owner's list says approved once, the
	// admins' list names the admin.
	if st, body := alice.do("GET", "/api/v1/deposits", nil); st != 200 || !strings.Contains(string(body), `"approved_once":true`) || strings.Contains(string(body), "approved_by") {
		t.Fatalf("the owner's deposits: %d %s", st, body)
	}
	if st, body := second.do("GET", "/api/v1/admin/deposits?status=pending", nil); st != 200 || !strings.Contains(string(body), `"approved_by"`) {
		t.Fatalf("the admins' pending deposits: %d %s", st, body)
	}
	second.mustJSON("POST", "/api/v1/admin/deposits/"+d.ID+"/approve", nil, 200, nil)
	wantTransfer(t, ws, "deposit", d.ID, "credited", true)

	var w withdrawalJSON
	alice.mustJSON("POST", "/api/v1/withdrawals", map[string]string{"asset": "USDT", "amount": "120", "address": "addr-0001-test"}, 201, &w)
	wantTransfer(t, ws, "withdrawal", w.ID, "pending", false)
	admin.mustJSON("POST", "/api/v1/admin/withdrawals/"+w.ID+"/reject", map[string]string{"reason": "address on a watch list"}, 200, nil)
	got := wantTransfer(t, ws, "withdrawal", w.ID, "rejected", false)
	if got.Reason != "address on a watch list" {
		t.Fatalf("the rejection's reason is %q", got.Reason)
	}
}

type transferJSON struct {
	ID, Status, Reason string
	ApprovedOnce       bool `json:"approved_once"`
}

// wantTransfer reads the balances channel until the transfer's next
// message and checks its status and whether one admin approved it.
func wantTransfer(t *testing.T, ws *wsConn, kind, id, status string, approvedOnce bool) transferJSON {
	t.Helper()
	m := ws.next(kind, "balances")
	var v transferJSON
	if err := json.Unmarshal(m.Data, &v); err != nil {
		t.Fatal(err)
	}
	// The owner learns that one admin approved, never which one.
	if v.ID != id || v.Status != status || v.ApprovedOnce != approvedOnce || strings.Contains(string(m.Data), "approved_by") {
		t.Fatalf("%s message %s, want %s %s (approved once: %v)", kind, m.Data, id, status, approvedOnce)
	}
	return v
}
