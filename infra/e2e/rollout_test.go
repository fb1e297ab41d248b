//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/crypto-exchange/exchange/infra/platform"
)

// appImageNext is the exchange image under its second tag (the node has
// it from start, cluster-node.sh): the rolling update's target. Set by
// setup.
var appImageNext string

// The rolling update's load: one request every 200 ms (5/s), alternately a
// balance read and a resting limit buy far below the last trade (40000 <
// 50000, so it never crosses), each holding 4 USDT.
const (
	rollInterval = 200 * time.Millisecond
	rollPrice    = "40000"
	rollQty      = "0.0001"
	rollHold     = "4"
)

// slowRequest is how long a request may take before the log names it.
const slowRequest = time.Second

// rollLoad counts what the trader saw during the roll.
type rollLoad struct {
	mu         sync.Mutex
	sent       int
	reads      int
	orders     map[string]string // client_order_id → order id, acknowledged
	retries    int
	failures   []string
	notes      []string // retries and slow requests, with their cause
	maxLatency time.Duration
}

func (l *rollLoad) note(format string, args ...any) {
	l.mu.Lock()
	l.notes = append(l.notes, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *rollLoad) fail(format string, args ...any) {
	l.mu.Lock()
	l.failures = append(l.failures, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

// assertRollUnderLoad moves app.image to the second tag with an up while a
// trader reads balances and places orders through the exchange Service,
// and checks that no request failed, that every acknowledged order is
// held on the account, and that both pods end up on the new tag. Reads get
// no retry: a refused or reset connection during the roll is a failure.
// Orders get the retry the API documents (the same client_order_id
// after a 503 or a broken connection: the outcome was unknown), which the
// leader's hand-over may need; retries are counted and logged.
func assertRollUnderLoad(t *testing.T, st auto.Stack, cfg stackConfig) {
	t.Helper()
	ctx := context.Background()
	next := imageConfig(t, appImageNext)
	if next["repository"] != imageConfig(t, appImage)["repository"] {
		t.Fatalf("the second tag %q is not the same repository as %q", appImageNext, appImage)
	}
	cfg.set(t, "exchange:app", "image", next)
	if err := st.SetConfig(ctx, "exchange:app", cfg.value("exchange:app")); err != nil {
		t.Fatal(err)
	}
	oldPods := map[string]bool{}
	pods, err := env.kube.CoreV1().Pods(appNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=server"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		oldPods[p.Name] = true
	}

	tr := signUpTrader(t, "roller")
	tr.deposit("USDT", "10000")

	load := &rollLoad{orders: map[string]string{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { load.run(tr, stop) })
	logs := followServerLogs(stop)
	t.Logf("rolling update: load started %s", time.Now().Format("15:04:05.000"))
	loadStart := time.Now()
	stopLoad := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}
	defer stopLoad()

	log := env.engineLog(t, "up-new-tag")
	upStart := time.Now()
	res, steps, err := upSteps(t, st, log)
	if err != nil {
		t.Fatalf("up (image %s): %v\n%s", appImageNext, err, log.tail())
	}
	upTook := time.Since(upStart)
	if !slices.Contains(steps, "done update "+depStep) {
		t.Errorf("the up did not update the Deployment in place: %v", steps)
	}
	// The engine waited for the rollout; the old pods may still be
	// draining (preStop, then SIGTERM), and the load goes on until they
	// are gone.
	eventually(t, settle, "only new-tag pods, Ready, 2 of them", func() error {
		pods, err := env.kube.CoreV1().Pods(appNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=server"})
		if err != nil {
			return err
		}
		var bad []string
		for _, p := range pods.Items {
			if img := p.Spec.Containers[0].Image; img != appImageNext || !podReady(&p) || p.DeletionTimestamp != nil {
				bad = append(bad, fmt.Sprintf("%s (%s, ready %v, deleting %v)", p.Name, img, podReady(&p), p.DeletionTimestamp != nil))
			}
		}
		if len(bad) > 0 || len(pods.Items) != 2 {
			return fmt.Errorf("%d pods, not yet on %s: %v", len(pods.Items), appImageNext, bad)
		}
		return nil
	})
	time.Sleep(2 * time.Second) // a few requests on the new pair
	stopLoad()
	loadTook := time.Since(loadStart)

	load.mu.Lock()
	defer load.mu.Unlock()
	t.Logf("rolling update to %s: up %.1fs (%v); load %.1fs: %d requests sent, %d reads, %d orders acknowledged, %d order retries, %d failures, slowest request %s",
		appImageNext, upTook.Seconds(), *res.Summary.ResourceChanges, loadTook.Seconds(), load.sent, load.reads, len(load.orders), load.retries, len(load.failures), load.maxLatency.Round(time.Millisecond))
	podLogs := logs()
	if len(load.notes) > 0 {
		t.Logf("rolling update: retries and requests slower than %s:\n  %s\nthe server pods' logs during the roll: %s",
			slowRequest, strings.Join(load.notes, "\n  "), strings.Join(podLogs, " "))
	}
	assertDrained(t, oldPods, podLogs)
	if len(load.failures) > 0 {
		t.Errorf("%d requests failed during the rolling update, e.g. %v", len(load.failures), load.failures[:min(5, len(load.failures))])
	}
	// At 5/s for the whole up (tens of seconds) far more: this only
	// catches a load that never ran.
	if load.reads+len(load.orders) < 20 {
		t.Errorf("only %d requests succeeded during the roll: the load tested little", load.reads+len(load.orders))
	}
	// Every acknowledged order is on the book: its hold is on the account.
	held := tr.balances()["USDT"][1]
	want := new(big.Rat).Mul(big.NewRat(int64(len(load.orders)), 1), mustRat(t, rollHold))
	if got := mustRat(t, held); got.Cmp(want) != 0 {
		t.Errorf("USDT held after the roll %s, want %s (%d acknowledged orders × %s)", held, want.FloatString(2), len(load.orders), rollHold)
	}

	dep := env.deployment(t, appNS, "exchange")
	checker{t, "deployment exchange after the roll"}.eq("image", dep.Spec.Template.Spec.Containers[0].Image, appImageNext)
	if err := deploymentAvailable(dep, 2); err != nil {
		t.Errorf("deployment exchange after the roll: %v", err)
	}
	pods, err = env.kube.CoreV1().Pods(appNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=server"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		c := checker{t, "server pod " + p.Name + " after the roll"}
		c.holds("a new pod", !oldPods[p.Name])
		c.eq("node", p.Spec.NodeName, env.realNode)
		c.eq("image", p.Spec.Containers[0].Image, appImageNext)
		c.holds("Ready", podReady(&p))
		if len(p.Status.ContainerStatuses) == 1 {
			c.eq("restarts", p.Status.ContainerStatuses[0].RestartCount, 0)
		}
	}
	// A new image is a new migration Job: its name hashes the image.
	job, err := env.kube.BatchV1().Jobs(appNS).Get(ctx, platform.MigrationJobName(appImageNext), metav1.GetOptions{})
	if err != nil || !jobComplete(job) {
		t.Errorf("migration job for %s: not complete (%v)", appImageNext, err)
	}
}

// followServerLogs copies the log of every server pod that exists during
// the roll, old and new, into the engine log directory until stop (an old
// pod's log goes with the pod): what a retry or a slow request is read
// against. It returns a function listing the files, which first rewrites
// those of the pods still there from their whole log: the kubelet's
// follow stream lagged seconds behind on the loaded machine, and the
// requests at the end were missing.
func followServerLogs(stop <-chan struct{}) func() []string {
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var followers sync.WaitGroup
	watched := make(chan struct{})
	files := map[string]string{}
	follow := func(pod string) {
		path := filepath.Join(env.logDir, time.Now().Format("150405.000")+"-rollout-"+pod+".log")
		f, err := os.Create(path)
		if err != nil {
			return
		}
		defer f.Close()
		mu.Lock()
		files[pod] = path
		mu.Unlock()
		// The container may not have started yet: retry until it has.
		for ctx.Err() == nil {
			rc, err := env.kube.CoreV1().Pods(appNS).GetLogs(pod, &corev1.PodLogOptions{Follow: true, Timestamps: true}).Stream(ctx)
			if err == nil {
				_, _ = io.Copy(f, rc)
				_ = rc.Close()
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	go func() {
		defer close(watched)
		defer cancel()
		for {
			pods, err := env.kube.CoreV1().Pods(appNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=server"})
			if err == nil {
				for _, p := range pods.Items {
					mu.Lock()
					_, seen := files[p.Name]
					if !seen {
						files[p.Name] = ""
					}
					mu.Unlock()
					if !seen {
						followers.Go(func() { follow(p.Name) })
					}
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	return func() []string {
		<-watched
		followers.Wait()
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for pod, f := range files {
			if f == "" {
				continue
			}
			out = append(out, f)
			raw, err := env.kube.CoreV1().Pods(appNS).GetLogs(pod, &corev1.PodLogOptions{Timestamps: true}).Do(context.Background()).Raw()
			if err == nil {
				_ = os.WriteFile(f, raw, 0o600)
			}
		}
		slices.Sort(out)
		return out
	}
}

// run starts one request per tick until stop, each in a goroutine of its
// own, so a stalled request does not lower the rate; it returns when the
// last one has answered.
func (l *rollLoad) run(tr *apiTrader, stop <-chan struct{}) {
	tick := time.NewTicker(rollInterval)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		l.mu.Lock()
		l.sent++
		l.mu.Unlock()
		wg.Go(func() {
			if i%2 == 0 {
				l.read(tr, i)
			} else {
				l.order(tr, fmt.Sprintf("roll-%d", i))
			}
		})
	}
}

// timed sends one request and keeps its latency.
func (l *rollLoad) timed(tr *apiTrader, what, method, path string, in any) (int, []byte, error) {
	start := time.Now()
	status, raw, err := tr.send(method, path, in)
	took := time.Since(start)
	l.mu.Lock()
	l.maxLatency = max(l.maxLatency, took)
	l.mu.Unlock()
	if took > slowRequest {
		l.note("%s took %s: %d %.120s %v", what, took.Round(time.Millisecond), status, raw, err)
	}
	return status, raw, err
}

func (l *rollLoad) read(tr *apiTrader, i int) {
	status, raw, err := l.timed(tr, fmt.Sprintf("read %d", i), http.MethodGet, "/api/v1/balances", nil)
	if err != nil || status != http.StatusOK {
		l.fail("read %d: %d %s %v", i, status, raw, err)
		return
	}
	l.mu.Lock()
	l.reads++
	l.mu.Unlock()
}

func (l *rollLoad) order(tr *apiTrader, id string) {
	body := map[string]any{
		"market": "BTC-USDT", "side": "buy", "type": "limit", "price": rollPrice, "quantity": rollQty,
		"client_order_id": id,
	}
	var status int
	var raw []byte
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if attempt > 0 {
			l.mu.Lock()
			l.retries++
			l.mu.Unlock()
			time.Sleep(100 * time.Millisecond)
		}
		status, raw, err = l.timed(tr, fmt.Sprintf("order %s (attempt %d)", id, attempt+1), http.MethodPost, "/api/v1/orders", body)
		if !orderRetryable(status, err) {
			break
		}
		l.note("order %s (attempt %d): retryable %d %.120s %v", id, attempt+1, status, raw, err)
	}
	if err != nil || (status != http.StatusCreated && status != http.StatusOK) {
		l.fail("order %s: %d %s %v", id, status, raw, err)
		return
	}
	var o apiOrder
	if err := json.Unmarshal(raw, &o); err != nil || o.ID == "" || o.Status != "open" {
		l.fail("order %s: answered %s (%v), want an open order", id, raw, err)
		return
	}
	l.mu.Lock()
	l.orders[id] = o.ID
	l.mu.Unlock()
}

// orderRetryable is what the API documents as safe to send again with the
// same client_order_id: the connection failed, or the outcome is unknown
// (503). The service's own rollout test uses the same rule.
func orderRetryable(status int, err error) bool {
	var op *net.OpError
	return err != nil && (errors.As(err, &op) || strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "connection reset")) ||
		status == http.StatusServiceUnavailable
}

func mustRat(t *testing.T, s string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("%q is not a decimal", s)
	}
	return r
}
