//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optremove"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/rclone/gofakes3"
	"github.com/rclone/gofakes3/s3mem"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/crypto-exchange/exchange/infra/platform"
)

// The inputs of a run, set by scripts/e2e/run.sh (and .ci/run) from the
// tool cache and the control plane it started.
const (
	envKubeconfig      = "E2E_KUBECONFIG"       // admin kubeconfig of the control plane
	envKubeContext     = "E2E_KUBE_CONTEXT"     // its context (default "e2e")
	envPulumiRoot      = "E2E_PULUMI_ROOT"      // directory holding bin/pulumi
	envProvider        = "E2E_K8S_PROVIDER"     // pulumi-resource-kubernetes binary
	envProviderVersion = "E2E_K8S_PROVIDER_VER" // its version (default 4.25.0)
	envLogDir          = "E2E_LOG_DIR"          // where engine logs go (default: a temp dir)
	// The cluster's node (scripts/e2e/control-plane.sh).
	envRealNode   = "E2E_REAL_NODE"   // the kubelet's node (containerd, real containers)
	envNodeIP     = "E2E_NODE_IP"     // its IP, in the namespace: what pods reach the test's store on
	envPodImage   = "E2E_POD_IMAGE"   // the smoke pods' image, imported into the node's containerd
	envClusterDNS = "E2E_CLUSTER_DNS" // the kube-dns Service's ClusterIP (the kubelet's clusterDNS)
	// The program's images, built by scripts/e2e/images.sh and imported
	// into the real node's containerd at start.
	envExchangeImage     = "E2E_EXCHANGE_IMAGE"      // the exchange, from the repository's Dockerfile
	envExchangeImageNext = "E2E_EXCHANGE_IMAGE_NEXT" // the same image under a second tag: the rolling update's target
	envPostgresImage     = "E2E_POSTGRES_IMAGE"      // PostgreSQL 17 (scripts/e2e/postgres)
)

const projectName = "exchange"

// environment is what every test shares: the Pulumi CLI with a private
// PULUMI_HOME and file backend, the fixture chart repository, the store
// endpoint and clients of the control plane.
type environment struct {
	kubeconfig  string
	kubeContext string

	pulumi     auto.PulumiCommand
	pulumiHome string
	backendURL string
	passphrase string
	helmHome   string
	logDir     string

	repo                           *chartRepo
	s3URL                          string
	storeAccessKey, storeSecretKey string

	kube kubernetes.Interface
	dyn  dynamic.Interface
	rest *rest.Config

	realNode, nodeIP, podImage, clusterDNS string
	exchangeImage, exchangeImageNext       string
	postgresImage                          string
}

var env *environment

func TestMain(m *testing.M) {
	e, cleanup, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		cleanup()
		os.Exit(1)
	}
	env = e
	code := m.Run()
	cleanup()
	os.Exit(code)
}

func setup() (*environment, func(), error) {
	var closers []func()
	cleanup := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	need := func(name string) (string, error) {
		v := os.Getenv(name)
		if v == "" {
			return "", fmt.Errorf("%s is not set; run the end-to-end test with scripts/e2e/run.sh (see docs/e2e.md)", name)
		}
		return v, nil
	}
	e := &environment{kubeContext: os.Getenv(envKubeContext)}
	if e.kubeContext == "" {
		e.kubeContext = "e2e"
	}
	var err error
	if e.kubeconfig, err = need(envKubeconfig); err != nil {
		return nil, cleanup, err
	}
	root, err := need(envPulumiRoot)
	if err != nil {
		return nil, cleanup, err
	}
	provider, err := need(envProvider)
	if err != nil {
		return nil, cleanup, err
	}
	for _, v := range []struct {
		name string
		to   *string
	}{
		{envRealNode, &e.realNode}, {envNodeIP, &e.nodeIP}, {envPodImage, &e.podImage}, {envClusterDNS, &e.clusterDNS},
		{envExchangeImage, &e.exchangeImage}, {envExchangeImageNext, &e.exchangeImageNext},
		{envPostgresImage, &e.postgresImage},
	} {
		if *v.to, err = need(v.name); err != nil {
			return nil, cleanup, err
		}
	}
	// The exchange image as Pulumi.dev.yaml names its own ("exchange:dev"):
	// Docker Hub's short form, which containerd's CRI expands to the name
	// the import gave it.
	appImage = strings.TrimPrefix(e.exchangeImage, "docker.io/library/")
	appImageNext = strings.TrimPrefix(e.exchangeImageNext, "docker.io/library/")
	providerVersion := os.Getenv(envProviderVersion)
	if providerVersion == "" {
		providerVersion = "4.25.0"
	}

	tmp, err := os.MkdirTemp("", "exchange-e2e-")
	if err != nil {
		return nil, cleanup, err
	}
	closers = append(closers, func() { _ = os.RemoveAll(tmp) })
	e.logDir = os.Getenv(envLogDir)
	if e.logDir == "" {
		e.logDir = filepath.Join(tmp, "logs")
	}
	e.pulumiHome = filepath.Join(tmp, "pulumi-home")
	e.helmHome = filepath.Join(tmp, "helm")
	backend := filepath.Join(tmp, "state")
	for _, d := range []string{e.logDir, e.pulumiHome, e.helmHome, backend} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, cleanup, err
		}
	}
	e.backendURL = "file://" + backend
	e.passphrase = randomHex(16)

	e.pulumi, err = auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: root})
	if err != nil {
		return nil, cleanup, fmt.Errorf("pulumi CLI in %s: %w", root, err)
	}
	// The provider is built here, never downloaded: install that binary.
	install := exec.Command(filepath.Join(root, "bin", "pulumi"), "plugin", "install", "resource", "kubernetes",
		"v"+providerVersion, "--file", provider)
	install.Env = append(os.Environ(), "PULUMI_HOME="+e.pulumiHome, "PULUMI_SKIP_UPDATE_CHECK=true")
	if out, err := install.CombinedOutput(); err != nil {
		return nil, cleanup, fmt.Errorf("pulumi plugin install kubernetes: %w\n%s", err, out)
	}

	if e.repo, err = startChartRepo(filepath.Join("testdata", "charts")); err != nil {
		return nil, cleanup, err
	}
	closers = append(closers, e.repo.Close)
	// Random, like every test secret: the CLI masks each occurrence of a
	// secret's text in its output, so a word like the bucket's would show
	// up as "[secret]" inside the bucket name.
	e.storeAccessKey, e.storeSecretKey = "AK"+randomHex(8), randomHex(20)
	url, stop, err := startStore(e.nodeIP, e.storeAccessKey, e.storeSecretKey)
	if err != nil {
		return nil, cleanup, err
	}
	e.s3URL = url
	closers = append(closers, stop)

	rest, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: e.kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: e.kubeContext}).ClientConfig()
	if err != nil {
		return nil, cleanup, fmt.Errorf("kubeconfig %s: %w", e.kubeconfig, err)
	}
	e.rest = rest
	if e.kube, err = kubernetes.NewForConfig(rest); err != nil {
		return nil, cleanup, err
	}
	if e.dyn, err = dynamic.NewForConfig(rest); err != nil {
		return nil, cleanup, err
	}
	v, err := e.kube.Discovery().ServerVersion()
	if err != nil {
		return nil, cleanup, fmt.Errorf("API server: %w", err)
	}
	fmt.Printf("e2e: API server %s, Pulumi CLI %s, kubernetes provider %s, charts %s, store %s, logs %s\n",
		v.GitVersion, e.pulumi.Version(), providerVersion, e.repo.URL, e.s3URL, e.logDir)
	return e, cleanup, nil
}

