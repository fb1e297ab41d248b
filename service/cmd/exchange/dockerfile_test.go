package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// No Docker engine runs here, so the image's promises are checked on the
// Dockerfile itself with BuildKit's own parser.
func TestDockerfile(t *testing.T) {
	f, err := os.Open("../../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ast, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("parse Dockerfile: %v", err)
	}
	stages, _, err := instructions.Parse(ast.AST, nil)
	if err != nil {
		t.Fatalf("Dockerfile instructions: %v", err)
	}
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

	var buildCmds []string
	for _, c := range stages[0].Commands {
		if r, ok := c.(*instructions.RunCommand); ok {
			buildCmds = append(buildCmds, strings.Join(r.CmdLine, " "))
		}
	}
	build := strings.Join(buildCmds, "\n")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "buildinfo.Version=", "./cmd/exchange"} {
		if !strings.Contains(build, want) {
			t.Errorf("build stage lacks %q", want)
		}
	}

	final := stages[len(stages)-1]
	var user string
	var entrypoint []string
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
		case *instructions.RunCommand:
			runtime = append(runtime, strings.Join(c.CmdLine, " "))
		}
	}
	if u := strings.Split(user, ":")[0]; u == "" || u == "root" || u == "0" {
		t.Errorf("final stage USER is %q, want a non-root user", user)
	}
	if len(entrypoint) != 1 || entrypoint[0] != "/usr/local/bin/exchange" {
		t.Errorf("ENTRYPOINT = %q, want the exchange binary", entrypoint)
	}
	rt := strings.Join(runtime, "\n")
	if !regexp.MustCompile(`postgresql1[5-9]-client`).MatchString(rt) {
		t.Error("runtime image lacks the PostgreSQL client (15 or newer) for backups")
	}
	if !strings.Contains(rt, "ca-certificates") {
		t.Error("runtime image lacks CA certificates")
	}
}
