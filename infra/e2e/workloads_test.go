//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/crypto-exchange/exchange/infra/platform"
)

// assertDatabase checks that the database the program wires really runs: the
// fixture chart's PostgreSQL 17 pod on the real node, Ready through the
// chart's pg_isready probe, and the application role logs in with the
// password of the Secret the program created, through the Service's cluster
// DNS name (the name in the exchange's DATABASE_URL); a wrong one is refused.
func assertDatabase(t *testing.T, sec testSecrets) {
	t.Helper()
	ctx := context.Background()
	const ns, pod, host = "database", "postgresql-0", "postgresql.database.svc.cluster.local"
	p, err := env.kube.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("pod %s/%s: %v", ns, pod, err)
	}
	c := checker{t, "pod " + ns + "/" + pod}
	c.eq("node", p.Spec.NodeName, env.realNode)
	c.holds("Ready (pg_isready)", podReady(p))
	if len(p.Status.ContainerStatuses) != 1 {
		t.Fatalf("pod %s/%s: %d container statuses", ns, pod, len(p.Status.ContainerStatuses))
	}
	cs := p.Status.ContainerStatuses[0]
	c.holds("container ID from containerd ("+cs.ContainerID+")", strings.HasPrefix(cs.ContainerID, "containerd://"))
	c.eq("image", cs.Image, env.postgresImage)
	c.eq("restarts", cs.RestartCount, 0)

	query := func(password string) (string, error) {
		// The password goes in through the environment of a shell in the
		// server's container, never through the exec's URL alone: psql
		// reads PGPASSWORD. TCP through the Service, so scram-sha-256.
		script := "PGPASSWORD='" + password + "' PGCONNECT_TIMEOUT=10 psql -X -At -h " + host +
			" -U exchange -d exchange -c " +
			`"SELECT current_user, current_setting('server_version_num')::int / 10000, rolcreatedb FROM pg_roles WHERE rolname = current_user"`
		stdout, stderr, err := execInPod(env.rest, ns, pod, "postgresql", []string{"/bin/sh", "-c", script})
		if err != nil {
			return "", fmt.Errorf("%v: %s", err, execLine(stdout, stderr))
		}
		return strings.TrimSpace(stdout), nil
	}
	var got string
	eventually(t, time.Minute, "psql to "+host+" as exchange with the Secret's password", func() error {
		got, err = query(sec.dbPassword)
		return err
	})
	// The user, the server's major version, and CREATEDB from the init
	// script the program passes (verify-backup needs it).
	c.eq("psql through the Service (user|major|createdb)", got, "exchange|17|t")
	if out, err := query(randomHex(16)); err == nil {
		t.Errorf("psql with a wrong password logged in: %s", out)
	} else if !strings.Contains(err.Error(), "password authentication failed") {
		t.Errorf("psql with a wrong password: want a password authentication failure, got %v", err)
	}
}

// assertMigrationPod checks the migration Job's pod: it ran on the real
// node, the image's migrate command exited 0, and it said so in its log.
func assertMigrationPod(t *testing.T, job string) {
	t.Helper()
	ctx := context.Background()
	pods, err := env.kube.CoreV1().Pods(appNS).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + job})
	if err != nil {
		t.Fatal(err)
	}
	succeeded := 0
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodSucceeded {
			continue
		}
		succeeded++
		if log, ok := finishedPod(t, "migration pod", &p); ok {
			checker{t, "migration pod " + p.Name}.holds("log not empty", len(strings.TrimSpace(log)) > 0)
		}
	}
	if succeeded != 1 {
		t.Errorf("%d Succeeded pods of job %s, want 1 (%d pods)", succeeded, job, len(pods.Items))
	}
}

// finishedPod checks a finished pod of one of the program's Jobs: it ran
// on the real node, the exchange image under containerd, and its one
// container exited 0. It returns the pod's log, printed too; false when the
// pod has no terminated container or no log (already reported).
func finishedPod(t *testing.T, what string, p *corev1.Pod) (string, bool) {
	t.Helper()
	c := checker{t, what + " " + p.Name}
	c.eq("node", p.Spec.NodeName, env.realNode)
	if len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Terminated == nil {
		t.Errorf("%s %s: no terminated container status: %+v", what, p.Name, p.Status.ContainerStatuses)
		return "", false
	}
	cs := p.Status.ContainerStatuses[0]
	c.eq("exit code", cs.State.Terminated.ExitCode, 0)
	c.holds("container ID from containerd ("+cs.State.Terminated.ContainerID+")", strings.HasPrefix(cs.State.Terminated.ContainerID, "containerd://"))
	c.eq("image", cs.Image, env.exchangeImage)
	raw, err := env.kube.CoreV1().Pods(appNS).GetLogs(p.Name, &corev1.PodLogOptions{}).Do(context.Background()).Raw()
	if err != nil {
		t.Errorf("logs of %s %s: %v", what, p.Name, err)
		return "", false
	}
	t.Logf("%s %s log:\n%s", what, p.Name, raw)
	return string(raw), true
}

