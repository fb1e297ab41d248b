package pipeline

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// run runs a script of scripts/ci (script and its arguments) with exactly
// env plus PATH and HOME, and returns its stdout, stderr and exit code.
func run(t *testing.T, shell string, script []string, path string, env ...string) (string, string, int) {
	t.Helper()
	abs, err := filepath.Abs(repoPath("scripts", "ci", script[0]))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(shell, append([]string{abs}, script[1:]...)...)
	cmd.Env = append([]string{"PATH=" + path, "HOME=" + t.TempDir()}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", script, err)
	}
	return stdout.String(), stderr.String(), code
}

// The registry: GHCR (GitHub) or the project's registry (GitLab) with no
// extra secret; Docker Hub when both of the seed's secrets are set.
func TestImageRepository(t *testing.T) {
	gh := []string{"GITHUB_REPOSITORY=Crypto-Exchange/Exchange"}
	gl := []string{"CI_REGISTRY=registry.gitlab.com", "CI_REGISTRY_IMAGE=registry.gitlab.com/crypto-exchange/exchange", "CI_PROJECT_PATH=crypto-exchange/exchange"}
	hub := []string{"DOCKERHUB_USERNAME=someone", "DOCKERHUB_TOKEN=dckr_pat_x"}
	cases := []struct {
		name string
		env  []string
		want string // stdout, or "" when the script must fail
	}{
		{"github default", gh, "registry=ghcr.io\nrepository=ghcr.io/crypto-exchange/exchange\n"},
		{"github docker hub", append(gh, hub...), "registry=docker.io\nrepository=docker.io/crypto-exchange/exchange\n"},
		{"docker hub, named", append(append(gh, hub...), "IMAGE_REPOSITORY=docker.io/Org/Exchange"), "registry=docker.io\nrepository=docker.io/org/exchange\n"},
		{"ghcr, named", append(gh, "IMAGE_REPOSITORY=ghcr.io/org/other"), "registry=ghcr.io\nrepository=ghcr.io/org/other\n"},
		{"name on another registry", append(gh, "IMAGE_REPOSITORY=docker.io/org/exchange"), ""},
		{"only the user name", append(gh, "DOCKERHUB_USERNAME=someone"), ""},
		{"only the token", append(gh, "DOCKERHUB_TOKEN=x"), ""},
		{"gitlab default", gl, "registry=registry.gitlab.com\nrepository=registry.gitlab.com/crypto-exchange/exchange\n"},
		{"gitlab docker hub", append(gl, hub...), "registry=docker.io\nrepository=docker.io/crypto-exchange/exchange\n"},
		{"no CI", nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// sh, not bash: GitLab's build image has no bash.
			out, stderr, code := run(t, "sh", []string{"image-repository.sh"}, "/usr/bin:/bin", c.env...)
			switch {
			case c.want == "" && code == 0:
				t.Errorf("want a failure, got %q", out)
			case c.want == "" && !strings.Contains(stderr, "image-repository.sh:"):
				t.Errorf("failed without saying why: %q", stderr)
			case c.want != "" && (code != 0 || out != c.want):
				t.Errorf("got %q (exit %d, %s), want %q", out, code, stderr, c.want)
			}
			if strings.Contains(out, "someone") || strings.Contains(out, "dckr_pat") {
				t.Error("the output names a secret; GitHub drops job outputs that contain one")
			}
		})
	}
}

// fakeBin is a directory with stand-ins for pulumi and aws that log their
// arguments (and what pulumi reads on stdin) to log.
func fakeBin(t *testing.T) (dir, log string) {
	t.Helper()
	dir = t.TempDir()
	log = filepath.Join(dir, "calls.log")
	pulumi := `#!/bin/sh
echo "pulumi $*" >>"` + log + `"
case "$*" in
  "config get --path kubernetes.context -s "*) echo exchange-prod ;;
  "config set --secret"*) printf 'stdin=' >>"` + log + `"; cat >>"` + log + `"; echo >>"` + log + `" ;;
esac
`
	aws := `#!/bin/sh
echo "aws $*" >>"` + log + `"
while [ $# -gt 0 ]; do
  if [ "$1" = --kubeconfig ]; then echo "apiVersion: v1" >"$2"; fi
  shift
done
`
	for name, body := range map[string]string{"pulumi": pulumi, "aws": aws} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir, log
}

func readLog(t *testing.T, log string) string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

