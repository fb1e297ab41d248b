# shellcheck shell=bash
# shellcheck disable=SC2154 # the settings are cluster-common.sh's, sourced first
# Sourced by control-plane.sh: the host's side of the cluster. What start
# records of the host before it changes anything, the network namespace and
# cgroup root it makes, the kernel sysctls the kubelet rewrites (a record
# shared by overlapping runs), and stop's cleanup and leftover check.

# Kernel sysctls the kubelet sets on start (setupKernelTunables), restored
# by stop; the net.* ones are the host namespace's and must not change at
# all (the node's live in its own namespace).
kernel_sysctls=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
host_net_sysctls=(net.ipv4.ip_forward net.ipv4.conf.all.forwarding net.ipv4.conf.all.route_localnet
  net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables net.netfilter.nf_conntrack_max)

# sysctl_get <key>: its value, or "absent" where the kernel lacks it.
sysctl_get() {
  local f=/proc/sys/${1//.//}
  if [ -r "$f" ]; then tr -s ' \t' ' ' <"$f"; else echo absent; fi
}

# host_rules: the host namespace's whole firewall, every iptables table
# of both backends and the nftables ruleset, without counters and
# comments, one rule a line: stop must find it exactly as start did.
host_rules() {
  local cmd
  for cmd in iptables-save ip6tables-save iptables-legacy-save ip6tables-legacy-save; do
    command -v "$cmd" >/dev/null 2>&1 || continue
    { "$cmd" 2>/dev/null || true; } | sed -e '/^#/d' -e 's/ *\[[0-9]*:[0-9]*\]//' -e "s/^/$cmd: /"
  done
  { nft -s list ruleset 2>/dev/null || true; } | sed 's/^/nft: /'
}

host_devices() { ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort; }
# A machine that never ran `ip netns add` has no /run/netns: find would
# fail, and under pipefail so would start.
netns_entries() { [ ! -d /run/netns ] || find /run/netns -mindepth 1 -maxdepth 1 -printf '%f\n' | sort; }
run_netns_mounted() { awk '$5 == "/run/netns" {f=1} END {exit !f}' /proc/self/mountinfo; }

# record_host: what stop must find again (run before anything changes).
# Written to a temporary directory and renamed when complete: stop checks
# against a record only if there is a whole one.
record_host() {
  local final=$state state=$state.tmp
  rm -rf "$state"
  mkdir -p "$state"
  local k
  for k in "${host_net_sysctls[@]}"; do echo "$k=$(sysctl_get "$k")"; done >"$state/net-sysctls"
  host_devices >"$state/devices"
  host_rules | sort >"$state/rules"
  netns_entries >"$state/netns"
  if run_netns_mounted; then echo yes; else echo no; fi >"$state/run-netns-mounted"
  local d
  for d in /var/log/containers /run/containerd /run/containerd/s /var/lib/cni /var/lib/cni/results; do
    [ -e "$d" ] || echo "$d"
  done >"$state/absent-dirs"
  mv "$state" "$final"
}

# The kernel sysctls are machine-wide, while runs with different run dirs
# may overlap: the first run to start a kubelet records them in
# $node_users, every run registers there, and the last one to stop
# restores them (a run restoring while another's kubelet runs would leave
# the other's record wrong). A registration whose cluster namespace is gone
# (a run that died without stop) does not count.
node_users=/run/exchange-e2e-node
lock_users() {
  local i holder
  for i in $(seq 300); do
    if mkdir "$node_users.lock" 2>/dev/null; then
      echo $$ >"$node_users.lock/pid"
      return 0
    fi
    # A lock whose holder is gone (a stop killed while holding it) is stale.
    holder=$(cat "$node_users.lock/pid" 2>/dev/null || true)
    if [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; then
      rm -rf "$node_users.lock"
      continue
    fi
    sleep 0.1
  done
  echo "control-plane.sh: $node_users.lock held for 30 s by $holder" >&2
  return 1
}
unlock_users() { rm -rf "$node_users.lock"; }

# live_users: the run ids registered whose namespace still exists.
live_users() {
  local f
  for f in "$node_users"/runs/*; do
    [ -f "$f" ] || continue
    [ -e "/run/netns/exchange-e2e-${f##*/}" ] && echo "${f##*/}"
  done
  return 0
}

# restore_record <dir>: (under the lock, with no live run) put the kernel
# sysctls and the /run/netns mount point back as <dir>'s record
# (kernel-sysctls, run-netns-mounted) has them.
restore_record() {
  local k v
  while IFS='=' read -r k v; do
    [ "$v" = absent ] && continue
    [ "$(sysctl_get "$k")" = "$v" ] && continue
    echo "$v" >"/proc/sys/${k//.//}"
    log "restored $k=$v"
  done <"$1/kernel-sysctls"
  # ip netns add made /run/netns a mount point if it was none; undo that
  # once nothing is mounted below it.
  if [ "$(cat "$1/run-netns-mounted" 2>/dev/null)" = no ] && run_netns_mounted &&
    [ "$(mounts_under /run/netns | grep -vxc /run/netns)" = 0 ]; then
    umount /run/netns
  fi
}

# restore_node_record: restore the shared record, then drop it. It goes
# only after a complete restore, so a stop killed halfway leaves it for the
# next start or stop to finish.
restore_node_record() {
  [ -f "$node_users/kernel-sysctls" ] || return 0
  restore_record "$node_users"
  rm -rf "$node_users"
}

register_node_user() {
  lock_users
  if [ -z "$(live_users)" ]; then
    # No run holds the values: a record still there is one a stop did not
    # finish restoring; finish it before recording afresh.
    if [ -f "$node_users/kernel-sysctls" ]; then
      log "a previous run's stop did not finish: restoring its record first"
      restore_node_record
    fi
    mkdir -p "$node_users/runs"
    local k
    for k in "${kernel_sysctls[@]}"; do echo "$k=$(sysctl_get "$k")"; done >"$node_users/kernel-sysctls"
    # Whether /run/netns was a mount point before the first run's
    # `ip netns add` (recorded by start just before it).
    cp "$state/run-netns-mounted" "$node_users/run-netns-mounted"
  fi
  echo "$run_dir" >"$node_users/runs/$run_id"
  cp "$node_users/kernel-sysctls" "$state/kernel-sysctls"
  unlock_users
}

# unregister_node_user: drop this run (if start registered it); with no
# other run left, restore the record, or this run's copy of it if the
# shared one is gone. Sets others_running to the runs that still have a
# kubelet.
others_running=""
unregister_node_user() {
  [ -f "$state/kernel-sysctls" ] || return 0
  lock_users
  rm -f "$node_users/runs/$run_id"
  others_running=$(words "$(live_users)")
  if [ -n "$others_running" ]; then
    log "runs $others_running still have a kubelet: the last of them restores the kernel sysctls"
  elif [ -f "$node_users/kernel-sysctls" ]; then
    restore_node_record
  else
    log "the shared record $node_users is gone: restoring this run's copy"
    restore_record "$state"
  fi
  unlock_users
}

# cgroup_dirs: this run's cgroup root in every hierarchy that has it.
cgroup_dirs() {
  local d
  for d in /sys/fs/cgroup/*/"${cgroup_root#/}" /sys/fs/cgroup/"${cgroup_root#/}"; do
    [ -d "$d" ] && echo "$d"
  done
  return 0
}

# our_pids: processes this run left: in the cluster's network namespace,
# in its cgroups (the containers), or containerd shims of its containerd.
our_pids() {
  local ino="" p
  # The namespace's inode only while its name still points at it: once
  # freed, the kernel may give the number to another namespace.
  if [ -f "$state/netns-inode" ] && [ -e "$netns_path" ] &&
    [ "$(stat -L -c %i "$netns_path")" = "$(cat "$state/netns-inode")" ]; then
    ino=$(cat "$state/netns-inode")
  fi
  # One stat and one ls over /proc each (a busy machine has thousands of
  # processes; a command per process would take seconds).
  {
    if [ -n "$ino" ]; then
      stat -L -c '%i %n' /proc/[0-9]*/ns/net 2>/dev/null | awk -v ino="$ino" '$1 == ino {split($2, a, "/"); print a[3]}'
    fi
    local d
    for d in $(cgroup_dirs); do
      find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null
    done
    for p in $(exe_pids 'containerd-shim*'); do
      tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF "$run_dir/containerd/" && echo "$p"
    done
  } | sort -un | grep -vxF -e "$$" -e "$PPID" || true
}

# exe_pids <glob>: PIDs whose executable's file name matches the glob.
exe_pids() {
  local line
  { ls -l /proc/[0-9]*/exe 2>/dev/null || true; } | while IFS= read -r line; do
    # "... /proc/<pid>/exe -> /usr/bin/<name>"
    # shellcheck disable=SC2254 # $1 is a glob on purpose
    case ${line##*/} in $1) line=${line%/exe -> *}; echo "${line##*/proc/}" ;; esac
  done
}

# our_sandboxes: IDs of the pod sandboxes this run's containerd made.
our_sandboxes() {
  ls "$run_dir/containerd/root/io.containerd.grpc.v1.cri/sandboxes" 2>/dev/null || true
}

# containerd_running: some containerd runs on the machine (ours is stopped
# by the time this is asked).
containerd_running() {
  [ -n "$(exe_pids containerd)" ]
}

# shim_sockets: the sockets in /run/containerd/s of the shims of this
# run's sandboxes that still exist. containerd 1.6 names each after the
# sha256 of <containerd's address>/<namespace>/<sandbox ID>.
shim_sockets() {
  local id s
  for id in $(our_sandboxes); do
    s=/run/containerd/s/$(printf '%s' "$run_dir/containerd/containerd.sock/k8s.io/$id" | sha256sum | cut -d' ' -f1)
    [ ! -e "$s" ] || echo "$s"
  done
}

# words <text>: its words on one line.
words() {
  # shellcheck disable=SC2086 # splitting is the point
  echo $1
}

# mounts_under <dir>: mount points at or below dir, deepest first.
mounts_under() {
  awk -v d="$1" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -r
}

# host_setup: the cluster's network namespace (lo up, the node IP on it,
# the Service CIDR routed)
# and the kubelet's cgroup root: a directory of this run in every v1
# hierarchy (and the unified one, where runc in hybrid mode also writes);
# on a cgroup v2 only host (untested: this machine is v1) the one
# directory. Registers the run for the kernel sysctls before any kubelet
# starts.
host_setup() {
  ip netns add "$netns"
  stat -L -c %i "$netns_path" >"$state/netns-inode"
  register_node_user
  ip -n "$netns" link set lo up
  ip -n "$netns" addr add "$node_ip/32" dev lo
  # A route to the Service CIDR, so that the namespace's own processes (the
  # e2e runner) can connect to a ClusterIP at all: kube-proxy's nat OUTPUT
  # rules then rewrite it to an endpoint and the kernel routes again. The
  # node IP as source, which pods answer through cni0 (127.0.0.1 would be
  # a martian once the packet leaves lo).
  ip -n "$netns" route add "$service_cidr" dev lo src "$node_ip"
  local h
  if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
    mkdir -p "/sys/fs/cgroup/${cgroup_root#/}"
  else
    for h in /sys/fs/cgroup/*/; do
      mkdir -p "$h${cgroup_root#/}"
      if [ -f "$h/cpuset.cpus" ]; then
        cat "$h/cpuset.cpus" >"$h${cgroup_root#/}/cpuset.cpus"
        cat "$h/cpuset.mems" >"$h${cgroup_root#/}/cpuset.mems"
      fi
    done
  fi
  log "network namespace $netns, cgroup root $cgroup_root"
}

# cleanup_host: undo what the run left on the host, from the host's side.
cleanup_host() {
  local p i
  # Processes: SIGTERM, then SIGKILL what is left (ours only: see our_pids).
  for i in 1 2; do
    p=$(our_pids)
    [ -n "$p" ] || break
    log "ending leftover processes: $(words "$p")"
    # shellcheck disable=SC2086
    kill -s "$([ $i -eq 1 ] && echo TERM || echo KILL)" $p 2>/dev/null || true
    sleep 1
  done
  # Mounts: volumes, root file systems and pod network namespaces, all
  # under the run dir.
  local m
  for m in $(mounts_under "$run_dir"); do
    umount "$m" 2>/dev/null || umount -l "$m" || true
  done
  # The namespace goes only when no process is left in it (else the check
  # below reports both).
  if [ -e "$netns_path" ] && [ -z "$(our_pids)" ]; then
    ip netns delete "$netns" || true
  fi
  # cgroups: children first.
  local d
  for d in $(cgroup_dirs); do
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  # Fixed host paths: the kubelet's /var/log/containers links into the run
  # dir, libcni's cached results of this run's network (left when a
  # sandbox's CNI DEL never ran); directories that did not exist before
  # and are empty now.
  if [ -d /var/log/containers ]; then
    find /var/log/containers -maxdepth 1 -type l -lname "$run_dir/*" -delete 2>/dev/null || true
  fi
  rm -f /var/lib/cni/results/"$cni_network"-*
  local id
  for id in $(our_sandboxes); do rm -f /var/lib/cni/results/*-"$id"-*; done
  # Shim sockets of the run's sandboxes (a shim killed -9 leaves its own).
  # /run/containerd/s is shared with any other containerd 1.6 on the
  # machine, such as the image build's: left alone while one runs.
  shim_sockets | xargs -r rm -f
  if [ -f "$state/absent-dirs" ]; then
    sort -r "$state/absent-dirs" | while IFS= read -r d; do
      case $d in /run/containerd*) containerd_running && continue ;; esac
      rmdir "$d" 2>/dev/null || true
    done
  fi
  # Kernel sysctls back to what they were before the first kubelet started.
  unregister_node_user
}

# verify_clean: fail loudly when anything of the run is left on the host.
verify_clean() {
  [ -d "$state" ] || return 0
  local left=() c p k v now
  for c in "${components[@]}"; do alive "$c" && left+=("process $c ($(cat "$pids/$c.pid"))"); done
  p=$(our_pids)
  [ -z "$p" ] || left+=("processes of the run: $(words "$p")")
  for p in $(mounts_under "$run_dir"); do left+=("mount $p"); done
  [ ! -e "$netns_path" ] || left+=("network namespace $netns")
  # New entries in /run/netns, but other runs' cluster namespaces.
  now=$(netns_entries | comm -13 "$state/netns" - | grep -vxF -f <(live_users | sed 's/^/exchange-e2e-/') || true)
  [ -z "$now" ] || left+=("new entries in /run/netns: $(words "$now")")
  if [ -z "$others_running" ] && [ "$(cat "$state/run-netns-mounted")" = no ] && run_netns_mounted; then
    left+=("mount /run/netns")
  fi
  now=$(host_devices | comm -13 "$state/devices" -)
  [ -z "$now" ] || left+=("network devices in the host namespace: $(words "$now")")
  # Rules added (+) or gone (-) since start.
  now=$(host_rules | sort | comm -3 "$state/rules" - | sed 's/^\t/+ /; t; s/^/- /')
  [ -z "$now" ] || left+=("iptables/nftables of the host namespace changed:"$'\n'"$now")
  for k in $(cgroup_dirs); do left+=("cgroup $k"); done
  [ ! -f "$node_users/runs/$run_id" ] || left+=("registration $node_users/runs/$run_id")
  others_running=$(live_users | { grep -vxF "$run_id" || true; } | tr '\n' ' ')
  # The kernel sysctls only once no other run's kubelet holds them.
  while IFS='=' read -r k v; do
    now=$(sysctl_get "$k")
    [ "$now" = "$v" ] || left+=("sysctl $k=$now (was $v)")
  done < <(cat "$state/net-sysctls"; [ -n "$others_running" ] || cat "$state/kernel-sysctls" 2>/dev/null)
  if [ -d /var/log/containers ] && [ -n "$(find /var/log/containers -maxdepth 1 -lname "$run_dir/*" 2>/dev/null)" ]; then
    left+=("links in /var/log/containers")
  fi
  now=$(ls /var/lib/cni/results/"$cni_network"-* 2>/dev/null || true)
  for k in $(our_sandboxes); do now+=" $(ls /var/lib/cni/results/*-"$k"-* 2>/dev/null || true)"; done
  now=$(words "$now")
  [ -z "$now" ] || left+=("libcni results: $now")
  now=$(shim_sockets)
  [ -z "$now" ] || left+=("containerd shim sockets: $(words "$now")")

  if [ ${#left[@]} -gt 0 ]; then
    log "LEFT BEHIND after stop:"
    printf '  - %s\n' "${left[@]}"
    return 1
  fi
  log "verified: no process, mount, network namespace or device, iptables/nftables rule, cgroup or sysctl of the run is left"
}
