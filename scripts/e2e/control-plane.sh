#!/usr/bin/env bash
# A throwaway Kubernetes control plane for the end-to-end test, every
# process listening on 127.0.0.1 only:
#
#   etcd (Debian's etcd-server) → kube-apiserver → kube-controller-manager,
#   kube-scheduler, kwok (one fake node; pods go Running, Job pods Succeeded)
#
# Usage:
#   control-plane.sh start   # (re)creates $E2E_RUN_DIR, prints the kubeconfig path
#   control-plane.sh stop    # stops what start started, by PID, apiserver before etcd
#   control-plane.sh logs    # tails every component's log (for a failed CI run)
#
# $E2E_RUN_DIR (default ${TMPDIR:-/tmp}/exchange-e2e-cluster) holds the
# certificates (made with openssl), etcd's data, logs, PID files and
#   kubeconfig   admin credentials, context "e2e"
#   env          E2E_KUBECONFIG/E2E_KUBE_CONTEXT/ports, for sourcing
# Binaries come from build-tools.sh's cache (versions.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.sh
. "$here/versions.sh"

run_dir=${E2E_RUN_DIR:-${TMPDIR:-/tmp}/exchange-e2e-cluster}
pki=$run_dir/pki
logs=$run_dir/logs
pids=$run_dir/pids
# Stop order: the reverse of start, so the apiserver goes before etcd.
components=(kwok kube-scheduler kube-controller-manager kube-apiserver etcd)

log() { printf '[control-plane %3ds] %s\n' $((SECONDS - t0)) "$*"; }
t0=$SECONDS

# free_port: a TCP port nothing listens on at 127.0.0.1, below the
# ephemeral range (so no client connection takes it meanwhile).
used_ports=" "
free_port() {
  local p i
  for i in $(seq 200); do
    p=$((20000 + RANDOM % 12000))
    case $used_ports in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      used_ports+="$p "
      echo "$p"
      return 0
    fi
  done
  echo "no free port found" >&2
  return 1
}

# launch <name> <binary> <args...>: start in the background, record the PID.
launch() {
  local name=$1
  shift
  nohup "$@" >"$logs/$name.log" 2>&1 </dev/null &
  echo $! >"$pids/$name.pid"
}

