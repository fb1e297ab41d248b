#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016 # single-quoted scripts expand in their hook or container
# Builds the end-to-end test's container images on a machine that reaches no
# container registry, only the Go module proxy and Debian's archive (see
# docs/e2e.md, "Images"):
#
#   1. BuildKit and the docker/dockerfile:1.7 frontend from the Go module
#      proxy (build-buildkit.sh, cached per version).
#   2. The root file systems of the base images the Dockerfiles name, from
#      Debian's archive with mmdebstrap, and the Go toolchain from the module
#      proxy; cached per suite, archive date and package list.
#   3. A containerd and a buildkitd (containerd worker) of its own: sockets,
#      state and config in a private run directory; their roots (image store,
#      snapshots, BuildKit's cache with the Dockerfile's Go cache mounts)
#      persist in the cache, so a warm build recompiles nothing.
#   4. The base images, under exactly the names in FROM and in the syntax
#      line, built by BuildKit from those root file systems.
#   5. The exchange image from the repository's Dockerfile, unchanged, and the
#      PostgreSQL 17 image from scripts/e2e/postgres/; both stored in that
#      containerd and exported as docker-archive tars (`ctr images import`).
#   6. Checks on the exported tars, imported into a namespace of their own
#      and run with containerd (--no-check skips them).
#   7. Everything it started is stopped and unmounted, also on failure.
#
# Usage: images.sh [--tag TAG] [--out DIR] [--no-check]
#   --tag  the exchange image's tag (default e2e-<12-hex commit>[-dirty])
#   --out  where the tars and images.env go (default
#          ${TMPDIR:-/tmp}/exchange-e2e-images, or $E2E_IMAGES_OUT)
# images.env names the images and their tars, for the caller to source.
#
# Needs root (containerd, overlay mounts, mmdebstrap's chroot) and Debian's
# containerd, runc, mmdebstrap, debian-archive-keyring, curl and python3.
# One run at a time per cache (a lock); other containerds on the machine are
# not touched. One timing line per step.
set -euo pipefail
# Command substitutions fail the script too ($(rootfs ...) below).
shopt -s inherit_errexit
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=image-versions.sh
. "$here/image-versions.sh"
export PATH="/usr/local/go/bin:$PATH"

die() { printf 'images.sh: %s\n' "$*" >&2; exit 1; }

# closefds <command...>: runs it with every file descriptor above 2 closed.
closefds() (
  local fd
  for fd in /proc/"$BASHPID"/fd/*; do
    fd=${fd##*/}
    if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
  done
  exec "$@"
)

tag="" out=${E2E_IMAGES_OUT:-${TMPDIR:-/tmp}/exchange-e2e-images} check=1
while [ $# -gt 0 ]; do
  case $1 in
    --tag) tag=${2:?--tag needs a value}; shift 2 ;;
    --out) out=${2:?--out needs a value}; shift 2 ;;
    --no-check) check=0; shift ;;
    *) die "unknown argument $1 (usage: images.sh [--tag TAG] [--out DIR] [--no-check])" ;;
  esac
done

# --- What the machine must have: fail now, not half-way. -------------------
[ "$(id -u)" -eq 0 ] || die "run as root: containerd, its overlay mounts and mmdebstrap's chroot need it"
missing=()
for c in containerd ctr runc containerd-shim-runc-v2 mmdebstrap curl go python3 flock tar sha256sum apt-config git; do
  command -v "$c" >/dev/null 2>&1 || missing+=("$c")
