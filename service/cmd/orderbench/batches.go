package main

import (
	"bufio"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
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

const secondsBucket = `exchange_sequencer_batch_seconds_bucket{le="`

// scrapeBatches reads the batch metrics from the exchange's /metrics.
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
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		name, raw, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			continue
		}
		switch {
		case name == "exchange_sequencer_batch_size_count":
			s.batches = v
		case name == "exchange_sequencer_batch_size_sum":
			s.commands = v
		case strings.HasPrefix(name, secondsBucket):
			le, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(name, secondsBucket), `"}`), 64)
			if err == nil { // "+Inf" parses too
				s.buckets = append(s.buckets, bucket{le, v})
			}
		}
	}
	return s, sc.Err()
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
