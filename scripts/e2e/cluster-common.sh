# shellcheck shell=bash
# shellcheck disable=SC2034 # the settings are used by the parts that source this
# Sourced by control-plane.sh: the cluster's settings (names, addresses,
# paths, all derived from the run dir) and the helpers every part uses
# (processes, waiting, the apiserver). The parts: cluster-control-plane.sh
# (certificates, etcd, apiserver, controllers), cluster-node.sh (the
# real node) and cluster-host.sh (network namespace, cgroups, cleanup and
# the leftover check).

run_dir=${E2E_RUN_DIR:-${TMPDIR:-/tmp}/exchange-e2e-cluster}
case $run_dir in /*) ;; *) run_dir=$PWD/$run_dir ;; esac
pki=$run_dir/pki
logs=$run_dir/logs
pids=$run_dir/pids
state=$run_dir/host-state # what the host looked like before start
# Names of this run's host-wide objects, derived from the run dir so two
# run dirs never share one.
run_id=$(printf '%s' "$run_dir" | sha256sum | cut -c1-8)
netns=exchange-e2e-$run_id
netns_path=/run/netns/$netns
cgroup_root=/exchange-e2e-$run_id
# The CNI network's name: libcni caches each attachment's result in
# /var/lib/cni/results/<network>-<container>-<interface> (a fixed path in
# containerd 1.6); a name of this run tells its files apart.
cni_network=exchange-e2e-$run_id

# Addresses inside the namespace. The pod CIDR is minikube's (10.244.0.0/16),
# the one Pulumi.dev.yaml's TRUSTED_PROXIES default assumes; the node has
# its first /24. The node IP sits on the namespace's lo: pods reach it
# through cni0, and unlike 127.0.0.1 it may be a Service endpoint (CoreDNS).
cluster_cidr=10.244.0.0/16
node_cidr=10.244.0.0/24
service_cidr=10.96.0.0/16
dns_ip=10.96.0.10
node_ip=10.250.0.1
node_name=e2e-node-0
cni_bin=/usr/lib/cni

# Every process start launches (stop knows their order).
components=(kube-router coredns kube-proxy kubelet containerd kube-scheduler kube-controller-manager kube-apiserver etcd)

# Seconds since the start/stop began, also across the re-exec into the
# namespace.
export CP_T0=${CP_T0:-$(date +%s)}
log() { printf '[control-plane %3ds] %s\n' $(($(date +%s) - CP_T0)) "$*"; }

# free_port <var>: sets var to a TCP port nothing listens on at
# 127.0.0.1, below the ephemeral range (so no client connection takes it
# meanwhile), and not handed out before in this run. Called inside the
# namespace, where the cluster is alone; kept so the cluster never depends
# on fixed ports. It assigns instead of printing: in a $(...) subshell
# the record of ports handed out would be lost, and two components picked
# before either listens could get the same port (seen once: etcd and the
# controller manager).
used_ports=" "
free_port() {
  local p i
  for i in $(seq 200); do
    p=$((20000 + RANDOM % 12000))
    case $used_ports in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      used_ports+="$p "
      printf -v "$1" '%s' "$p"
      return 0
    fi
  done
  echo "no free port found" >&2
  return 1
}

# launch <name> <binary> <args...>: start in the background, record the PID.
# In a session of its own (setsid execs it, same PID): a Ctrl-C or a
# signal to run.sh's process group does not reach it, only stop ends it.
launch() {
  local name=$1
  shift
  setsid "$@" >"$logs/$name.log" 2>&1 </dev/null &
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

# stop_group <name...>: SIGTERM to each that runs, wait up to 10 s for all,
# SIGKILL what is left.
stop_group() {
  local name pid i running=()
  for name in "$@"; do
    if alive "$name"; then
      kill -TERM "$(cat "$pids/$name.pid")" 2>/dev/null || true
      running+=("$name")
    else
      rm -f "$pids/$name.pid"
    fi
  done
  [ ${#running[@]} -gt 0 ] || return 0
  for i in $(seq 100); do
    local still=0
    for name in "${running[@]}"; do kill -0 "$(cat "$pids/$name.pid")" 2>/dev/null && still=1; done
    [ $still -eq 1 ] || break
    sleep 0.1
  done
  for name in "${running[@]}"; do
    pid=$(cat "$pids/$name.pid")
    if kill -0 "$pid" 2>/dev/null; then
      log "$name ($pid) still running 10 s after SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pids/$name.pid"
  done
  log "stopped ${running[*]}"
}

# wait_for <what> <seconds> <command...>: poll until the command succeeds;
# on timeout, or as soon as a started component has exited, print the
# component logs' tails and fail.
wait_for() {
  local what=$1 limit=$2 i f c
  shift 2
  for i in $(seq $((limit * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    for f in "$pids"/*.pid; do
      [ -f "$f" ] || continue
      c=${f##*/}
      c=${c%.pid}
      alive "$c" || { log "$c exited while waiting for $what"; show_logs; return 1; }
    done
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

# kubeconfig <file> <cert name in pki>: credentials for one client.
kubeconfig() {
  local b64="base64 -w0"
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: e2e
    cluster:
      server: https://127.0.0.1:$APISERVER_PORT
      certificate-authority-data: $($b64 "$pki/ca.crt")
users:
  - name: $2
    user:
      client-certificate-data: $($b64 "$pki/$2.crt")
      client-key-data: $($b64 "$pki/$2.key")
contexts:
  - name: e2e
    context: {cluster: e2e, user: $2}
current-context: e2e
EOF
  chmod 600 "$1"
}

# api <curl args...>: an authenticated request to the apiserver.
api() {
  curl -sf --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "$@"
}

# create <collection path> <json>: POST an object; fail loudly with the
# apiserver's answer.
create() {
  local out
  if ! out=$(curl -sS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    -H 'Content-Type: application/json' -X POST "https://127.0.0.1:$APISERVER_PORT$1" -d "$2" -w '\n%{http_code}'); then
    echo "POST $1 failed: $out" >&2
    return 1
  fi
  case ${out##*$'\n'} in 2??) ;; *) echo "POST $1: $out" >&2; return 1 ;; esac
}

node_ready() {
  api "https://127.0.0.1:$APISERVER_PORT/api/v1/nodes/$1" |
    tr -d ' \n' | grep -q '"type":"Ready","status":"True"'
}
