// Package e2e is the end-to-end test of the Pulumi program: a real Pulumi
// engine (the CLI through the Automation API, running platform.Run as an
// inline program), the real Kubernetes provider and a real API server
// (kube-apiserver, controllers and a real node, kubelet on containerd, that
// runs the program's pods from images built here: the exchange from the
// repository's Dockerfile and PostgreSQL 17), all in the cluster's own
// network namespace.
//
// The tests carry the build tag "e2e", so `go test ./infra/...` does not
// build or run them. scripts/e2e/run.sh builds the tools, starts the control
// plane and runs them; docs/e2e.md describes what is covered.
package e2e