// assertMigrationJob: the migration Job completed (the engine waited for
// it) with the image, args and environment the program renders.
func assertMigrationJob(t *testing.T, cfg stackConfig) *batchv1.Job {
	t.Helper()
	ctx := context.Background()
	kube := env.kube
	job, err := kube.BatchV1().Jobs(appNS).Get(ctx, platform.MigrationJobName(appImage), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("migration job: %v", err)
	}
	c := checker{t, "job " + job.Name}
	c.holds("condition Complete (the engine waited for it)", jobComplete(job))
	ctr := job.Spec.Template.Spec.Containers[0]
	c.eq("image", ctr.Image, appImage)
	wantArgs := []string{"migrate"}
	if seed, _ := cfg.object(t, "exchange:app")["seedCatalog"].(bool); seed {
		wantArgs = append(wantArgs, "--seed")
	}
	c.eq("args", ctr.Args, wantArgs)
	vars := envOf(ctr)
	c.eq("DATABASE_URL", vars["DATABASE_URL"].Value, clusterDBURL)
	c.eq("PGPASSWORD", secretRef(vars["PGPASSWORD"]), "exchange-db/password")
	return job
}

// assertServer: the Deployment's rollout settings, pod spec and
// environment, and its pods Ready on the real node.
func assertServer(t *testing.T, replicas int32) {
	t.Helper()
	ctx := context.Background()
	kube := env.kube
	dep := env.deployment(t, appNS, "exchange")
	if err := deploymentAvailable(dep, replicas); err != nil {
		t.Errorf("deployment exchange: %v", err)
	}
	{
		c := checker{t, "deployment exchange"}
		ru := dep.Spec.Strategy.RollingUpdate
		c.holds("rolling update maxUnavailable 0, maxSurge 1", ru != nil && ru.MaxUnavailable.IntValue() == 0 && ru.MaxSurge.IntValue() == 1)
		pod := dep.Spec.Template.Spec
		c.eq("terminationGracePeriodSeconds", *pod.TerminationGracePeriodSeconds, 35)
		c.eq("automountServiceAccountToken", *pod.AutomountServiceAccountToken, false)
		c.eq("runAsNonRoot", *pod.SecurityContext.RunAsNonRoot, true)
		ctr := pod.Containers[0]
		c.eq("image", ctr.Image, appImage)
		c.eq("args", ctr.Args, []string{"serve"})
		c.eq("readOnlyRootFilesystem", *ctr.SecurityContext.ReadOnlyRootFilesystem, true)
		c.eq("readiness probe", ctr.ReadinessProbe.HTTPGet.Path+" "+ctr.ReadinessProbe.HTTPGet.Port.String(), "/readyz http")
		c.holds("preStop: the kubelet sleeps 5 s before SIGTERM", ctr.Lifecycle != nil && ctr.Lifecycle.PreStop != nil &&
			ctr.Lifecycle.PreStop.Sleep != nil && ctr.Lifecycle.PreStop.Sleep.Seconds == 5)
		vars := envOf(ctr)
		c.eq("DATABASE_URL", vars["DATABASE_URL"].Value, clusterDBURL)
		c.eq("SECRET_KEY", secretRef(vars["SECRET_KEY"]), "exchange-app/secret-key")
		c.eq("EXCHANGE_MODE", vars["EXCHANGE_MODE"].Value, "demo")
		c.eq("SECURE_COOKIES", vars["SECURE_COOKIES"].Value, "false")
		// Two listeners: the public one (probes, the Ingress) and the
		// internal one (metrics, the replicas' forwarding to the leader).
		ports := map[string]int32{}
		for _, p := range ctr.Ports {
			ports[p.Name] = p.ContainerPort
		}
		c.eq("container ports", ports, map[string]int32{"http": 8080, "internal": 9090})
		c.eq("HTTP_ADDR", vars["HTTP_ADDR"].Value, ":8080")
		c.eq("INTERNAL_ADDR", vars["INTERNAL_ADDR"].Value, ":9090")
		c.eq("ADVERTISE_URL", vars["ADVERTISE_URL"].Value, "http://$(POD_IP):9090")
		// Pulumi.dev.yaml names no ingress.podCIDRs: minikube's pod network.
		c.eq("TRUSTED_PROXIES", vars["TRUSTED_PROXIES"].Value, "10.244.0.0/16")
		c.eq("liveness probe", ctr.LivenessProbe.HTTPGet.Path+" "+ctr.LivenessProbe.HTTPGet.Port.String(), "/healthz http")
	}
	// The server pods passed the namespace's "restricted" Pod Security
	// admission, run the image on the real node under containerd, and are
	// Ready through their own readiness probe (/readyz, which checks the
	// database).
	pods, err := kube.CoreV1().Pods(appNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=server"})
	if err != nil {
		t.Fatal(err)
	}
	ready := 0
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		c := checker{t, "server pod " + p.Name}
		c.eq("node", p.Spec.NodeName, env.realNode)
		if !podReady(&p) || len(p.Status.ContainerStatuses) != 1 {
			t.Errorf("server pod %s: not Ready (%s)", p.Name, p.Status.Phase)
			continue
		}
		ready++
		cs := p.Status.ContainerStatuses[0]
		c.holds("container running", cs.State.Running != nil)
		c.holds("container ID from containerd ("+cs.ContainerID+")", strings.HasPrefix(cs.ContainerID, "containerd://"))
		c.eq("image", cs.Image, env.exchangeImage)
	}
	if ready != int(replicas) {
		t.Errorf("%d server pods Ready on the real node, want %d", ready, replicas)
	}

}

