# shellcheck shell=bash
# shellcheck disable=SC2154 # the settings are cluster-common.sh's, sourced first
# Sourced by control-plane.sh: the real node e2e-node-0, inside the
# cluster's network namespace: containerd (Debian's, with runc and the CNI
# plugins), the kubelet, kube-proxy (iptables), CoreDNS and kube-router's
# NetworkPolicy controller; its two images, assembled locally (no registry
# is reachable); and stopping it.

# node_images: build infra/e2e/pause (the sandbox) and infra/e2e/podbin
# (the smoke pods) static and pack each into a one-layer image
# (node-image.sh), tagged with the binary's hash; start_node imports them.
# Run before entering the namespace: go may need the module proxy, which
# the namespace cannot reach. Sets PAUSE_IMAGE and POD_IMAGE.
node_images() {
  mkdir -p "$run_dir/images"
  # 65535: the pause image's user upstream; 65532: distroless' nonroot.
  PAUSE_IMAGE=$(node_image pause 65535)
  POD_IMAGE=$(node_image podbin 65532:65532)
  log "images $PAUSE_IMAGE and $POD_IMAGE assembled"
}

# node_image <command under infra/e2e> <uid[:gid]>: prints the image's name.
node_image() {
  local bin=$run_dir/images/$1 ref
  (cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$bin" "./infra/e2e/$1")
  ref=e2e.local/$1:$(sha256sum "$bin" | cut -c1-12)
  "$here/node-image.sh" "$bin.tar" "$ref" "$2" "$bin" >/dev/null
  echo "$ref"
}

# import_program_images <containerd socket>: the program's images built by
# images.sh (the exchange from the repository's Dockerfile, PostgreSQL 17),
# named by the images.env in $E2E_IMAGES_ENV, into the node's k8s.io
# namespace; checks that each arrived under its name. Sets EXCHANGE_IMAGE,
# EXCHANGE_IMAGE_NEXT and POSTGRES_IMAGE. Without E2E_IMAGES_ENV it imports
# nothing and they stay empty: the runner then fails, naming what is missing.
import_program_images() {
  EXCHANGE_IMAGE="" EXCHANGE_IMAGE_NEXT="" POSTGRES_IMAGE=""
  [ -n "${E2E_IMAGES_ENV:-}" ] || { log "E2E_IMAGES_ENV unset: the program's images are not imported"; return 0; }
  [ -r "$E2E_IMAGES_ENV" ] || { log "E2E_IMAGES_ENV=$E2E_IMAGES_ENV: no such file (run images.sh)"; return 1; }
  local sock=$1 env exchange_tar postgres_tar
  # Read in a subshell: images.env's names are this function's own.
  # shellcheck disable=SC1090
  env=$(. "$E2E_IMAGES_ENV"; printf '%s\n' "$EXCHANGE_IMAGE_TAR" "$EXCHANGE_IMAGE" "$POSTGRES_IMAGE_TAR" "$POSTGRES_IMAGE")
  { read -r exchange_tar; read -r EXCHANGE_IMAGE; read -r postgres_tar; read -r POSTGRES_IMAGE; } <<<"$env"
  import_image "$sock" "$exchange_tar" "$EXCHANGE_IMAGE" || return 1
  import_image "$sock" "$postgres_tar" "$POSTGRES_IMAGE" || return 1
  # The same exchange image under a second tag: the runner's rolling update
  # moves the Deployment to it, and a changed image reference is what
  # rolls the pods; a second build would only cost time, and no registry is
  # there to push a new image to (IfNotPresent finds this one).
  EXCHANGE_IMAGE_NEXT=$EXCHANGE_IMAGE-next
  ctr --address "$sock" -n k8s.io images tag "$EXCHANGE_IMAGE" "$EXCHANGE_IMAGE_NEXT" >/dev/null
  node_has_image "$sock" "$EXCHANGE_IMAGE_NEXT" || return 1
  log "program images imported: $EXCHANGE_IMAGE (also as $EXCHANGE_IMAGE_NEXT), $POSTGRES_IMAGE"
}

# import_image <containerd socket> <tar> <name>: imports the tar into the
# node's k8s.io namespace and checks that it is listed under the name.
import_image() {
  if [ -z "$2" ] || [ -z "$3" ] || [ ! -r "$2" ]; then
    log "images.env names no readable tar for '$3' ($2)"
    return 1
  fi
  ctr --address "$1" -n k8s.io images import "$2" >/dev/null
  node_has_image "$1" "$3"
}

# node_has_image <containerd socket> <name>: whether the node lists it.
node_has_image() {
  local names
  names=$(ctr --address "$1" -n k8s.io images ls -q)
  grep -qxF "$2" <<<"$names" || { log "the node has no image $2 (it has: $names)"; return 1; }
}

# start_node: containerd, the kubelet, kube-proxy, CoreDNS and
# kube-router; needs the apiserver (start_control_plane) and the images
# (node_images).
start_node() {
  local ctd=$run_dir/containerd cni=$run_dir/cni kl=$run_dir/kubelet
  free_port KUBELET_PORT
  free_port KUBELET_HEALTHZ_PORT
  free_port PROXY_HEALTHZ_PORT
  free_port PROXY_METRICS_PORT
  free_port DNS_HEALTH_PORT
  free_port DNS_READY_PORT
  mkdir -p "$ctd" "$cni/net.d" "$cni/ipam" "$kl" "$run_dir/pod-logs" "$run_dir/kubelet-plugins" "$run_dir/runc"

  # restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE, so lowering
  # a process' OOM score fails, and without this every sandbox fails with
  # "can't get final child's PID from pipe". SystemdCgroup false: there is
  # no systemd, and cgroups are v1 (cgroupfs, as the kubelet). Every path
  # containerd, runc and the CNI plugins write is under the run dir, but
  # /run/containerd/s (shim sockets, fixed in containerd 1.6) and libcni's
  # cache in /var/lib/cni.
  cat >"$ctd/config.toml" <<EOF
version = 2
root = "$ctd/root"
state = "$ctd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$ctd/containerd.sock"
[ttrpc]
  address = "$ctd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$ctd/opt"
# The v1 runtime is never used (CRI runs the runc v2 shim), but containerd
# 1.6's task service needs it loaded; its runc root goes to the run dir too.
[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = "$run_dir/runc-v1"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  # Pod network namespaces under containerd's state dir (the run dir), not
  # /run/netns.
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        Root = "$run_dir/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$cni_bin"
    conf_dir = "$cni/net.d"
    max_conf_num = 1
EOF
  # The bridge serves the node's pod CIDR; host-local keeps its leases in
  # the run dir. No ipMasq: the namespace has no way out to masquerade to.
  # hairpinMode lets a pod reach itself through its Service; portmap
  # serves hostPort. containerd adds the loopback plugin itself.
  cat >"$cni/net.d/10-e2e.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$cni_network",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {"type": "host-local", "dataDir": "$cni/ipam",
               "ranges": [[{"subnet": "$node_cidr"}]], "routes": [{"dst": "0.0.0.0/0"}]}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  launch containerd containerd --config "$ctd/config.toml"
  wait_for containerd 30 ctr --address "$ctd/containerd.sock" version
  local img
  for img in pause podbin; do
    ctr --address "$ctd/containerd.sock" -n k8s.io images import "$run_dir/images/$img.tar" >/dev/null
  done
  import_program_images "$ctd/containerd.sock"
  log "containerd $(containerd --version | awk '{print $3}') up; images imported"

  kubeconfig "$run_dir/kubelet.kubeconfig" kubelet-client
  : >"$run_dir/kubelet-resolv.conf"
  # failCgroupV1 false: the kubelet refuses cgroup v1 otherwise (v1.35).
  # cgroupRoot: this run's own, so stop removes exactly its cgroups.
  # Authentication by client certificate and token webhook, authorization
  # by SubjectAccessReview: what `kubectl logs/exec` through the apiserver
  # needs. resolvConf is empty: pods get the cluster DNS and nothing of
  # the host's, so no pod ever queries a resolver outside the cluster.
  # Image GC off (100%): the images cannot be pulled again. Eviction
  # thresholds low: a busy shared disk must not evict the smoke pods.
  cat >"$run_dir/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $node_ip
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
rotateCertificates: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true, cacheTTL: 30s}
  x509: {clientCAFile: $pki/ca.crt}
authorization:
  mode: Webhook
  webhook: {cacheAuthorizedTTL: 30s, cacheUnauthorizedTTL: 5s}
containerRuntimeEndpoint: unix://$ctd/containerd.sock
cgroupDriver: cgroupfs
cgroupRoot: $cgroup_root
failCgroupV1: false
failSwapOn: false
clusterDNS: [$dns_ip]
clusterDomain: cluster.local
resolvConf: $run_dir/kubelet-resolv.conf
podLogsDir: $run_dir/pod-logs
volumePluginDir: $run_dir/kubelet-plugins
registerNode: true
maxPods: 30
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, nodefs.inodesFree: 1%, imagefs.available: 1%}
EOF
  launch kubelet "$NODE_DIR/bin/kubelet" \
    --config "$run_dir/kubelet.yaml" --kubeconfig "$run_dir/kubelet.kubeconfig" \
    --root-dir "$kl" --hostname-override "$node_name" --node-ip "$node_ip" \
    --node-labels "exchange-e2e/node=real"
  wait_for "kubelet to register node $node_name" 90 node_registered
  # The pod CIDR the bridge serves (set once; the kubelet passes it on to
  # containerd, kube-proxy reads the cluster CIDR from its config).
  api -X PATCH -H 'Content-Type: application/merge-patch+json' \
    "https://127.0.0.1:$APISERVER_PORT/api/v1/nodes/$node_name" \
    -d '{"spec": {"podCIDR": "'"$node_cidr"'", "podCIDRs": ["'"$node_cidr"'"]}}' >/dev/null
  wait_for "node $node_name Ready" 90 node_ready "$node_name"
  log "kubelet $KUBERNETES_VERSION: node $node_name Ready (pod CIDR $node_cidr, IP $node_ip)"

  kubeconfig "$run_dir/kube-proxy.kubeconfig" kube-proxy
  # conntrack all 0: kube-proxy leaves the conntrack sysctls alone (the
  # table size is host-wide). localhostNodePorts off: no route_localnet.
  cat >"$run_dir/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $run_dir/kube-proxy.kubeconfig}
hostnameOverride: $node_name
mode: iptables
clusterCIDR: $cluster_cidr
detectLocalMode: ClusterCIDR
healthzBindAddress: 127.0.0.1:$PROXY_HEALTHZ_PORT
metricsBindAddress: 127.0.0.1:$PROXY_METRICS_PORT
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false}
nodePortAddresses: [primary]
EOF
  launch kube-proxy "$NODE_DIR/bin/kube-proxy" --config "$run_dir/kube-proxy.yaml"

  # CoreDNS as a process on the node, like kube-proxy (docs/e2e.md): the
  # kube-dns Service has no selector, its EndpointSlice is the node IP.
  user_cluster_role system:coredns '[
    {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"], "verbs": ["list", "watch"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]}]'
  create /api/v1/namespaces/kube-system/services '{
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "kube-dns", "namespace": "kube-system",
                 "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
    "spec": {"clusterIP": "'"$dns_ip"'", "ports": [
      {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
      {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]}}'
  create /apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices '{
    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
    "metadata": {"name": "kube-dns-node", "namespace": "kube-system",
                 "labels": {"kubernetes.io/service-name": "kube-dns",
                            "endpointslice.kubernetes.io/managed-by": "control-plane.sh"}},
    "addressType": "IPv4",
    "endpoints": [{"addresses": ["'"$node_ip"'"], "conditions": {"ready": true}, "nodeName": "'"$node_name"'"}],
    "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]}'
  kubeconfig "$run_dir/coredns.kubeconfig" coredns
  # Only the cluster's zones: a name outside them is refused, never
  # forwarded (there is no network to forward to).
  cat >"$run_dir/Corefile" <<EOF
cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {
    bind $node_ip
    errors
    log
    health 127.0.0.1:$DNS_HEALTH_PORT
    ready 127.0.0.1:$DNS_READY_PORT
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $run_dir/coredns.kubeconfig e2e
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    cache 5
}
EOF
  launch coredns "$COREDNS_DIR/bin/coredns" -conf "$run_dir/Corefile"
  wait_for "CoreDNS ready" 60 curl -sf "http://127.0.0.1:$DNS_READY_PORT/ready"
  wait_for "kube-proxy healthy" 60 curl -sf "http://127.0.0.1:$PROXY_HEALTHZ_PORT/healthz"
  wait_for "kube-proxy to program the kube-dns Service" 60 kube_proxy_synced
  log "kube-proxy (iptables) and CoreDNS $COREDNS_VERSION serving cluster.local at $dns_ip"
  start_kube_router
}

# start_kube_router: the NetworkPolicies enforced beside the bridge plugin
# (which enforces none) by kube-router's network policy controller alone,
# as k3s runs it beside flannel: no routing, no service proxy (kube-proxy
# is the proxy), no CNI config. A process on the node like kube-proxy: it
# drives Debian's iptables and ipset, which a one-file image lacks. Every
# chain and set it makes is in the cluster's namespace (ipsets are per
# namespace) and goes with it. A pod that a policy selects gets a chain of
# its own; what no policy admits is rejected (ICMP port unreachable, so
# the client sees a refusal at once, not a timeout).
start_kube_router() {
  free_port KUBE_ROUTER_HEALTH_PORT
  user_cluster_role system:kube-router '[
    {"apiGroups": [""], "resources": ["namespaces", "pods", "services", "nodes", "endpoints"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["get", "list", "watch"]}]'
  kubeconfig "$run_dir/kube-router.kubeconfig" kube-router
  launch kube-router "$KUBE_ROUTER_DIR/bin/kube-router" \
    --kubeconfig "$run_dir/kube-router.kubeconfig" --hostname-override "$node_name" \
    --run-firewall=true --run-router=false --run-service-proxy=false --enable-cni=false \
    --enable-ipv4=true --enable-ipv6=false --service-cluster-ip-range "$service_cidr" \
    --health-port "$KUBE_ROUTER_HEALTH_PORT" --metrics-port 0
  wait_for "kube-router healthy" 60 curl -sf "http://127.0.0.1:$KUBE_ROUTER_HEALTH_PORT/healthz"
  wait_for "kube-router's policy chains" 60 iptables -S KUBE-ROUTER-FORWARD
  log "kube-router $KUBE_ROUTER_VERSION enforcing NetworkPolicies (iptables, ipset)"
}

# user_cluster_role <name> <rules JSON>: a ClusterRole and its binding to
# the user of the same name (the CN of a component's client certificate).
user_cluster_role() {
  create /apis/rbac.authorization.k8s.io/v1/clusterroles '{
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
    "metadata": {"name": "'"$1"'"}, "rules": '"$2"'}'
  create /apis/rbac.authorization.k8s.io/v1/clusterrolebindings '{
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
    "metadata": {"name": "'"$1"'"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "'"$1"'"},
    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "'"$1"'"}]}'
}

