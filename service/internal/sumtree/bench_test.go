package sumtree_test

import (
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/sumtree"
)

// BenchmarkBuild1M builds the tree of 1,000,000 accounts holding three
// assets, in memory (docs/performance.md; the persisted figure is
// cmd/proofbench's).
func BenchmarkBuild1M(b *testing.B) {
	const n, a = 1_000_000, 3
	rng := mrand.New(mrand.NewPCG(7, 8))
	in := sumtree.Input{TakenAt: time.Unix(1_780_000_000, 0), Assets: []sumtree.Asset{{Symbol: "BTC", Precision: 8}, {Symbol: "ETH", Precision: 8}, {Symbol: "USDT", Precision: 6}},
		UserIDs: make([]int64, n), Balances: make([]int64, n*a)}
	for i := range in.UserIDs {
		in.UserIDs[i] = int64(1000 + i)
	}
	for i := range in.Balances {
		in.Balances[i] = rng.Int64N(1e14)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sumtree.Build(in); err != nil {
			b.Fatal(err)
		}
	}
}
