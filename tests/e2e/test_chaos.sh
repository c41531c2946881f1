#!/usr/bin/env bash
# The chaos test's short run for CI: the whole embedded pipeline (broker, stream job, usergen and
# `sluice ingest` producers) under load for CHAOS_MINUTES (default 1) with a random part killed
# -9 every ~5 s, then checked from the outside (tests/chaos/chaos.py). The long run:
# `make chaos MINUTES=10`. A failure prints the seed; replay with CHAOS_SEED=S.
set -euo pipefail
: "${SLUICE_BIN:?}" "${TOOLS_DIR:?}" "${SRC_DIR:?}"
exec /usr/bin/python3 "$SRC_DIR/tests/chaos/chaos.py" --sluice "$SLUICE_BIN" --tools "$TOOLS_DIR" \
    --minutes "${CHAOS_MINUTES:-1}" ${CHAOS_SEED:+--seed "$CHAOS_SEED"}