// assertServiceAndIngress: the Service and its ready endpoints, the
// Ingress, the PDB and the pinned HPA.
func assertServiceAndIngress(t *testing.T, replicas int32) {
	t.Helper()
	ctx := context.Background()
	kube := env.kube
	svc, err := kube.CoreV1().Services(appNS).Get(ctx, "exchange", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("service exchange: %v", err)
	}
	{
		c := checker{t, "service exchange"}
		c.eq("type", svc.Spec.Type, corev1.ServiceTypeClusterIP)
		c.holds("port 80 → http, 9090 → internal", len(svc.Spec.Ports) == 2 &&
			svc.Spec.Ports[0].Name == "http" && svc.Spec.Ports[0].Port == 80 && svc.Spec.Ports[0].TargetPort == intstr.FromString("http") &&
			svc.Spec.Ports[1].Name == "internal" && svc.Spec.Ports[1].Port == 9090 && svc.Spec.Ports[1].TargetPort == intstr.FromString("internal"))
		c.eq("selector component", svc.Spec.Selector["app.kubernetes.io/component"], "server")
	}
	eventually(t, settle, "service exchange has ready endpoints", func() error {
		list, err := kube.DiscoveryV1().EndpointSlices(appNS).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=exchange"})
		if err != nil {
			return err
		}
		ready := 0
		for _, s := range list.Items {
			for _, ep := range s.Endpoints {
				if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
					ready++
				}
			}
		}
		if ready != int(replicas) {
			return fmt.Errorf("%d ready endpoints, want %d", ready, replicas)
		}
		return nil
	})

	ing, err := kube.NetworkingV1().Ingresses(appNS).Get(ctx, "exchange", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("ingress exchange: %v", err)
	}
	{
		c := checker{t, "ingress exchange"}
		c.eq("class", *ing.Spec.IngressClassName, "nginx")
		c.holds("host exchange.local → exchange:http", len(ing.Spec.Rules) == 1 && ing.Spec.Rules[0].Host == "exchange.local" &&
			ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name == "exchange" &&
			ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Name == "http")
		c.eq("skipAwait (NodePort controller)", ing.Annotations["pulumi.com/skipAwait"], "true")
		// The F5 controller's per-client limit (ingress.rateLimit defaults).
		c.eq("limit-req-rate", ing.Annotations["nginx.org/limit-req-rate"], "50r/s")
		c.eq("limit-req-burst", ing.Annotations["nginx.org/limit-req-burst"], "250")
		c.eq("tls", len(ing.Spec.TLS), 0)
	}

	pdb, err := kube.PolicyV1().PodDisruptionBudgets(appNS).Get(ctx, "exchange", metav1.GetOptions{})
	if err != nil {
		t.Errorf("pdb exchange: %v", err)
	} else {
		c := checker{t, "pdb exchange"}
		c.eq("minAvailable", pdb.Spec.MinAvailable.IntValue(), 1)
		c.eq("selector component", pdb.Spec.Selector.MatchLabels["app.kubernetes.io/component"], "server")
	}
	// Autoscaling off: the HPA is pinned to the configured count.
	assertHPA(t, replicas, replicas, 70)

}