// startStore serves the backup store on the node IP: the S3-compatible
// server the backup tests use (rclone's gofakes3, which verifies SigV4),
// with one bucket and one key pair. The node IP, not 127.0.0.1, because the
// backup CronJobs' pods must reach it: they route to it through cni0, as
// they reach CoreDNS, and the test binary runs in the same namespace.
func startStore(ip, accessKey, secretKey string) (string, func(), error) {
	backend := s3mem.New()
	if err := backend.CreateBucket(context.Background(), storeBucket); err != nil {
		return "", func() {}, fmt.Errorf("store: %w", err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return "", func() {}, fmt.Errorf("store: listen on the node IP: %w", err)
	}
	fake := gofakes3.New(backend, gofakes3.WithV4Auth(map[string]string{accessKey: secretKey}))
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: fake.Server()}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), func() { _ = srv.Close() }, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// workspaceOpts run the CLI with this environment only: its PULUMI_HOME
// (with the provider installed), the file backend, a passphrase secrets
// provider, private Helm directories, and no plugin downloads.
func (e *environment) workspaceOpts() []auto.LocalWorkspaceOption {
	return []auto.LocalWorkspaceOption{
		auto.Pulumi(e.pulumi),
		auto.PulumiHome(e.pulumiHome),
		auto.Project(workspace.Project{Name: projectName, Runtime: workspace.NewProjectRuntimeInfo("go", nil)}),
		auto.SecretsProvider("passphrase"),
		auto.EnvVars(map[string]string{
			"PULUMI_BACKEND_URL":       e.backendURL,
			"PULUMI_CONFIG_PASSPHRASE": e.passphrase,
			"PULUMI_SKIP_UPDATE_CHECK": "true",
			// Everything the engine needs is installed; never fetch.
			"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
			"HELM_CACHE_HOME":  filepath.Join(e.helmHome, "cache"),
			"HELM_CONFIG_HOME": filepath.Join(e.helmHome, "config"),
			"HELM_DATA_HOME":   filepath.Join(e.helmHome, "data"),
			// The provider gets the cluster from stack config only.
			"KUBECONFIG": filepath.Join(e.helmHome, "no-such-kubeconfig"),
		}),
	}
}

// newStack creates stack name (an inline program: platform.Run) with cfg;
// it is removed when the test ends.
func (e *environment) newStack(t *testing.T, name string, cfg stackConfig) auto.Stack {
	t.Helper()
	ctx := context.Background()
	st, err := auto.UpsertStackInlineSource(ctx, name, projectName, platform.Run, e.workspaceOpts()...)
	if err != nil {
		t.Fatalf("create stack %s: %v", name, err)
	}
	if err := st.SetAllConfig(ctx, cfg.configMap()); err != nil {
		t.Fatalf("stack %s: set config: %v", name, err)
	}
	t.Cleanup(func() {
		if err := st.Workspace().RemoveStack(ctx, name, optremove.Force()); err != nil &&
			!strings.Contains(err.Error(), "no stack named") {
			t.Errorf("remove stack %s: %v", name, err)
		}
	})
	return st
}

// engineLog is the file one engine operation's output goes to; on failure
// its tail is added to the test log.
type engineLog struct {
	path string
	f    *os.File
}

func (e *environment) engineLog(t *testing.T, name string) *engineLog {
	t.Helper()
	path := filepath.Join(e.logDir, fmt.Sprintf("%s-%s.log", time.Now().Format("150405.000"), name))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return &engineLog{path: path, f: f}
}

// tail is the end of the log, for a failure message.
func (l *engineLog) tail() string {
	raw, _ := os.ReadFile(l.path)
	lines := bytes.Split(bytes.TrimRight(raw, "\n"), []byte("\n"))
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	return fmt.Sprintf("last lines of %s:\n%s", l.path, bytes.Join(lines, []byte("\n")))
}
