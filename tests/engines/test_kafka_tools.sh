#!/usr/bin/env bash
# Apache Kafka's own CLI tools (4.x, run from Maven jars with Java 17) against `sluice broker`:
#   kafka-topics --create (3 partitions, RF 1), --list, --describe;
#   kafka-console-producer of N keyed lines, kafka-get-offsets (end offsets sum to N);
#   kafka-console-consumer --group G --from-beginning --max-messages N returns exactly those lines;
#   M more lines produced, then kafka-consumer-groups --list shows G and --describe --group G shows
#   per partition CURRENT-OFFSET = end offset after the first N, LOG-END-OFFSET = end offset now,
#   LAG = their difference (summing to N, N+M and M);
#   kafka-producer-perf-test (100,000 x 100 B, acks=all) and kafka-consumer-perf-test (100,000,
#   in a group) complete with the right counts.
#
# Environment:
#   SLUICE_BIN        the sluice binary (ctest sets it)
#   KAFKA_TARGET      sluice (default) or apache: run the same checks against a real Apache Kafka
#                     broker started by kafka-server.sh, to validate this test itself
#   SLUICE_LOG_LEVEL  e.g. debug: the sluice broker's log level (its log is shown on failure)
#   KEEP_WORK=1       keep the temporary directory (logs, tool outputs) and print its path
#   PERF_RECORDS      records for the perf tests (default 100000)
# Exit 77 (skipped, with a notice) when java is absent, or mvn is absent and no jars are cached.
# Steps that fail are reported and the test goes on with the next independent step, so one run
# shows everything that does not work; the exit status is 1 if any check failed.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOL="$HERE/kafka-tool.sh"
TARGET=${KAFKA_TARGET:-sluice}
N=1000
M=300
PERF=${PERF_RECORDS:-100000}
T0=$SECONDS

note() { echo "--- $*"; }

# Fetch (once) or find the jars first: this is where a missing java/mvn turns into a skip.
rc=0
LIBS=$("$HERE/kafka-jars.sh") || rc=$?
if [[ $rc -eq 77 ]]; then
    echo "SKIP: Apache Kafka's CLI tools need java (and mvn for the first fetch); not run"
    exit 77
elif [[ $rc -ne 0 ]]; then
    echo "FAIL: could not fetch Apache Kafka's jars (kafka-jars.sh exit $rc)" >&2
    exit 1
fi
note "Kafka tools $(cd "$LIBS" && ls kafka-tools-[0-9]*.jar | sed "s/^kafka-tools-//; s/\.jar$//") from $LIBS (fetch/check: $((SECONDS - T0)) s)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-kafka-tools.XXXXXX")
BROKER_PID=""
BROKER_LOG="$WORK/broker.log"
FAILS=0
FAILED_STEPS=()
TIMES=()

