package sequencer

import "github.com/crypto-exchange/exchange/service/internal/orders"

// closedWindow is how many recently closed orders the leader remembers.
const closedWindow = 100_000

// closedOrders remembers who owned the most recently closed orders and how
// they ended, so that a cancel of one is answered from memory. Bots cancel
// orders that have just filled all the time (two thirds of the cancels in
// the load runs), and each asked the database for the status to put in
// the order_not_open error. A closed order never changes again, so memory and
// database agree; older ones are still read from the database.
type closedOrders struct {
	byID map[int64]closedOrder
	ring []int64 // ids in closing order; next is the oldest once full
	next int
}

type closedOrder struct {
	user   int64
	status orders.Status
}

func newClosedOrders() *closedOrders {
	return &closedOrders{byID: make(map[int64]closedOrder)}
}

// add remembers a closed order, forgetting the oldest beyond the window.
func (c *closedOrders) add(o *orders.Order) {
	if len(c.ring) < closedWindow {
		c.ring = append(c.ring, o.ID)
	} else {
		delete(c.byID, c.ring[c.next])
		c.ring[c.next] = o.ID
		c.next = (c.next + 1) % closedWindow
	}
	c.byID[o.ID] = closedOrder{user: o.UserID, status: o.Status}
}

// status is how the user's order ended, if it is remembered.
func (c *closedOrders) status(user, id int64) (orders.Status, bool) {
	o, ok := c.byID[id]
	if !ok || o.user != user {
		return 0, false
	}
	return o.status, true
}
