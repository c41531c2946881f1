# /metrics of each long-running part, through the real binary: a private broker, a stream job
# and an ingest run, each with --metrics-listen on a free loopback port, move 2000 users, and a
# scheduler serves its own /metrics beside its API; then
#  - every part's /metrics passes Prometheus's own parser (`promtool check metrics`),
#  - the numbers are the ones that happened: ingest delivered 2000, the job stored 2000, the
#    broker counted Produce and Fetch requests, bytes both ways and fsyncs,
#  - a non-loopback --metrics-listen is refused.
# Skips (77) when promtool (Debian's prometheus package) is missing.
set -euo pipefail

: "${SLUICE_BIN:?SLUICE_BIN must name the sluice binary}"
PY=/usr/bin/python3
PROMTOOL=$(command -v promtool || true)
[[ -n "$PROMTOOL" ]] || { echo "SKIP: promtool not installed (apt-get install prometheus)"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-e2e-metrics.XXXXXX")
PIDS=()

cleanup() {
    local rc=$?
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    sleep 0.5
    for p in "${PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [[ $rc -ne 0 && $rc -ne 77 ]]; then
        for f in "$WORK"/*.log "$WORK"/*.txt; do
            [[ -f "$f" ]] || continue
            echo "--- last lines of $f:" >&2
            tail -n 20 "$f" >&2
        done
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
    for _ in $(seq 150); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "'$2' not in $1"
}
# value FILE METRIC_LINE_PREFIX: the value of the first sample line starting with it
value() {
    awk -v p="$2" 'index($0, p) == 1 && substr($0, length(p) + 1, 1) ~ /[ {]/ { print $NF; exit }' "$1"
}

BOOT="127.0.0.1:$(free_port)"
BM="127.0.0.1:$(free_port)"
PM="127.0.0.1:$(free_port)"
IM="127.0.0.1:$(free_port)"
SP="127.0.0.1:$(free_port)"

if "$SLUICE_BIN" broker --listen "127.0.0.1:0" --data-dir "$WORK/x" --metrics-listen 0.0.0.0:0 \
    >"$WORK/refused.log" 2>&1; then
    fail "a non-loopback --metrics-listen was accepted"
fi
grep -q "loopback" "$WORK/refused.log" || fail "refusal does not say why"

"$SLUICE_BIN" broker --listen "$BOOT" --data-dir "$WORK/broker" --metrics-listen "$BM" \
    >"$WORK/broker.log" 2>&1 &
PIDS+=($!)
wait_log "$WORK/broker.log" "metrics at"
wait_log "$WORK/broker.log" "listening"
"$SLUICE_BIN" process --bootstrap "$BOOT" --store "sqlite:$WORK/store" --metrics-listen "$PM" \
    --stats-interval 0 >"$WORK/process.log" 2>&1 &
PIDS+=($!)
wait_log "$WORK/process.log" "metrics at"
# The ingest run's metrics are read while it runs (it paces itself to last a few seconds).
"$SLUICE_BIN" ingest --bootstrap "$BOOT" --source generator --count 2000 --rate 500 \
    --metrics-listen "$IM" >"$WORK/ingest.log" 2>&1 &
INGEST=$!
PIDS+=($INGEST)
wait_log "$WORK/ingest.log" "metrics at"
curl -fsS "http://$IM/metrics" >"$WORK/ingest-1.txt" || fail "ingest /metrics"
wait "$INGEST" || fail "ingest failed"

mkdir -p "$WORK/dags"
SLUICE_SCHEDULER_ADMIN_PASSWORD=pw "$SLUICE_BIN" scheduler --listen "$SP" --data-dir "$WORK/sched" \
    --dags-folder "$WORK/dags" --bootstrap "$BOOT" --metrics-targets "process=$PM" \
    >"$WORK/scheduler.log" 2>&1 &
PIDS+=($!)
wait_log "$WORK/scheduler.log" "web UI on"
for _ in $(seq 100); do # the built-in DAG is registered by the loop's first turn
    curl -fsS "http://$SP/metrics" >"$WORK/scheduler.txt" || fail "scheduler /metrics"
    grep -q '^sluice_scheduler_dags{state="paused"} 1' "$WORK/scheduler.txt" && break
    sleep 0.1
done
grep -q '^sluice_scheduler_dags{state="paused"} 1' "$WORK/scheduler.txt" ||
    fail "the scheduler's metrics do not count the built-in DAG"
grep -q '^sluice_scheduler_dag_runs{dag_id="user_automation",state="success"} 0' \
    "$WORK/scheduler.txt" || fail "no runs by state"

# Wait until the job has stored everything (its own counter says so).
for _ in $(seq 300); do
    curl -fsS "http://$PM/metrics" >"$WORK/process.txt" || fail "process /metrics"
    [[ "$(value "$WORK/process.txt" sluice_process_records_stored_total)" == 2000 ]] && break
    sleep 0.2
done
curl -fsS "http://$BM/metrics" >"$WORK/broker.txt" || fail "broker /metrics"

for part in ingest-1 process broker scheduler; do
    "$PROMTOOL" check metrics <"$WORK/$part.txt" >"$WORK/promtool-$part.log" 2>&1 ||
        fail "promtool rejects $part's metrics: $(cat "$WORK/promtool-$part.log")"
    echo "promtool: $part ok ($(grep -c '^# TYPE' "$WORK/$part.txt") families)"
done

P="$WORK/process.txt" B="$WORK/broker.txt" I="$WORK/ingest-1.txt"
[[ "$(value "$P" sluice_process_records_stored_total)" == 2000 ]] || fail "process stored != 2000"
[[ "$(value "$P" sluice_process_records_consumed_total)" == 2000 ]] || fail "consumed != 2000"
[[ "$(value "$P" sluice_process_records_dead_lettered_total)" == 0 ]] || fail "dead letters"
[[ "$(value "$P" sluice_process_end_to_end_latency_seconds_count)" == 2000 ]] ||
    fail "e2e latency histogram does not count 2000 records"
grep -q '^sluice_process_consumer_lag_records{topic="users_created",partition="0"} ' "$P" ||
    fail "no lag per partition"
for api in Produce Fetch Metadata; do
    n=$(value "$B" "sluice_broker_requests_total{api=\"$api\"}")
    [[ -n "$n" && "$n" -gt 0 ]] || fail "broker counted no $api request"
done
[[ "$(value "$B" sluice_broker_received_bytes_total)" -gt 2000 ]] || fail "bytes in"
[[ "$(value "$B" sluice_broker_sent_bytes_total)" -gt 2000 ]] || fail "bytes out"
[[ "$(value "$B" sluice_broker_fsync_duration_seconds_count)" -gt 0 ]] || fail "no fsync observed"
[[ "$(value "$B" sluice_broker_partitions)" -ge 3 ]] || fail "partitions gauge"
[[ "$(value "$B" sluice_broker_connections)" -ge 1 ]] || fail "connections gauge"
grep -q '^sluice_ingest_records_fetched_total ' "$I" || fail "ingest fetched counter"
grep -q '^sluice_ingest_fetch_errors_total{kind="timeout"} 0' "$I" || fail "ingest errors by kind"
# The run's own summary agrees with what the job stored.
grep -q "delivered=2000" "$WORK/ingest.log" || fail "ingest did not deliver 2000"

# docs/grafana-dashboard.json: every query parses (as recording rules, by promtool) and every
# metric it names is one the parts really expose.
if [[ -n "${SRC_DIR:-}" && -f "$SRC_DIR/docs/grafana-dashboard.json" ]]; then
    "$PY" - "$SRC_DIR/docs/grafana-dashboard.json" "$WORK" <<'PYEOF' || fail "dashboard check"
import json, re, sys
dash = json.load(open(sys.argv[1]))
work = sys.argv[2]
exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
with open(work + "/dashboard-rules.yml", "w") as f:
    f.write("groups:\n- name: dashboard\n  rules:\n")
    for i, e in enumerate(exprs):
        f.write("  - record: dashboard:q%d\n    expr: %s\n" % (i, json.dumps(e)))
exposed = set()
for part in ("ingest-1", "process", "broker", "scheduler"):
    for line in open("%s/%s.txt" % (work, part)):
        if line and not line.startswith("#"):
            exposed.add(re.split(r"[{ ]", line, 1)[0])
missing = sorted({n for e in exprs for n in re.findall(r"\bsluice_[a-z_]+", e)} - exposed)
if missing:
    sys.exit("dashboard names metrics nobody exposes: %s" % missing)
print("dashboard: %d queries, every metric exposed" % len(exprs))
PYEOF
    "$PROMTOOL" check rules "$WORK/dashboard-rules.yml" >"$WORK/promtool-rules.log" 2>&1 ||
        fail "a dashboard query does not parse: $(cat "$WORK/promtool-rules.log")"
fi
echo "OK: broker, process, ingest and scheduler /metrics parse with promtool; 2000 users counted"
