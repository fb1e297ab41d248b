//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// strangerNS holds the probe pod that no policy admits.
const strangerNS = "e2e-netpol-stranger"

// netpolProbe is a pod that tries the exchange server's two ports from a
// peer's place: a namespace and the pod labels a policy names.
type netpolProbe struct {
	name, ns string
	labels   map[string]string
	admitted int32 // the one port the policy admits it to; 0: none
}

// assertPoliciesEnforced proves that the program's NetworkPolicies are
// enforced on the node (kube-router, started with it), not only
// stored: a pod with the ingress controller's labels in its namespace
// reaches the server's public port and not its internal one, a pod with
// Prometheus' labels in its namespace the internal port and not the public
// one, and a pod of any other namespace neither. The peers and ports are
// read from the program's exchange-server-ingress policy. The exchange's
// own traffic (the replicas' forwarding, PostgreSQL, the migration and
// backup Jobs) ran under the same enforcement in the steps before.
func assertPoliciesEnforced(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	pol, err := env.kube.NetworkingV1().NetworkPolicies(appNS).Get(ctx, "exchange-server-ingress", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	probes := []netpolProbe{{name: "stranger", ns: strangerNS}}
	for _, r := range pol.Spec.Ingress {
		for _, from := range r.From {
			if from.NamespaceSelector == nil || from.PodSelector == nil {
				continue // the server pods' own rule: the rollout proves it
			}
			ns := from.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]
			probes = append(probes, netpolProbe{
				name:     "netpol-" + ns,
				ns:       ns,
				labels:   maps.Clone(from.PodSelector.MatchLabels),
				admitted: r.Ports[0].Port.IntVal,
			})
		}
	}
	if len(probes) != 3 {
		t.Fatalf("exchange-server-ingress names %d peers with a namespace, want 2 (the ingress controller, Prometheus)", len(probes)-1)
	}
	ports := []int32{probes[1].admitted, probes[2].admitted}
	slices.Sort(ports)

	server := readyServerPod(t)
	createNamespace(t, strangerNS)
	for _, p := range probes {
		pod := smokePod(p.name, []string{"serve"}, corev1.RestartPolicyAlways)
		pod.Labels = p.labels
		if _, err := env.kube.CoreV1().Pods(p.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("probe pod %s/%s: %v", p.ns, p.name, err)
		}
		// Gone before the step ends: the program's destroy must not find
		// pods of the test in its namespaces.
		defer deletePod(t, p.ns, p.name)
	}
	defer deleteNamespace(t, strangerNS)
	for _, p := range probes {
		waitPod(t, p.ns, p.name, func(pod *corev1.Pod) bool { return pod.Status.Phase == corev1.PodRunning })
	}

	// Every probe tries both ports at once.
	type try struct {
		p        netpolProbe
		port     int32
		out      string
		err      error
		looked   time.Duration
		attempts int
	}
	var tries []*try
	var wg sync.WaitGroup
	for _, p := range probes {
		for _, port := range ports {
			tr := &try{p: p, port: port}
			tries = append(tries, tr)
			wg.Go(func() {
				url := fmt.Sprintf("http://%s:%d/healthz", server.Status.PodIP, port)
				start := time.Now()
				// kube-router adds a new pod to the policy's peers on the
				// pod's update event: an admitted peer may be refused for
				// a moment first, so it retries (20 s at most). A denial
				// needs one try: a pod no rule names is refused whether
				// or not kube-router has seen it yet.
				for {
					tr.attempts++
					stdout, stderr, err := execInPod(env.rest, p.ns, p.name, p.name, []string{"/podbin", "try", url, "3s"})
					tr.looked, tr.out, tr.err = time.Since(start), execLine(stdout, stderr), err
					if err == nil || port != p.admitted || tr.looked > 20*time.Second {
						return
					}
					time.Sleep(500 * time.Millisecond)
				}
			})
		}
	}
	wg.Wait()
	for _, tr := range tries {
		what := fmt.Sprintf("%s/%s %v → %s port %d", tr.p.ns, tr.p.name, tr.p.labels, server.Name, tr.port)
		switch {
		case tr.port == tr.p.admitted && (tr.err != nil || !strings.Contains(tr.out, "200 OK")):
			t.Errorf("%s: admitted by the policy, but: %v\n%s", what, tr.err, tr.out)
		case tr.port != tr.p.admitted && tr.err == nil:
			t.Errorf("%s: the policy admits no such connection, yet it answered:\n%s", what, tr.out)
		case tr.port != tr.p.admitted && !strings.Contains(tr.out, "connection refused"):
			// kube-router rejects (ICMP port unreachable): a refusal at
			// once. The same port answers the admitted peer, so it is
			// the policy, not a closed port.
			t.Errorf("%s: failed, but not refused:\n%s", what, tr.out)
		case tr.port == tr.p.admitted:
			t.Logf("%s: admitted in %s (try %d)", what, tr.looked.Round(time.Millisecond), tr.attempts)
		default:
			t.Logf("%s: refused in %s (%s)", what, tr.looked.Round(time.Millisecond), tr.out)
		}
	}
}

