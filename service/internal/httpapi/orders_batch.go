package httpapi

import (
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/orders"
)

// MaxBatchOrders bounds one batch request.
const MaxBatchOrders = 50

// batchItem is one order's outcome in a batch: its HTTP status as a single
// request would have had it, and the order or the error.
type batchItem struct {
	Status int          `json:"status"`
	Order  *orders.JSON `json:"order,omitempty"`
	Error  *errorDetail `json:"error,omitempty"`
}

// placeOrders places up to 50 orders in one request. Each is handled
// exactly as POST /api/v1/orders would handle it alone (rules, funds,
// client_order_id), and they reach the sequencer together, so they usually
// share one batch. The response lists the outcomes in request order; one
// order's refusal does not affect the others.
func (s *Server) placeOrders(c echo.Context) error {
	var req struct {
		Orders []orders.PlaceRequest `json:"orders"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if len(req.Orders) == 0 || len(req.Orders) > MaxBatchOrders {
		return apierr.New(apierr.InvalidRequest, "orders must hold 1 to %d orders", MaxBatchOrders)
	}
	ctx, p := c.Request().Context(), mustPrincipal(c)
	out := make([]batchItem, len(req.Orders))
	var wg sync.WaitGroup
	for i, r := range req.Orders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, created, err := s.PlaceOrder(ctx, p, r)
			out[i] = s.batchOutcome(c, o, created, err)
		}()
	}
	wg.Wait()
	return c.JSON(http.StatusOK, map[string][]batchItem{"results": out})
}

func (s *Server) batchOutcome(c echo.Context, o orders.Order, created bool, err error) batchItem {
	if err != nil {
		if e, ok := apierr.As(err); ok {
			return batchItem{Status: statusOf(e.Code), Error: &errorDetail{Code: e.Code, Message: e.Message}}
		}
		// A fault of ours: logged like any failed request, shown without detail.
		s.log.ErrorContext(c.Request().Context(), "batch order failed", "error", err.Error(),
			"request_id", c.Response().Header().Get(echo.HeaderXRequestID))
		return batchItem{Status: http.StatusInternalServerError, Error: &errorDetail{Code: "internal_error", Message: "internal error"}}
	}
	v, err := s.views(c, []orders.Order{o})
	if err != nil {
		return batchItem{Status: http.StatusInternalServerError, Error: &errorDetail{Code: "internal_error", Message: "internal error"}}
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return batchItem{Status: status, Order: &v[0]}
}
