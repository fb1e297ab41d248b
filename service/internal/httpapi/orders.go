package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/httpapi/reqlog"
	"github.com/crypto-exchange/exchange/service/internal/orders"
	"github.com/crypto-exchange/exchange/service/internal/sequencer"
)

// submit sends a command to the sequencer and turns its answer into either
// a result or the error the client should see.
func (s *Server) submit(ctx context.Context, cmd sequencer.Command) (sequencer.Result, error) {
	res, err := s.Sequencer.Submit(ctx, cmd)
	if err != nil {
		return res, err
	}
	if res.Error != nil {
		return res, res.Error
	}
	return res, nil
}

// views renders orders for the API with their markets' fee assets.
func (s *Server) views(c echo.Context, list []orders.Order) ([]orders.JSON, error) {
	out := make([]orders.JSON, len(list))
	for i := range list {
		m, _, _, err := s.Catalog.Market(c.Request().Context(), list[i].Market)
		if err != nil {
			return nil, err
		}
		out[i] = list[i].View(m)
	}
	return out, nil
}

func (s *Server) view(c echo.Context, status int, o orders.Order) error {
	v, err := s.views(c, []orders.Order{o})
	if err != nil {
		return err
	}
	return c.JSON(status, v[0])
}

func (s *Server) placeOrder(c echo.Context) error {
	var req orders.PlaceRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	o, created, err := s.PlaceOrder(c.Request().Context(), mustPrincipal(c), req)
	if err != nil {
		return err
	}
	reqlog.SetOrder(c, o.ID, o.Market)
	if created {
		return s.view(c, http.StatusCreated, o)
	}
	return s.view(c, http.StatusOK, o)
}

// PlaceOrder is the one way in for an order, from the JSON API and the web
// pages alike: rules checked, client_order_id honoured, the sequencer's
// answer, and the order intake metrics. created is false when a repeated
// client_order_id returned the original order.
func (s *Server) PlaceOrder(ctx context.Context, p auth.Principal, req orders.PlaceRequest) (o orders.Order, created bool, err error) {
	market := "unknown"
	m, base, quote, err := s.Catalog.Market(ctx, req.Market)
	if err == nil {
		market = m.Name
	}
	s.metrics.ordersReceived.WithLabelValues(market).Inc()
	if err == nil {
		o, created, err = s.place(ctx, p, req, m, base, quote)
	}
	if err != nil {
		reason := "internal_error"
		if e, ok := apierr.As(err); ok {
			reason = e.Code
		}
		s.metrics.ordersRejected.WithLabelValues(market, reason).Inc()
		return o, false, err
	}
	if created {
		s.metrics.ordersAccepted.WithLabelValues(market).Inc()
	}
	return o, created, nil
}

// place checks and submits an order; created is false for the original of
// a repeated client_order_id.
func (s *Server) place(ctx context.Context, p auth.Principal, req orders.PlaceRequest, m catalog.Market, base, quote catalog.Asset) (orders.Order, bool, error) {
	spec, err := orders.Parse(req, m, base, quote)
	if err != nil {
		return orders.Order{}, false, err
	}
	if spec.ClientOrderID != "" {
		// The common retry answers without a trip to the sequencer; the
		// sequencer checks again for retries that race each other.
		o, found, err := orders.ByClientID(ctx, s.DB, p.UserID, spec.ClientOrderID)
		if err != nil || found {
			return o, false, err
		}
	}
	res, err := s.submit(ctx, sequencer.Command{Place: &sequencer.Place{
		UserID: p.UserID, AccountID: p.AccountID, Market: spec.Market, ClientOrderID: spec.ClientOrderID, Order: spec.Order,
	}})
	if err != nil {
		return orders.Order{}, false, err
	}
	return res.Orders[0], !res.Existing, nil
}

func (s *Server) getOrder(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	o, err := orders.Get(c.Request().Context(), s.DB, mustPrincipal(c).UserID, id)
	if err != nil {
		return err
	}
	return s.view(c, http.StatusOK, o)
}

