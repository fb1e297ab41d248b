package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/orders"
	"github.com/crypto-exchange/exchange/service/internal/ratelimit"
	"github.com/crypto-exchange/exchange/service/internal/strictjson"
)

// The order-entry ops of the WebSocket.
const (
	opPlace              = "place"
	opPlaceBatch         = "place_batch"
	opCancel             = "cancel"
	opCancelAll          = "cancel_all"
	opCancelOnDisconnect = "cancel_on_disconnect"
)

// commandID is the client's tag for a command, echoed in its answer.
var commandID = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// wsHead is what every command carries.
type wsHead struct {
	Op string `json:"op"`
	ID string `json:"id"`
}

// wsResult answers one command: the status and body the same call over
// HTTP would have had, tagged with the command's op and id.
type wsResult struct {
	Type string `json:"type"` // always "result"
	Op   string `json:"op,omitempty"`
	ID   string `json:"id,omitempty"`
	batchItem
	Results            []batchItem    `json:"results,omitempty"`
	Cancelled          *[]orders.JSON `json:"cancelled,omitempty"`
	CancelOnDisconnect *bool          `json:"cancel_on_disconnect,omitempty"`
}

// wsOrders is order entry for one authenticated socket.
type wsOrders struct {
	api      *api
	owner    auth.Owner
	canTrade bool
	charge   func(ratelimit.Class, int) error
	log      *slog.Logger

	mu sync.Mutex
	// cancelOnClose, when set, is the market whose open orders the
	// socket's end cancels ("" for every market).
	cancelOnClose *string
}

// Handle answers one command. It never fails: every refusal is a result
// with a 4xx status, as the REST call would have answered.
func (w *wsOrders) Handle(ctx context.Context, op string, rawID json.RawMessage, msg []byte) []byte {
	var id string
	_ = json.Unmarshal(rawID, &id) // the message is strictly read below; the id only tags the answer
	res := wsResult{Type: "result", Op: op}
	if commandID.MatchString(id) {
		res.ID = id
	}
	ctx, cancel := context.WithTimeout(ctx, w.api.Config.RequestTimeout)
	defer cancel()
	if err := w.run(ctx, op, msg, &res); err != nil {
		res.batchItem = w.api.failed(ctx, err, "websocket command failed", slog.String("op", op), slog.String("command_id", res.ID))
	}
	return res.appendJSON(make([]byte, 0, 1024))
}

