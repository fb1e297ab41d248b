#!/usr/bin/env bash
# Prints the path of axe-core's axe.min.js, for the web site's browser
# tests (service/internal/web/axe_test.go), fetching it first if the cache
# does not hold it yet.
#
# axe-core (MPL-2.0, docs/dependencies.md) is pinned to one version and the
# integrity npm publishes for it. Its code is never committed here: it is
# fetched with `npm pack` from whatever registry the machine's npm config
# names, into a cache ($XDG_CACHE_HOME or ~/.cache), and the tarball is
# checked against the pinned integrity every time it is used. Anything
# wrong (no npm, no network, a different tarball) exits non-zero with the
# reason, and the tests fail rather than skip. `exchange dev` and the
# binary never need it.
set -euo pipefail

AXE_VERSION=4.14.1
AXE_INTEGRITY=sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==

cache="${XDG_CACHE_HOME:-$HOME/.cache}/exchange/axe-core-$AXE_VERSION"
tarball="$cache/axe-core-$AXE_VERSION.tgz"
script="$cache/axe.min.js"

fail() { echo "axe-core.sh: $*" >&2; exit 1; }

# integrity is npm's form of a file's digest: sha512-<base64>.
integrity() { printf 'sha512-%s' "$(openssl dgst -sha512 -binary "$1" | base64 -w0)"; }

mkdir -p "$cache"
if [ ! -f "$tarball" ]; then
  command -v npm >/dev/null || fail "npm is needed once to fetch axe-core $AXE_VERSION (apt-get install npm)"
  tmp=$(mktemp -d "$cache/fetch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null) ||
    fail "npm pack axe-core@$AXE_VERSION failed (is the registry in npm's config reachable?)"
  [ -f "$tmp/axe-core-$AXE_VERSION.tgz" ] || fail "npm pack did not write axe-core-$AXE_VERSION.tgz"
  got=$(integrity "$tmp/axe-core-$AXE_VERSION.tgz")
  [ "$got" = "$AXE_INTEGRITY" ] || fail "the fetched axe-core $AXE_VERSION has integrity $got, want $AXE_INTEGRITY"
  mv "$tmp/axe-core-$AXE_VERSION.tgz" "$tarball"
fi

got=$(integrity "$tarball")
[ "$got" = "$AXE_INTEGRITY" ] || fail "$tarball has integrity $got, want $AXE_INTEGRITY; delete it to fetch it again"
# Extracted afresh from the verified tarball on every run: a changed
# axe.min.js in the cache is overwritten, never used.
tar -xzf "$tarball" -C "$cache" --strip-components=1 package/axe.min.js
[ -s "$script" ] || fail "axe.min.js is missing from the axe-core $AXE_VERSION tarball"
echo "$script"