# alive <name>: the recorded PID runs the binary we started under that name
# (a recycled PID of another process is never signalled).
alive() {
  local pid exe
  [ -f "$pids/$1.pid" ] || return 1
  pid=$(cat "$pids/$1.pid")
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  case ${exe##*/} in "$1" | "$1 (deleted)") return 0 ;; esac
  return 1
}

stop_one() {
  local name=$1 pid i
  if ! alive "$name"; then
    rm -f "$pids/$name.pid"
    return 0
  fi
  pid=$(cat "$pids/$name.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name ($pid) ignored SIGTERM for 10s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pids/$name.pid"
  log "stopped $name ($pid)"
}

stop() {
  [ -d "$pids" ] || return 0
  local c
  for c in "${components[@]}"; do stop_one "$c"; done
}

# wait_for <what> <seconds> <command...>: poll until the command succeeds;
# on timeout print the component logs' tails and fail.
wait_for() {
  local what=$1 limit=$2 i
  shift 2
  for i in $(seq $((limit * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  log "timed out after ${limit}s waiting for $what"
  show_logs
  return 1
}

show_logs() {
  local f
  for f in "$logs"/*.log; do
    [ -f "$f" ] || continue
    echo "----- last lines of $f"
    tail -n 25 "$f"
  done
}

certs() {
  mkdir -p "$pki"
  cd "$pki"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.crt -days 2 -subj /CN=exchange-e2e-ca 2>/dev/null
  # sign <name> <subject> <extensions>
  sign() {
    openssl req -new "${ec[@]}" -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    printf '%s\n' "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  }
  sign apiserver /CN=kube-apiserver "$(printf '%s\n' \
    'basicConstraints=CA:FALSE' 'keyUsage=digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' \
    'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc')"
  # system:masters: the test, the controllers and kwok act as cluster admin.
  sign admin "/O=system:masters/CN=exchange-e2e-admin" "$(printf '%s\n' \
    'basicConstraints=CA:FALSE' 'keyUsage=digitalSignature,keyEncipherment' 'extendedKeyUsage=clientAuth')"
  openssl ecparam -name prime256v1 -genkey -noout -out sa.key
  openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null
  cd - >/dev/null
}

kubeconfig() {
  local b64="base64 -w0"
  cat >"$run_dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: e2e
    cluster:
      server: https://127.0.0.1:$APISERVER_PORT
      certificate-authority-data: $($b64 "$pki/ca.crt")
users:
  - name: admin
    user:
      client-certificate-data: $($b64 "$pki/admin.crt")
      client-key-data: $($b64 "$pki/admin.key")
contexts:
  - name: e2e
    context: {cluster: e2e, user: admin}
current-context: e2e
EOF
  chmod 600 "$run_dir/kubeconfig"
}

# api <curl args...>: an authenticated request to the apiserver.
api() {
  curl -sf --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "$@"
}

node_ready() {
  api "https://127.0.0.1:$APISERVER_PORT/api/v1/nodes/kwok-node-0" |
    tr -d ' \n' | grep -q '"type":"Ready","status":"True"'
}

start() {
  local kbin=$KUBERNETES_DIR/bin c
  for c in "$kbin/kube-apiserver" "$kbin/kube-controller-manager" "$kbin/kube-scheduler" "$KWOK_DIR/bin/kwok"; do
    [ -x "$c" ] || { echo "missing $c: run scripts/e2e/build-tools.sh" >&2; exit 1; }
  done
  command -v etcd >/dev/null || { echo "missing etcd: apt-get install etcd-server" >&2; exit 1; }
  command -v openssl >/dev/null || { echo "missing openssl: apt-get install openssl" >&2; exit 1; }

  stop
  rm -rf "$run_dir"
  mkdir -p "$logs" "$pids" "$run_dir/etcd"
  ETCD_PORT=$(free_port)
  ETCD_PEER_PORT=$(free_port)
  APISERVER_PORT=$(free_port)
  KCM_PORT=$(free_port)
  SCHEDULER_PORT=$(free_port)
  KWOK_PORT=$(free_port)
  certs
  kubeconfig
  log "certificates and kubeconfig in $run_dir"

  launch etcd etcd --name e2e --data-dir "$run_dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "e2e=http://127.0.0.1:$ETCD_PEER_PORT" --logger zap --log-level warn
  wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
  log "etcd up on 127.0.0.1:$ETCD_PORT"

  # WatchList=false: with it on, the apiserver turns every watch from
  # resourceVersion ""/"0" into a streaming watch-list, which its cache
  # refuses on etcd older than 3.4.31/3.5.13 (Debian ships 3.4.23: no
  # RequestWatchProgress). kwok watches that way, so its watches would keep
  # failing and pods would reach Ready only at its relists, tens of seconds
  # late. Clients asking for watch-list fall back to list+watch.
  launch kube-apiserver "$kbin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 \
    --authorization-mode Node,RBAC \
    --allow-privileged=true \
    --profiling=false \
    --feature-gates WatchList=false
  wait_for kube-apiserver 60 api "https://127.0.0.1:$APISERVER_PORT/readyz"
  log "kube-apiserver $KUBERNETES_VERSION ready on 127.0.0.1:$APISERVER_PORT"

  local kc=$run_dir/kubeconfig
  launch kube-controller-manager "$kbin/kube-controller-manager" \
    --kubeconfig "$kc" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" \
    --leader-elect=false \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --use-service-account-credentials=false \
    --service-cluster-ip-range 10.96.0.0/16 \
    --horizontal-pod-autoscaler-sync-period 5s \
    --profiling=false
  launch kube-scheduler "$kbin/kube-scheduler" \
    --kubeconfig "$kc" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
    --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" \
    --leader-elect=false --profiling=false
  # kwok manages only nodes annotated kwok.x-k8s.io/node=fake; its stages
  # make such a node Ready (renewing its lease) and take pods to Running
  # and Ready, Job pods to Succeeded, deleted pods away.
  local stages=() f
  for f in "$KWOK_DIR"/stages/*.yaml; do stages+=(--config "$f"); done
  launch kwok "$KWOK_DIR/bin/kwok" \
    --kubeconfig "$kc" "${stages[@]}" \
    --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --node-ip 127.0.0.1 --node-lease-duration-seconds 40 \
    --server-address "127.0.0.1:$KWOK_PORT"

  api -X POST -H 'Content-Type: application/json' "https://127.0.0.1:$APISERVER_PORT/api/v1/nodes" -d '{
    "apiVersion": "v1", "kind": "Node",
    "metadata": {
      "name": "kwok-node-0",
      "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
      "labels": {"type": "kwok", "kubernetes.io/hostname": "kwok-node-0", "kubernetes.io/os": "linux",
                 "kubernetes.io/arch": "amd64", "topology.kubernetes.io/zone": "e2e-a"}
    },
    "status": {
      "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
      "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"}
    }
  }' >/dev/null
  wait_for "node kwok-node-0 Ready" 60 node_ready
  for c in "${components[@]}"; do
    alive "$c" || { log "$c exited"; show_logs; exit 1; }
  done
  log "kube-controller-manager, kube-scheduler and kwok running; node kwok-node-0 Ready"

  cat >"$run_dir/env" <<EOF
E2E_KUBECONFIG=$run_dir/kubeconfig
E2E_KUBE_CONTEXT=e2e
E2E_APISERVER=https://127.0.0.1:$APISERVER_PORT
E2E_ETCD=http://127.0.0.1:$ETCD_PORT
EOF
  echo "$run_dir/kubeconfig"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  logs) show_logs ;;
  *) echo "usage: $0 start|stop|logs" >&2; exit 2 ;;
esac
