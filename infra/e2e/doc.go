// Package e2e is the end-to-end test of the Pulumi program: a real Pulumi
// engine (the CLI through the Automation API, running platform.Run as an
// inline program), the real Kubernetes provider and a real API server
// (kube-apiserver, controllers and kwok on 127.0.0.1).
//
// The tests carry the build tag "e2e", so `go test ./infra/...` does not
// build or run them. scripts/e2e/run.sh builds the tools, starts the control
// plane and runs them; docs/e2e.md describes what is covered.
package e2e
