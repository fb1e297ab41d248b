// Package trading is the application service for orders: what the JSON
// API, the web pages and the order-entry socket call to place,
// cancel and look at orders. It checks a request against its market's
// rules, honours client_order_id, hands the command to the sequencer and
// counts the order intake. Transport stays with the callers.
package trading

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/database"
	"github.com/crypto-exchange/exchange/service/internal/orders"
	"github.com/crypto-exchange/exchange/service/internal/sequencer"
)

// MaxBatch bounds one batch of orders.
const MaxBatch = 50

// Service places and cancels orders.
type Service struct {
	db *gorm.DB
	// reads serves order and fill history, which tolerate a little lag.
	reads   *database.Reads
	catalog *catalog.Cache
	seq     *sequencer.Client
	metrics *metrics
}

// New builds the service and registers its metrics.
func New(db *gorm.DB, reads *database.Reads, cat *catalog.Cache, seq *sequencer.Client, reg prometheus.Registerer) *Service {
	return &Service{db: db, reads: reads, catalog: cat, seq: seq, metrics: newMetrics(reg)}
}

// submit sends a command to the sequencer and turns its answer into either
// a result or the client error it carries.
func (s *Service) submit(ctx context.Context, cmd sequencer.Command) (sequencer.Result, error) {
	res, err := s.seq.Submit(ctx, cmd)
	if err != nil {
		return res, err
	}
	if res.Error != nil {
		return res, res.Error
	}
	return res, nil
}

// Place is the one way in for an order: rules checked, client_order_id
// honoured, the sequencer's answer, and the intake metrics. created is
// false when a repeated client_order_id returned the original order.
func (s *Service) Place(ctx context.Context, o auth.Owner, req orders.PlaceRequest) (ord orders.Order, created bool, err error) {
	p, err := s.placeIn(ctx, o, req, orders.APIWords)
	return p.Order, p.created, err
}

// placeIn is Place with refusals naming the fields as w does.
func (s *Service) placeIn(ctx context.Context, o auth.Owner, req orders.PlaceRequest, w orders.Words) (Placed, error) {
	in := s.receive(ctx, o, req, w, func(id string) (orders.Order, bool, error) {
		return orders.ByClientID(ctx, s.db, o.UserID, id)
	})
	if in.cmd != nil {
		in.answered(s.seq.Submit(ctx, *in.cmd))
	}
	return s.conclude(in)
}

// intake is one order on its way in: counted as received, checked against
// its market's rules and client_order_id, then either answered already or
// a command for the sequencer.
type intake struct {
	market string
	cmd    *sequencer.Command // nil once answered
	placed Placed
	err    error
}

// receive counts and checks one order; known finds the user's order with
// a client id, if one exists.
func (s *Service) receive(ctx context.Context, o auth.Owner, req orders.PlaceRequest, w orders.Words,
	known func(clientID string) (orders.Order, bool, error)) intake {
	in := intake{market: "unknown"}
	m, base, quote, err := s.catalog.Market(ctx, req.Market)
	if err == nil {
		in.market = m.Name
	}
	s.metrics.received.WithLabelValues(in.market).Inc()
	if err != nil {
		in.err = err
		return in
	}
	spec, err := orders.ParseIn(req, m, base, quote, w)
	if err != nil {
		in.err = err
		return in
	}
	if spec.ClientOrderID != "" {
		// The common retry answers without a trip to the sequencer; the
		// sequencer checks again for retries that race each other.
		found, ok, err := known(spec.ClientOrderID)
		if err != nil || ok {
			in.placed, in.err = Placed{Order: found}, err
			return in
		}
	}
	in.cmd = &sequencer.Command{Place: &sequencer.Place{
		UserID: o.UserID, AccountID: o.AccountID, Market: spec.Market, ClientOrderID: spec.ClientOrderID, Order: spec.Order,
	}}
	return in
}

// answered takes the sequencer's answer. It answers the order first, then
// the trader's own resting orders that self-trade prevention cancelled on
// its way.
func (in *intake) answered(res sequencer.Result, err error) {
	in.cmd = nil
	if err == nil && res.Error != nil {
		err = res.Error
	}
	if err != nil {
		in.err = err
		return
	}
	in.placed = Placed{Order: res.Orders[0], SelfTradeCancelled: res.Orders[1:], created: !res.Existing}
}

// conclude counts the order's outcome.
func (s *Service) conclude(in intake) (Placed, error) {
	if in.err != nil {
		s.rejected(in.market, in.err)
		return Placed{}, in.err
	}
	if in.placed.created {
		s.metrics.accepted.WithLabelValues(in.market).Inc()
	}
	return in.placed, nil
}

// rejected counts a refused order by the code its caller was given.
func (s *Service) rejected(market string, err error) {
	reason := "internal_error"
	if e, ok := apierr.As(err); ok {
		reason = string(e.Code)
	}
	s.metrics.rejected.WithLabelValues(market, reason).Inc()
}

// Outcome is one order's result in a batch.
type Outcome struct {
	Order   orders.Order
	Created bool
	Err     error
}

