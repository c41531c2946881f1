#!/usr/bin/env bash
# bench_ingest: records/s from `sluice mock-api` to `sluice broker` through `sluice ingest`,
# against the seed's approach measured in the same run on the same API and broker:
#   seed-replica  the seed's stream_data loop (one HTTP GET per user, format_data, kafka-python
#                 producer.send per record; its uuid bug fixed so it sends at all)
#   ingest -b1    sluice ingest asking one user per request, one fetcher, linger 0
# Usage: bench/bench_ingest.sh [BUILD_DIR [SECONDS per run, default 15]]  (as `make bench` calls
# every bench script; SLUICE_BIN overrides the binary, BENCH_SECS the seconds)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
SECS=${BENCH_SECS:-${2:-15}}
SLUICE=${SLUICE_BIN:-$BUILD/sluice}
PY=/usr/bin/python3
[ -x "$SLUICE" ] || { echo "bench_ingest: no sluice binary at $SLUICE (build first)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/sluice-bench-ingest.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "bench_ingest: port $1 did not open" >&2
    exit 1
}

BPORT=$(free_port)
MPORT=$(free_port)
BOOT=127.0.0.1:$BPORT
API=http://127.0.0.1:$MPORT/api/
"$SLUICE" broker --listen "$BOOT" --data-dir "$WORK/data" >"$WORK/broker.log" 2>&1 &
PIDS+=($!)
"$SLUICE" mock-api --listen "127.0.0.1:$MPORT" >"$WORK/mock.log" 2>&1 &
PIDS+=($!)
wait_port "$BPORT"
wait_port "$MPORT"

# rate of a sluice ingest run (delivered records / elapsed, from its summary line)
ingest_rate() {
    local topic=$1
    shift
    local out
    out=$(timeout $((SECS + 60)) "$SLUICE" ingest --source "$API" --bootstrap "$BOOT" \
        --duration "${SECS}s" --topic "$topic" --rate 0 "$@" 2>"$WORK/$topic.err") || {
        echo "bench_ingest: ingest $* failed:" >&2
        cat "$WORK/$topic.err" >&2
        exit 1
    }
    echo "$out" | sed -n 's/^summary: .*delivered=\([0-9]*\).*elapsed=\([0-9.]*\)s.*/\1 \2/p' |
        awk '{ printf "%.1f %d\n", $1 / $2, $1 }'
}

# The seed's loop, faithfully: a new HTTP request per user, send() per record, no batching by
# the application. A final flush (the seed has none) makes every counted record delivered.
seed_rate() {
    timeout $((SECS + 60)) $PY - "$API" "$BOOT" "$SECS" <<'EOF'
import json, sys, time, urllib.request, uuid
from kafka import KafkaProducer

api, boot, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])

def get_data():
    with urllib.request.urlopen(api, timeout=10) as r:
        return json.loads(r.read())["results"][0]

def format_data(res):
    data = {}
    location = res["location"]
    data["id"] = str(uuid.uuid4())  # the seed passes a UUID object here and never sends
    data["first_name"] = res["name"]["first"]
    data["last_name"] = res["name"]["last"]
    data["gender"] = res["gender"]
    data["address"] = (f"{str(location['street']['number'])} {location['street']['name']}, "
                       f"{location['city']}, {location['state']}, {location['country']}")
    data["post_code"] = location["postcode"]
    data["email"] = res["email"]
    data["username"] = res["login"]["username"]
    data["dob"] = res["dob"]["date"]
    data["registered_date"] = res["registered"]["date"]
    data["phone"] = res["phone"]
    data["picture"] = res["picture"]["medium"]
    return data

producer = KafkaProducer(bootstrap_servers=[boot], max_block_ms=5000)
sent, ok = 0, [0]
start = time.time()
while time.time() < start + secs:
    res = format_data(get_data())
    producer.send("bench_seed", json.dumps(res).encode("utf-8")).add_callback(
        lambda _m: ok.__setitem__(0, ok[0] + 1))
    sent += 1
producer.flush(timeout=30)
elapsed = time.time() - start
print("%.1f %d" % (ok[0] / elapsed, ok[0]))
EOF
}

echo "bench_ingest: mock-api $API -> broker $BOOT, ${SECS}s per run, $(nproc) cores"
read -r FAST FAST_N < <(ingest_rate bench_fast)
read -r ONE ONE_N < <(ingest_rate bench_one --batch 1 --fetchers 1 --linger 0)
read -r SEED SEED_N < <(seed_rate)

printf '%-44s %12s %10s\n' "run" "records/s" "records"
printf '%-44s %12s %10s\n' "sluice ingest (batch 500, 2 fetchers, lz4)" "$FAST" "$FAST_N"
printf '%-44s %12s %10s\n' "sluice ingest --batch 1 (one user/request)" "$ONE" "$ONE_N"
printf '%-44s %12s %10s\n' "seed replica (python, one request/user)" "$SEED" "$SEED_N"
awk -v f="$FAST" -v o="$ONE" -v s="$SEED" 'BEGIN {
    printf "ratio sluice ingest / one-request-per-user (same client): %.1fx\n", (o > 0 ? f / o : 0)
    printf "ratio sluice ingest / seed replica:                       %.1fx\n", (s > 0 ? f / s : 0)
}'
