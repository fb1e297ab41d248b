#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2317 # build_<tool> is called by name
# Builds the image builder of the end-to-end test from the Go module proxy,
# once per version, into the e2e cache (image-versions.sh), the same way
# build-tools.sh builds the other tools: a scratch module, the version
# stamped in, <dir>.tmp renamed to <dir> only when complete.
#
#   buildkit             buildkitd, buildctl   github.com/moby/buildkit@$BUILDKIT_VERSION
#   dockerfile-frontend  the docker/dockerfile:1.7 frontend (1.7.1), which the
#                        Dockerfile's syntax line asks for; images.sh makes
#                        it an image of that name
#
# No prebuilt binary is downloaded. Usage: build-buildkit.sh [buildkit|dockerfile-frontend ...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=image-versions.sh
. "$here/image-versions.sh"
export PATH="/usr/local/go/bin:$PATH"
export GOFLAGS="-mod=mod -buildvcs=false"
# BuildKit's go.mod names go 1.26.8; never download a toolchain.
export GOTOOLCHAIN=local
# Static binaries, as upstream builds them: buildkitd runs no cgo code.
export CGO_ENABLED=0
command -v go >/dev/null || { echo "build-buildkit.sh: go not found" >&2; exit 1; }

mkdir -p "$E2E_CACHE/logs"

scratch() {
  rm -rf "$1"
  mkdir -p "$1"
  (cd "$1" && go mod init e2e-buildkit >/dev/null 2>&1)
}

build_buildkit() {
  local out=$1 src=$1/src pkg=github.com/moby/buildkit
  scratch "$src"
  cd "$src"
  go get "$pkg@$BUILDKIT_VERSION"
  # Upstream's tags and ldflags (its Dockerfile, stages buildkitd and
  # buildctl). The proxy does not give the commit, so Revision stays empty.
  local ld="-s -w -X $pkg/version.Version=$BUILDKIT_VERSION -X $pkg/version.Package=$pkg"
  go build -tags "osusergo netgo static_build seccomp" -ldflags "$ld" -o "$out/bin/" "$pkg/cmd/buildkitd" "$pkg/cmd/buildctl"
  cd "$out" && rm -rf "$src"
  "$out/bin/buildkitd" --version
  "$out/bin/buildctl" --version
}

build_dockerfile_frontend() {
  local out=$1 src=$1/src pkg=github.com/moby/buildkit/frontend/dockerfile/cmd/dockerfile-frontend
  scratch "$src"
  cd "$src"
  go get "github.com/moby/buildkit@$DOCKERFILE_FRONTEND_MODULE_VERSION"
  # As frontend/dockerfile/cmd/dockerfile-frontend/Dockerfile at that
  # commit: the mainline channel (no extra tags), its version variables.
  local ld="-s -w -X main.Version=dockerfile/$DOCKERFILE_FRONTEND_VERSION -X main.Revision=$DOCKERFILE_FRONTEND_REVISION -X main.Package=$pkg"
  go build -tags "netgo static_build osusergo" -ldflags "$ld" -o "$out/bin/dockerfile-frontend" "$pkg"
  cd "$out" && rm -rf "$src"
  ls -l "$out/bin/dockerfile-frontend"
}

tool_dir() {
  case $1 in
    buildkit) echo "$BUILDKIT_DIR" ;;
    dockerfile-frontend) echo "$DOCKERFILE_FRONTEND_DIR" ;;
    *) echo "unknown tool $1 (buildkit, dockerfile-frontend)" >&2; return 1 ;;
  esac
}

build() {
  local tool=$1 dir start=$SECONDS log=$E2E_CACHE/logs/$1.log
  dir=$(tool_dir "$tool")
  if [ -d "$dir" ]; then
    printf 'tool %-19s cached   %s\n' "$tool" "$dir"
    return 0
  fi
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp"
  if (set -x; "build_${tool//-/_}" "$dir.tmp") >"$log" 2>&1; then
    mv "$dir.tmp" "$dir"
    printf 'tool %-19s built in %ds  %s\n' "$tool" $((SECONDS - start)) "$dir"
  else
    printf 'tool %-19s FAILED after %ds; last lines of %s:\n' "$tool" $((SECONDS - start)) "$log"
    tail -n 30 "$log"
    return 1
  fi
}

tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(buildkit dockerfile-frontend)
for t in "${tools[@]}"; do tool_dir "$t" >/dev/null; done

pids=()
for t in "${tools[@]}"; do
  build "$t" &
  pids+=($!)
done
failed=0
for p in "${pids[@]}"; do
  wait "$p" || failed=1
done
exit $failed
