package main

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// The image's promises are checked on the Dockerfile itself with BuildKit's
// own parser (and its linter); the built image is checked by
// scripts/e2e/images.sh (docs/e2e.md, "Images") and by CI's image job. That
// the image's pg_dump matches the PostgreSQL the platform deploys is checked
// against the stack files in infra/pipeline.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, "../../../Dockerfile")
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stage(s)", len(stages))
	}
	pinned := regexp.MustCompile(`^[a-z0-9./-]+:[0-9][\w.-]*(@sha256:[0-9a-f]{64})?$|@sha256:[0-9a-f]{64}$`)
	stageNames := map[string]bool{}
	for _, s := range stages {
		if !stageNames[s.BaseName] && (!pinned.MatchString(s.BaseName) || strings.Contains(s.BaseName, "latest")) {
			t.Errorf("base image %q is not pinned to a version or digest", s.BaseName)
		}
		stageNames[s.Name] = true
	}

	build := stages[0]
	var buildCmds []string
	goBuildCached := map[string]bool{}
	for _, c := range build.Commands {
		r, ok := c.(*instructions.RunCommand)
		if !ok {
			continue
		}
		line := strings.Join(r.CmdLine, " ")
		buildCmds = append(buildCmds, line)
		if strings.Contains(line, "go build") || strings.Contains(line, "go mod download") {
			// The parser defers reading --mount options to expansion; the
			// options here hold no variables, so words expand to themselves.
			if err := r.Expand(func(w string) (string, error) { return w, nil }); err != nil {
				t.Fatalf("RUN --mount options of %q: %v", line, err)
			}
			for _, m := range instructions.GetMounts(r) {
				if m.Type == instructions.MountTypeCache {
					goBuildCached[m.Target] = true
				}
			}
		}
	}
	buildText := strings.Join(buildCmds, "\n") + "\n" + envText(build)
	for _, want := range []string{
		"CGO_ENABLED=0", "GOTOOLCHAIN=local", "go mod download", "go build",
		"-trimpath", "-buildvcs=false", "buildinfo.Version=${VERSION}", "./cmd/exchange",
	} {
		if !strings.Contains(buildText, want) {
			t.Errorf("build stage lacks %q", want)
		}
	}
	if _, ok := argDefault(build, "VERSION"); !ok {
		t.Error("build stage has no ARG VERSION (the version stamped into the binary)")
	}
	// Module and build caches survive between builds, so a source change
	// neither refetches modules nor recompiles every package.
	for _, target := range []string{"/go/pkg/mod", "/root/.cache/go-build"} {
		if !goBuildCached[target] {
			t.Errorf("no RUN --mount=type=cache,target=%s on the Go steps of the build stage", target)
		}
	}

	final := stages[len(stages)-1]
	var user string
	var entrypoint, cmd, ports []string
	var runtime []string
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.EntrypointCommand:
			if c.PrependShell {
				t.Error("ENTRYPOINT must be exec form so signals reach the binary")
			}
			entrypoint = c.CmdLine
		case *instructions.CmdCommand:
			cmd = c.CmdLine
		case *instructions.ExposeCommand:
			ports = append(ports, c.Ports...)
		case *instructions.RunCommand:
			runtime = append(runtime, strings.Join(c.CmdLine, " "))
		case *instructions.CopyCommand:
			if c.From == "" {
				t.Errorf("the runtime stage copies %v from the build context; only build outputs belong there", c.SourcePaths)
			}
		}
	}
	// The uid the pods' securityContext names (infra/platform exchangeUID).
	if user != "65532:65532" {
		t.Errorf("final stage USER is %q, want 65532:65532 (non-root, the pods' runAsUser)", user)
	}
	if len(entrypoint) != 1 || entrypoint[0] != "/usr/local/bin/exchange" {
		t.Errorf("ENTRYPOINT = %q, want the exchange binary", entrypoint)
	}
	if !slices.Equal(cmd, []string{"serve"}) {
		t.Errorf("CMD = %q, want [serve]", cmd)
	}
	if !slices.Equal(ports, []string{"8080", "9090"}) {
		t.Errorf("EXPOSE %v, want 8080 (API, site) and 9090 (metrics, internal)", ports)
	}

	// The PostgreSQL client's major version is one ARG: the package, the
	// build-time version check and the directory the backups run from all
	// use it, so they cannot drift apart.
	major, ok := argDefault(final, "PG_MAJOR")
	if !ok || !regexp.MustCompile(`^1[5-9]$|^[2-9][0-9]$`).MatchString(major) {
		t.Fatalf("runtime stage ARG PG_MAJOR = %q, want a PostgreSQL major version (15 or newer)", major)
	}
	// Debian's client of that major, its binaries checked where the backups
	// run them, the package lists not left in the layer.
	rt := strings.ReplaceAll(strings.Join(runtime, "\n"), "${PG_MAJOR}", major)
	binDir := "/usr/lib/postgresql/" + major + "/bin"
	for _, want := range []string{
		"apt-get update",
		"apt-get install -y --no-install-recommends",
		"\"postgresql-client-" + major + "\"",
		"ca-certificates",
		"rm -rf /var/lib/apt/lists/*",
		binDir + "/pg_dump\" --version | grep -q \" " + major + `\."`,
		binDir + "/pg_restore\" --version | grep -q \" " + major + `\."`,
		"--uid 65532",
		"--gid 65532",
	} {
		if !strings.Contains(rt, want) {
			t.Errorf("runtime stage RUN lacks %q", want)
		}
	}
	if got := strings.ReplaceAll(envValue(final, "BACKUP_PG_BIN_DIR"), "${PG_MAJOR}", major); got != binDir {
		t.Errorf("ENV BACKUP_PG_BIN_DIR = %q, want %s (the client the image installs)", got, binDir)
	}
}