// PlaceBatch places up to MaxBatch orders, each exactly as Place would
// alone (rules, funds, client_order_id). They reach the sequencer together,
// so they usually share one of its batches; one order's refusal does not
// affect the others. Outcomes are in request order.
func (s *Service) PlaceBatch(ctx context.Context, o auth.Owner, reqs []orders.PlaceRequest) ([]Outcome, error) {
	if len(reqs) == 0 || len(reqs) > MaxBatch {
		return nil, apierr.New(apierr.InvalidRequest, "orders must hold 1 to %d orders", MaxBatch)
	}
	// Every client id of the batch is looked up in one query (none when
	// no order has one: an empty id is not a valid one).
	ids := make([]string, len(reqs))
	for i, r := range reqs {
		ids[i] = r.ClientOrderID
	}
	existing, lookupErr := orders.ByClientIDs(ctx, s.db, o.UserID, ids)
	known := func(id string) (orders.Order, bool, error) {
		found, ok := existing[id]
		return found, ok, lookupErr
	}
	ins := make([]intake, len(reqs))
	var cmds []sequencer.Command
	var at []int
	for i, r := range reqs {
		if ins[i] = s.receive(ctx, o, r, orders.APIWords, known); ins[i].cmd != nil {
			cmds, at = append(cmds, *ins[i].cmd), append(at, i)
		}
	}
	for k, a := range s.seq.SubmitAll(ctx, cmds) {
		ins[at[k]].answered(a.Result, a.Err)
	}
	out := make([]Outcome, len(reqs))
	for i := range ins {
		p, err := s.conclude(ins[i])
		out[i] = Outcome{Order: p.Order, Created: p.created, Err: err}
	}
	return out, nil
}

// Cancel cancels one of the user's orders; an order no longer open is an
// order_not_open error.
func (s *Service) Cancel(ctx context.Context, o auth.Owner, id int64) (orders.Order, error) {
	res, err := s.submit(ctx, sequencer.Command{Cancel: &sequencer.Cancel{UserID: o.UserID, OrderID: id}})
	if err != nil {
		return orders.Order{}, err
	}
	if res.NotOpen {
		// The sequencer knows how a recently closed order ended; older
		// ones, and orders that are not the user's (not found), are read.
		var status orders.Status
		if len(res.Orders) > 0 {
			status = res.Orders[0].Status
		} else {
			cur, err := orders.Get(ctx, s.db, o.UserID, id)
			if err != nil {
				return orders.Order{}, err
			}
			status = cur.Status
		}
		return orders.Order{}, apierr.New(apierr.OrderNotOpen, "order %d is already %s", id, status)
	}
	return res.Orders[0], nil
}

// CancelAll cancels the user's open orders in one market, or in all when
// market is empty, for the reason given (the user asked, or the socket
// that asked for cancel-on-disconnect closed).
func (s *Service) CancelAll(ctx context.Context, o auth.Owner, market string, why orders.CancelReason) ([]orders.Order, error) {
	if market != "" {
		if _, _, _, err := s.catalog.Market(ctx, market); err != nil {
			return nil, err
		}
	}
	res, err := s.submit(ctx, sequencer.Command{CancelAll: &sequencer.CancelAll{UserID: o.UserID, AccountID: o.AccountID, Market: market, Reason: why}})
	if err != nil {
		return nil, err
	}
	return res.Orders, nil
}

// SetMarketStatus halts or resumes a market.
func (s *Service) SetMarketStatus(ctx context.Context, market, status string) error {
	if _, _, _, err := s.catalog.Market(ctx, market); err != nil {
		return err
	}
	if _, err := s.submit(ctx, sequencer.Command{MarketStatus: &sequencer.MarketStatus{Market: market, Status: status}}); err != nil {
		return err
	}
	s.catalog.Invalidate()
	return nil
}

// Views renders orders as the API shows them, with their markets' fee assets.
func (s *Service) Views(ctx context.Context, list []orders.Order) ([]orders.JSON, error) {
	out := make([]orders.JSON, len(list))
	for i := range list {
		m, _, _, err := s.catalog.Market(ctx, list[i].Market)
		if err != nil {
			return nil, err
		}
		out[i] = list[i].View(m)
	}
	return out, nil
}

// View renders one order.
func (s *Service) View(ctx context.Context, o orders.Order) (orders.JSON, error) {
	v, err := s.Views(ctx, []orders.Order{o})
	if err != nil {
		return orders.JSON{}, err
	}
	return v[0], nil
}

// Order is one of the user's orders.
func (s *Service) Order(ctx context.Context, o auth.Owner, id int64) (orders.Order, error) {
	return orders.Get(ctx, s.db, o.UserID, id)
}

// Orders lists a page of the user's orders, newest first.
func (s *Service) Orders(ctx context.Context, f orders.Filter) ([]orders.Order, error) {
	return orders.List(ctx, s.reads.DB(), f)
}

// Fills lists a page of the user's trades, newest first.
func (s *Service) Fills(ctx context.Context, userID int64, market string, before int64, limit int) ([]orders.Fill, error) {
	return orders.Fills(ctx, s.reads.DB(), userID, market, before, limit)
}

type metrics struct {
	received, accepted, rejected *prometheus.CounterVec
}

// newMetrics counts the order intake. Every replica takes orders: sum them
// across pods.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "exchange_orders_received_total", Help: "Order placements received, by market (invalid names count as \"unknown\").",
		}, []string{"market"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "exchange_orders_accepted_total", Help: "Orders placed (committed by the sequencer), by market.",
		}, []string{"market"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "exchange_orders_rejected_total", Help: "Orders refused, by market and the error code given to the client.",
		}, []string{"market", "reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.received, m.accepted, m.rejected)
	}
	return m
}
