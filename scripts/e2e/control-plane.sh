#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A throwaway Kubernetes cluster for the end-to-end test: a control plane
# and one real node, all inside a network namespace of its own
# (docs/e2e.md, "The cluster"):
#
#   etcd (Debian's etcd-server) → kube-apiserver → kube-controller-manager,
#   kube-scheduler                            cluster-control-plane.sh
#   containerd + runc + CNI bridge → kubelet (node e2e-node-0, real
#   containers), kube-proxy (iptables), CoreDNS (cluster.local, the
#   kube-dns Service at 10.96.0.10), kube-router (NetworkPolicies;
#   iptables and ipset)                       cluster-node.sh
#   the network namespace, cgroups, kernel sysctls, cleanup and the
#   leftover check                            cluster-host.sh
#   settings and shared helpers               cluster-common.sh
#
# Usage:
#   control-plane.sh start      # (re)creates $E2E_RUN_DIR, prints the kubeconfig path
#   control-plane.sh stop       # stops everything start started, undoes what it changed
#                               # on the host, then checks that nothing is left (fails loudly)
#   control-plane.sh logs       # tails every component's log (for a failed run)
#   control-plane.sh exec CMD…  # runs CMD in the cluster's network namespace
#                               # (kubectl, go test -exec, curl of a ClusterIP)
#
# Why a network namespace: the kubelet, kube-proxy and the CNI plugins write
# network state (the cni0 bridge, veths, iptables chains, net.* sysctls such
# as ip_forward). Inside a namespace of its own none of it touches the
# host's network, deleting the namespace takes all of it away at once, two
# runs with different run directories do not collide, and a pod has no
# route out of this machine: the namespace has only lo, cni0 and the pods'
# veths, and no default route. Every component listens on 127.0.0.1 (or
# the node IP) of that namespace only.
#
# What still reaches the host, and is undone by stop: kernel sysctls the
# kubelet rewrites (recorded before the first run's kubelet starts,
# restored by the last run's stop), mounts (the cluster's namespace in
# /run/netns; pod namespaces, volumes and container root file systems
# under the run dir), the kubelet's cgroups (under a cgroup root of this
# run), and files the components keep in fixed host paths
# (/var/log/containers links, /run/containerd/s shim sockets,
# /var/lib/cni/results).
#
# $E2E_RUN_DIR (default ${TMPDIR:-/tmp}/exchange-e2e-cluster) holds the
# certificates (made with openssl), etcd's data, containerd's root and
# state, the kubelet's root, logs, PID files, the record of the host's
# state before start, and
#   kubeconfig   admin credentials, context "e2e" (reachable inside the namespace)
#   env          E2E_KUBECONFIG/E2E_KUBE_CONTEXT/E2E_NETNS/…, for sourcing
# Binaries come from build-tools.sh's cache (versions.sh); containerd, runc
# and the CNI plugins from Debian. Needs root. With E2E_IMAGES_ENV (the
# images.env that images.sh wrote), start imports the program's images (the
# exchange, PostgreSQL 17) into the node's containerd and names them in env.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
self=$here/$(basename "$0")
repo=$(cd "$here/../.." && pwd)
export PATH="/usr/local/go/bin:$PATH"
# shellcheck source=versions.sh
. "$here/versions.sh"
# shellcheck source=cluster-common.sh
. "$here/cluster-common.sh"
# shellcheck source=cluster-control-plane.sh
. "$here/cluster-control-plane.sh"
# shellcheck source=cluster-node.sh
. "$here/cluster-node.sh"
# shellcheck source=cluster-host.sh
. "$here/cluster-host.sh"

