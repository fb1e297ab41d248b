package sequencer

// NewPublishedKeeping is NewPublished with room for n unheard batches: a
// test whose listener may lag on a loaded machine checks that every batch
// is taken from memory, which the bound of 16 would turn into a race.
func NewPublishedKeeping(n int) *Published {
	p := NewPublished()
	p.keep = n
	return p
}