done
[ ${#missing[@]} -eq 0 ] || die "missing: ${missing[*]} (Debian: apt-get install containerd runc mmdebstrap debian-archive-keyring curl python3)"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || die "$keyring missing (Debian: debian-archive-keyring)"

# The script's own stdout and stderr, for cleanup: a signal that arrives
# during `ctr_ ... >/dev/null` runs the trap with that redirection in place.
exec 7>&1 8>&2

timing() { printf '=== images %-18s %4ds %s\n' "$1" "$2" "$3"; }
# step <name> <command...>: runs it in this shell (a failure ends the script
# through set -e; the EXIT trap names the step), then one timing line.
step_name="" step_start=0
step() {
  step_name=$1 step_start=$SECONDS
  shift
  "$@"
  timing "$step_name" $((SECONDS - step_start)) ok
  step_name=""
}
total_start=$SECONDS

# --- One run per cache at a time: the builder's roots live there. ----------
mkdir -p "$IMAGES_CACHE/rootfs" "$out"
exec 9>"$IMAGES_CACHE/lock"
flock -w 1800 9 || die "another images.sh has held $IMAGES_CACHE/lock for 30 min"

# --- BuildKit (cached per version). ----------------------------------------
step buildkit "$here/build-buildkit.sh"
buildctl_bin=$BUILDKIT_DIR/bin/buildctl
buildkitd_bin=$BUILDKIT_DIR/bin/buildkitd

run=$(mktemp -d "${TMPDIR:-/tmp}/exchange-e2e-images.XXXXXX")
mkdir -p "$run/logs" "$run/tmp" "$run/ctx"
containerd_root=$IMAGES_CACHE/containerd-root
buildkit_root=$IMAGES_CACHE/buildkit-root
csock=$run/containerd.sock
bsock=$run/buildkitd.sock
# Container cgroups (cgroupfs) go under these, so they can be found and
# removed; the check's containers use containerd's default /<namespace>/<id>.
cgroup_parent=exchange-e2e-images
check_ns=exchange-e2e-check
containerd_pid="" buildkitd_pid=""

ctr_() { ctr --address "$csock" "$@"; }
buildctl_() { "$buildctl_bin" --addr "unix://$bsock" "$@"; }

# stop_pid <pid> <name>: SIGTERM, then SIGKILL after 20 s.
stop_pid() {
  local pid=$1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  echo "images.sh: $2 ($pid) ignored SIGTERM; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# remove_ns_containers <namespace>: kill and delete every task and container.
remove_ns_containers() {
  local ns=$1 id
  for id in $(ctr_ -n "$ns" tasks ls -q 2>/dev/null); do
    ctr_ -n "$ns" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
  done
  for id in $(ctr_ -n "$ns" containers ls -q 2>/dev/null); do
    ctr_ -n "$ns" tasks rm -f "$id" >/dev/null 2>&1 || true
    ctr_ -n "$ns" containers rm "$id" >/dev/null 2>&1 || true
  done
}

cleanup() {
  local rc=$? p mp
  set +e
  trap - EXIT INT TERM
  exec 1>&7 2>&8
  [ -z "$step_name" ] || timing "$step_name" $((SECONDS - step_start)) "FAILED ($rc)"
  if [ -n "$containerd_pid" ] && kill -0 "$containerd_pid" 2>/dev/null; then
    remove_ns_containers "$check_ns"
    for p in $(ctr_ -n "$check_ns" images ls -q 2>/dev/null); do ctr_ -n "$check_ns" images rm "$p" >/dev/null 2>&1; done
    ctr_ namespaces rm "$check_ns" >/dev/null 2>&1
  fi
  stop_pid "$buildkitd_pid" buildkitd
  # A build cut short can leave BuildKit's containers behind.
  if [ -n "$containerd_pid" ] && kill -0 "$containerd_pid" 2>/dev/null; then
    remove_ns_containers buildkit
  fi
  stop_pid "$containerd_pid" containerd
  # Shims of this containerd (started with -address <our socket>) that
  # outlived it: by their pid, found by the socket path only we use.
  local cmdline
  for p in /proc/[0-9]*; do
    cmdline=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline")
    if [[ $cmdline == *" -address $csock "* ]]; then
      echo "images.sh: stopping leftover shim ${p#/proc/}" >&2
      kill -KILL "${p#/proc/}" 2>/dev/null
    fi
  done
  # Mounts under our directories (mmdebstrap's chroot, snapshots), deepest first.
  # shellcheck disable=SC2013 # mount points have no blanks here
  for mp in $(awk '{print $5}' /proc/self/mountinfo | grep -E "^($run|$containerd_root|$buildkit_root)(/|$)" | sort -r); do
    echo "images.sh: unmounting leftover $mp" >&2
    umount "$mp" 2>/dev/null || umount -l "$mp"
  done
  # Empty cgroups left by the containers (runc removes only the leaves).
  for p in /sys/fs/cgroup/*/"$cgroup_parent" /sys/fs/cgroup/*/"$check_ns"; do
    [ -d "$p" ] && find "$p" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  if [ $rc -ne 0 ]; then
    local f
    for f in "$run"/logs/*.log; do
      [ -s "$f" ] || continue
      echo "--- last lines of $(basename "$f")"
      tail -n 25 "$f"
    done
  fi
  rm -rf "$out/logs"
  cp -r "$run/logs" "$out/logs" 2>/dev/null
  rm -rf "$run"
  timing total $((SECONDS - total_start)) "$([ $rc -eq 0 ] && echo ok || echo "FAILED ($rc)")"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- What the Dockerfiles name. --------------------------------------------
exchange_df=$repo/Dockerfile
postgres_dir=$here/postgres
go_version=$(sed -n 's/^toolchain go//p' "$repo/go.work")
[ -n "$go_version" ] || go_version=$(sed -n 's/^go //p' "$repo/go.work")
[ -n "$go_version" ] || die "no Go version in go.work"
arch=$(dpkg --print-architecture)

# from_images <Dockerfile>: the images its FROM lines name (not stage names).
from_images() {
  awk 'toupper($1) == "FROM" {
         i = 2; while ($i ~ /^--/) i++
         img = $i; for (s in stages) if (s == img) img = ""
         if (img != "") print img
         for (j = i + 1; j <= NF; j++) if (toupper($j) == "AS") stages[$(j + 1)] = 1
       }' "$1"
}
# syntax_of <Dockerfile>: the frontend its syntax line asks for.
syntax_of() { sed -n '1s/^#[[:space:]]*syntax[[:space:]]*=[[:space:]]*//p' "$1"; }

bases=$( (from_images "$exchange_df"; from_images "$postgres_dir/Dockerfile") | sort -u)
for df in "$exchange_df" "$postgres_dir/Dockerfile"; do
  s=$(syntax_of "$df")
  case $s in
    "") ;;
    docker/dockerfile:"${DOCKERFILE_FRONTEND_VERSION%.*}" | docker/dockerfile:"$DOCKERFILE_FRONTEND_VERSION") ;;
    *) die "$df asks for the frontend $s; image-versions.sh builds docker/dockerfile:$DOCKERFILE_FRONTEND_VERSION" ;;
  esac
done
frontend_image=docker.io/docker/dockerfile:${DOCKERFILE_FRONTEND_VERSION%.*}

# suite_of <Debian major>: the codename its images are built from.
suite_of() {
  case $1 in
    12) echo bookworm ;;
    13) echo trixie ;;
    14) echo forky ;;
    *) return 1 ;;
  esac
}

