#!/usr/bin/env bash
# The SQLite sink alone, one table (layout=rowid, the layout before issue 12) against the
# two-level layout (layout=delta, the default), both growing from empty to N rows (1% updates
# of earlier ids) with bench_sink -g, run side by side in the same invocation so that they
# share the machine's load. Prints each one's table (rows/s, batch p50/p99/max per step), its
# CPU seconds per row (the figure the load affects least), max RSS, the ratios, and the load
# average at the start and the end.
#   bench/bench_sink_layouts.sh BUILD_DIR
# BENCH_SINK_LAYOUTS_N (default 2000000; 10000000 for issue 12's figure), _STEP (N/10),
# _DELTA_PARAMS (extra parameters of the two-level run, e.g. merge_rows=500000). Data goes
# under BUILD_DIR (~0.35 GB per million rows and layout).
set -euo pipefail
BUILD=$(cd "${1:?usage: bench_sink_layouts.sh BUILD_DIR}" && pwd)
SINK="$BUILD/bench/bench_sink"
N=${BENCH_SINK_LAYOUTS_N:-2000000}
STEP=${BENCH_SINK_LAYOUTS_STEP:-$((N / 10))}
EXTRA=${BENCH_SINK_LAYOUTS_DELTA_PARAMS:-}
[[ -x "$SINK" ]] || { echo "bench_sink_layouts: $SINK is not built" >&2; exit 1; }
WORK=$(mktemp -d "$BUILD/bench-sink-layouts.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "bench_sink_layouts: $N rows, step $STEP; start $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
run() { # name params
    mkdir -p "$WORK/$1"
    /usr/bin/time -f "wall %e s, user %U s, sys %S s, max RSS %M KB" -o "$WORK/$1.time" \
        "$SINK" -g -n "$N" -s "$STEP" -p "$2" -d "$WORK/$1" >"$WORK/$1.out" 2>&1
}
run rowid "layout=rowid" &
PIDS+=($!)
run delta "layout=delta${EXTRA:+&$EXTRA}" &
PIDS+=($!)
rc=0
for p in "${PIDS[@]}"; do
    wait "$p" || rc=1
done
PIDS=()
echo "end $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
for name in rowid delta; do
    echo "== layout=$name"
    cat "$WORK/$name.out" "$WORK/$name.time"
done
((rc == 0)) || { echo "bench_sink_layouts: a run failed" >&2; exit 1; }
us() { sed -n 's/.*(\([0-9.]*\) us per row).*/\1/p' "$WORK/$1.out"; }
rate() { sed -n 's/^total .* s: \([0-9]*\) rows\/s.*/\1/p' "$WORK/$1.out"; }
echo "CPU per row: one table $(us rowid) us, two-level $(us delta) us: $(awk -v a="$(us rowid)" \
    -v b="$(us delta)" 'BEGIN { printf "%.2f", a / b }') (one table / two-level; above 1: the two-level layout spends less)"
echo "rows/s: one table $(rate rowid), two-level $(rate delta): $(awk -v a="$(rate rowid)" \
    -v b="$(rate delta)" 'BEGIN { printf "%.2f", b / a }') (two-level / one table)"