cleanup() {
    local rc=$?
    if [[ $TARGET == apache ]]; then
        "$HERE/kafka-server.sh" stop "$WORK/kafka" >/dev/null 2>&1 || true
    elif [[ -n "$BROKER_PID" ]] && kill -0 "$BROKER_PID" 2>/dev/null; then
        kill -TERM "$BROKER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    if [[ -n "${KEEP_WORK:-}" ]]; then
        echo "--- kept $WORK"
    else
        rm -rf "$WORK"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A free port whose successor is free too (Apache Kafka's controller listens on PORT+1).
free_port() {
    local p
    for _ in $(seq 20); do
        p=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        ((p < 65535)) && ! port_open "$p" && ! port_open $((p + 1)) && { echo "$p"; return; }
    done
    echo "FAIL: no free port pair found" >&2
    exit 1
}

broker_log_tail() {
    if [[ $TARGET == apache ]]; then
        echo "--- last lines of the Apache Kafka server log:"
        grep -E "WARN|ERROR" "$WORK/kafka/server.log" | tail -n 20
    else
        echo "--- last lines of the sluice broker's log:"
        tail -n "${1:-40}" "$BROKER_LOG"
    fi
}

# bad STEP MESSAGE: records a failed check and shows what the tool said.
bad() {
    local step=$1
    shift
    FAILS=$((FAILS + 1))
    FAILED_STEPS+=("$step")
    echo "FAIL [$step]: $*" >&2
    {
        if [[ -s "$WORK/$step.err" ]]; then
            echo "--- $step stderr (last 30 lines):"
            grep -v '^\s*at ' "$WORK/$step.err" | tail -n 30
        fi
        if [[ -s "$WORK/$step.out" ]]; then
            echo "--- $step stdout (last 15 lines):"
            tail -n 15 "$WORK/$step.out"
        fi
        broker_log_tail 40
    } >&2
}

# run STEP TIMEOUT STDIN TOOL-NAME ARGS...: runs a Kafka tool with a bound, output in
# $WORK/STEP.out and .err; returns the tool's status (124 = timed out).
run() {
    local step=$1 limit=$2 input=$3
    shift 3
    local t=$SECONDS rc=0
    note "$step: kafka-$1 ${*:2}"
    timeout -k 10 "$limit" "$TOOL" "$@" <"$input" >"$WORK/$step.out" 2>"$WORK/$step.err" || rc=$?
    TIMES+=("$step $((SECONDS - t))s")
    if [[ $rc -eq 124 || $rc -eq 137 ]]; then
        echo "    (timed out after $limit s)" >>"$WORK/$step.err"
    fi
    return $rc
}

# ---------------------------------------------------------------------------------------------
PORT=$(free_port)
B="127.0.0.1:$PORT"
if [[ $TARGET == apache ]]; then
    note "starting Apache Kafka on $B"
    t=$SECONDS
    "$HERE/kafka-server.sh" start "$WORK/kafka" "$PORT" >/dev/null || { echo "FAIL: Apache Kafka did not start" >&2; exit 1; }
    TIMES+=("apache-start $((SECONDS - t))s")
elif [[ $TARGET == sluice ]]; then
    : "${SLUICE_BIN:?SLUICE_BIN must name the sluice binary}"
    note "starting $SLUICE_BIN broker on $B"
    "$SLUICE_BIN" broker --listen "$B" --data-dir "$WORK/data" >"$BROKER_LOG" 2>&1 &
    BROKER_PID=$!
    deadline=$((SECONDS + 20))
    until grep -q "listening on" "$BROKER_LOG" && port_open "$PORT"; do
        kill -0 "$BROKER_PID" 2>/dev/null || { echo "FAIL: sluice broker exited during start-up" >&2; cat "$BROKER_LOG" >&2; exit 1; }
        ((SECONDS < deadline)) || { echo "FAIL: sluice broker not listening on $B in 20 s" >&2; cat "$BROKER_LOG" >&2; exit 1; }
        sleep 0.1
    done
else
    echo "FAIL: KAFKA_TARGET must be sluice or apache, not '$TARGET'" >&2
    exit 1
fi

TOPIC=tools-lines
GROUP=tools-group
PTOPIC=tools-perf
PGROUP=tools-perf-group

# --- kafka-topics --------------------------------------------------------------------------
if run create 60 /dev/null topics --bootstrap-server "$B" --create --topic "$TOPIC" \
    --partitions 3 --replication-factor 1; then
    grep -q "Created topic $TOPIC\." "$WORK/create.out" || bad create "no 'Created topic $TOPIC.' in the output"
else
    bad create "kafka-topics --create failed"
fi

if run list 60 /dev/null topics --bootstrap-server "$B" --list; then
    grep -qx "$TOPIC" "$WORK/list.out" || bad list "$TOPIC is not listed"
else
    bad list "kafka-topics --list failed"
fi

if run describe 60 /dev/null topics --bootstrap-server "$B" --describe --topic "$TOPIC"; then
    # "Topic: T<TAB>TopicId: ..<TAB>PartitionCount: 3<TAB>ReplicationFactor: 1<TAB>Configs: .."
    # then one line per partition "<TAB>Topic: T<TAB>Partition: 0<TAB>Leader: 1<TAB>Replicas: 1<TAB>Isr: 1..."
    if ! awk -F'\t' -v topic="$TOPIC" '
        { delete f; for (i = 1; i <= NF; i++) { if ($i == "") continue; k = $i; sub(/: .*$|:$/, "", k);
              v = $i; if (index(v, ": ")) sub(/^[^:]*: /, "", v); else v = ""; f[k] = v } }
        ("PartitionCount" in f) { head++; if (f["Topic"] != topic || f["PartitionCount"] != 3 || f["ReplicationFactor"] != 1) { print "bad summary: " $0; err = 1 } }
        ("Partition" in f) { if (f["Topic"] != topic || f["Leader"] !~ /^[0-9]+$/ || f["Replicas"] != f["Leader"] || f["Isr"] != f["Leader"]) { print "bad partition line: " $0; err = 1 }
                             seen[f["Partition"]] = 1; parts++ }
        END { if (head != 1) { print "summary lines: " head; err = 1 }
              if (parts != 3 || !(0 in seen) || !(1 in seen) || !(2 in seen)) { print "partition lines: " parts; err = 1 }
              exit err }' "$WORK/describe.out" >"$WORK/describe.check"; then
        cat "$WORK/describe.check" >>"$WORK/describe.err"
        bad describe "kafka-topics --describe output is wrong"
    fi
else
    bad describe "kafka-topics --describe failed"
fi

# --- console producer / get-offsets / console consumer ---------------------------------------
seq 1 "$N" | awk '{ printf "k%05d:line-%05d-%s\n", $1, $1, substr("abcdefghijklmnopqrstuvwxyz", 1 + $1 % 26) }' >"$WORK/in1.txt"
seq $((N + 1)) $((N + M)) | awk '{ printf "k%05d:line-%05d-more\n", $1, $1 }' >"$WORK/in2.txt"

produce() { # produce STEP FILE
    if run "$1" 90 "$2" console-producer --bootstrap-server "$B" --topic "$TOPIC" \
        --command-property acks=all --reader-property parse.key=true --reader-property key.separator=:; then
        if grep -qiE "error|exception" "$WORK/$1.err"; then bad "$1" "kafka-console-producer reported errors"; return 1; fi
    else
        bad "$1" "kafka-console-producer failed"
        return 1
    fi
}

# end_offsets STEP FILE: partition<TAB>end offset of $TOPIC, from kafka-get-offsets (ListOffsets).
end_offsets() {
    if run "$1" 60 /dev/null get-offsets --bootstrap-server "$B" --topic "$TOPIC" --time -1; then
        awk -F: -v t="$TOPIC" '$1 == t && NF == 3 { print $2 "\t" $3 }' "$WORK/$1.out" | sort -n >"$2"
        [[ $(wc -l <"$2") -eq 3 ]] || { bad "$1" "expected 3 partitions in kafka-get-offsets output"; return 1; }
    else
        bad "$1" "kafka-get-offsets failed"
        return 1
    fi
}
sum_col2() { awk '{ s += $2 } END { print s + 0 }' "$1"; }

produce produce1 "$WORK/in1.txt"
if end_offsets offsets1 "$WORK/end1.tsv"; then
    [[ $(sum_col2 "$WORK/end1.tsv") -eq $N ]] ||
        bad offsets1 "end offsets sum to $(sum_col2 "$WORK/end1.tsv"), expected $N: $(tr '\n' ' ' <"$WORK/end1.tsv")"
fi

if run consume 120 /dev/null console-consumer --bootstrap-server "$B" --topic "$TOPIC" \
    --group "$GROUP" --from-beginning --max-messages "$N" --timeout-ms 60000 \
    --formatter-property print.key=true --formatter-property key.separator=:; then
    if ! cmp -s <(sort "$WORK/in1.txt") <(sort "$WORK/consume.out"); then
        {
            echo "consumed $(wc -l <"$WORK/consume.out") lines, $(sort -u "$WORK/consume.out" | wc -l) distinct; diff (first 10):"
            diff <(sort "$WORK/in1.txt") <(sort "$WORK/consume.out") | head -n 10
        } >>"$WORK/consume.err"
        bad consume "kafka-console-consumer did not return exactly the $N produced lines"
    fi
else
    bad consume "kafka-console-consumer failed (got $(wc -l <"$WORK/consume.out") of $N lines)"
fi

# --- consumer groups: offsets and lag --------------------------------------------------------
produce produce2 "$WORK/in2.txt"
end_offsets offsets2 "$WORK/end2.tsv" &&
    { [[ $(sum_col2 "$WORK/end2.tsv") -eq $((N + M)) ]] ||
        bad offsets2 "end offsets sum to $(sum_col2 "$WORK/end2.tsv"), expected $((N + M))"; }

if run groups-list 60 /dev/null consumer-groups --bootstrap-server "$B" --list; then
    grep -qx "$GROUP" "$WORK/groups-list.out" || bad groups-list "$GROUP is not listed"
else
    bad groups-list "kafka-consumer-groups --list failed"
fi

if run groups-describe 60 /dev/null consumer-groups --bootstrap-server "$B" --describe --group "$GROUP"; then
    # Table: GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
    awk -v g="$GROUP" -v t="$TOPIC" '
        $1 == "GROUP" { for (i = 1; i <= NF; i++) col[$i] = i; next }
        ("GROUP" in col) && $col["GROUP"] == g && $col["TOPIC"] == t {
            print $col["PARTITION"] "\t" $col["CURRENT-OFFSET"] "\t" $col["LOG-END-OFFSET"] "\t" $col["LAG"] }' \
        "$WORK/groups-describe.out" | sort -n >"$WORK/lag.tsv"
    # Expected: current = end offsets after the first N lines, log end = now, lag = difference.
    if [[ -s "$WORK/end1.tsv" && -s "$WORK/end2.tsv" ]]; then
        join -t $'\t' "$WORK/end1.tsv" "$WORK/end2.tsv" | awk -F'\t' '{ print $1 "\t" $2 "\t" $3 "\t" $3 - $2 }' >"$WORK/lag.expected"
        if ! cmp -s "$WORK/lag.expected" "$WORK/lag.tsv"; then
            {
                echo "expected (PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG):"; cat "$WORK/lag.expected"
                echo "got:"; cat "$WORK/lag.tsv"
            } >>"$WORK/groups-describe.err"
            bad groups-describe "offsets/lag of group $GROUP are wrong"
        fi
    else
        bad groups-describe "no end offsets to compare with (kafka-get-offsets failed)"
    fi
    sums=$(awk -F'\t' '{ c += $2; e += $3; l += $4 } END { print c + 0, e + 0, l + 0 }' "$WORK/lag.tsv")
    [[ "$sums" == "$N $((N + M)) $M" ]] ||
        bad groups-describe "CURRENT-OFFSET/LOG-END-OFFSET/LAG sum to '$sums', expected '$N $((N + M)) $M'"
else
    bad groups-describe "kafka-consumer-groups --describe failed"
fi

# --- perf tests -----------------------------------------------------------------------------
run create-perf 60 /dev/null topics --bootstrap-server "$B" --create --topic "$PTOPIC" \
    --partitions 3 --replication-factor 1 || bad create-perf "kafka-topics --create $PTOPIC failed"

if run producer-perf 150 /dev/null producer-perf-test --bootstrap-server "$B" --topic "$PTOPIC" \
    --num-records "$PERF" --record-size 100 --throughput -1 --command-property acks=all; then
    line=$(grep -E "^$PERF records sent" "$WORK/producer-perf.out" | tail -n 1)
    if [[ -n "$line" ]]; then
        echo "    $line"
    else
        bad producer-perf "no final '$PERF records sent' line"
    fi
    grep -qE "ERROR|Exception" "$WORK/producer-perf.err" && bad producer-perf "kafka-producer-perf-test logged errors"
else
    bad producer-perf "kafka-producer-perf-test failed"
fi

if run consumer-perf 150 /dev/null consumer-perf-test --bootstrap-server "$B" --topic "$PTOPIC" \
    --num-records "$PERF" --group "$PGROUP" --timeout 30000; then
    # start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, ...
    res=$(awk -F', *' '$1 == "start.time" { for (i = 1; i <= NF; i++) c[$i] = i; next }
                       ("data.consumed.in.nMsg" in c) && NF > 5 { print $c["data.consumed.in.nMsg"], $c["nMsg.sec"], $c["MB.sec"] }' \
        "$WORK/consumer-perf.out" | tail -n 1)
    if [[ "${res%% *}" == "$PERF" ]]; then
        echo "    consumed $PERF records: ${res#* } (records/s, MB/s)"
    else
        bad consumer-perf "data.consumed.in.nMsg is '${res%% *}', expected $PERF"
    fi
else
    bad consumer-perf "kafka-consumer-perf-test failed"
fi

# --- admin: more partitions, group offset deletion, group deletion ---------------------------
if run alter-partitions 60 /dev/null topics --bootstrap-server "$B" --alter --topic "$PTOPIC" \
    --partitions 4; then
    if run describe-altered 60 /dev/null topics --bootstrap-server "$B" --describe --topic "$PTOPIC"; then
        grep -q "PartitionCount: 4" "$WORK/describe-altered.out" ||
            bad describe-altered "topic $PTOPIC does not show PartitionCount: 4 after --alter"
    else
        bad describe-altered "kafka-topics --describe after --alter failed"
    fi
else
    bad alter-partitions "kafka-topics --alter --partitions 4 failed"
fi
if run delete-offsets 60 /dev/null consumer-groups --bootstrap-server "$B" --delete-offsets \
    --group "$PGROUP" --topic "$PTOPIC"; then
    n_ok=$(grep -c "Successful" "$WORK/delete-offsets.out" || true)
    ((n_ok >= 3)) || bad delete-offsets "expected 3 partitions deleted 'Successful', got $n_ok"
else
    bad delete-offsets "kafka-consumer-groups --delete-offsets failed"
fi
if run delete-group 60 /dev/null consumer-groups --bootstrap-server "$B" --delete --group "$PGROUP"; then
    grep -q "successful" "$WORK/delete-group.out" || bad delete-group "no success message"
    if run list-after-delete 60 /dev/null consumer-groups --bootstrap-server "$B" --list; then
        grep -qx "$PGROUP" "$WORK/list-after-delete.out" &&
            bad list-after-delete "group $PGROUP is still listed after --delete"
    else
        bad list-after-delete "kafka-consumer-groups --list failed"
    fi
else
    bad delete-group "kafka-consumer-groups --delete failed"
fi

# ---------------------------------------------------------------------------------------------
if [[ $TARGET == sluice ]] && ! kill -0 "$BROKER_PID" 2>/dev/null; then
    bad broker "the sluice broker died during the test"
fi
note "step times: ${TIMES[*]}"
note "total $((SECONDS - T0)) s against $TARGET"
if ((FAILS > 0)); then
    echo "FAIL: $FAILS check(s) failed against $TARGET: ${FAILED_STEPS[*]}" >&2
    exit 1
fi
echo "PASS: Kafka's CLI tools work against $TARGET"