# --- Debian's archive, as apt on this machine reaches it. ------------------
# The mirror is read from apt's own configuration (deb822 .sources and
# one-line .list files), never written into the repository; each candidate
# is asked for the suite's InRelease and must answer as Debian.
# E2E_DEBIAN_MIRROR / E2E_DEBIAN_SECURITY_MIRROR override it.
apt_uris() {
  python3 - "$1" <<'PY'
import glob, re, sys
want_security = sys.argv[1] == "security"
seen = []
def add(uri, suites):
    for s in suites:
        if s.endswith("-security") == want_security and uri not in seen:
            seen.append(uri)
for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in re.split(r"\n[ \t]*\n", open(f).read()):
        fields, key = {}, None
        for line in stanza.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0] in " \t" and key:
                fields[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if fields.get("enabled", "yes").lower() == "no" or "deb" not in fields.get("types", "").split():
            continue
        for uri in fields.get("uris", "").split():
            add(uri, fields.get("suites", "").split())
for f in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
    try:
        lines = open(f).read().splitlines()
    except OSError:
        continue
    for line in lines:
        m = re.match(r"deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line.split("#", 1)[0].strip())
        if m:
            add(m.group(1), [m.group(2)])
print("\n".join(seen))
PY
}

# release_field <uri> <suite> <field>: a field of the suite's InRelease.
release_field() {
  local body
  body=$(curl -fsS --max-time 30 "${1%/}/dists/$2/InRelease") || return 1
  awk -v f="$3: " 'index($0, f) == 1 { print substr($0, length(f) + 1); exit }' <<<"$body"
}

# mirror_for <main|security> <suite>: the first configured URI serving it.
mirror_for() {
  local kind=$1 suite=$2 uri
  [ "$kind" = security ] && suite=$suite-security
  for uri in $(apt_uris "$kind"); do
    if [ "$(release_field "$uri" "$suite" Origin 2>/dev/null)" = Debian ]; then
      echo "${uri%/}"
      return 0
    fi
  done
  return 1
}

declare -A mirror security_mirror
resolve_mirrors() {
  local suite=$1
  [ -n "${mirror[$suite]:-}" ] && return 0
  mirror[$suite]=${E2E_DEBIAN_MIRROR:-$(mirror_for main "$suite")} ||
    die "no apt source of this machine serves Debian $suite (set E2E_DEBIAN_MIRROR)"
  security_mirror[$suite]=${E2E_DEBIAN_SECURITY_MIRROR:-$(mirror_for security "$suite")} ||
    die "no apt source of this machine serves Debian $suite-security (set E2E_DEBIAN_SECURITY_MIRROR)"
}

# apt settings of this machine the archive needs (a snapshot mirror's
# expired Valid-Until), carried into the root file systems' apt config so
# apt-get in the Dockerfiles reaches the archive the same way.
apt_opts=()
while IFS= read -r line; do
  apt_opts+=(--aptopt="$line")
done < <(apt-config dump | grep -E '^Acquire::(Check-Valid-Until|Check-Date|http::Proxy|https::Proxy) ' | sed 's/;$//' || true)

# The slim variant's dpkg excludes, as debuerreotype makes the official
# *-slim images: no documentation, man pages or translations, now or for
# packages installed later in the image.
slim_opts=()
for p in 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' \
  'path-exclude=/usr/share/groff/*' 'path-exclude=/usr/share/info/*' \
  'path-exclude=/usr/share/linda/*' 'path-exclude=/usr/share/lintian/overrides/*' \
  'path-exclude=/usr/share/locale/*' 'path-exclude=/usr/share/man/*'; do
  slim_opts+=(--dpkgopt="$p")
done

# The official Debian images' apt and dpkg settings (debuerreotype's
# minimizing config, as in /etc/apt/apt.conf.d/docker-* of debian:*): no
# package caches or downloaded .debs left in a layer, gzipped indexes, no
# translations, no suggests kept by autoremove, dpkg without fsync.
minimizing_config() {
  local d=$run/minimizing
  mkdir -p "$d/apt" "$d/dpkg"
  cat >"$d/apt/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$d/apt/docker-autoremove-suggests"
  echo 'Acquire::GzipIndexes "true";' >"$d/apt/docker-gzip-indexes"
  echo 'Acquire::Languages "none";' >"$d/apt/docker-no-languages"
  echo 'force-unsafe-io' >"$d/dpkg/docker-apt-speedup"
  chmod 0644 "$d"/apt/* "$d"/dpkg/*
}
minimizing_config
minimizing_hooks=(
  --customize-hook="copy-in $run/minimizing/apt/docker-clean $run/minimizing/apt/docker-autoremove-suggests $run/minimizing/apt/docker-gzip-indexes $run/minimizing/apt/docker-no-languages /etc/apt/apt.conf.d/"
  --customize-hook="copy-in $run/minimizing/dpkg/docker-apt-speedup /etc/dpkg/dpkg.cfg.d/"
  # Made before docker-clean was in place, and no longer cleaned by
  # mmdebstrap once it is (its cleanup asks apt where the caches are).
  --customize-hook='rm -f "$1"/var/cache/apt/*.bin'
)

# This machine's egress re-signs TLS with CAs added locally
# (/usr/local/share/ca-certificates). The Go build stage's `go mod
# download` needs them to reach the module proxy, so the Go base gets them;
# the runtime bases do not (their apt uses plain HTTP and the exchange image
# must not trust a local CA).
host_cas=()
for f in /usr/local/share/ca-certificates/*.crt; do
  [ -e "$f" ] && host_cas+=("$f")
done

# rootfs <suite> <packages> <with host CAs: 0|1>: the cached root file
# system tar (minbase plus packages, slim), built unless cached. The key is
# the suite, the archive's state (the Date of the suite's, -updates' and
# -security's InRelease), the packages and this recipe; SOURCE_DATE_EPOCH is
# the newest of those dates, so one archive state gives one tar.
rootfs() {
  local suite=$1 pkgs=$2 cas=$3 m s d dates="" epoch=0 e key tar
  resolve_mirrors "$suite"
  m=${mirror[$suite]} s=${security_mirror[$suite]}
  for d in "$m $suite" "$m $suite-updates" "$s $suite-security"; do
    # shellcheck disable=SC2086 # split into URL and suite
    set -- $d
    e=$(release_field "$1" "$2" Date) || die "cannot read $2's InRelease from the configured mirror"
    dates+="$2=$e;"
    e=$(date -u -d "$e" +%s)
    [ "$e" -gt "$epoch" ] && epoch=$e
  done
  key=$( {
    echo "recipe 3 minbase slim minimizing-config $arch"
    echo "$suite $dates"
    echo "packages $pkgs"
    printf '%s\n' "${apt_opts[@]}" "${slim_opts[@]}"
    mmdebstrap --version
    if [ "$cas" = 1 ] && [ ${#host_cas[@]} -gt 0 ]; then sha256sum "${host_cas[@]}"; fi
  } | sha256sum | cut -c1-16)
  tar=$IMAGES_CACHE/rootfs/$suite-$(date -u -d "@$epoch" +%Y%m%dT%H%M%SZ)-$key.tar
  if [ -s "$tar" ]; then
    echo "$tar"
    return 0
  fi
  local hooks=("${minimizing_hooks[@]}")
  if [ "$cas" = 1 ] && [ ${#host_cas[@]} -gt 0 ]; then
    hooks+=(--customize-hook='mkdir -p "$1/usr/local/share/ca-certificates"'
      --customize-hook="copy-in ${host_cas[*]} /usr/local/share/ca-certificates/"
      --customize-hook='chroot "$1" update-ca-certificates >/dev/null')
  fi
  local inc=()
  [ -n "$pkgs" ] && inc=(--include="$pkgs")
  # mmdebstrap mounts /proc, /sys and /dev in its chroot under TMPDIR (our
  # run directory, so cleanup finds anything it leaves); /dev is left out of
  # the tar, as in images (the runtime provides it). It runs with no file
  # descriptor above 2 (closefds): it gives apt a pipe on the lowest free
  # one, and apt hands it to `cat >&N` through /bin/sh; with this script's
  # 7-9 and any the caller left open taken, N was 11, and dash refuses
  # descriptors above 9 ("Bad fd number"), failing the download.
  SOURCE_DATE_EPOCH=$epoch TMPDIR=$run/tmp closefds mmdebstrap --mode=root --variant=minbase \
    --format=tar --skip=output/dev --architectures="$arch" "${inc[@]}" \
    "${apt_opts[@]}" "${slim_opts[@]}" "${hooks[@]}" \
    "$suite" "$tar.tmp" \
    "deb [signed-by=$keyring] $m $suite main" \
    "deb [signed-by=$keyring] $m $suite-updates main" \
    "deb [signed-by=$keyring] $s $suite-security main" \
    >"$run/logs/mmdebstrap-$suite.log" 2>&1 || die "mmdebstrap $suite failed (log: $out/logs/mmdebstrap-$suite.log)"
  mv "$tar.tmp" "$tar"
  echo "$tar"
}

# go_tar: the Go toolchain go.work names, from the module proxy
# (golang.org/toolchain, verified against the checksum database like any
# module), as a tar of go/ for /usr/local. Cached per version.
go_tar() {
  local tar=$IMAGES_CACHE/rootfs/go$go_version.linux-$arch.tar dir
  if [ -s "$tar" ]; then
    echo "$tar"
    return 0
  fi
  dir=$(cd "$run" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "golang.org/toolchain@v0.0.1-go$go_version.linux-$arch" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$dir" ] || die "golang.org/toolchain@v0.0.1-go$go_version.linux-$arch did not download"
  rm -rf "$run/go-stage"
  mkdir -p "$run/go-stage"
  cp -a "$dir" "$run/go-stage/go"
  # Module zips carry no modes: the go command marks these executable when it
  # switches to a downloaded toolchain; do the same.
  chmod -R u+w,a+rX "$run/go-stage/go"
  chmod a+x "$run/go-stage/go/bin/"* "$run/go-stage/go/pkg/tool/"*/*
  # (Whole outputs into variables before grep -q: under pipefail, grep
  # quitting early can fail the writer with SIGPIPE.)
  local v
  v=$("$run/go-stage/go/bin/go" version)
  [[ $v == *" go$go_version "* ]] || die "the toolchain module is not go$go_version: $v"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$run/go-stage" -cf "$tar.tmp" go
  rm -rf "$run/go-stage"
  mv "$tar.tmp" "$tar"
  echo "$tar"
}

