//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
