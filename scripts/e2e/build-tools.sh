#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Builds the pinned tools of the end-to-end test from the Go module proxy,
# once per version, into a cache outside the repository (see versions.sh):
#
#   pulumi                      github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
#   pulumi-resource-kubernetes  github.com/pulumi/pulumi-kubernetes/provider/v4
#   kube-apiserver, kube-controller-manager, kube-scheduler
#                               k8s.io/kubernetes
#   kubelet, kube-proxy         k8s.io/kubernetes (the node; same version)
#   coredns                     github.com/coredns/coredns (cluster DNS)
#   kube-router                 github.com/cloudnativelabs/kube-router/v2
#                               (enforces NetworkPolicies on the node)
#
# No prebuilt binary is downloaded: each tool is compiled from its module in
# a scratch module, its version stamped into it. A tool whose cache
# directory exists is not rebuilt; a build goes to <dir>.tmp and is renamed
# only when complete, so an interrupted build is redone next time.
#
# The builds run concurrently (they overlap downloads, compiles and links),
# but the node's after the control plane's (see below); each logs to
# $E2E_CACHE/logs/<tool>.log and prints one timing line.
# Usage: build-tools.sh [pulumi|provider|kubernetes|node|coredns|kube-router ...]   (default: all)
# shellcheck disable=SC2317 # build_<tool> is called by name: "build_$tool"
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.sh
. "$here/versions.sh"
export PATH="/usr/local/go/bin:$PATH"
export GOFLAGS="-mod=mod -buildvcs=false"
# The modules name the Go version they need; never download a toolchain.
export GOTOOLCHAIN=local

mkdir -p "$E2E_CACHE/logs"

# scratch <dir>: a fresh scratch module in <dir>.
scratch() {
  rm -rf "$1"
  mkdir -p "$1"
  (cd "$1" && go mod init e2e-tools >/dev/null 2>&1)
}

build_pulumi() {
  local out=$1 src=$1/src
  scratch "$src"
  cd "$src"
  # pkg/v3's own go.mod replaces clipboard; a replace in a dependency does
  # not apply, so the scratch module repeats it.
  go mod edit -replace github.com/atotto/clipboard=github.com/tgummerer/clipboard@v0.0.0-20241001131231-d02d263e614e
  go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$PULUMI_VERSION" "github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION"
  go build -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
    -o "$out/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  cd "$out" && rm -rf "$src"
  "$out/bin/pulumi" version
}