node_registered() {
  api "https://127.0.0.1:$APISERVER_PORT/api/v1/nodes/$node_name" >/dev/null
}

# kube_proxy_synced: kube-proxy has programmed the kube-dns Service (so a
# pod's first DNS query is NATed, never sent anywhere else).
kube_proxy_synced() {
  iptables -t nat -S KUBE-SERVICES 2>/dev/null | grep -q -- "-d $dns_ip/32 .*--dport 53"
}

# stop_node: the node's processes, then its containers. The kubelet goes
# first (it would restart what is killed under it; on SIGTERM it leaves its
# pods running); then every task of the node's containerd is killed and
# deleted through containerd, so each shim exits on its own and removes its
# socket, then containerd. The pods' network (veths, cni0, iptables) goes
# with the cluster's namespace; their mounts, cgroups and anything that
# survived a containerd killed -9 are cleanup_host's (cluster-host.sh).
stop_node() {
  stop_group kube-router coredns kube-proxy kubelet
  if alive containerd; then
    local ctr=(ctr --address "$run_dir/containerd/containerd.sock" -n k8s.io) id n
    n=$("${ctr[@]}" tasks ls -q 2>/dev/null | wc -l)
    for id in $("${ctr[@]}" tasks ls -q 2>/dev/null); do
      "${ctr[@]}" tasks kill -s KILL "$id" >/dev/null 2>&1 || true
    done
    for _ in $(seq 50); do
      [ -n "$("${ctr[@]}" tasks ls -q 2>/dev/null)" ] || break
      for id in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks rm -f "$id" >/dev/null 2>&1 || true; done
      sleep 0.2
    done
    [ "$n" -eq 0 ] || log "killed and deleted $n containerd tasks"
  fi
  stop_group containerd
}
