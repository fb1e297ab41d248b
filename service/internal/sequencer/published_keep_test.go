package sequencer

import (
	"strconv"
	"testing"
)

// A feed that stops listening leaves at most keepPublished batches behind:
// the oldest is forgotten (and its NOTIFY, should it come, is decoded).
func TestPublishedForgetsTheOldestPastItsBound(t *testing.T) {
	p := NewPublished()
	for i := range keepPublished + 1 {
		p.put(strconv.Itoa(i), Events{})
	}
	if pending, evicted := p.Pending(); pending != keepPublished || evicted != 1 {
		t.Fatalf("pending %d, evicted %d; want %d and 1", pending, evicted, keepPublished)
	}
	if _, ok := p.take("0"); ok {
		t.Fatal("the oldest batch was kept past the bound")
	}
	if _, ok := p.take(strconv.Itoa(keepPublished)); !ok {
		t.Fatal("the newest batch was forgotten")
	}
}
