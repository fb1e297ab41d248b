//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

// timings are printed as one line per step, and again as a summary.
type timings struct {
	t     *testing.T
	start time.Time
	steps []string
}

func newTimings(t *testing.T) *timings {
	tm := &timings{t: t, start: time.Now()}
	t.Cleanup(func() {
		fmt.Printf("e2e %s timings:\n", t.Name())
		for _, s := range tm.steps {
			fmt.Println("  " + s)
		}
		fmt.Printf("  %-52s %6.1fs\n", "total", time.Since(tm.start).Seconds())
	})
	return tm
}

// step runs one step and prints how long it took, also when it fails.
func (tm *timings) step(name string, f func()) {
	tm.t.Helper()
	start := time.Now()
	done := false
	defer func() {
		status := "ok"
		if !done || tm.t.Failed() {
			status = "FAILED"
		}
		line := fmt.Sprintf("%-52s %6.1fs %s", name, time.Since(start).Seconds(), status)
		tm.steps = append(tm.steps, line)
		fmt.Println("e2e step " + line)
	}()
	f()
	done = true
	if tm.t.Failed() {
		tm.t.FailNow()
	}
}

// previewSteps runs a preview and returns each resource's planned
// operation by URN, and the summary.
func previewSteps(t *testing.T, st auto.Stack, log *engineLog, opts ...optpreview.Option) (map[string]apitype.OpType, map[apitype.OpType]int, error) {
	t.Helper()
	ch := make(chan events.EngineEvent)
	ops := map[string]apitype.OpType{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range ch {
			if ev.ResourcePreEvent != nil {
				ops[ev.ResourcePreEvent.Metadata.URN] = ev.ResourcePreEvent.Metadata.Op
			}
		}
	}()
	opts = append(opts, optpreview.ProgressStreams(log.f), optpreview.EventStreams(ch))
	res, err := st.Preview(context.Background(), opts...)
	<-done
	return ops, res.ChangeSummary, err
}

// changed lists the resources a preview would touch, "op type::name".
func changed(ops map[string]apitype.OpType) []string {
	var out []string
	for urn, op := range ops {
		if op != apitype.OpSame && op != apitype.OpRead {
			out = append(out, fmt.Sprintf("%s %s", op, urnTypeName(urn)))
		}
	}
	slices.Sort(out)
	return out
}

// upSteps runs an up and returns, in the engine's order, one entry per
// resource step as it started ("start <op> type::name") and as it finished
// ("done <op> type::name").
func upSteps(t *testing.T, st auto.Stack, log *engineLog) (auto.UpResult, []string, error) {
	t.Helper()
	ch := make(chan events.EngineEvent)
	var steps []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range ch {
			switch {
			case ev.ResourcePreEvent != nil && !ev.ResourcePreEvent.Planning:
				m := ev.ResourcePreEvent.Metadata
				steps = append(steps, fmt.Sprintf("start %s %s", m.Op, urnTypeName(m.URN)))
			case ev.ResOutputsEvent != nil && !ev.ResOutputsEvent.Planning:
				m := ev.ResOutputsEvent.Metadata
				steps = append(steps, fmt.Sprintf("done %s %s", m.Op, urnTypeName(m.URN)))
			}
		}
	}()
	res, err := st.Up(context.Background(), optup.ProgressStreams(log.f), optup.EventStreams(ch))
	<-done
	return res, steps, err
}

// requireBefore fails unless step first occurs, and occurs before step then.
func requireBefore(t *testing.T, steps []string, first, then string) {
	t.Helper()
	i, j := slices.Index(steps, first), slices.Index(steps, then)
	if i < 0 || j < 0 || i > j {
		t.Errorf("want %q before %q; the engine's steps were:\n  %s", first, then, strings.Join(steps, "\n  "))
	}
}

// The server's HPA and Deployment as changed() and upSteps name them.
const (
	hpaStep = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler::exchange"
	depStep = "kubernetes:apps/v1:Deployment::exchange"
)

// urnTypeName is "type::name" of a URN (urn:pulumi:stack::project::type::name).
func urnTypeName(urn string) string {
	parts := strings.SplitN(urn, "::", 3)
	if len(parts) < 3 {
		return urn
	}
	typ := parts[2]
	if i := strings.LastIndex(typ, "$"); i >= 0 {
		typ = typ[i+1:]
	}
	return typ
}

// stackResourceTypes are the types of the resources in a stack's state.
func stackResourceTypes(t *testing.T, st auto.Stack) []string {
	t.Helper()
	dep, err := st.Export(context.Background())
	if err != nil {
		t.Fatalf("export stack: %v", err)
	}
	var d apitype.DeploymentV3
	if len(dep.Deployment) > 0 {
		if err := json.Unmarshal(dep.Deployment, &d); err != nil {
			t.Fatalf("decode stack state: %v", err)
		}
	}
	var out []string
	for _, r := range d.Resources {
		out = append(out, string(r.Type))
	}
	return out
}
