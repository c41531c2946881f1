# Shared helpers for the shell interop tests: a private `sluice broker` on a free 127.0.0.1
# port with its own temporary data directory, removed (and the broker killed) on exit.
# Source it first thing; it sets -euo pipefail. Exit 77 means skipped to ctest.
set -euo pipefail

: "${SLUICE_BIN:?SLUICE_BIN must name the sluice binary}"
: "${TOOLS_DIR:?TOOLS_DIR must name the directory holding kprod and kcons}"
PY=/usr/bin/python3
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-interop.XXXXXX")
DATA="$WORK/data"
BROKER_LOG="$WORK/broker.log"
BROKER_PID=""
PORT=""

skip() {
    echo "SKIP: $*"
    exit 77
}

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

note() { echo "--- $*"; }

_cleanup() {
    local rc=$?
    if [[ -n "$BROKER_PID" ]] && kill -0 "$BROKER_PID" 2>/dev/null; then
        kill -KILL "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    if [[ $rc -ne 0 && $rc -ne 77 && -f "$BROKER_LOG" ]]; then
        echo "--- last lines of the broker's log:" >&2
        tail -n 40 "$BROKER_LOG" >&2 || true
    fi
    rm -rf "$WORK"
    exit $rc
}
trap _cleanup EXIT

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
    "$PY" - "$1" <<'EOF'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
except OSError:
    sys.exit(1)
EOF
}

# broker_start [extra broker args...]: starts the broker on $PORT (chosen on first start, kept
# across restarts so clients reconnect to the same address) and waits until it accepts
# connections, at most 20 s.
broker_start() {
    [[ -n "$PORT" ]] || PORT=$(free_port)
    BOOTSTRAP="127.0.0.1:$PORT"
    echo "=== broker start $(date +%T.%N)" >>"$BROKER_LOG"
    "$SLUICE_BIN" broker --listen "$BOOTSTRAP" --data-dir "$DATA" "$@" >>"$BROKER_LOG" 2>&1 &
    BROKER_PID=$!
    local deadline=$((SECONDS + 20))
    while ! port_open "$PORT"; do
        kill -0 "$BROKER_PID" 2>/dev/null || fail "broker exited during start-up"
        ((SECONDS < deadline)) || fail "broker did not accept connections on $BOOTSTRAP in 20 s"
        sleep 0.1
    done
}

# broker_stop [SIGNAL]: TERM (default) waits up to 15 s for a clean exit and fails the test if
# the broker needs KILL or exits non-zero; KILL is the crash case.
broker_stop() {
    local sig=${1:-TERM}
    [[ -n "$BROKER_PID" ]] || return 0
    kill -s "$sig" "$BROKER_PID" 2>/dev/null || true
    local deadline=$((SECONDS + 15)) rc=0
    while kill -0 "$BROKER_PID" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            kill -KILL "$BROKER_PID" 2>/dev/null || true
            wait "$BROKER_PID" 2>/dev/null || true
            BROKER_PID=""
            fail "broker did not stop within 15 s of SIG$sig"
        fi
        sleep 0.1
    done
    wait "$BROKER_PID" 2>/dev/null || rc=$?
    BROKER_PID=""
    if [[ $sig == TERM && $rc -ne 0 ]]; then
        fail "broker exited with status $rc after SIGTERM"
    fi
    return 0
}

broker_alive() {
    [[ -n "$BROKER_PID" ]] && kill -0 "$BROKER_PID" 2>/dev/null
}

need_tool() {
    [[ -x "$TOOLS_DIR/$1" ]] || skip "$TOOLS_DIR/$1 is not built"
}
