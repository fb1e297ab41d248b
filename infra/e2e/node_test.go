//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// smokeNS is the namespace of the real node's smoke pods; it enforces the
// "restricted" Pod Security level, like the exchange's namespace.
const smokeNS = "e2e-node-smoke"

// TestRealNode proves the cluster's real node: a kubelet registered with
// the apiserver runs containers of a locally assembled image under
// containerd (the sandbox is the locally built pause image), a real
// readiness probe makes a pod Ready, kube-proxy and CoreDNS take another
// pod to it through a Service by its cluster DNS name, and the apiserver
// reads container logs from the kubelet (what `kubectl logs` does).
func TestRealNode(t *testing.T) {
	tm := newTimings(t)
	ctx := context.Background()
	kube := env.kube

	tm.step("node: the kubelet's node is Ready, untainted, with its pod CIDR", func() {
		n, err := kube.CoreV1().Nodes().Get(ctx, env.realNode, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("node %s: %v", env.realNode, err)
		}
		v, err := kube.Discovery().ServerVersion()
		if err != nil {
			t.Fatal(err)
		}
		c := checker{t, "node " + env.realNode}
		c.holds("condition Ready", nodeReady(n))
		c.eq("podCIDR", n.Spec.PodCIDR, "10.244.0.0/24")
		c.eq("kubelet version", n.Status.NodeInfo.KubeletVersion, v.GitVersion)
		c.eq("kube-proxy version", n.Status.NodeInfo.KubeProxyVersion, "") // deprecated field, left empty
		c.holds("runtime containerd ("+n.Status.NodeInfo.ContainerRuntimeVersion+")",
			strings.HasPrefix(n.Status.NodeInfo.ContainerRuntimeVersion, "containerd://1.6."))
		// The program's pods carry no toleration, as on minikube: the node
		// must take them (the node controller's not-ready taint goes
		// shortly after Ready).
		eventually(t, 30*time.Second, "node "+env.realNode+" has no taints", func() error {
			n, err := kube.CoreV1().Nodes().Get(ctx, env.realNode, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(n.Spec.Taints) > 0 {
				return fmt.Errorf("taints %v", n.Spec.Taints)
			}
			return nil
		})
		nodes, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c.eq("nodes in the cluster", len(nodes.Items), 1)
	})

	tm.step("namespace "+smokeNS+" (restricted)", func() {
		createNamespace(t, smokeNS)
	})
	t.Cleanup(func() { deleteNamespace(t, smokeNS) })

	var server *corev1.Pod
	tm.step("server pod Ready through its readiness probe", func() {
		p := smokePod("echo", []string{"serve"}, corev1.RestartPolicyAlways)
		p.Labels = map[string]string{"app": "echo"}
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
		p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("http")}},
			PeriodSeconds: 1, FailureThreshold: 3,
		}
		if _, err := kube.CoreV1().Pods(smokeNS).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		server = waitPod(t, smokeNS, "echo", func(p *corev1.Pod) bool { return podReady(p) })
		c := checker{t, "pod echo"}
		c.eq("node", server.Spec.NodeName, env.realNode)
		_, podNet, _ := net.ParseCIDR("10.244.0.0/24")
		c.holds("pod IP "+server.Status.PodIP+" in the node's pod CIDR", podNet.Contains(net.ParseIP(server.Status.PodIP)))
		cs := server.Status.ContainerStatuses[0]
		c.holds("container running", cs.State.Running != nil)
		c.holds("container ID from containerd ("+cs.ContainerID+")", strings.HasPrefix(cs.ContainerID, "containerd://"))
		c.eq("image", cs.Image, env.podImage)
	})

	var svcIP string
	tm.step("Service echo has the pod as a ready endpoint", func() {
		svc, err := kube.CoreV1().Services(smokeNS).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "echo"},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": "echo"},
				Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		svcIP = svc.Spec.ClusterIP
		eventually(t, time.Minute, "an EndpointSlice of echo with the pod ready", func() error {
			return readyEndpoint(smokeNS, "echo", server.Status.PodIP)
		})
	})

	var client *corev1.Pod
	host := "echo." + smokeNS + ".svc.cluster.local"
	tm.step("client pod reaches it by cluster DNS name through the Service", func() {
		p := smokePod("client", []string{"get", "http://" + host + "/"}, corev1.RestartPolicyNever)
		if _, err := kube.CoreV1().Pods(smokeNS).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		client = waitPod(t, smokeNS, "client", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
		})
		if client.Status.Phase != corev1.PodSucceeded {
			t.Fatalf("client pod %s; its log:\n%s", client.Status.Phase, podLog(t, "client"))
		}
		checker{t, "pod client"}.eq("node", client.Spec.NodeName, env.realNode)
	})

	tm.step("logs through the apiserver (kubectl logs)", func() {
		got := podLog(t, "client")
		t.Logf("client log:\n%s", got)
		for _, want := range []string{
			fmt.Sprintf("resolved %s to [%s]", host, svcIP),
			"200 OK: hello from echo",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("client log lacks %q:\n%s", want, got)
			}
		}
		got = podLog(t, "echo")
		t.Logf("server log:\n%s", got)
		// The kubelet's prober, and the client pod itself (kube-proxy does
		// not masquerade traffic from inside the cluster CIDR).
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`readyz from \S+ user-agent "kube-probe/1\.35`),
			regexp.MustCompile(`GET / from ` + regexp.QuoteMeta(client.Status.PodIP) + `:\d+ user-agent "Go-http-client`),
		} {
			if !want.MatchString(got) {
				t.Errorf("server log does not match %s:\n%s", want, got)
			}
		}
	})

	tm.step("exec in the server's container through the apiserver (kubectl exec)", func() {
		stdout, stderr, err := execInPod(env.rest, smokeNS, "echo", "echo", []string{"/podbin", "get", "http://127.0.0.1:8080/"})
		if err != nil {
			t.Fatalf("exec: %v\n%s", err, execLine(stdout, stderr))
		}
		if !strings.Contains(stdout, "200 OK: hello from echo") {
			t.Errorf("exec output lacks the server's answer:\n%s", execLine(stdout, stderr))
		}
	})

	tm.step("cluster DNS: the kube-dns Service at the kubelet's clusterDNS", func() {
		svc, err := kube.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		checker{t, "service kube-system/kube-dns"}.eq("clusterIP", svc.Spec.ClusterIP, env.clusterDNS)
	})
}

