// Command pause is the pod sandbox's process on the end-to-end test's real
// node: containerd's sandbox_image is built from it (scripts/e2e/node-image.sh),
// because no registry is reachable to pull registry.k8s.io/pause, and
// Kubernetes' own pause (build/pause) is C. Like that one it holds the pod's
// namespaces open, reaps the zombies it inherits as PID 1 and exits on
// SIGINT or SIGTERM.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 8)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sig {
		if s != syscall.SIGCHLD {
			fmt.Fprintf(os.Stderr, "pause: shutting down, got signal %v\n", s)
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
