package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/httperr"
	"github.com/crypto-exchange/exchange/service/internal/inputcheck"
	"github.com/crypto-exchange/exchange/service/internal/orders"
	"github.com/crypto-exchange/exchange/service/internal/ratelimit"
	"github.com/crypto-exchange/exchange/service/internal/reqlog"
	"github.com/crypto-exchange/exchange/service/internal/trading"
)

func (s *api) view(c echo.Context, status int, o orders.Order) error {
	v, err := s.Trading.View(c.Request().Context(), o)
	if err != nil {
		return err
	}
	return answerJSON(c, status, v, v.AppendJSON)
}

func (s *api) placeOrder(c echo.Context) error {
	var req orders.PlaceRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	o, created, err := s.Trading.Place(c.Request().Context(), mustPrincipal(c).Owner(), req)
	if err != nil {
		return err
	}
	reqlog.SetOrder(c, o.ID, o.Market)
	if created {
		return s.view(c, http.StatusCreated, o)
	}
	return s.view(c, http.StatusOK, o)
}

// batchItem is one order's outcome in a batch: its HTTP status as a single
// request would have had it, and the order or the error.
type batchItem struct {
	Status int             `json:"status"`
	Order  *orders.JSON    `json:"order,omitempty"`
	Error  *httperr.Detail `json:"error,omitempty"`
}

// placeOrders places up to trading.MaxBatch orders in one request; the
// response lists the outcomes in request order.
func (s *api) placeOrders(c echo.Context) error {
	var req struct {
		Orders []orders.PlaceRequest `json:"orders"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	// A batch weighs one order per order in both budgets; the one request
	// is already spent.
	if err := ratelimit.ChargeIP(c, len(req.Orders)-1); err != nil {
		return err
	}
	if err := ratelimit.ChargeUser(c, mustPrincipal(c).UserID, len(req.Orders)-1); err != nil {
		return err
	}
	ctx := c.Request().Context()
	outcomes, err := s.Trading.PlaceBatch(ctx, mustPrincipal(c).Owner(), req.Orders)
	if err != nil {
		return err
	}
	out := batchAnswer{Results: make([]batchItem, len(outcomes))}
	for i, o := range outcomes {
		out.Results[i] = s.outcome(ctx, o, slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)))
	}
	return answerJSON(c, http.StatusOK, out, out.appendJSON)
}

var internalDetail = &httperr.Detail{Code: "internal_error", Message: "internal error"}

// outcome is one order's answer in a batch, over HTTP or the socket.
func (s *api) outcome(ctx context.Context, o trading.Outcome, attrs ...slog.Attr) batchItem {
	if o.Err != nil {
		return s.failed(ctx, o.Err, "batch order failed", attrs...)
	}
	v, err := s.Trading.View(ctx, o.Order)
	if err != nil {
		return s.failed(ctx, err, "batch order failed", attrs...)
	}
	status := http.StatusOK
	if o.Created {
		status = http.StatusCreated
	}
	return batchItem{Status: status, Order: &v}
}

// failed is the answer for an error inside a batch or a socket command:
// a client error as its HTTP status and body; a fault of ours logged like
// any failed request, and shown without detail.
func (s *api) failed(ctx context.Context, err error, msg string, attrs ...slog.Attr) batchItem {
	if e, ok := httperr.Classify(err); ok {
		return batchItem{Status: httperr.Status(e), Error: &httperr.Detail{Code: e.Code, Message: e.Message}}
	}
	s.Log.LogAttrs(ctx, slog.LevelError, msg, append(attrs, slog.String("error", err.Error()))...)
	return batchItem{Status: http.StatusInternalServerError, Error: internalDetail}
}

func (s *api) getOrder(c echo.Context) error {
	id, err := inputcheck.PathID(c, "order")
	if err != nil {
		return err
	}
	o, err := s.Trading.Order(c.Request().Context(), mustPrincipal(c).Owner(), id)
	if err != nil {
		return err
	}
	return s.view(c, http.StatusOK, o)
}

func (s *api) listOrders(c echo.Context) error {
	f := orders.Filter{UserID: mustPrincipal(c).UserID, Market: c.QueryParam("market")}
	switch c.QueryParam("status") {
	case "":
	case "open":
		f.Open = new(true)
	case "closed":
		f.Open = new(false)
	default:
		return apierr.New(apierr.InvalidRequest, "status must be open or closed")
	}
	ctx := c.Request().Context()
	return listPage(c, func(p page) ([]orders.JSON, error) {
		f.Before, f.Limit = p.Before, p.Limit
		list, err := s.Trading.Orders(ctx, f)
		if err != nil {
			return nil, err
		}
		return s.Trading.Views(ctx, list)
	}, func(o orders.JSON) int64 { id, _ := strconv.ParseInt(o.ID, 10, 64); return id })
}

func (s *api) cancelOrder(c echo.Context) error {
	id, err := inputcheck.PathID(c, "order")
	if err != nil {
		return err
	}
	o, err := s.Trading.Cancel(c.Request().Context(), mustPrincipal(c).Owner(), id)
	if err != nil {
		return err
	}
	reqlog.SetOrder(c, id, o.Market)
	return s.view(c, http.StatusOK, o)
}

func (s *api) cancelAll(c echo.Context) error {
	ctx := c.Request().Context()
	cancelled, err := s.Trading.CancelAll(ctx, mustPrincipal(c).Owner(), c.QueryParam("market"), orders.CancelUser)
	if err != nil {
		return err
	}
	v, err := s.Trading.Views(ctx, cancelled)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string][]orders.JSON{"cancelled": v})
}

func (s *api) listFills(c echo.Context) error {
	userID, market := mustPrincipal(c).UserID, c.QueryParam("market")
	return listPage(c, func(p page) ([]orders.Fill, error) {
		return s.Trading.Fills(c.Request().Context(), userID, market, p.Before, p.Limit)
	}, func(f orders.Fill) int64 { return f.TradeID })
}

func (s *api) adminMarketStatus(status string) echo.HandlerFunc {
	return func(c echo.Context) error {
		name := c.Param("market")
		if err := s.Trading.SetMarketStatus(c.Request().Context(), name, status); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]string{"market": name, "status": status})
	}
}
