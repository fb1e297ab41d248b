#!/usr/bin/env bash
# Validates the GitHub Actions workflows (.github/workflows/*.yml) with
# actionlint, so a broken workflow fails here before it reaches GitHub.
#
# actionlint is built once from the Go module proxy at the pinned version
# below and cached outside the repository, keyed by that version:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/exchange-tools/actionlint-<version>/
# A warm cache makes the build a no-op. actionlint also runs shellcheck on
# every `run:` script when shellcheck is on PATH (and skips that part when
# it is not); the workflows pass both ways.
set -euo pipefail
cd "$(dirname "$0")/../.."

ACTIONLINT_VERSION=v1.7.12
dir=${XDG_CACHE_HOME:-$HOME/.cache}/exchange-tools/actionlint-$ACTIONLINT_VERSION
bin=$dir/actionlint

if [ ! -x "$bin" ]; then
  echo "building actionlint $ACTIONLINT_VERSION into $dir"
  mkdir -p "$dir"
  # Built into a scratch directory and moved into place, so an interrupted
  # build never leaves a half-written binary that looks cached.
  tmp=$(mktemp -d "$dir/build.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  GOWORK=off GOBIN=$tmp CGO_ENABLED=0 \
    go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
  mv "$tmp/actionlint" "$bin"
fi

if command -v shellcheck >/dev/null 2>&1; then
  echo "actionlint $ACTIONLINT_VERSION (with $(shellcheck --version | sed -n 's/^version: /shellcheck /p'))"
else
  echo "actionlint $ACTIONLINT_VERSION (shellcheck not on PATH: run: scripts are not shellchecked)"
fi
shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if [ ${#workflows[@]} -eq 0 ]; then
  echo "no workflows under .github/workflows"; exit 1
fi
"$bin" "$@" "${workflows[@]}"
echo "actionlint: ${#workflows[@]} workflows OK"
