# shellcheck shell=bash
# shellcheck disable=SC2154 # the settings are cluster-common.sh's, sourced first
# Sourced by control-plane.sh: the control plane, inside the cluster's
# network namespace: the certificates of every component (openssl), etcd
# (Debian's etcd-server), kube-apiserver, kube-controller-manager,
# kube-scheduler.

# certs: the CA and every certificate and key, in $pki (a subshell: it
# works in that directory).
certs() (
  mkdir -p "$pki"
  cd "$pki" || exit 1
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.crt -days 2 -subj /CN=exchange-e2e-ca 2>/dev/null
  # sign <name> <subject> <extensions>
  sign() {
    openssl req -new "${ec[@]}" -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    printf '%s\n' "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  }
  local client
  client=$(printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=digitalSignature,keyEncipherment' 'extendedKeyUsage=clientAuth')
  sign apiserver /CN=kube-apiserver "$(printf '%s\n' \
    'basicConstraints=CA:FALSE' 'keyUsage=digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' \
    'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc')"
  # system:masters: the test and the controllers act as cluster admin.
  sign admin "/O=system:masters/CN=exchange-e2e-admin" "$client"
  # The apiserver's client certificate towards kubelets (logs, exec,
  # port-forward); system:masters passes the kubelet's webhook authorization.
  sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client"
  # The node's own identity: the Node authorizer and the default RBAC
  # bindings know these names (system:node:<name>, system:kube-proxy).
  sign kubelet-client "/O=system:nodes/CN=system:node:$node_name" "$client"
  sign kube-proxy "/CN=system:kube-proxy" "$client"
  # CoreDNS reads Services, EndpointSlices, Pods and Namespaces; its
  # ClusterRole is made at start (as kubeadm does).
  sign coredns "/CN=system:coredns" "$client"
  # kube-router reads pods, namespaces, NetworkPolicies (and, being one
  # binary, the Services and nodes its other parts would use).
  sign kube-router "/CN=system:kube-router" "$client"
  # The kubelet's serving certificate, checked by the apiserver
  # (--kubelet-certificate-authority) when it proxies logs and exec.
  sign kubelet-serving "/CN=$node_name" "$(printf '%s\n' \
    'basicConstraints=CA:FALSE' 'keyUsage=digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' \
    "subjectAltName=IP:$node_ip,DNS:$node_name")"
  openssl ecparam -name prime256v1 -genkey -noout -out sa.key
  openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null
)

# start_control_plane: etcd, the apiserver (waited for), the controllers,
# the scheduler; sets the ports.
start_control_plane() {
  local kbin=$KUBERNETES_DIR/bin
  mkdir -p "$run_dir/etcd"
  free_port ETCD_PORT
  free_port ETCD_PEER_PORT
  free_port APISERVER_PORT
  free_port KCM_PORT
  free_port SCHEDULER_PORT
  certs
  kubeconfig "$run_dir/kubeconfig" admin
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
  # RequestWatchProgress). kwok, which this cluster ran before its node ran
  # the program's pods, watched that way: its watches kept failing and pods
  # reached Ready only at its relists, tens of seconds late. Clients asking
  # for watch-list fall back to list+watch.
  # SizeBasedListCostEstimate=false, for the same etcd: its size estimator
  # reads keys from the watch cache at a revision the cache never confirms
  # (no progress notifications), times out every few seconds ("Error getting
  # keys ... Too large resource version"), and once in four runs held the
  # apiserver's shutdown past stop's 10 s. It only feeds API Priority and
  # Fairness' cost estimates of lists, which this small cluster does not
  # need.
  # The kubelet flags: the apiserver's client certificate towards the
  # kubelet, and the CA that signed the kubelet's serving certificate, for
  # logs, exec and port-forward; the node is reached at its InternalIP.
  launch kube-apiserver "$kbin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$pki/ca.crt" \
    --kubelet-preferred-address-types InternalIP \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-cluster-ip-range "$service_cidr" \
    --authorization-mode Node,RBAC \
    --allow-privileged=true \
    --profiling=false \
    --feature-gates WatchList=false,SizeBasedListCostEstimate=false
  wait_for kube-apiserver 60 api "https://127.0.0.1:$APISERVER_PORT/readyz"
  log "kube-apiserver $KUBERNETES_VERSION ready on 127.0.0.1:$APISERVER_PORT"

  local kc=$run_dir/kubeconfig
  # No --allocate-node-cidrs: the node's pod CIDR is set by start, the one
  # its bridge configuration serves.
  launch kube-controller-manager "$kbin/kube-controller-manager" \
    --kubeconfig "$kc" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" \
    --leader-elect=false \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --use-service-account-credentials=false \
    --service-cluster-ip-range "$service_cidr" \
    --horizontal-pod-autoscaler-sync-period 5s \
    --profiling=false
  launch kube-scheduler "$kbin/kube-scheduler" \
    --kubeconfig "$kc" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
    --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" \
    --leader-elect=false --profiling=false
  log "controllers and scheduler started"
}