func TestStackPrepareKubeconfigAndSecrets(t *testing.T) {
	bin, log := fakeBin(t)
	out := t.TempDir()
	kubeconfig := "apiVersion: v1\nkind: Config\ncurrent-context: dev-cluster\n"
	stdout, stderr, code := run(t, "bash", []string{"stack-prepare.sh", "dev"}, bin+":/usr/bin:/bin",
		"KUBECONFIG_DIR="+out,
		"KUBECONFIG_B64="+base64.StdEncoding.EncodeToString([]byte(kubeconfig)),
		"KUBE_CONTEXT=dev-cluster",
		"APP_SECRET_KEY=-starts-with-a-dash-and-is-long-enough",
		"DB_PASSWORD=db password with spaces",
		"GRAFANA_ADMIN_PASSWORD=",
	)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	path := filepath.Join(out, "kubeconfig-dev")
	if stdout != path+"\n" {
		t.Errorf("stdout %q, want only the kubeconfig path %s", stdout, path)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != kubeconfig {
		t.Errorf("kubeconfig %q (%v), want the decoded secret", got, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	calls := readLog(t, log)
	for _, want := range []string{
		"pulumi config set --path kubernetes.context dev-cluster -s dev\n",
		"pulumi config set --secret --raw -s dev -- appSecretKey\nstdin=-starts-with-a-dash-and-is-long-enough\n",
		"pulumi config set --secret --raw -s dev -- dbPassword\nstdin=db password with spaces\n",
	} {
		if !strings.Contains(calls, want) {
			t.Errorf("pulumi was not called as %q; calls:\n%s", want, calls)
		}
	}
	if strings.Contains(calls, "grafanaAdminPassword") {
		t.Error("an empty variable set a secret")
	}
	for _, line := range strings.Split(calls, "\n") {
		if strings.HasPrefix(line, "pulumi ") && (strings.Contains(line, "starts-with-a-dash") || strings.Contains(line, "spaces")) {
			t.Errorf("a secret value is on a command line: %q", line)
		}
	}
}

// With EKS the kubeconfig comes from the AWS CLI (OIDC credentials), its
// context named as the stack expects.
func TestStackPrepareEKS(t *testing.T) {
	bin, log := fakeBin(t)
	out := t.TempDir()
	stdout, stderr, code := run(t, "bash", []string{"stack-prepare.sh", "prod"}, bin+":/usr/bin:/bin",
		"KUBECONFIG_DIR="+out, "EKS_CLUSTER_NAME=exchange-prod-eks")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	path := filepath.Join(out, "kubeconfig-prod")
	if stdout != path+"\n" {
		t.Errorf("stdout %q, want %s", stdout, path)
	}
	want := "aws eks update-kubeconfig --name exchange-prod-eks --alias exchange-prod --kubeconfig " + path + "\n"
	if calls := readLog(t, log); !strings.Contains(calls, want) {
		t.Errorf("aws was not called as %q; calls:\n%s", want, calls)
	}
}

// A GitLab file variable is a kubeconfig path already; nothing is written.
func TestStackPrepareKubeconfigPath(t *testing.T) {
	bin, _ := fakeBin(t)
	stdout, stderr, code := run(t, "bash", []string{"stack-prepare.sh", "dev"}, bin+":/usr/bin:/bin",
		"KUBECONFIG=/builds/tmp/KUBECONFIG")
	if code != 0 || stdout != "/builds/tmp/KUBECONFIG\n" {
		t.Errorf("stdout %q, exit %d (%s); want the path of KUBECONFIG", stdout, code, stderr)
	}
}

// Without any cluster credentials the script stops and names the choices,
// before touching the stack's secrets.
func TestStackPrepareWithoutCluster(t *testing.T) {
	bin, log := fakeBin(t)
	stdout, stderr, code := run(t, "bash", []string{"stack-prepare.sh", "dev"}, bin+":/usr/bin:/bin",
		"KUBECONFIG_DIR="+t.TempDir(), "DB_PASSWORD=x")
	if code == 0 || stdout != "" {
		t.Fatalf("exit %d, stdout %q; want a failure", code, stdout)
	}
	for _, want := range []string{"KUBECONFIG_B64", "EKS_CLUSTER_NAME", "KUBECONFIG"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the message does not name %s: %q", want, stderr)
		}
	}
	if strings.Contains(readLog(t, log), "--secret") {
		t.Error("secrets were set although the run cannot reach a cluster")
	}
	if _, _, code := run(t, "bash", []string{"stack-prepare.sh"}, bin+":/usr/bin:/bin"); code == 0 {
		t.Error("no stack argument: want a failure")
	}
}

// Every stack secret the workflows hand to stack-prepare.sh is one it reads,
// and each step that prepares a stack passes all of them.
func TestWorkflowSecretsReachTheScript(t *testing.T) {
	script := readFile(t, "scripts", "ci", "stack-prepare.sh")
	known := map[string]bool{"KUBECONFIG_B64": true, "EKS_CLUSTER_NAME": true, "KUBE_CONTEXT": true, "STACK": true}
	var secrets []string
	for _, line := range strings.Split(script, "\n") {
		if m := secretPair.FindStringSubmatch(line); m != nil {
			known[m[1]] = true
			secrets = append(secrets, m[1])
		}
	}
	if len(secrets) < 5 {
		t.Fatalf("stack-prepare.sh maps only %v to stack secrets", secrets)
	}
	found := 0
	for _, name := range workflowFiles(t) {
		w := loadWorkflow(t, name)
		for _, j := range w.jobsSorted() {
			for _, s := range j.Steps {
				if !strings.Contains(s.Run, "scripts/ci/stack-prepare.sh") {
					continue
				}
				found++
				for k := range s.Env {
					if !known[k] {
						t.Errorf("%s job %s passes %s, which stack-prepare.sh does not read", name, j.id, k)
					}
				}
				for _, v := range secrets {
					if s.Env[v] != "${{ secrets."+v+" }}" {
						t.Errorf("%s job %s: %s = %q, want ${{ secrets.%s }}", name, j.id, v, s.Env[v], v)
					}
				}
				if s.Env["KUBECONFIG_B64"] != "${{ secrets.KUBECONFIG }}" {
					t.Errorf("%s job %s: KUBECONFIG_B64 = %q, want the KUBECONFIG secret", name, j.id, s.Env["KUBECONFIG_B64"])
				}
			}
		}
	}
	if found < 3 {
		t.Errorf("stack-prepare.sh runs in %d workflow steps; want the preview, dev and prod jobs", found)
	}
}

var secretPair = regexp.MustCompile(`^\s+([A-Z_]+):[a-zA-Z]+$`)
