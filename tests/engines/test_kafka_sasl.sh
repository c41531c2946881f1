#!/usr/bin/env bash
# sluice's Kafka clients against a real Apache Kafka 4.x listener that requires SASL/PLAIN
# (kafka-server.sh with KAFKA_SERVER_SASL_PLAIN), client settings given with --kafka-property
# and with the kafka: map of sluice.yaml, the password read from the environment (env:) and
# from a file (file:):
#   1. sluice topics create / list through the SASL listener;
#   2. sluice ingest --source generator --count N (with librdkafka's security/conf debug lines
#      on) delivers N records;
#   3. sluice process (settings from sluice.yaml) stores them: sluice query count = N;
#   4. a wrong password makes topics, ingest and process fail with "SASL authentication failed
#      (PLAIN, ...)", not a hang (each bounded by timeout, elapsed seconds printed);
#   5. neither password appears in any output.
# Skips (77) without java. About 60-90 s, most of it Kafka's start.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${SLUICE_BIN:?SLUICE_BIN must name the sluice binary}"
N=${SASL_RECORDS:-3000}
T0=$SECONDS

rc=0
"$HERE/kafka-jars.sh" >/dev/null || rc=$?
if [[ $rc -eq 77 ]]; then
    echo "SKIP: Apache Kafka needs java (and mvn for the first fetch); not run"
    exit 77
elif [[ $rc -ne 0 ]]; then
    echo "FAIL: could not fetch Apache Kafka's jars (kafka-jars.sh exit $rc)" >&2
    exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-kafka-sasl.XXXXXX")