// readyServerPod is a Ready pod of the exchange server.
func readyServerPod(t *testing.T) *corev1.Pod {
	t.Helper()
	pods, err := env.kube.CoreV1().Pods(appNS).List(context.Background(), metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/name=exchange,app.kubernetes.io/component=server",
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range pods.Items {
		if podReady(&pods.Items[i]) && pods.Items[i].Status.PodIP != "" {
			return &pods.Items[i]
		}
	}
	t.Fatalf("no Ready exchange server pod among %d", len(pods.Items))
	return nil
}

// assertPolicyObjects: the program's NetworkPolicies, rule by rule, as the
// API server stored them (assertPoliciesEnforced tries them).
func assertPolicyObjects(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	kube := env.kube
	s3 := mustURL(t, env.s3URL)
	policies, err := kube.NetworkingV1().NetworkPolicies(appNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, p := range policies.Items {
		names[p.Name] = true
		if p.Name == "exchange-backup-egress" {
			var ports []string
			for _, r := range p.Spec.Egress {
				for _, port := range r.Ports {
					ports = append(ports, port.Port.String())
				}
			}
			slices.Sort(ports)
			if want := []string{s3.Port(), "443"}; !slices.Equal(ports, sortedCopy(want)) {
				t.Errorf("networkpolicy exchange-backup-egress: ports %v, want %v (443 and the store's)", ports, want)
			}
		}
		if p.Name == "default-deny" && (len(p.Spec.PodSelector.MatchLabels) != 0 || len(p.Spec.PolicyTypes) != 2) {
			t.Errorf("networkpolicy default-deny does not deny all: %+v", p.Spec)
		}
		if p.Name == "exchange-server-ingress" {
			// The controller to the public port; Prometheus and the other
			// server pods to the internal one.
			var rules []string
			for _, r := range p.Spec.Ingress {
				var ports []string
				for _, port := range r.Ports {
					ports = append(ports, port.Port.String())
				}
				for _, from := range r.From {
					ns, name := "", ""
					if from.NamespaceSelector != nil {
						ns = from.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]
					}
					if from.PodSelector != nil {
						name = from.PodSelector.MatchLabels["app.kubernetes.io/name"]
					}
					rules = append(rules, fmt.Sprintf("%s/%s→%s", ns, name, strings.Join(ports, ",")))
				}
			}
			if want := []string{"ingress/nginx-ingress→8080", "monitoring/prometheus→9090", "/exchange→9090"}; !slices.Equal(rules, want) {
				t.Errorf("networkpolicy exchange-server-ingress admits %v, want %v", rules, want)
			}
		}
		if p.Name == "exchange-server-peer-egress" {
			var ports []string
			for _, r := range p.Spec.Egress {
				for _, port := range r.Ports {
					ports = append(ports, port.Port.String())
				}
			}
			if !slices.Equal(ports, []string{"9090"}) {
				t.Errorf("networkpolicy exchange-server-peer-egress: ports %v, want 9090 (the internal listener)", ports)
			}
		}
	}
	for _, n := range []string{"default-deny", "exchange-server-ingress", "exchange-server-peer-egress", "exchange-database-egress", "exchange-backup-egress"} {
		if !names[n] {
			t.Errorf("networkpolicy %s missing (have %v)", n, keysOf(names))
		}
	}

}