build_provider() {
  local out=$1 src=$1/src mod=github.com/pulumi/pulumi-kubernetes/provider/v4
  scratch "$src"
  cd "$src"
  # The module zip lacks the two JSON files main.go embeds (they are made
  # by the provider's own generate.go). Copy the module, generate them in the
  # copy with the release's version, and build from the copy.
  local dir
  dir=$(go mod download -json "$mod@$K8S_PROVIDER_MODULE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  cp -r "$dir" provider
  chmod -R u+w provider
  go mod edit -require "$mod@$K8S_PROVIDER_MODULE_VERSION" -replace "$mod=./provider"
  mkdir gen
  sed '/^\/\/go:build ignore$/d; /^\/\/ +build ignore$/d' provider/cmd/pulumi-resource-kubernetes/generate.go >gen/main.go
  cat >tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/pulumi/pulumi-kubernetes/provider/v4/cmd/pulumi-resource-kubernetes"
GO
  go mod tidy
  go build -o gen/generate ./gen
  (cd provider/cmd/pulumi-resource-kubernetes && VERSION=$K8S_PROVIDER_VERSION "$src/gen/generate")
  go build -ldflags "-s -w -X $mod/pkg/version.Version=$K8S_PROVIDER_VERSION" \
    -o "$out/bin/pulumi-resource-kubernetes" "$mod/cmd/pulumi-resource-kubernetes"
  cd "$out" && rm -rf "$src"
}

# k8s_build <out> <cmd...>: builds k8s.io/kubernetes/cmd/<cmd> for each
# cmd into <out>/bin, at KUBERNETES_VERSION, in a scratch module in
# <out>/src.
k8s_build() {
  local out=$1 src=$1/src
  shift
  scratch "$src"
  cd "$src"
  # k8s.io/kubernetes replaces its staging modules with ./staging paths that
  # only exist in its repository; use their published releases instead.
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  local staging=${KUBERNETES_VERSION/v1./v0.}
  local args=(-require "k8s.io/kubernetes@$KUBERNETES_VERSION")
  local m n=0
  while read -r m; do
    args+=(-replace "$m=$m@$staging")
    n=$((n + 1))
  done < <(sed -n 's/^[[:space:]]*\(k8s\.io\/[^ ]*\) => \.\/staging\/.*/\1/p' "$gomod")
  echo "replacing $n staging modules with $staging"
  go mod edit "${args[@]}"
  local cmd pkgs=()
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for cmd in "$@"; do
      printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$cmd"
      pkgs+=("k8s.io/kubernetes/cmd/$cmd")
    done
    printf ')\n'
  } >tools.go
  go mod tidy
  local v=$KUBERNETES_VERSION major minor date ld="-s -w"
  major=${v#v}; major=${major%%.*}
  minor=${v#v*.}; minor=${minor%%.*}
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  # Clients compare the server's version: stamp it where both the server
  # (component-base) and client-go read it. The kubelet reports the same
  # stamp as the node's kubeletVersion.
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$v -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=$date"
  done
  mkdir -p "$out/bin"
  go build -ldflags "$ld" -o "$out/bin/" "${pkgs[@]}"
  cd "$out" && rm -rf "$src"
}

build_kubernetes() {
  k8s_build "$1" kube-apiserver kube-controller-manager kube-scheduler
  "$1/bin/kube-apiserver" --version
}

# The node's binaries: a tool of their own (not added to "kubernetes"), so
# a cache that already holds the control plane keeps it and only builds
# these; the Go build cache shares the k8s.io packages between the two.
build_node() {
  k8s_build "$1" kubelet kube-proxy
  "$1/bin/kubelet" --version
}

# CoreDNS with only the plugins the cluster's Corefile uses (control-
# plane.sh): CoreDNS's documented way to choose plugins at compile time is
# a main that imports them and sets dnsserver.Directives in plugin.cfg's
# order. The full binary would also compile the cloud DNS back ends
# (Route 53, Azure, Cloud DNS), etcd and gRPC plugins: minutes of CPU for
# code the e2e never runs.
build_coredns() {
  local out=$1 src=$1/src
  scratch "$src"
  cd "$src"
  go get "github.com/coredns/coredns@$COREDNS_VERSION"
  cat >main.go <<'GO'
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The order of these in CoreDNS's plugin.cfg (core/dnsserver/zdirectives.go).
func init() {
	dnsserver.Directives = []string{"bind", "ready", "health", "errors", "log", "cache", "kubernetes"}
}

func main() { coremain.Run() }
GO
  go mod tidy
  # Stamp the version the way CoreDNS's Makefile stamps its commit.
  go build -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" -o "$out/bin/coredns" .
  cd "$out" && rm -rf "$src"
  "$out/bin/coredns" -version
  "$out/bin/coredns" -plugins
}

build_kube-router() {
  local out=$1 src=$1/src m=github.com/cloudnativelabs/kube-router/v2
  scratch "$src"
  cd "$src"
  go get "$m@$KUBE_ROUTER_VERSION"
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s/cmd/kube-router"\n' "$m" >tools.go
  go mod tidy
  go build -ldflags "-s -w -X $m/pkg/version.Version=$KUBE_ROUTER_VERSION" -o "$out/bin/kube-router" "$m/cmd/kube-router"
  cd "$out" && rm -rf "$src"
  "$out/bin/kube-router" --version
}

tool_dir() {
  case $1 in
    pulumi) echo "$PULUMI_DIR" ;;
    provider) echo "$K8S_PROVIDER_DIR" ;;
    kubernetes) echo "$KUBERNETES_DIR" ;;
    node) echo "$NODE_DIR" ;;
    coredns) echo "$COREDNS_DIR" ;;
    kube-router) echo "$KUBE_ROUTER_DIR" ;;
    *) echo "unknown tool $1 (pulumi, provider, kubernetes, node, coredns, kube-router)" >&2; return 1 ;;
  esac
}

# build <tool>: build it unless cached; one timing line either way.
build() {
  local tool=$1 dir start=$SECONDS log=$E2E_CACHE/logs/$1.log
  dir=$(tool_dir "$tool")
  if [ -d "$dir" ]; then
    printf 'tool %-10s cached   %s\n' "$tool" "$dir"
    return 0
  fi
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp"
  if (set -x; "build_$tool" "$dir.tmp") >"$log" 2>&1; then
    mv "$dir.tmp" "$dir"
    printf 'tool %-10s built in %ds  %s\n' "$tool" $((SECONDS - start)) "$dir"
  else
    printf 'tool %-10s FAILED after %ds; last lines of %s:\n' "$tool" $((SECONDS - start)) "$log"
    tail -n 30 "$log"
    return 1
  fi
}

tools=("$@")
# Longest first, so the tail of the concurrent build is not a long one
# started last.
[ ${#tools[@]} -gt 0 ] || tools=(provider kubernetes pulumi node coredns kube-router)
for t in "${tools[@]}"; do tool_dir "$t" >/dev/null; done

# The node's binaries share most of their packages with the control
# plane's (client-go, apimachinery, api, the kubelet's and the apiserver's
# common code), and concurrent go builds do not share work: built after
# the control plane, the node takes its packages from the Go build cache
# (~2 min instead of ~5, and less CPU taken from the other builds).
want() { [[ " ${tools[*]} " == *" $1 "* ]]; }
jobs=()
for t in "${tools[@]}"; do
  case $t in
    node) want kubernetes || jobs+=(node) ;;
    kubernetes) if want node; then jobs+=("kubernetes node"); else jobs+=(kubernetes); fi ;;
    *) jobs+=("$t") ;;
  esac
done
pids=()
for j in "${jobs[@]}"; do
  # shellcheck disable=SC2086 # a job is a space-separated list of tools
  (for t in $j; do build "$t" || exit 1; done) &
  pids+=($!)
done
failed=0
for p in "${pids[@]}"; do
  wait "$p" || failed=1
done
exit $failed
