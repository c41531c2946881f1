#!/usr/bin/env bash
# Runs every bench/bench_*.sh in turn with the build directory as $1 (`make bench`).
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
# The plots go to BUILD/plots unless set (docs/ holds the ones docs/BENCHMARKS.md shows).
mkdir -p "$BUILD/plots"
export BENCH_BROKER_PLOT=${BENCH_BROKER_PLOT:-$BUILD/plots/bench_broker}
export BENCH_SPARK_PLOT=${BENCH_SPARK_PLOT:-$BUILD/plots/bench_spark_latency.svg}
export BENCH_10M_PLOT=${BENCH_10M_PLOT:-$BUILD/plots/bench_process_10m.svg}
rc=0
for script in "$HERE"/bench_*.sh; do
    echo "=== $(basename "$script")"
    bash "$script" "$BUILD" || { echo "!!! $(basename "$script") failed" >&2; rc=1; }
done
exit $rc
