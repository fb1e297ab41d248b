package main

import (
	"fmt"
	"math"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// batchStats is what the exchange's sequencer metrics tell of its batches:
// how many, how many commands, and how long each took from its first
// command to its answer (a histogram: quantiles are bucket bounds). Read
// before and after a phase, it says whether a slow acknowledgement was a
// slow batch or time spent elsewhere.
type batchStats struct {
	batches, commands float64
	buckets           []bucket // cumulative, by upper bound
}

type bucket struct{ le, count float64 }

// scrapeBatches reads the batch metrics from the exchange's /metrics, with
// the parser the observability tests use.
func scrapeBatches(url string) (batchStats, error) {
	var s batchStats
	res, err := http.Get(url)
	if err != nil {
		return s, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return s, fmt.Errorf("metrics: %s", res.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		return s, fmt.Errorf("metrics: %w", err)
	}
	histogram := func(name string) *dto.Histogram {
		if f := families[name]; f != nil && len(f.GetMetric()) > 0 {
			return f.GetMetric()[0].GetHistogram()
		}
		return nil
	}
	if h := histogram("exchange_sequencer_batch_size"); h != nil {
		s.batches, s.commands = float64(h.GetSampleCount()), h.GetSampleSum()
	}
	if h := histogram("exchange_sequencer_batch_seconds"); h != nil {
		for _, b := range h.GetBucket() {
			s.buckets = append(s.buckets, bucket{b.GetUpperBound(), float64(b.GetCumulativeCount())})
		}
	}
	return s, nil
}

// since is what happened between an earlier reading and this one.
func (s batchStats) since(before batchStats) batchStats {
	d := batchStats{batches: s.batches - before.batches, commands: s.commands - before.commands}
	for i, b := range s.buckets {
		if i < len(before.buckets) && before.buckets[i].le == b.le {
			b.count -= before.buckets[i].count
		}
		d.buckets = append(d.buckets, b)
	}
	return d
}

// quantile is the upper bound of the bucket holding the q-th batch.
func (s batchStats) quantile(q float64) float64 {
	for _, b := range s.buckets {
		if b.count >= q*s.batches {
			return b.le
		}
	}
	return math.Inf(1)
}

func (s batchStats) String() string {
	if s.batches == 0 {
		return "no batches"
	}
	bound := func(q float64) string {
		if le := s.quantile(q); !math.IsInf(le, 1) {
			return "≤ " + time.Duration(le*float64(time.Second)).String()
		}
		return "over the largest bucket"
	}
	return fmt.Sprintf("%.0f batches of %.1f commands on average; first command to answer p50 %s, p99 %s",
		s.batches, s.commands/s.batches, bound(0.5), bound(0.99))
}
