package sequencer

import (
	"sync"
)

// Published holds the events of the batches this replica's leader sent,
// from just before each batch goes to the database until the replica's
// own feed hears the batch's NOTIFY, so that the feed takes them as they
// are instead of decoding the bytes the leader just encoded. Decoding its
// own payload was a tenth of the leader's CPU per batched order (profile
// in docs/performance.md). The feed still waits for the NOTIFY, so it
// sees every batch in commit order, only after its commit, and a leader
// that loses its lock mid-batch publishes nothing of it: exactly what the
// other replicas see.
type Published struct {
	mu sync.Mutex
	// byBatch are the batches sent and not yet heard back; order is their
	// ids oldest first, to bound them.
	byBatch map[string]Events
	order   []string
	evicted int
	keep    int // keepPublished, but in tests
}

// keepPublished bounds what a feed that stopped listening (a broken
// connection, a resync) leaves behind: past it the oldest batch is
// forgotten, and its NOTIFY, should it still come, is decoded.
const keepPublished = 16

// NewPublished makes an empty store; a Sequencer and the Reassembler of
// the same replica's feed share one.
func NewPublished() *Published {
	return &Published{byBatch: map[string]Events{}, keep: keepPublished}
}

// put keeps a batch's events under its id until the feed takes them.
func (p *Published) put(id string, ev Events) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.order) == p.keep {
		delete(p.byBatch, p.order[0])
		p.order = p.order[1:]
		p.evicted++
	}
	p.byBatch[id] = ev
	p.order = append(p.order, id)
}

// drop forgets a batch that failed: no NOTIFY of it will come.
func (p *Published) drop(id string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.remove(id)
}

// take hands over a batch's events once, if this replica published them.
func (p *Published) take(id string) (Events, bool) {
	if p == nil {
		return Events{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ev, ok := p.byBatch[id]
	if ok {
		p.remove(id)
	}
	return ev, ok
}

// Pending is how many batches wait for the feed; evicted, how many it
// never took and were forgotten.
func (p *Published) Pending() (pending, evicted int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.byBatch), p.evicted
}

func (p *Published) remove(id string) {
	delete(p.byBatch, id)
	for i, o := range p.order {
		if o == id {
			p.order = append(p.order[:i], p.order[i+1:]...)
			return
		}
	}
}
