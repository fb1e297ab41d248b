#!/usr/bin/env bash
# The end-to-end test, locally or in CI (see docs/e2e.md):
#   1. build the pinned tools, or reuse them from the cache (build-tools.sh)
#   2. start a throwaway control plane on 127.0.0.1 (control-plane.sh)
#   3. go test -tags e2e ./infra/e2e/ against it
#   4. stop the control plane, also when a step failed
# One timing line per phase. Extra arguments go to `go test`
# (e.g. -run TestInvalidConfigCreatesNothing).
#
# Needs: Go, curl, openssl and etcd (Debian: etcd-server). Running as root
# is fine; nothing listens on anything but 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=versions.sh
. scripts/e2e/versions.sh
export PATH="/usr/local/go/bin:$PATH"
export E2E_RUN_DIR=${E2E_RUN_DIR:-${TMPDIR:-/tmp}/exchange-e2e-cluster}

run_start=$SECONDS
timed() {
  local name=$1 start=$SECONDS rc=0
  shift
  "$@" || rc=$?
  printf '=== e2e %-14s %4ds %s\n' "$name" $((SECONDS - start)) "$([ $rc -eq 0 ] && echo ok || echo "FAILED ($rc)")"
  return $rc
}

timed tools scripts/e2e/build-tools.sh

stopped=0
stop_cluster() {
  [ $stopped -eq 0 ] || return 0
  stopped=1
  timed "stop cluster" scripts/e2e/control-plane.sh stop
}
trap stop_cluster EXIT
timed "start cluster" scripts/e2e/control-plane.sh start

# shellcheck disable=SC1091
. "$E2E_RUN_DIR/env"
export E2E_KUBECONFIG E2E_KUBE_CONTEXT
export E2E_PULUMI_ROOT=$PULUMI_DIR
export E2E_K8S_PROVIDER=$K8S_PROVIDER_DIR/bin/pulumi-resource-kubernetes
export E2E_K8S_PROVIDER_VER=$K8S_PROVIDER_VERSION
export E2E_LOG_DIR=${E2E_LOG_DIR:-$E2E_RUN_DIR/engine-logs}
mkdir -p "$E2E_LOG_DIR"

rc=0
timed "go test" go test -tags e2e -count=1 -v -timeout 30m ./infra/e2e/ "$@" || rc=$?
if [ $rc -ne 0 ]; then
  echo "engine logs: $E2E_LOG_DIR; control plane logs follow"
  scripts/e2e/control-plane.sh logs || true
fi
stop_cluster
printf '=== e2e %-14s %4ds %s\n' total $((SECONDS - run_start)) "$([ $rc -eq 0 ] && echo ok || echo FAILED)"
exit $rc
