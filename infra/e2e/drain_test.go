//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// podLogEvent is one line of a server pod's log as the kubelet returns it
// with timestamps: the kubelet's time, then the service's JSON record.
type podLogEvent struct {
	at  time.Time
	msg string
}

func readPodLog(t *testing.T, path string) []podLogEvent {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("pod log %s: %v", path, err)
	}
	defer f.Close()
	var out []podLogEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		ts, rest, ok := strings.Cut(sc.Text(), " ")
		at, err := time.Parse(time.RFC3339Nano, ts)
		if !ok || err != nil {
			continue
		}
		var rec struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(rest), &rec) == nil && rec.Msg != "" {
			out = append(out, podLogEvent{at, rec.Msg})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("pod log %s: %v", path, err)
	}
	return out
}

// assertDrained checks, from the logs of the pods the roll replaced, that
// each stopped as docs/operations.md says: on SIGTERM it drains the public
// side ("draining"), the leader among them hands the sequencer over
// ("sequencer: stepped down") before the process ends, and it ends cleanly
// ("stopped") without cutting off requests ("drain timed out") and within
// the grace period the Deployment gives after its preStop wait. The leader
// at the start of the roll was one of these pods, so at least one of them
// must have stepped down.
func assertDrained(t *testing.T, oldPods map[string]bool, logFiles []string) {
	t.Helper()
	// The Deployment's grace period less its preStop sleep
	// (infra/platform: 35 s and 5 s), the time SIGTERM leaves the process.
	const drainLimit = 30 * time.Second
	steppedDown := 0
	for pod := range oldPods {
		var path string
		for _, f := range logFiles {
			if strings.HasSuffix(f, "-rollout-"+pod+".log") {
				path = f
			}
		}
		if path == "" {
			t.Errorf("old pod %s: no log captured during the roll", pod)
			continue
		}
		var draining, stopped, stepped time.Time
		for _, e := range readPodLog(t, path) {
			switch e.msg {
			case "draining":
				draining = e.at
			case "sequencer: stepped down":
				stepped = e.at
			case "stopped":
				stopped = e.at
			case "drain timed out; closing the remaining connections":
				t.Errorf("old pod %s: its drain timed out and cut requests off (%s)", pod, path)
			}
		}
		if draining.IsZero() || stopped.IsZero() || stopped.Before(draining) {
			t.Errorf("old pod %s: no \"draining\" then \"stopped\" in its log (%s)", pod, path)
			continue
		}
		took := stopped.Sub(draining)
		if took > drainLimit {
			t.Errorf("old pod %s: drained in %s, past the %s SIGTERM leaves it", pod, took, drainLimit)
		}
		note := "was not leading"
		if !stepped.IsZero() && !stepped.Before(draining) && !stepped.After(stopped) {
			steppedDown++
			note = "handed the sequencer over " + stepped.Sub(draining).Round(time.Millisecond).String() + " after SIGTERM"
		}
		t.Logf("old pod %s: SIGTERM to exit %s, %s", pod, took.Round(time.Millisecond), note)
	}
	if steppedDown == 0 {
		t.Errorf("no replaced pod handed the sequencer over while stopping; the leader at the start of the roll was one of them")
	}
}
