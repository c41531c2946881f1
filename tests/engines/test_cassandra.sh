#!/usr/bin/env bash
# The stream job into a real Apache Cassandra 5.0 node (from Maven jars, PasswordAuthenticator
# on), reading from a real Apache Kafka 4.x broker (Maven jars; KAFKA_TARGET=sluice uses sluice's
# own broker instead), checked through the DataStax Python driver and the topic itself, never through sluice:
#  0. logins: a wrong password and missing credentials fail fast with a clear message (and the
#     password is never printed); TLS (the node offers it, optional): trusted with the node's
#     certificate, refused without it, accepted with tls_verify=0;
#  1. `sluice ingest` of N (200,000) generated users plus usergen updates of earlier ids, while
#     `sluice process` is killed -9 five times and restarted: every id holds its last version,
#     field by field, nothing lost, offsets at the topic's end; sluice's Murmur3 tokens equal
#     Cassandra's token(id);
#  2. two instances in one group share the partitions; then a stale instance (frozen with
#     SIGSTOP while another takes over) has its offset write refused when it wakes up;
#  3. Cassandra stopped mid-run: the job says what it waits for, resumes when the node is back,
#     nothing lost.
# One Cassandra start (plus the restart of 3). Skips (77) without java/mvn/jars, the Python
# drivers or the test tools. KEEP_WORK=1 keeps the work directory.
set -euo pipefail

: "${SLUICE_BIN:?SLUICE_BIN must name the sluice binary}"
: "${TOOLS_DIR:?TOOLS_DIR must name the directory holding usergen and cql_token}"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
N=${N:-200000}
KILLS=${KILLS:-5}
USERGEN="$TOOLS_DIR/usergen"
CQLTOKEN="$TOOLS_DIR/cql_token"
[[ -x "$USERGEN" && -x "$CQLTOKEN" ]] || { echo "SKIP: usergen/cql_token not built"; exit 77; }
command -v java >/dev/null || { echo "SKIP: java is not installed"; exit 77; }
"$PY" -c 'import cassandra, confluent_kafka' 2>/dev/null ||
    { echo "SKIP: python3-cassandra or python3-confluent-kafka missing (scripts/install-deps.sh)"; exit 77; }
