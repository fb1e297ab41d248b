#!/usr/bin/env bash
# Runs every test of both modules: formatting, vet, then the unit and
# integration tests. Tests that need PostgreSQL use DATABASE_URL when it is
# set, otherwise they start a throwaway cluster from the installed server
# binaries (initdb/pg_ctl); without either they fail, they never skip.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
timed() {
  local start=$SECONDS
  "$@"
  printf 'took %ds: %s\n' $((SECONDS - start)) "$*"
}

step "gofmt"
unformatted=$(gofmt -l infra service)
if [ -n "$unformatted" ]; then
  echo "gofmt needed on:"; echo "$unformatted"; exit 1
fi

step "go vet"
# -tags e2e: the end-to-end runner (infra/e2e) is vetted too.
timed go vet -tags e2e ./infra/... ./service/...

# The web tests check every page with axe-core, which is fetched once
# into a cache and verified against its pinned integrity (never committed).
step "axe-core for the web tests"
scripts/axe-core.sh

step "go test"
timed go test -count=1 ./infra/... ./service/...

# One iteration of every benchmark, so they keep compiling and running
# (the 100k-order rebuild among them); their numbers are measured with
# longer runs, see docs/performance.md.
step "benchmarks (one iteration each)"
timed go test -count=1 -run '^$' -bench . -benchtime 1x ./service/...

# The order-entry measurement, briefly, so that it keeps working; its
# numbers come from full runs (docs/performance.md).
step "perf (quick)"
timed scripts/perf.sh -quick

# Each fuzz target also runs for a bounded time: the committed corpora
# (testdata/fuzz) already ran above as regression cases.
step "fuzz (bounded)"
for target in \
  "./service/internal/engine FuzzCommandStream" \
  "./service/internal/orders FuzzParse" \
  "./service/internal/money FuzzParseRoundTrip" \
  "./service/internal/strictjson FuzzDecodeNeverPanics" \
  "./service/internal/jsonappend FuzzStringAsEncodingJSON"; do
  set -- $target
  timed go test -run '^$' -fuzz "^$2\$" -fuzztime "${FUZZ_TIME:-15s}" "$1"
done
