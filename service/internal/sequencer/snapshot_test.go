package sequencer

import (
	"syscall"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/risk"
)

// discard is a sink that drops what it is handed: the benchmark measures
// the copy alone.
type discard struct{ last Capture }

func (d *discard) Busy() bool     { return false }
func (d *discard) Take(c Capture) { d.last = c }

// BenchmarkSnapshotCapture1M measures how long a snapshot holds up the
// batch loop: copying 3,000,000 balances (1,000,000 accounts holding
// three assets each) out of the leader's memory.
func BenchmarkSnapshotCapture1M(b *testing.B) {
	st := &state{balances: risk.NewBalances(), assets: map[string]catalog.Asset{
		"BTC": {Symbol: "BTC", Precision: 8}, "ETH": {Symbol: "ETH", Precision: 8}, "USDT": {Symbol: "USDT", Precision: 6}}}
	for a := range int64(1_000_000) {
		for _, sym := range []string{"BTC", "ETH", "USDT"} {
			st.balances.Load(risk.Key{Account: 1000 + a, Asset: sym}, risk.Balance{Available: money.Amount(a + 1), Held: 100})
		}
	}
	sink := &discard{}
	b.ResetTimer()
	var cpu time.Duration
	for b.Loop() {
		p := &pendingSnapshot{st: st, taken: &SnapshotTaken{}}
		before := cpuTime()
		p.capture(sink, time.Now())
		cpu += cpuTime() - before
	}
	// Wall time depends on what else the machine runs; CPU time less so.
	b.ReportMetric(sink.last.Pause.Seconds(), "s/pause")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/pause")
	if len(sink.last.Balances) != 3_000_000 {
		b.Fatalf("%d balances copied", len(sink.last.Balances))
	}
}

// cpuTime is the process's CPU time so far, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