// The end-to-end test's PostgreSQL image (scripts/e2e/images.sh) stands in
// for the platform's database: the same major as the exchange image's
// client, on the same base, so one base image is assembled where no
// registry is reachable.
func TestE2EPostgresDockerfile(t *testing.T) {
	exchange := parseDockerfile(t, "../../../Dockerfile")
	runtime := exchange[len(exchange)-1]
	stages := parseDockerfile(t, "../../../scripts/e2e/postgres/Dockerfile")
	if len(stages) != 1 {
		t.Fatalf("want one stage, got %d", len(stages))
	}
	pg := stages[0]
	if pg.BaseName != runtime.BaseName {
		t.Errorf("the e2e PostgreSQL image is built FROM %s, the exchange image's runtime FROM %s; keep them one base", pg.BaseName, runtime.BaseName)
	}
	want, _ := argDefault(runtime, "PG_MAJOR")
	if got, _ := argDefault(pg, "PG_MAJOR"); got != want {
		t.Errorf("the e2e PostgreSQL image is major %q, the exchange image's client %q", got, want)
	}
	var user string
	for _, c := range pg.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.EntrypointCommand:
			if c.PrependShell {
				t.Error("the e2e PostgreSQL ENTRYPOINT must be exec form so the stop signal reaches postgres")
			}
		}
	}
	if u := strings.Split(user, ":")[0]; u == "" || u == "root" || u == "0" {
		t.Errorf("the e2e PostgreSQL image's USER is %q, want a non-root uid", user)
	}
}

// The build context is the service module alone, without tests, test data or
// local binaries.
func TestDockerignore(t *testing.T) {
	raw, err := os.ReadFile("../../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(raw), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	for _, want := range []string{"*", "!service/", "service/**/*_test.go", "service/**/testdata/", "service/exchange", "service/**/*.test"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore lacks %q", want)
		}
	}
	if len(lines) == 0 || lines[0] != "*" {
		t.Error(".dockerignore must start by excluding everything (*), then allow service/")
	}
}

func parseDockerfile(t *testing.T, path string) []instructions.Stage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ast, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("parse Dockerfile: %v", err)
	}
	for _, w := range ast.Warnings {
		t.Errorf("Dockerfile parser warning: %s", w.Short)
	}
	// BuildKit's own lint rules (those that run on the parsed file), as
	// `docker build --check` reports them: any warning fails.
	var warnings []string
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		warnings = append(warnings, fmt.Sprintf("line %d: %s: %s", line, rule, msg))
	}})
	stages, _, err := instructions.Parse(ast.AST, lint)
	if err != nil {
		t.Fatalf("Dockerfile instructions: %v", err)
	}
	for _, w := range warnings {
		t.Errorf("Dockerfile lint: %s", w)
	}
	return stages
}

// argDefault is the default value of a stage's ARG name.
func argDefault(s instructions.Stage, name string) (string, bool) {
	for _, c := range s.Commands {
		if a, ok := c.(*instructions.ArgCommand); ok {
			for _, kv := range a.Args {
				if kv.Key == name && kv.Value != nil {
					return *kv.Value, true
				}
			}
		}
	}
	return "", false
}

// envValue is the value a stage's ENV gives name (unexpanded).
func envValue(s instructions.Stage, name string) string {
	v := ""
	for _, c := range s.Commands {
		if e, ok := c.(*instructions.EnvCommand); ok {
			for _, kv := range e.Env {
				if kv.Key == name {
					v = kv.Value
				}
			}
		}
	}
	return v
}

// envText is every ENV of a stage as KEY=value lines.
func envText(s instructions.Stage) string {
	var b strings.Builder
	for _, c := range s.Commands {
		if e, ok := c.(*instructions.EnvCommand); ok {
			for _, kv := range e.Env {
				fmt.Fprintf(&b, "%s=%s\n", kv.Key, kv.Value)
			}
		}
	}
	return b.String()
}