PROC_PID=""
cleanup() {
    local rc=$?
    if [[ -n "$PROC_PID" ]] && kill -0 "$PROC_PID" 2>/dev/null; then
        kill -KILL "$PROC_PID" 2>/dev/null || true
        wait "$PROC_PID" 2>/dev/null || true
    fi
    "$HERE/kafka-server.sh" stop "$WORK/kafka" >/dev/null 2>&1 || true
    if [[ -n "${KEEP_WORK:-}" ]]; then echo "--- kept $WORK"; else rm -rf "$WORK"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

note() { echo "--- $*"; }
FAILS=0
bad() {
    FAILS=$((FAILS + 1))
    echo "FAIL: $*" >&2
}
show() { # show FILE: the last lines of a command's output, for a failed check
    echo "    --- $1 (last 15 lines):" >&2
    tail -n 15 "$1" | sed 's/^/    /' >&2
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { # a port P with P+1 (controller) and P+2 (SASL) free too
    local p
    for _ in $(seq 30); do
        p=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        ((p < 65533)) && ! port_open "$p" && ! port_open $((p + 1)) && ! port_open $((p + 2)) &&
            { echo "$p"; return; }
    done
    echo "FAIL: no free port triple" >&2
    exit 1
}

USER_NAME=sluice-sasl
PASS="pw-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
WRONG="wrong-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
PORT=$(free_port)
note "starting Apache Kafka with a SASL_PLAINTEXT (PLAIN) listener"
t=$SECONDS
if ! ADDRS=$(KAFKA_SERVER_HEAP=${KAFKA_SERVER_HEAP:-512m} KAFKA_SERVER_SASL_PLAIN="$USER_NAME:$PASS" \
    "$HERE/kafka-server.sh" start "$WORK/kafka" "$PORT" 2>"$WORK/kafka-start.err"); then
    cat "$WORK/kafka-start.err" >&2
    echo "FAIL: Apache Kafka did not start" >&2
    exit 1
fi
SASL=$(sed -n 2p <<<"$ADDRS")
[[ -n "$SASL" ]] || { echo "FAIL: kafka-server.sh printed no SASL address: $ADDRS" >&2; exit 1; }
note "Kafka up in $((SECONDS - t)) s; SASL_PLAINTEXT listener on $SASL"

export SASL_TEST_PW=$PASS
printf '%s\n' "$PASS" >"$WORK/pw"
chmod 600 "$WORK/pw"
COMMON=(--bootstrap "$SASL" --kafka-property security.protocol=SASL_PLAINTEXT
    --kafka-property sasl.mechanism=PLAIN --kafka-property "sasl.username=$USER_NAME")
TOPIC=sasl-users
OUTS=()

# ---- 1. topics ------------------------------------------------------------------------------
note "1: sluice topics create/list over SASL/PLAIN (password from env:)"
OUTS+=("$WORK/topics.out")
if timeout 60 "$SLUICE_BIN" topics create "$TOPIC" --partitions 3 "${COMMON[@]}" \
    --kafka-property sasl.password=env:SASL_TEST_PW >"$WORK/topics.out" 2>&1 &&
    timeout 60 "$SLUICE_BIN" topics list "${COMMON[@]}" \
        --kafka-property sasl.password=env:SASL_TEST_PW >>"$WORK/topics.out" 2>&1; then
    grep -qx "$TOPIC" "$WORK/topics.out" || { bad "topics list does not show $TOPIC"; show "$WORK/topics.out"; }
else
    bad "sluice topics over SASL failed"
    show "$WORK/topics.out"
fi

# ---- 2. ingest ------------------------------------------------------------------------------
note "2: sluice ingest --source generator --count $N (password from file:, debug lines on)"
OUTS+=("$WORK/ingest.out")
if timeout 120 "$SLUICE_BIN" ingest --source generator --count "$N" --topic "$TOPIC" "${COMMON[@]}" \
    --kafka-property "sasl.password=file:$WORK/pw" --kafka-property debug=security,conf \
    --log-level debug >"$WORK/ingest.out" 2>&1; then
    grep -q "SASL" "$WORK/ingest.out" || { bad "no librdkafka SASL debug line reached the log"; show "$WORK/ingest.out"; }
else
    bad "sluice ingest over SASL failed"
    show "$WORK/ingest.out"
fi

# ---- 3. process -----------------------------------------------------------------------------
note "3: sluice process with the kafka: map of sluice.yaml"
cat >"$WORK/sluice.yaml" <<YAML
process:
  bootstrap: $SASL
  topic: $TOPIC
  kafka:
    security.protocol: SASL_PLAINTEXT
    sasl.mechanism: PLAIN
    sasl.username: $USER_NAME
    sasl.password: env:SASL_TEST_PW
YAML
OUTS+=("$WORK/process.out")
"$SLUICE_BIN" process --config "$WORK/sluice.yaml" --store "sqlite:$WORK/store" \
    --stats-interval 2s >"$WORK/process.out" 2>&1 &
PROC_PID=$!
count() {
    "$SLUICE_BIN" query --store "sqlite:$WORK/store" "SELECT count(*) AS n FROM created_users" \
        --json 2>/dev/null | tr -dc '0-9'
}
got=0
deadline=$((SECONDS + 120))
while ((SECONDS < deadline)) && kill -0 "$PROC_PID" 2>/dev/null; do
    got=$(count || true)
    [[ "${got:-0}" -ge "$N" ]] && break
    sleep 1
done
if kill -0 "$PROC_PID" 2>/dev/null; then
    kill -TERM "$PROC_PID"
    wait "$PROC_PID" || bad "sluice process did not exit 0 on SIGTERM"
else
    wait "$PROC_PID" || true
    bad "sluice process exited before storing the records"
fi
PROC_PID=""
got=$(count || true)
if [[ "$got" == "$N" ]]; then
    echo "    $got records stored (sluice query count)"
else
    bad "sluice query counts '$got' rows, expected $N"
    show "$WORK/process.out"
fi

# ---- 4. wrong password ----------------------------------------------------------------------
note "4: a wrong password: a clear error naming the mechanism, not a hang"
export SASL_TEST_PW=$WRONG
expect_auth_error() { # expect_auth_error NAME LIMIT COMMAND...
    local name=$1 limit=$2 rc=0 t=$SECONDS
    shift 2
    OUTS+=("$WORK/$name.out")
    timeout "$limit" "$@" >"$WORK/$name.out" 2>&1 || rc=$?
    echo "    $name: exit $rc after $((SECONDS - t)) s: $(grep -m1 -o 'SASL authentication failed.*' "$WORK/$name.out" | cut -c1-150)"
    if [[ $rc -ne 1 ]]; then
        bad "$name with a wrong password: exit $rc (expected 1: a failure, not success, a hang or a crash)"
        show "$WORK/$name.out"
    elif ! grep -q "SASL authentication failed (PLAIN, user '$USER_NAME')" "$WORK/$name.out"; then
        bad "$name with a wrong password did not say 'SASL authentication failed (PLAIN, ...)'"
        show "$WORK/$name.out"
    fi
}
expect_auth_error topics-bad 60 "$SLUICE_BIN" topics list "${COMMON[@]}" --timeout 50s \
    --kafka-property sasl.password=env:SASL_TEST_PW
expect_auth_error ingest-bad 60 "$SLUICE_BIN" ingest --source generator --count 10 \
    --topic "$TOPIC" "${COMMON[@]}" --broker-timeout 50s --kafka-property sasl.password=env:SASL_TEST_PW
expect_auth_error process-bad 90 "$SLUICE_BIN" process --config "$WORK/sluice.yaml" \
    --store "sqlite:$WORK/store-bad"

# ---- 5. no password in any output -----------------------------------------------------------
note "5: neither password appears in any output"
for f in "${OUTS[@]}"; do
    if grep -qF -e "$PASS" -e "$WRONG" "$f"; then
        bad "a password appears in $(basename "$f")"
        grep -nF -e "$PASS" -e "$WRONG" "$f" | head -3 | sed "s/$PASS/<PASSWORD>/g; s/$WRONG/<WRONG>/g" >&2
    fi
done
grep -q "sasl.password" "$WORK/ingest.out" ||
    bad "librdkafka's conf debug dump did not list sasl.password (the redaction check saw nothing)"

note "total $((SECONDS - T0)) s"
if ((FAILS > 0)); then
    echo "FAIL: $FAILS check(s) failed" >&2
    exit 1
fi
echo "PASS: topics, ingest and process over SASL/PLAIN; wrong password reported clearly; no password in the output"
