#!/usr/bin/env bash
# Measures order entry against the PostgreSQL it commits to, in one run on
# this machine: pgbench's durable single-row commits/s from 16 clients
# (before and after the load), then the exchange's acknowledged orders/s
# and p50/p99 for single-order HTTP, batched HTTP and WebSocket order
# entry, each as a ratio to that commit rate. Prints a Markdown table for
# docs/performance.md; asserts nothing.
#
#   scripts/perf.sh                    # the full run (about 3 minutes)
#   scripts/perf.sh -quick             # seconds: proves it works (scripts/test.sh)
#   scripts/perf.sh -duration 30s      # longer phases
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./service/cmd/orderbench "$@"
