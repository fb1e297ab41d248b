//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	serviceMonitors = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"}
	prometheusRules = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "prometheusrules"}
	crds            = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// ourNamespaces are the namespaces of the dev stack and the Pod Security
// level each enforces.
var ourNamespaces = map[string]string{
	"exchange":   "restricted",
	"ingress":    "baseline",
	"database":   "baseline",
	"monitoring": "privileged",
	"logging":    "baseline",
}

// eventually retries check until it passes or the time is up.
func eventually(t *testing.T, limit time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, limit, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// holds fails the test as soon as check fails within the time given, and
// passes if it never does (what eventually has reached must stay).
func holds(t *testing.T, limit time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if err := check(); err != nil {
			t.Fatalf("%s: failed within %s: %v", what, limit, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checker collects failed expectations of one object so a test reports
// every mismatch at once.
type checker struct {
	t    *testing.T
	what string
}

func (c checker) eq(field string, got, want any) {
	c.t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		c.t.Errorf("%s: %s = %v, want %v", c.what, field, got, want)
	}
}

func (c checker) holds(field string, ok bool) {
	c.t.Helper()
	if !ok {
		c.t.Errorf("%s: %s does not hold", c.what, field)
	}
}

func (e *environment) deployment(t *testing.T, ns, name string) *appsv1.Deployment {
	t.Helper()
	d, err := e.kube.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("deployment %s/%s: %v", ns, name, err)
	}
	return d
}

// deploymentAvailable: the rollout is complete and every replica is ready.
func deploymentAvailable(d *appsv1.Deployment, replicas int32) error {
	if d.Spec.Replicas == nil {
		return fmt.Errorf("spec.replicas is unset, want %d", replicas)
	}
	if *d.Spec.Replicas != replicas {
		return fmt.Errorf("spec.replicas = %d, want %d", *d.Spec.Replicas, replicas)
	}
	s := d.Status
	if s.ObservedGeneration < d.Generation || s.UpdatedReplicas != replicas || s.ReadyReplicas != replicas ||
		s.AvailableReplicas != replicas || s.Replicas != replicas {
		return fmt.Errorf("status %+v", s)
	}
	for _, c := range s.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			return nil
		}
	}
	return fmt.Errorf("condition Available is not True: %+v", s.Conditions)
}

func jobComplete(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func envOf(c corev1.Container) map[string]corev1.EnvVar {
	out := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		out[e.Name] = e
	}
	return out
}

func secretRef(e corev1.EnvVar) string {
	if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		return ""
	}
	return e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
}

func (e *environment) custom(t *testing.T, gvr schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u, err := e.dyn.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s %s/%s: %v", gvr.Resource, ns, name, err)
	}
	return u
}

// leftovers lists every object of ours still in the cluster: our
// namespaces (in any phase), the fixture CRDs and IngressClass.
func (e *environment) leftovers() ([]string, error) {
	var out []string
	for ns := range ourNamespaces {
		n, err := e.kube.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, err
		default:
			out = append(out, fmt.Sprintf("namespace %s (%s)", ns, n.Status.Phase))
		}
	}
	labelled, err := e.kube.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/part-of=exchange-platform"})
	if err != nil {
		return nil, err
	}
	for _, n := range labelled.Items {
		if _, ours := ourNamespaces[n.Name]; !ours {
			out = append(out, "namespace "+n.Name)
		}
	}
	list, err := e.dyn.Resource(crds).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, c := range list.Items {
		if strings.HasSuffix(c.GetName(), ".monitoring.coreos.com") {
			out = append(out, "crd "+c.GetName())
		}
	}
	classes, err := e.kube.NetworkingV1().IngressClasses().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, c := range classes.Items {
		out = append(out, "ingressclass "+c.Name)
	}
	return out, nil
}
