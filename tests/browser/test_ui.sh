# Browser test of the web UI (issue 10): a private broker, stream job and scheduler (serving
# the UI) on free loopback ports, and Debian's chromium driven by playwright-core (ui.mjs):
# log in, switch user_automation on, trigger it, see the stored count rise and the latest
# users on the Pipeline page, the run turn success in the grid, the task's log, the topics.
# The DAG is the shipped one with a shorter, paced, offline ingest (generator, 30 s).
# SHOTS_DIR=docs/screenshots keeps the screenshots. Skips (77) without chromium/npm/node.
set -euo pipefail

: "${SLUICE_BIN:?SLUICE_BIN must name the sluice binary}"
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
command -v node >/dev/null || { echo "SKIP: node is not installed"; exit 77; }
PW_DIR=$(bash "$HERE/install-playwright.sh") || exit 77
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-browser.XXXXXX")
PIDS=()

cleanup() {
    local rc=$?
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [[ $rc -ne 0 && $rc -ne 77 ]]; then
        for f in "$WORK"/*.log; do
            [[ -f "$f" ]] || continue
            echo "--- last lines of $f:" >&2
            tail -n 20 "$f" >&2
        done
        find "$WORK/data/scheduler/logs" -name '*.log' -exec tail -n 20 {} + 2>/dev/null >&2 || true
    fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_log() { # FILE PATTERN
    for _ in $(seq 200); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "'$2' not in $1"
}

KP=$(free_port) BM=$(free_port) PM=$(free_port) IM=$(free_port) SP=$(free_port)
BOOT="127.0.0.1:$KP"
DATA="$WORK/data"
mkdir -p "$WORK/dags" "$WORK/profile"
cat >"$WORK/dags/user_automation.yaml" <<'YAML'
user_automation:
  default_args:
    owner: airscholar
    start_date: 2023-09-03T10:00:00
    retries: 1
    retry_delay: 5m
  schedule: "@daily"
  catchup: false
  tasks:
    - task_id: stream_data_from_api
      operator: sluice.ingest
      source: generator
      duration: 30s
      rate: 100
YAML
printf 'broken_dag:\n  schedule: "@daily"\n  tasks: [\n' >"$WORK/dags/broken.yaml"

"$SLUICE_BIN" broker --listen "$BOOT" --data-dir "$DATA" --metrics-listen "127.0.0.1:$BM" \
    >"$WORK/broker.log" 2>&1 &
PIDS+=($!)
wait_log "$WORK/broker.log" "listening"
"$SLUICE_BIN" process --bootstrap "$BOOT" --data-dir "$DATA" --metrics-listen "127.0.0.1:$PM" \
    >"$WORK/process.log" 2>&1 &
PIDS+=($!)
SLUICE_BOOTSTRAP="$BOOT" SLUICE_SCHEDULER_ADMIN_PASSWORD=browser-test-pw \
    "$SLUICE_BIN" scheduler --listen "127.0.0.1:$SP" --data-dir "$DATA" --dags-folder "$WORK/dags" \
    --bootstrap "$BOOT" \
    --metrics-targets "broker=127.0.0.1:$BM,process=127.0.0.1:$PM,ingest=127.0.0.1:$IM" \
    >"$WORK/scheduler.log" 2>&1 &
PIDS+=($!)
wait_log "$WORK/scheduler.log" "web UI on"

# One bad record, so the Pipeline page has a dead letter with its reason to show.
DLQ_EXPECTED=0
if command -v kcat >/dev/null; then
    echo 'this is not JSON' | kcat -b "$BOOT" -t users_created -P -k bad-record-1 2>"$WORK/kcat.log" &&
        DLQ_EXPECTED=1
fi

if [[ -n "${SHOTS_DIR:-}" ]]; then
    mkdir -p "$SHOTS_DIR"
    SHOTS_DIR=$(cd "$SHOTS_DIR" && pwd)
fi
UI_URL="http://127.0.0.1:$SP" UI_PASSWORD=browser-test-pw PW_DIR="$PW_DIR" \
    PROFILE_DIR="$WORK/profile" SHOTS_DIR="${SHOTS_DIR:-}" DLQ_EXPECTED=$DLQ_EXPECTED \
    node "$HERE/ui.mjs" ||
    fail "the browser test failed"

# What the page showed is what the store holds.
n=$("$SLUICE_BIN" query --store "sqlite:$DATA/store" --json \
    "SELECT count(*) AS n FROM created_users" | tr -dc '0-9')
[[ "$n" -gt 0 ]] || fail "the store is empty"
echo "store holds $n users"
