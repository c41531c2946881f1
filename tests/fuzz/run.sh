#!/usr/bin/env bash
# Runs every fuzz target for a bounded time: run.sh BUILD_DIR SECONDS_PER_TARGET
set -euo pipefail
build=${1:-build-fuzz}
secs=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
status=0
# The targets keep their state under TMPDIR: one directory for this run, removed at the end
# (never another run's: two runs at once must not delete each other's databases).
export TMPDIR
TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/sluice-fuzz-run.XXXXXX")
trap 'rm -rf "$TMPDIR"' EXIT
for bin in "$build"/tests/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  corpus="$here/corpus/${name#fuzz_}"
  work=$(mktemp -d)
  [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null || true
  echo "fuzz: $name for ${secs}s"
  if ! "$bin" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
      "$work" >"$work.log" 2>&1; then
    echo "fuzz: $name FAILED; last lines:"
    tail -n 40 "$work.log"
    status=1
  else
    grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$work.log" | sed "s/^/  /" || true
  fi
  rm -rf "$work" "$work.log"
done
exit $status
