#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The end-to-end test, locally or in CI (see docs/e2e.md):
#   1. build the pinned tools, or reuse them from the cache (build-tools.sh),
#      and the program's images: the exchange from the Dockerfile and
#      PostgreSQL 17 (images.sh; its BuildKit and layers are cached too)
#   2. start a throwaway cluster in a network namespace of its own: control
#      plane and a real node (containerd, kubelet, kube-proxy, CoreDNS), the
#      program's images imported into the node (control-plane.sh)
#   3. go test -tags e2e ./infra/e2e/ against it: compiled here, the test
#      binary run inside the cluster's namespace (go test -exec)
#   4. stop the cluster, also when a step failed, and check that nothing of
#      it is left on the host (a leftover fails the run)
# One timing line per phase. Extra arguments go to `go test`
# (e.g. -run TestInvalidConfigCreatesNothing).
#
# Needs root (containerd, the kubelet, a network namespace), Go, curl,
# openssl, etcd (Debian: etcd-server), containerd, runc,
# containernetworking-plugins, iptables, nftables; images.sh also mmdebstrap,
# debian-archive-keyring and python3. Nothing listens outside
# the cluster's network namespace.
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
# The tars and images.env live next to the cache (rewritten each run), not
# in the run dir, which start recreates; start imports them into the node.
export E2E_IMAGES_OUT=${E2E_IMAGES_OUT:-$E2E_CACHE/images/out}
timed images scripts/e2e/images.sh --out "$E2E_IMAGES_OUT"
export E2E_IMAGES_ENV=$E2E_IMAGES_OUT/images.env

stopped=0 stop_rc=0
stop_cluster() {
  [ $stopped -eq 0 ] || return 0
  stopped=1
  timed "stop cluster" scripts/e2e/control-plane.sh stop || stop_rc=$?
  [ $stop_rc -eq 0 ] || echo "=== e2e: stopping the cluster left something behind (see above)"
  return $stop_rc
}
trap stop_cluster EXIT
# A signal ends the run through exit, so the EXIT trap stops the cluster.
trap 'exit 130' INT
trap 'exit 143' TERM
timed "start cluster" scripts/e2e/control-plane.sh start

# shellcheck disable=SC1091
. "$E2E_RUN_DIR/env"
export E2E_KUBECONFIG E2E_KUBE_CONTEXT E2E_REAL_NODE E2E_NODE_IP E2E_POD_IMAGE E2E_CLUSTER_DNS \
  E2E_EXCHANGE_IMAGE E2E_EXCHANGE_IMAGE_NEXT E2E_POSTGRES_IMAGE
export E2E_PULUMI_ROOT=$PULUMI_DIR
export E2E_K8S_PROVIDER=$K8S_PROVIDER_DIR/bin/pulumi-resource-kubernetes
export E2E_K8S_PROVIDER_VER=$K8S_PROVIDER_VERSION
export E2E_LOG_DIR=${E2E_LOG_DIR:-$E2E_RUN_DIR/engine-logs}
mkdir -p "$E2E_LOG_DIR"

rc=0
# The cluster's apiserver (and every Service) is reachable only inside its
# namespace: go test compiles here, then runs the binary through
# control-plane.sh exec (nsenter into the namespace).
timed "go test" go test -tags e2e -count=1 -v -timeout 30m \
  -exec "$PWD/scripts/e2e/control-plane.sh exec" ./infra/e2e/ "$@" || rc=$?
if [ $rc -ne 0 ]; then
  echo "engine logs: $E2E_LOG_DIR; cluster logs follow"
  scripts/e2e/control-plane.sh logs || true
fi
stop_cluster || rc=1
printf '=== e2e %-14s %4ds %s\n' total $((SECONDS - run_start)) "$([ $rc -eq 0 ] && echo ok || echo FAILED)"
exit $rc