func (s *Server) listOrders(c echo.Context) error {
	f := orders.Filter{UserID: mustPrincipal(c).UserID, Market: c.QueryParam("market")}
	switch c.QueryParam("status") {
	case "":
	case "open":
		f.Open = ptr(true)
	case "closed":
		f.Open = ptr(false)
	default:
		return apierr.New(apierr.InvalidRequest, "status must be open or closed")
	}
	return listPage(c, func(p page) ([]orders.JSON, error) {
		f.Before, f.Limit = p.Before, p.Limit
		list, err := orders.List(c.Request().Context(), s.DB, f)
		if err != nil {
			return nil, err
		}
		return s.views(c, list)
	}, func(o orders.JSON) int64 { id, _ := strconv.ParseInt(o.ID, 10, 64); return id })
}

func ptr[T any](v T) *T { return &v }

func (s *Server) cancelOrder(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	o, err := s.CancelOrder(c.Request().Context(), mustPrincipal(c), id)
	if err != nil {
		return err
	}
	reqlog.SetOrder(c, id, o.Market)
	return s.view(c, http.StatusOK, o)
}

// CancelOrder cancels one of the user's orders, from the JSON API and the
// web pages alike; an order no longer open is an order_not_open error.
func (s *Server) CancelOrder(ctx context.Context, p auth.Principal, id int64) (orders.Order, error) {
	res, err := s.submit(ctx, sequencer.Command{Cancel: &sequencer.Cancel{UserID: p.UserID, OrderID: id}})
	if err != nil {
		return orders.Order{}, err
	}
	if res.NotOpen {
		o, err := orders.Get(ctx, s.DB, p.UserID, id)
		if err != nil {
			return orders.Order{}, err
		}
		return orders.Order{}, apierr.New("order_not_open", "order %d is already %s", id, o.Status)
	}
	return res.Orders[0], nil
}

func (s *Server) cancelAll(c echo.Context) error {
	p := mustPrincipal(c)
	market := c.QueryParam("market")
	if market != "" {
		if _, _, _, err := s.Catalog.Market(c.Request().Context(), market); err != nil {
			return err
		}
	}
	res, err := s.submit(c.Request().Context(), sequencer.Command{CancelAll: &sequencer.CancelAll{UserID: p.UserID, AccountID: p.AccountID, Market: market}})
	if err != nil {
		return err
	}
	v, err := s.views(c, res.Orders)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string][]orders.JSON{"cancelled": v})
}

func (s *Server) listFills(c echo.Context) error {
	userID, market := mustPrincipal(c).UserID, c.QueryParam("market")
	return listPage(c, func(p page) ([]orders.Fill, error) {
		return orders.Fills(c.Request().Context(), s.DB, userID, market, p.Before, p.Limit)
	}, func(f orders.Fill) int64 { return f.TradeID })
}

func (s *Server) adminMarketStatus(status string) echo.HandlerFunc {
	return func(c echo.Context) error {
		name := c.Param("market")
		if err := s.SetMarketStatus(c.Request().Context(), name, status); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]string{"market": name, "status": status})
	}
}

// SetMarketStatus halts or resumes a market, from the JSON API and the
// admin pages alike.
func (s *Server) SetMarketStatus(ctx context.Context, market, status string) error {
	if _, _, _, err := s.Catalog.Market(ctx, market); err != nil {
		return err
	}
	if _, err := s.submit(ctx, sequencer.Command{MarketStatus: &sequencer.MarketStatus{Market: market, Status: status}}); err != nil {
		return err
	}
	s.Catalog.Invalidate()
	return nil
}

// sequencerCommand is the leader's door for commands from other replicas.
// Only holders of SECRET_KEY can compute the token.
func (s *Server) sequencerCommand(c echo.Context) error {
	if subtle.ConstantTimeCompare([]byte(c.Request().Header.Get(sequencer.TokenHeader)), []byte(s.internalToken)) != 1 {
		return apierr.New(apierr.Unauthorized, "internal endpoint")
	}
	var cmd sequencer.Command
	if err := json.NewDecoder(c.Request().Body).Decode(&cmd); err != nil {
		return apierr.New(apierr.InvalidJSON, "bad command: %v", err)
	}
	res, err := s.Sequencer.Local().Submit(c.Request().Context(), cmd)
	if errors.Is(err, sequencer.ErrNotLeader) {
		return c.JSON(http.StatusConflict, map[string]string{"error": "not_leader"})
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}