# preflight: root, the built tools and Debian's packages.
preflight() {
  local kbin=$KUBERNETES_DIR/bin c
  [ "$(id -u)" = 0 ] || { echo "control-plane.sh: the real node (containerd, kubelet) needs root" >&2; exit 1; }
  for c in "$kbin/kube-apiserver" "$kbin/kube-controller-manager" "$kbin/kube-scheduler" \
    "$NODE_DIR/bin/kubelet" "$NODE_DIR/bin/kube-proxy" "$COREDNS_DIR/bin/coredns" \
    "$KUBE_ROUTER_DIR/bin/kube-router"; do
    [ -x "$c" ] || { echo "missing $c: run scripts/e2e/build-tools.sh" >&2; exit 1; }
  done
  command -v go >/dev/null || { echo "missing go (Go 1.26, for the node's images)" >&2; exit 1; }
  local -A pkg=([etcd]=etcd-server [openssl]=openssl [curl]=curl [containerd]=containerd [ctr]=containerd
    [runc]=runc [iptables]=iptables [iptables-save]=iptables [ipset]=ipset [nft]=nftables [ip]=iproute2
    [nsenter]=util-linux)
  for c in "${!pkg[@]}"; do
    command -v "$c" >/dev/null || { echo "missing $c: apt-get install ${pkg[$c]}" >&2; exit 1; }
  done
  for c in bridge host-local portmap loopback; do
    [ -x "$cni_bin/$c" ] || { echo "missing $cni_bin/$c: apt-get install containernetworking-plugins" >&2; exit 1; }
  done
}

# start: on the host, then everything else inside the namespace
# (start_in_netns, the same script run again under nsenter).
start() {
  preflight
  stop # a cluster of a previous run in the same run dir
  rm -rf --one-file-system "$run_dir"
  mkdir -p "$logs" "$pids"
  record_host

  # From here on a failure stops what was started and undoes it.
  # shellcheck disable=SC2154 # rc is set inside the trap
  trap 'rc=$?; trap - EXIT; if [ $rc -ne 0 ]; then log "start failed ($rc): stopping"; show_logs; stop || true; fi; exit $rc' EXIT
  node_images
  host_setup
  PAUSE_IMAGE=$PAUSE_IMAGE POD_IMAGE=$POD_IMAGE nsenter --net="$netns_path" "$self" start-in-netns
  trap - EXIT
  echo "$run_dir/kubeconfig"
}

start_in_netns() {
  start_control_plane
  start_node
  local c
  for c in "${components[@]}"; do
    alive "$c" || { log "$c exited"; show_logs; exit 1; }
  done
  log "controllers and the node running; node $node_name Ready"

  cat >"$run_dir/env" <<EOF
E2E_KUBECONFIG=$run_dir/kubeconfig
E2E_KUBE_CONTEXT=e2e
E2E_APISERVER=https://127.0.0.1:$APISERVER_PORT
E2E_ETCD=http://127.0.0.1:$ETCD_PORT
E2E_NETNS=$netns
E2E_REAL_NODE=$node_name
E2E_NODE_IP=$node_ip
E2E_POD_IMAGE=$POD_IMAGE
E2E_CLUSTER_DNS=$dns_ip
E2E_EXCHANGE_IMAGE=$EXCHANGE_IMAGE
E2E_EXCHANGE_IMAGE_NEXT=$EXCHANGE_IMAGE_NEXT
E2E_POSTGRES_IMAGE=$POSTGRES_IMAGE
EOF
}

# stop: the processes in dependency order (the node first, its kubelet
# before containerd; the controllers with it; then the apiserver,
# then etcd), then the host's cleanup and the leftover check, which fails
# the stop. Signals and containerd's socket need no namespace: it runs on
# the host.
stop() {
  [ -d "$pids" ] || [ -d "$state" ] || return 0
  stop_group kube-scheduler kube-controller-manager &
  stop_node
  wait
  stop_group kube-apiserver
  stop_group etcd
  cleanup_host
  verify_clean
  # containerd's snapshots and the images: no longer mounted, only disk.
  rm -rf --one-file-system "$run_dir/containerd/root" "$run_dir/kubelet" 2>/dev/null || true
}

case ${1:-} in
  start) start ;;
  start-in-netns) start_in_netns ;;
  stop) stop ;;
  logs) show_logs ;;
  exec)
    shift
    [ -e "$netns_path" ] || { echo "no cluster network namespace $netns: run control-plane.sh start" >&2; exit 1; }
    exec nsenter --net="$netns_path" "$@"
    ;;
  *) echo "usage: $0 start|stop|logs|exec CMD..." >&2; exit 2 ;;
esac