rc=0
"$HERE/cassandra-jars.sh" server >/dev/null || rc=$?
[[ $rc -eq 0 ]] || exit $rc
# The topic lives on Apache Kafka (KAFKA_TARGET=apache, the default: the issue's engines) or on
# sluice's own broker (KAFKA_TARGET=sluice).
KAFKA_TARGET=${KAFKA_TARGET:-apache}
if [[ "$KAFKA_TARGET" == apache ]]; then
    "$HERE/kafka-jars.sh" >/dev/null || rc=$?
    [[ $rc -eq 0 ]] || exit $rc
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-engines-cassandra.XXXXXX")
CDIR="$WORK/cassandra"
PIDS=()
cleanup() {
    local rc=$?
    for p in "${PIDS[@]}"; do
        kill -CONT "$p" 2>/dev/null || true
        kill -KILL "$p" 2>/dev/null || true
    done
    "$HERE/cassandra-server.sh" kill "$CDIR" 2>/dev/null || true
    [[ -d "$WORK/kafka" ]] && "$HERE/kafka-server.sh" stop "$WORK/kafka" >/dev/null 2>&1 || true
    wait 2>/dev/null || true
    if [[ $rc -ne 0 && $rc -ne 77 ]]; then
        for f in "$WORK"/*.log "$CDIR/logs/system.log" "$WORK/kafka/server.log"; do
            [[ -f "$f" ]] || continue
            echo "--- last lines of $f:" >&2
            tail -n 20 "$f" | cut -c1-400 >&2
        done
    fi
    if [[ "${KEEP_WORK:-0}" == 1 ]]; then echo "work kept in $WORK" >&2; else rm -rf "$WORK"; fi
    exit $rc
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
note() { echo "--- $(date +%T) $*"; }
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

CPORT=$(free_port)
if [[ "$KAFKA_TARGET" == apache ]]; then
    # Apache Kafka 4.x from the cached Maven jars: 3 partitions per new topic, as sluice's
    # broker makes them, and session timeouts as short as the test's 3 s allowed.
    KPORT=$(free_port)
    note "starting Apache Kafka on 127.0.0.1:$KPORT"
    BOOT=$(KAFKA_SERVER_PROPS=$'num.partitions=3\ngroup.min.session.timeout.ms=1000\ngroup.initial.rebalance.delay.ms=0' \
        "$HERE/kafka-server.sh" start "$WORK/kafka" "$KPORT" | head -1) || fail "Apache Kafka did not start"
else
    BOOT="127.0.0.1:$(free_port)"
    "$SLUICE_BIN" broker --listen "$BOOT" --data-dir "$WORK/broker" >"$WORK/broker.log" 2>&1 &
    PIDS+=($!)
fi
note "starting Cassandra (PasswordAuthenticator, optional TLS) on 127.0.0.1:$CPORT; Kafka: $KAFKA_TARGET at $BOOT"
export CASSANDRA_AUTH=1 CASSANDRA_TLS=1
"$HERE/cassandra-server.sh" start "$CDIR" "$CPORT" >/dev/null
if [[ "$KAFKA_TARGET" != apache ]]; then
    for _ in $(seq 100); do grep -q "listening" "$WORK/broker.log" && break; sleep 0.1; done
    grep -q "listening" "$WORK/broker.log" || fail "broker did not start"
fi
# The default superuser appears shortly after the node serves.
for _ in $(seq 60); do
    "$PY" - "$CPORT" <<'PY' 2>/dev/null && break
import sys
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster
c = Cluster(["127.0.0.1"], port=int(sys.argv[1]), auth_provider=PlainTextAuthProvider("cassandra", "cassandra"))
c.connect().execute("SELECT release_version FROM system.local")
c.shutdown()
PY
    sleep 1
done

# The password comes from the environment here (URI with USER@ only); query uses USER:PASS@.
export SLUICE_CASSANDRA_PASSWORD=cassandra
# Each phase writes its own keyspace (KS), so each verification sees only its own rows.
KS=spark_streams
store() { echo "cassandra://cassandra@127.0.0.1:$CPORT/$KS?consistency=ONE"; }
qstore() { echo "cassandra://cassandra:cassandra@127.0.0.1:$CPORT/$KS"; }

start_job() { # NAME TOPIC GROUP [extra args...]: sets JOB_PID
    local name=$1 topic=$2 group=$3
    shift 3
    "$SLUICE_BIN" process --bootstrap "$BOOT" --topic "$topic" --group "$group" --store "$(store)" \
        --session-timeout 3s --stats-interval 2s "$@" >>"$WORK/$name.log" 2>&1 &
    JOB_PID=$!
    PIDS+=("$JOB_PID")
}
stored_sum() { # TOPIC GROUP: sum of the stored next offsets
    { "$SLUICE_BIN" query --store "$(qstore)" --json \
        "SELECT group_id, topic, next_offset FROM sluice_offsets" 2>/dev/null || true; } |
        "$PY" -c 'import json, sys
try:
    r = json.load(sys.stdin)
except Exception:
    r = []
print(sum(x["next_offset"] for x in r if x["topic"] == sys.argv[1] and x["group_id"] == sys.argv[2]))' "$1" "$2"
}
wait_drained() { # TOPIC GROUP TOTAL SECONDS
    local deadline=$((SECONDS + $4)) s=0
    while ((SECONDS < deadline)); do
        s=$(stored_sum "$1" "$2")
        [[ "$s" == "$3" ]] && return 0
        sleep 1
    done
    fail "$1: stored offsets reached $s of $3 within $4 s"
}
stop_job() {
    kill -TERM "$1"
    local rc=0
    timeout 60 tail --pid="$1" -f /dev/null || fail "job $1 did not stop on SIGTERM"
    wait "$1" || rc=$?
    [[ $rc -eq 0 ]] || fail "job $1 exited $rc after SIGTERM (want 0)"
}
verify() { # TOPIC GROUP [args]
    local t=$1 g=$2
    shift 2
    "$PY" "$HERE/cassandra_verify.py" --bootstrap "$BOOT" --topic "$t" --group "$g" \
        --port "$CPORT" --keyspace "$KS" --user cassandra --password cassandra "$@" | tee "$WORK/verify-$t.out"
    grep -q "^verify ok" "$WORK/verify-$t.out" || fail "verification of $t failed"
}

# ---- 0. logins ---------------------------------------------------------------------------
note "0: wrong password, no credentials"
out=$(timeout 60 "$SLUICE_BIN" process --bootstrap "$BOOT" --topic t0 --group g0 \
    --store "cassandra://cassandra:Wr0ngPass@127.0.0.1:$CPORT/spark_streams" 2>&1) &&
    fail "a wrong password was accepted"
echo "$out" | grep -q "login as 'cassandra' refused" || fail "no clear login error: $out"
echo "$out" | grep -qi "password" || fail "the error does not say what was wrong: $out"
echo "$out" | grep -q "Wr0ngPass" && fail "the password was printed"
echo "$out" | grep -m1 "refused" | cut -c1-250
out=$(SLUICE_CASSANDRA_PASSWORD= timeout 60 "$SLUICE_BIN" query \
    --store "cassandra://127.0.0.1:$CPORT/spark_streams" "SELECT * FROM x" 2>&1) &&
    fail "no credentials were accepted"
echo "$out" | grep -q "requires a login" || fail "no clear message without credentials: $out"
tlsq() { "$SLUICE_BIN" query --store "$1" "SELECT release_version FROM local"; }
out=$(tlsq "cassandra://cassandra:cassandra@127.0.0.1:$CPORT/system?tls=1&tls_ca=$CDIR/tls/node.pem" 2>&1) ||
    fail "TLS with the node's certificate: $out"
echo "$out" | grep -q "^5\.0" || fail "TLS query printed: $out"
out=$(tlsq "cassandra://cassandra:cassandra@127.0.0.1:$CPORT/system?tls=1" 2>&1) &&
    fail "TLS accepted an untrusted certificate"
echo "$out" | grep -q "certificate verify failed" || fail "no clear TLS error: $out"
echo "$out" | cut -c1-200
tlsq "cassandra://cassandra:cassandra@127.0.0.1:$CPORT/system?tls=1&tls_verify=0" \
    >/dev/null 2>&1 || fail "TLS with tls_verify=0 failed"

# ---- 1. ingest + kill -9 ---------------------------------------------------------------------
U=$((N / 10))
TOTAL=$((N + U))
note "1: sluice ingest $N + usergen $U (30% updates of earlier ids); job killed -9 $KILLS times"
"$SLUICE_BIN" ingest --source generator --count "$N" --rate 25000/s --bootstrap "$BOOT" \
    --topic t1 >"$WORK/ingest.log" 2>&1 &
ING=$!
PIDS+=("$ING")
"$USERGEN" produce -b "$BOOT" -t t1 -n "$U" -B 0 -U 300 -r 2000 -S 3 >"$WORK/usergen1.log" 2>&1 &
UG=$!
PIDS+=("$UG")
start_job job1 t1 g1
last=0
for k in $(seq "$KILLS"); do
    deadline=$((SECONDS + 60))
    while (($(stored_sum t1 g1) <= last && SECONDS < deadline)); do sleep 0.3; done
    sleep "$("$PY" -c 'import random; print(round(random.uniform(0.1, 1.5), 2))')"
    kill -KILL "$JOB_PID"
    wait "$JOB_PID" 2>/dev/null || true
    last=$(stored_sum t1 g1)
    note "killed -9 (kill $k) at stored offset sum $last of $TOTAL"
    start_job job1 t1 g1
done
wait "$ING" || fail "ingest failed: $(tail -3 "$WORK/ingest.log")"
wait "$UG" || fail "usergen failed: $(tail -3 "$WORK/usergen1.log")"
grep "summary:" "$WORK/ingest.log" | cut -c1-200
grep "usergen: produced" "$WORK/usergen1.log"
wait_drained t1 g1 "$TOTAL" 300
stop_job "$JOB_PID"
grep "summary:" "$WORK/job1.log" | tail -1 | cut -c1-250
# Into Cassandra the default batch is the sink's (20000 records); a given --batch-max wins.
grep -q "batches of up to 20000 records" "$WORK/job1.log" || fail "job1 did not use the sink's batch size"
verify t1 g1 --tokens "$CQLTOKEN"

# ---- 2. two instances, then a stale one -------------------------------------------------------
N2=$((N / 10))
KS=ks_two
note "2a: $N2 records, two instances in one group"
"$USERGEN" produce -b "$BOOT" -t t2 -n "$N2" -B 0 -U 50 -r 10000 -S 7 >"$WORK/usergen2.log" 2>&1 &
UG=$!
PIDS+=("$UG")
start_job jobA t2 g2
A=$JOB_PID
start_job jobB t2 g2
B=$JOB_PID
wait "$UG" || fail "usergen failed"
wait_drained t2 g2 "$N2" 180
stop_job "$A"
stop_job "$B"
for j in jobA jobB; do grep -q "assigned t2" "$WORK/$j.log" || fail "$j never got a partition"; done
verify t2 g2

KS=ks_stale
note "2b: a stale instance's offset write is refused"
"$USERGEN" produce -b "$BOOT" -t t3 -n 5000 -B 0 -U 0 -S 11 >"$WORK/usergen3.log" 2>&1 ||
    fail "usergen failed"
# S holds its records in an open batch (long linger), then freezes.
start_job jobS t3 g3 --batch-linger 120s --batch-min-wait 120s --batch-max 1000000
S=$JOB_PID
deadline=$((SECONDS + 60))
until grep -q "assigned t3" "$WORK/jobS.log" 2>/dev/null || ((SECONDS > deadline)); do sleep 0.3; done
grep -q "batches of up to 1000000 records" "$WORK/jobS.log" || fail "jobS did not use its --batch-max"
sleep 4 # consume what is there into the open batch
kill -STOP "$S"
start_job jobT t3 g3
T=$JOB_PID
wait_drained t3 g3 5000 120
"$USERGEN" produce -b "$BOOT" -t t3 -n 2000 -k 5000 -B 0 -U 0 -S 11 >>"$WORK/usergen3.log" 2>&1 ||
    fail "usergen failed"
wait_drained t3 g3 7000 120
kill -CONT "$S"
deadline=$((SECONDS + 60))
until grep -q "refused" "$WORK/jobS.log" || ((SECONDS > deadline)); do sleep 0.5; done
grep -m1 "refused" "$WORK/jobS.log" | cut -c1-300 || fail "the stale instance's offset write was not refused"
stop_job "$T"
kill -TERM "$S"
timeout 60 tail --pid="$S" -f /dev/null || fail "stale job did not stop"
wait "$S" 2>/dev/null || true
verify t3 g3

# ---- 3. Cassandra stopped mid-run ------------------------------------------------------------
N4=$((N / 10))
KS=ks_outage
note "3: $N4 records; Cassandra stopped mid-run and started again"
"$USERGEN" produce -b "$BOOT" -t t4 -n "$N4" -B 0 -U 50 -r 1000 -S 13 >"$WORK/usergen4.log" 2>&1 &
UG=$!
PIDS+=("$UG")
start_job job4 t4 g4
deadline=$((SECONDS + 60))
while (($(stored_sum t4 g4) == 0 && SECONDS < deadline)); do sleep 0.5; done
"$HERE/cassandra-server.sh" stop "$CDIR"
note "Cassandra stopped"
deadline=$((SECONDS + 60))
until grep -q "waiting for Cassandra" "$WORK/job4.log" || ((SECONDS > deadline)); do sleep 0.5; done
grep -m1 "waiting for Cassandra" "$WORK/job4.log" | cut -c1-300 || fail "the job did not say what it waits for"
sleep 3
kill -0 "$JOB_PID" || fail "the job died while Cassandra was down"
"$HERE/cassandra-server.sh" start "$CDIR" "$CPORT" >/dev/null
note "Cassandra started again"
wait "$UG" || fail "usergen failed"
wait_drained t4 g4 "$N4" 240
grep -m1 -E "reachable again|connected to .* again" "$WORK/job4.log" | cut -c1-200 || true
stop_job "$JOB_PID"
verify t4 g4
echo "PASS"