func (w *wsOrders) run(ctx context.Context, op string, msg []byte, res *wsResult) error {
	// Every message spends budget, even one refused below, as every
	// request does over HTTP.
	class := ratelimit.Cancels
	if op == opPlace || op == opPlaceBatch {
		class = ratelimit.Orders
	}
	if err := w.charge(class, 1); err != nil {
		return err
	}
	if !commandOp(op) {
		return apierr.New(apierr.InvalidRequest, "op must be subscribe, unsubscribe, place, place_batch, cancel, cancel_all or cancel_on_disconnect")
	}
	if res.ID == "" {
		return apierr.New(apierr.InvalidRequest, "id must be 1 to 64 letters, digits or _.:- so the answer can be matched to the command")
	}
	if !w.canTrade {
		return apierr.New(apierr.Forbidden, "this API key lacks the trade scope")
	}
	switch op {
	case opPlace:
		req, err := placeRequest(msg)
		if err != nil {
			return err
		}
		o, created, err := w.api.Trading.Place(ctx, w.owner, req)
		if err != nil {
			return err
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		return w.order(ctx, res, status, o)
	case opPlaceBatch:
		// The same body as POST /api/v1/orders/batch, beside op and id.
		var cmd struct {
			wsHead
			Orders []orders.PlaceRequest `json:"orders"`
		}
		if err := strictjson.Decode(msg, &cmd); err != nil {
			return err
		}
		// A batch weighs one order per order; the message is already spent.
		if err := w.charge(ratelimit.Orders, len(cmd.Orders)-1); err != nil {
			return err
		}
		outcomes, err := w.api.Trading.PlaceBatch(ctx, w.owner, cmd.Orders)
		if err != nil {
			return err
		}
		res.Status, res.Results = http.StatusOK, make([]batchItem, len(outcomes))
		for i, o := range outcomes {
			res.Results[i] = w.api.outcome(ctx, o, slog.String("command_id", res.ID))
		}
		return nil
	case opCancel:
		var cmd struct {
			wsHead
			OrderID string `json:"order_id"`
		}
		if err := strictjson.Decode(msg, &cmd); err != nil {
			return err
		}
		id, err := strconv.ParseInt(cmd.OrderID, 10, 64)
		if err != nil || id <= 0 {
			return apierr.New(apierr.NotFound, "no record with id %q", cmd.OrderID)
		}
		o, err := w.api.Trading.Cancel(ctx, w.owner, id)
		if err != nil {
			return err
		}
		return w.order(ctx, res, http.StatusOK, o)
	case opCancelAll:
		var cmd struct {
			wsHead
			Market string `json:"market"`
		}
		if err := strictjson.Decode(msg, &cmd); err != nil {
			return err
		}
		cancelled, err := w.api.Trading.CancelAll(ctx, w.owner, cmd.Market, orders.CancelUser)
		if err != nil {
			return err
		}
		v, err := w.api.Trading.Views(ctx, cancelled)
		if err != nil {
			return err
		}
		res.Status, res.Cancelled = http.StatusOK, &v
		return nil
	}
	var cmd struct {
		wsHead
		Enabled bool   `json:"enabled"`
		Market  string `json:"market"`
	}
	if err := strictjson.Decode(msg, &cmd); err != nil {
		return err
	}
	if cmd.Market != "" {
		if _, _, _, err := w.api.Catalog.Market(ctx, cmd.Market); err != nil {
			return err
		}
	}
	w.mu.Lock()
	w.cancelOnClose = nil
	if cmd.Enabled {
		w.cancelOnClose = &cmd.Market
	}
	w.mu.Unlock()
	res.Status, res.CancelOnDisconnect = http.StatusOK, &cmd.Enabled
	return nil
}

// placeRequest reads a place command's order. One decode of the whole
// message serves a well-formed command; one it refuses, or whose order is
// absent or null, is read again with the order on its own, so that a
// refusal reads exactly as the same body's would over HTTP.
func placeRequest(msg []byte) (orders.PlaceRequest, error) {
	var whole struct {
		wsHead
		Order *orders.PlaceRequest `json:"order"`
	}
	if strictjson.Decode(msg, &whole) == nil && whole.Order != nil {
		return *whole.Order, nil
	}
	var cmd struct {
		wsHead
		Order jsontext.Value `json:"order"`
	}
	if err := strictjson.Decode(msg, &cmd); err != nil {
		return orders.PlaceRequest{}, err
	}
	var req orders.PlaceRequest
	err := strictjson.Checked(cmd.Order, &req) // checked with the message
	return req, err
}

func commandOp(op string) bool {
	switch op {
	case opPlace, opPlaceBatch, opCancel, opCancelAll, opCancelOnDisconnect:
		return true
	}
	return false
}

func (w *wsOrders) order(ctx context.Context, res *wsResult, status int, o orders.Order) error {
	v, err := w.api.Trading.View(ctx, o)
	if err != nil {
		return err
	}
	res.Status, res.Order = status, &v
	return nil
}

// Closed cancels the owner's open orders if the socket asked for it. It
// runs after every command of the socket has been answered, so an order
// placed just before the end is cancelled too.
func (w *wsOrders) Closed() {
	w.mu.Lock()
	market := w.cancelOnClose
	w.mu.Unlock()
	if market == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cancelled, err := w.api.Trading.CancelAll(ctx, w.owner, *market, orders.CancelDisconnect)
	if err != nil {
		w.log.Error("cancel on disconnect failed", "user_id", w.owner.UserID, "market", *market, "error", err.Error())
		return
	}
	w.log.Info("cancel on disconnect", "user_id", w.owner.UserID, "market", *market, "orders", len(cancelled))
}