# --- Root file systems (cached). --------------------------------------------
declare -A base_ctx
prepare_bases() {
  local img ver suite ctx rt gt
  for img in $bases; do
    ctx=$run/ctx/$(echo "$img" | tr '/:' '__')
    mkdir -p "$ctx"
    case $img in
      golang:*-bookworm)
        ver=${img#golang:}; ver=${ver%-bookworm}
        [ "$ver" = "$go_version" ] || die "the Dockerfile builds with $img but go.work pins Go $go_version"
        resolve_mirrors bookworm
        # What the build stage uses of the official image: Go, a shell, CA
        # certificates (and netbase's /etc/services). Not its compilers: the
        # build is CGO_ENABLED=0.
        rt=$(rootfs bookworm ca-certificates,netbase 1)
        gt=$(go_tar)
        ln -f "$rt" "$ctx/rootfs.tar" 2>/dev/null || cp "$rt" "$ctx/rootfs.tar"
        ln -f "$gt" "$ctx/go.tar" 2>/dev/null || cp "$gt" "$ctx/go.tar"
        # The stand-in's go reaches modules the way this machine's go does:
        # settings that differ from the toolchain's own go.env defaults go
        # into the base image's environment (the Dockerfile names none).
        local v host_v def_v goenv=""
        for v in GOPROXY GOSUMDB GOPRIVATE GONOPROXY GONOSUMDB GOINSECURE; do
          host_v=$(go env "$v")
          def_v=$(tar -xOf "$gt" go/go.env | sed -n "s/^$v=//p")
          [ "$host_v" = "$def_v" ] || goenv+="ENV $v=$host_v"$'\n'
        done
        # The official image's environment (docker-library/golang).
        cat >"$ctx/Dockerfile" <<EOF
FROM scratch
ADD rootfs.tar /
ADD go.tar /usr/local/
ENV GOLANG_VERSION=$go_version GOTOOLCHAIN=local GOPATH=/go
ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
${goenv}RUN mkdir -p /go/src /go/bin && chmod -R 1777 /go && go version
WORKDIR /go
CMD ["bash"]
EOF
        ;;
      debian:*-slim)
        ver=${img#debian:}; ver=${ver%-slim}
        suite=$(suite_of "${ver%%.*}") || die "no Debian suite known for $img"
        resolve_mirrors "$suite"
        local point
        point=$(release_field "${mirror[$suite]}" "$suite" Version)
        if [ "$point" != "$ver" ]; then
          echo "images.sh: note: $img is assembled from the archive's current $suite, which is $point" >&2
        fi
        rt=$(rootfs "$suite" "" 0)
        ln -f "$rt" "$ctx/rootfs.tar" 2>/dev/null || cp "$rt" "$ctx/rootfs.tar"
        printf 'FROM scratch\nADD rootfs.tar /\nCMD ["bash"]\n' >"$ctx/Dockerfile"
        ;;
      *) die "images.sh cannot assemble the base image $img (known: golang:<go.work version>-bookworm, debian:<major.minor>-slim)" ;;
    esac
    base_ctx[$img]=$ctx
    used+=("$rt" ${gt:+"$gt"})
    echo "base $img <- $(basename "$rt")${gt:+ + $(basename "$gt")}"
    gt=""
  done
  # Tars of older archive states or recipes are not used again.
  local f
  for f in "$IMAGES_CACHE"/rootfs/*.tar; do
    [[ " ${used[*]} " == *" $f "* ]] || rm -f "$f"
  done
}
used=()
step "root file systems" prepare_bases

# --- containerd and buildkitd of our own. ------------------------------------
start_builder() {
  mkdir -p "$containerd_root" "$buildkit_root" "$run/containerd-state"
  # The CRI plugin stays off: it is what sets pods' oom_score_adj (and needs
  # restrict_oom_score_adj here, where root lacks CAP_SYS_RESOURCE), and it
  # would also take CNI and stream ports. BuildKit and ctr never lower an
  # OOM score. runc's cgroup driver is cgroupfs (runc's default without the
  # CRI's SystemdCgroup).
  cat >"$run/containerd.toml" <<EOF
version = 2
root = "$containerd_root"
state = "$run/containerd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]
[grpc]
  address = "$csock"
[ttrpc]
  address = "$csock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$containerd_root/opt"
EOF
  # TMPDIR: temporary mounts land in the run directory, where cleanup looks.
  TMPDIR=$run/tmp containerd --config "$run/containerd.toml" >"$run/logs/containerd.log" 2>&1 7>&- 8>&- 9>&- &
  containerd_pid=$!
  for _ in $(seq 150); do
    ctr_ version >/dev/null 2>&1 && break
    kill -0 "$containerd_pid" 2>/dev/null || die "containerd exited (log: $out/logs/containerd.log)"
    sleep 0.2
  done
  ctr_ version >/dev/null || die "containerd did not answer on $csock"

  # Builds' RUN steps use the host's network (no CNI of ours); they reach
  # what the machine reaches: the module proxy and Debian's archive.
  cat >"$run/buildkitd.toml" <<EOF
root = "$buildkit_root"
[grpc]
  address = ["unix://$bsock"]
[worker.oci]
  enabled = false
[worker.containerd]
  enabled = true
  address = "$csock"
  namespace = "buildkit"
  networkMode = "host"
  defaultCgroupParent = "$cgroup_parent"
  gc = true
  # The cache (layers, the Go module and build caches) is kept up to this.
  maxUsedSpace = "12GB"
EOF
  TMPDIR=$run/tmp "$buildkitd_bin" --config "$run/buildkitd.toml" >"$run/logs/buildkitd.log" 2>&1 7>&- 8>&- 9>&- &
  buildkitd_pid=$!
  for _ in $(seq 150); do
    buildctl_ debug workers >/dev/null 2>&1 && break
    kill -0 "$buildkitd_pid" 2>/dev/null || die "buildkitd exited (log: $out/logs/buildkitd.log)"
    sleep 0.2
  done
  buildctl_ debug workers
}
step "start builder" start_builder

# build <log name> <buildctl build args...>: a build, its log kept.
build() {
  local name=$1
  shift
  buildctl_ build --progress=plain "$@" >"$run/logs/build-$name.log" 2>&1 ||
    die "building $name failed (log: $out/logs/build-$name.log)"
  { grep -E '^#[0-9]+ (DONE|CACHED)' "$run/logs/build-$name.log" || true; } | awk '{print $2}' | sort | uniq -c | tr '\n' ' '
  echo "($name)"
}

build_bases() {
  local img old
  # Earlier runs' exchange and PostgreSQL images: their tars were the output;
  # the layers BuildKit still caches stay.
  for old in $(ctr_ -n buildkit images ls -q); do
    case $old in
      docker.io/library/exchange:* | e2e.local/postgresql:*) ctr_ -n buildkit images rm "$old" >/dev/null ;;
    esac
  done
  # docker/dockerfile:1.7 as its own release Dockerfile makes it: the
  # frontend binary alone, its labels, its entrypoint.
  local fctx=$run/ctx/frontend
  mkdir -p "$fctx"
  cp "$DOCKERFILE_FRONTEND_DIR/bin/dockerfile-frontend" "$fctx/"
  cat >"$fctx/Dockerfile" <<'EOF'
FROM scratch
LABEL moby.buildkit.frontend.network.none="true"
LABEL moby.buildkit.frontend.caps="moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts"
COPY dockerfile-frontend /bin/dockerfile-frontend
ENTRYPOINT ["/bin/dockerfile-frontend"]
EOF
  build frontend --frontend dockerfile.v0 --local context="$fctx" --local dockerfile="$fctx" \
    --output "type=image,name=$frontend_image"
  for img in $bases; do
    build "base-$(echo "$img" | tr '/:' '__')" --frontend dockerfile.v0 \
      --local context="${base_ctx[$img]}" --local dockerfile="${base_ctx[$img]}" \
      --output "type=image,name=docker.io/library/$img"
  done
}
step "base images" build_bases

# --- The exchange image, from the repository's Dockerfile. ------------------
if git -C "$repo" rev-parse HEAD >/dev/null 2>&1; then
  version=$(git -C "$repo" rev-parse HEAD)
  # --no-optional-locks: read the work tree without refreshing git's index.
  if [ -n "$(git -C "$repo" --no-optional-locks status --porcelain -- service Dockerfile .dockerignore)" ]; then
    version+=-dirty
  fi
else
  version=dev
fi
[ -n "$tag" ] || tag=e2e-${version:0:12}${version#"${version%-dirty}"}
exchange_image=docker.io/library/exchange:$tag
# e2e.local/: the node's locally made images' prefix (node-image.sh).
postgres_image=e2e.local/postgresql:17

# BuildKit's predefined proxy build arguments, when this machine uses a proxy.
proxy_args=()
for v in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
  [ -z "${!v:-}" ] || proxy_args+=(--opt "build-arg:$v=${!v}")
done

# image-resolve-mode=local: FROM images come from containerd's store, where
# the steps above put them (the frontend image is looked up there too, after
# the registry fails to resolve).
step "exchange image" build exchange --frontend dockerfile.v0 \
  --local context="$repo" --local dockerfile="$repo" \
  --opt build-arg:VERSION="$version" --opt image-resolve-mode=local "${proxy_args[@]}" \
  --output "type=image,name=$exchange_image" \
  --output "type=docker,name=$exchange_image,dest=$out/exchange.tar"

step "postgresql image" build postgresql --frontend dockerfile.v0 \
  --local context="$postgres_dir" --local dockerfile="$postgres_dir" \
  --opt image-resolve-mode=local "${proxy_args[@]}" \
  --output "type=image,name=$postgres_image" \
  --output "type=docker,name=$postgres_image,dest=$out/postgresql.tar"

chmod 0644 "$out/exchange.tar" "$out/postgresql.tar"

# --- Checks on the exported tars. -------------------------------------------
# image_facts <tar>: the image's config and sizes, as shell assignments
# (img_user, img_entrypoint, ...).
image_facts() {
  python3 - "$1" <<'PY'
import json, shlex, sys, tarfile
outer = tarfile.open(sys.argv[1])
manifest = json.load(outer.extractfile("manifest.json"))[0]
config = json.load(outer.extractfile(manifest["Config"]))["config"]
files = compressed = 0
for layer in manifest["Layers"]:
    member = outer.getmember(layer)
    compressed += member.size
    with tarfile.open(fileobj=outer.extractfile(member), mode="r|*") as t:
        files += sum(m.size for m in t if m.isreg())
facts = {
    "user": config.get("User", ""),
    "entrypoint": json.dumps(config.get("Entrypoint")),
    "cmd": json.dumps(config.get("Cmd")),
    "ports": " ".join(sorted(config.get("ExposedPorts", {}))),
    "stopsignal": config.get("StopSignal", ""),
    "env": "\n".join(config.get("Env", [])),
    "layers": str(len(manifest["Layers"])),
    "size": str(files),
    "compressed": str(compressed),
}
for k, v in facts.items():
    print(f"img_{k}={shlex.quote(v)}")
PY
}

fail() { echo "CHECK FAILED: $*" >&2; exit 1; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'; }

# The img_* variables come from image_facts through eval.
# shellcheck disable=SC2154
run_checks() {
  local out_txt rc pw apw pgpid
  ctr_ namespaces create "$check_ns" 2>/dev/null || true
  local c="ctr_ -n $check_ns"
  $c images import "$out/exchange.tar" >/dev/null
  $c images import "$out/postgresql.tar" >/dev/null
  local names
  names=$($c images ls -q)
  grep -qxF "$exchange_image" <<<"$names" || fail "$out/exchange.tar did not import as $exchange_image (imported: $names)"
  grep -qxF "$postgres_image" <<<"$names" || fail "$out/postgresql.tar did not import as $postgres_image (imported: $names)"

  # What the Dockerfile promises, in the image's config.
  local facts
  facts=$(image_facts "$out/exchange.tar")
  eval "$facts"
  [ "$img_user" = 65532:65532 ] || fail "exchange image USER is '$img_user', want 65532:65532"
  [ "$img_entrypoint" = '["/usr/local/bin/exchange"]' ] || fail "exchange ENTRYPOINT is $img_entrypoint"
  [ "$img_cmd" = '["serve"]' ] || fail "exchange CMD is $img_cmd"
  [ "$img_ports" = "8080/tcp 9090/tcp" ] || fail "exchange EXPOSE is '$img_ports'"
  local bin_dir
  bin_dir=$(printf '%s\n' "$img_env" | sed -n 's/^BACKUP_PG_BIN_DIR=//p')
  [ -n "$bin_dir" ] || fail "exchange image has no BACKUP_PG_BIN_DIR"
  echo "exchange image $exchange_image: $(mb "$img_size") in files, $(mb "$img_compressed") compressed, $img_layers layers"

  # Run as the image says (uid 65532), read-only root, no network, as the
  # pods do. ctr's arguments replace ENTRYPOINT and CMD.
  local ro=(--rm --read-only)
  out_txt=$($c run "${ro[@]}" "$exchange_image" chk-id id -u) || fail "id -u in the exchange image"
  [ "$out_txt" = 65532 ] || fail "the exchange image runs as uid $out_txt, want 65532"
  rc=0
  out_txt=$($c run "${ro[@]}" "$exchange_image" chk-help /usr/local/bin/exchange help 2>&1) || rc=$?
  if [ $rc -ne 2 ] || ! grep -q '^  serve ' <<<"$out_txt"; then
    fail "exchange help: exit $rc, output: $out_txt"
  fi
  out_txt=$($c run "${ro[@]}" "$exchange_image" chk-pg sh -c \
    '"$BACKUP_PG_BIN_DIR/pg_dump" --version && "$BACKUP_PG_BIN_DIR/pg_restore" --version && "$BACKUP_PG_BIN_DIR/psql" --version') ||
    fail "pg_dump/pg_restore in $bin_dir: $out_txt"
  [ "$(grep -c ') 17\.' <<<"$out_txt")" -eq 3 ] || fail "want pg_dump, pg_restore and psql 17 in $bin_dir, got: $out_txt"
  # shellcheck disable=SC2001 # every line indented
  echo "$out_txt" | sed 's/^/  /'
  $c run "${ro[@]}" "$exchange_image" chk-ca test -s /etc/ssl/certs/ca-certificates.crt || fail "no CA certificates in the exchange image"
  # The version stamped into the binary is the commit built.
  out_txt=$($c run "${ro[@]}" "$exchange_image" chk-version /usr/local/bin/exchange version) || fail "exchange version: $out_txt"
  [[ $out_txt == "exchange $version "* ]] || fail "exchange version says '$out_txt', want the commit built ($version)"
  echo "  $out_txt"

  facts=$(image_facts "$out/postgresql.tar")
  eval "$facts"
  [ "$img_user" = 1001:1001 ] || fail "the PostgreSQL image's USER is '$img_user', want 1001:1001"
  [ "$img_stopsignal" = SIGINT ] || fail "the PostgreSQL image's STOPSIGNAL is '$img_stopsignal', want SIGINT"
  echo "postgresql image $postgres_image: $(mb "$img_size") in files, $(mb "$img_compressed") compressed"

  # PostgreSQL as a pod would run it: read-only root, the data directory on
  # an emptyDir-like directory (0777, empty), /tmp a tmpfs, the Bitnami
  # environment names and an init script like the program's.
  pw=$(head -c 18 /dev/urandom | base64 | tr -d '+/=')
  apw=$(head -c 18 /dev/urandom | base64 | tr -d '+/=')
  mkdir -m 0777 "$run/pgdata"
  mkdir "$run/initdb"
  printf 'ALTER ROLE "exchange" CREATEDB;\n' >"$run/initdb/10-exchange-createdb.sql"
  chmod -R a+rX "$run/initdb"
  local pgrun=(--read-only
    --mount "type=bind,src=$run/pgdata,dst=/bitnami/postgresql,options=rbind:rw"
    --mount "type=bind,src=$run/initdb,dst=/docker-entrypoint-initdb.d,options=rbind:ro"
    --mount "type=tmpfs,src=tmpfs,dst=/tmp,options=nosuid:nodev:mode=1777"
    --env POSTGRES_USER=exchange --env POSTGRES_DATABASE=exchange
    --env "POSTGRES_PASSWORD=$pw" --env "POSTGRES_POSTGRES_PASSWORD=$apw")
  local pass
  for pass in first restart; do
    # Its output to a file: a detached ctr would leave it writing to a FIFO
    # nobody reads.
    $c run -d --log-uri "file://$run/logs/postgres-$pass.log" "${pgrun[@]}" "$postgres_image" "chk-postgres-$pass" >/dev/null
    pgpid=$($c tasks ls | awk -v id="chk-postgres-$pass" '$1 == id {print $2}')
    [ -n "$pgpid" ] || fail "the PostgreSQL container did not start"
    # The exchange image's client, in the server's network namespace
    # (loopback only): first the server must accept the password...
    local q="select current_user, current_setting('server_version_num')::int / 10000, rolcreatedb from pg_roles where rolname = current_user"
    out_txt=$($c run "${ro[@]}" --with-ns "network:/proc/$pgpid/ns/net" --env "PGPASSWORD=$pw" "$exchange_image" "chk-psql-$pass" sh -c \
      'for i in $(seq 60); do "$BACKUP_PG_BIN_DIR/psql" -h 127.0.0.1 -U exchange -d exchange -Atc "$0" 2>/dev/null && exit 0; sleep 0.5; done; exit 1' "$q") ||
      fail "psql as exchange to the PostgreSQL image ($pass start): $($c tasks ls)"
    [ "$out_txt" = "exchange|17|t" ] || fail "psql said '$out_txt', want exchange|17|t (user, server major, CREATEDB from the init script)"
    # ...and refuse a wrong one.
    if $c run "${ro[@]}" --with-ns "network:/proc/$pgpid/ns/net" --env PGPASSWORD=wrong "$exchange_image" "chk-badpw-$pass" \
      sh -c '"$BACKUP_PG_BIN_DIR/psql" -h 127.0.0.1 -U exchange -d exchange -Atc "select 1"' >/dev/null 2>&1; then
      fail "the PostgreSQL image accepted a wrong password"
    fi
    local uid
    uid=$(awk '/^Uid:/ {print $2}' "/proc/$pgpid/status")
    [ "$uid" = 1001 ] || fail "postgres runs as uid $uid, want 1001"
    if [ $pass = first ]; then
      # The backup tool's pg_dump against this server: a table, a custom-
      # format dump, the table in pg_restore's list of it.
      out_txt=$($c run --rm --read-only --mount "type=tmpfs,src=tmpfs,dst=/tmp,options=nosuid:nodev:mode=1777" \
        --with-ns "network:/proc/$pgpid/ns/net" --env "PGPASSWORD=$pw" "$exchange_image" chk-dump sh -c '
          set -e
          "$BACKUP_PG_BIN_DIR/psql" -h 127.0.0.1 -U exchange -d exchange -qc "create table e2e_check (id int primary key); insert into e2e_check values (1)"
          "$BACKUP_PG_BIN_DIR/pg_dump" -h 127.0.0.1 -U exchange -d exchange -Fc -f /tmp/dump
          "$BACKUP_PG_BIN_DIR/pg_restore" --list /tmp/dump') || fail "pg_dump/pg_restore against the PostgreSQL image: $out_txt"
      grep -q 'TABLE public e2e_check' <<<"$out_txt" || fail "the dump lacks the table: $out_txt"
      postgres_version=$($c run --rm --read-only "$postgres_image" chk-pgversion postgres --version | awk '{print $3}')
    fi
    # The image's stop signal (SIGINT: fast shutdown), as the kubelet sends it.
    $c tasks kill -s "$img_stopsignal" "chk-postgres-$pass" >/dev/null
    for _ in $(seq 100); do
      $c tasks ls | awk -v id="chk-postgres-$pass" '$1 == id && $3 == "RUNNING" {r = 1} END {exit !r}' || break
      sleep 0.2
    done
    $c tasks ls | awk -v id="chk-postgres-$pass" '$1 == id && $3 == "STOPPED" {s = 1} END {exit !s}' ||
      fail "PostgreSQL did not stop within 20 s of its stop signal"
    grep -q 'received fast shutdown request' "$run/logs/postgres-$pass.log" ||
      fail "PostgreSQL did not get a fast shutdown request (STOPSIGNAL SIGINT): $(tail -n 5 "$run/logs/postgres-$pass.log")"
    $c tasks rm "chk-postgres-$pass" >/dev/null
    $c containers rm "chk-postgres-$pass" >/dev/null
  done
  [ -s "$run/pgdata/data/PG_VERSION" ] || fail "no data directory in the mounted volume"
  rm -rf "$run/pgdata"
  echo "postgresql $postgres_version: initdb, password login, init script, pg_dump 17 from the exchange image, restart on the same data, stop on SIGINT: ok"
}

postgres_version=""
if [ $check -eq 1 ]; then
  step checks run_checks
fi

cat >"$out/images.env" <<EOF
# Written by scripts/e2e/images.sh; import the tars with
# ctr -n <namespace> images import <tar>.
EXCHANGE_IMAGE=$exchange_image
EXCHANGE_IMAGE_TAR=$out/exchange.tar
EXCHANGE_VERSION=$version
POSTGRES_IMAGE=$postgres_image
POSTGRES_IMAGE_TAR=$out/postgresql.tar
POSTGRES_VERSION=$postgres_version
EOF
echo "images: $exchange_image ($out/exchange.tar), $postgres_image ($out/postgresql.tar); $out/images.env"
