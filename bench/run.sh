#!/usr/bin/env bash
# Runs every bench/bench_*.sh in turn with the build directory as $1 (`make bench`).
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
rc=0
for script in "$HERE"/bench_*.sh; do
    echo "=== $(basename "$script")"
    bash "$script" "$BUILD" || { echo "!!! $(basename "$script") failed" >&2; rc=1; }
done
exit $rc