// smokePod is a pod of the smoke image on the real node, under the
// "restricted" Pod Security level: non-root, no privilege escalation, no
// capabilities, RuntimeDefault seccomp, a read-only root file system, and
// CPU and memory limits (the kubelet's cgroups).
func smokePod(name string, args []string, restart corev1.RestartPolicy) *corev1.Pod {
	no, yes := false, true
	grace := int64(5)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeSelector:                  map[string]string{"kubernetes.io/hostname": env.realNode},
			RestartPolicy:                 restart,
			AutomountServiceAccountToken:  &no,
			TerminationGracePeriodSeconds: &grace,
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   &yes,
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:            name,
				Image:           env.podImage,
				ImagePullPolicy: corev1.PullNever, // assembled locally; no registry
				Args:            args,
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: &no,
					ReadOnlyRootFilesystem:   &yes,
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				},
			}},
		},
	}
}

// waitPod waits up to two minutes for the pod to satisfy done; on timeout
// it fails with the pod's status and events.
func waitPod(t *testing.T, ns, name string, done func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		p, err := env.kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && done(p) {
			return p
		}
		if time.Now().After(deadline) {
			var status any = err
			if err == nil {
				status = p.Status
			}
			t.Fatalf("pod %s/%s: not there after 2m: %+v\nevents:\n%s", ns, name, status, podEvents(ns, name))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func podEvents(ns, name string) string {
	evs, err := env.kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{
		FieldSelector: "involvedObject.name=" + name,
	})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, e := range evs.Items {
		fmt.Fprintf(&b, "  %s %s: %s\n", e.Type, e.Reason, e.Message)
	}
	return b.String()
}

// podLog reads a container's log through the apiserver, which fetches it
// from the kubelet over TLS with its client certificate (kubectl logs).
func podLog(t *testing.T, name string) string {
	t.Helper()
	raw, err := env.kube.CoreV1().Pods(smokeNS).GetLogs(name, &corev1.PodLogOptions{}).Do(context.Background()).Raw()
	if err != nil {
		t.Fatalf("logs of pod %s/%s: %v", smokeNS, name, err)
	}
	return string(raw)
}

func readyEndpoint(ns, svc, ip string) error {
	slices, err := env.kube.DiscoveryV1().EndpointSlices(ns).List(context.Background(), metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + svc,
	})
	if err != nil {
		return err
	}
	for _, s := range slices.Items {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && *ep.Conditions.Ready && len(ep.Addresses) > 0 && ep.Addresses[0] == ip {
				return nil
			}
		}
	}
	return fmt.Errorf("no ready endpoint %s in %d slices", ip, len(slices.Items))
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// createNamespace makes a namespace of the test's, at the "restricted"
// Pod Security level like the exchange's.
func createNamespace(t *testing.T, ns string) {
	t.Helper()
	_, err := env.kube.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   ns,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// deletePod deletes a pod at once and waits until it is gone.
func deletePod(t *testing.T, ns, name string) {
	t.Helper()
	ctx := context.Background()
	now := int64(0)
	if err := env.kube.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &now}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete pod %s/%s: %v", ns, name, err)
		return
	}
	eventually(t, time.Minute, "pod "+ns+"/"+name+" gone", func() error {
		_, err := env.kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("still there")
	})
}

// deleteNamespace deletes ns and waits until it is gone: the kubelet has
// stopped its pods' containers and torn down their sandboxes.
func deleteNamespace(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	if err := env.kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete namespace %s: %v", ns, err)
		return
	}
	eventually(t, 2*time.Minute, "namespace "+ns+" gone", func() error {
		_, err := env.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("still there")
	})
}
