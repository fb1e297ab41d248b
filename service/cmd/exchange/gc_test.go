package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func TestServeTunesTheCollectorUnlessTheOperatorDid(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	reset := func() { debug.SetGCPercent(100); debug.SetMemoryLimit(math.MaxInt64) }
	limit := func() (int64, bool) { return 1 << 30, true }

	reset()
	tuneGC(func(string) string { return "" }, limit)
	if got := debug.SetGCPercent(100); got != serveGCPercent {
		t.Errorf("GOGC unset: collector target %d, want %d", got, serveGCPercent)
	}
	if got := debug.SetMemoryLimit(-1); got != 3<<28 {
		t.Errorf("GOMEMLIMIT unset under a 1 GiB cgroup: soft limit %d, want 3/4 GiB", got)
	}

	reset()
	set := map[string]string{"GOGC": "50", "GOMEMLIMIT": "100MiB"}
	tuneGC(func(k string) string { return set[k] }, limit)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC set by the operator: tuneGC changed the target to %d", got)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("GOMEMLIMIT set by the operator: tuneGC changed the limit to %d", got)
	}
}

func TestCgroupMemoryLimits(t *testing.T) {
	dir := t.TempDir()
	for content, want := range map[string]int64{"268435456\n": 268435456, "max\n": 0, "9223372036854771712\n": 0, "": 0} {
		file := filepath.Join(dir, "limit")
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		n, ok := memoryLimitIn(file)
		if ok != (want > 0) || n != want && ok {
			t.Errorf("%q: %d, %v; want %d", content, n, ok, want)
		}
	}
	if _, ok := memoryLimitIn(filepath.Join(dir, "absent")); ok {
		t.Error("a missing file gave a limit")
	}
}
