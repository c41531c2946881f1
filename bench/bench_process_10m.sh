#!/usr/bin/env bash
# The stream job into SQLite while the table grows to BENCH_10M_N rows (default 10,000,000;
# issue 12, embedded goal), through the real binary and a private broker:
#  1. BENCH_10M_N users_created records (1% updates of earlier ids, no bad ones) are produced
#     into the topic first (usergen), then `sluice process` drains them into an empty store:
#     rows/s, batch p50/p99 and RSS per million-row step (from the job's 1 s stats lines);
#  2. steady load on the full table: BENCH_10M_RATE (10000) records/s for BENCH_10M_SECS (30)
#     s; end-to-end (store commit - record timestamp) and batch latency p50/p99, RSS;
#  3. peer in the same invocation: the naive design (one SQLite transaction per record,
#     SQLite's defaults: `--batch-max 1`, 2 MB cache, checkpoint every 1000 pages) on the
#     first BENCH_10M_NAIVE_N (50000) records, against sluice's rate over the same first rows.
# Writes a table, and an SVG plot of rows/s per step to BENCH_10M_PLOT when set (e.g.
# docs/bench_process_10m.svg). Data goes under BUILD_DIR (the real disk): ~4.5 GB in the
# broker and ~3.5 GB in SQLite at 10M rows. Usage: bench/bench_process_10m.sh BUILD_DIR
set -euo pipefail
BUILD=$(cd "${1:?usage: bench_process_10m.sh BUILD_DIR}" && pwd)
SLUICE="$BUILD/sluice"
USERGEN="$BUILD/tests/usergen"
PY=/usr/bin/python3
N=${BENCH_10M_N:-10000000}
STEP=${BENCH_10M_STEP:-1000000}
RATE=${BENCH_10M_RATE:-10000}
SECS=${BENCH_10M_SECS:-30}
NAIVE_N=${BENCH_10M_NAIVE_N:-50000}
# BENCH_10M_JOB_ARGS: options added to the drain's `sluice process` (e.g. --fetch-queue 64MiB);
# BENCH_10M_KEEP_LOGS=1 keeps the jobs' and the broker's logs (not their data) in the work dir.
for f in "$SLUICE" "$USERGEN"; do
    [[ -x "$f" ]] || { echo "bench_process_10m: $f is not built" >&2; exit 1; }
done

WORK=$(mktemp -d "$BUILD/bench-process-10m.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [[ -n "${BENCH_10M_KEEP_LOGS:-}" ]]; then # the jobs' and the broker's logs only
        rm -rf "$WORK/broker" "$WORK/store" "$WORK"/naive*/
        echo "bench_process_10m: logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
die() {
    echo "bench_process_10m: $*" >&2
    exit 1
}

PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
BOOT="127.0.0.1:$PORT"
MPORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
"$SLUICE" broker --listen "$BOOT" --data-dir "$WORK/broker" --log-level warn \
    --metrics-listen "127.0.0.1:$MPORT" >"$WORK/broker.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

stored_sum() {
    [[ -f "$1/spark_streams.db" ]] || { echo 0; return; }
    "$SLUICE" query --store "sqlite:$1" --json \
        "SELECT coalesce(sum(next_offset), 0) AS s FROM sluice_offsets WHERE topic='$2'" \
        2>/dev/null | tr -dc '0-9' || echo 0
}

# run_job NAME STORE PARAMS TARGET TIMEOUT_S [args]: runs the job until the stored offsets
# reach TARGET; samples its RSS every second into $WORK/NAME.rss; stops it with SIGTERM.
run_job() {
    local name=$1 store=$2 params=$3 target=$4 limit=$5
    shift 5
    "$SLUICE" process --bootstrap "$BOOT" --topic users --group "g-$name" \
        --store "sqlite:$store$params" --stats-interval 1s "$@" >"$WORK/$name.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    local deadline=$((SECONDS + limit))
    : >"$WORK/$name.rss"
    while (($(stored_sum "$store" users) < target && SECONDS < deadline)); do
        echo "$(date +%s.%N) $(awk '/VmRSS/ {print $2}' "/proc/$pid/status")" >>"$WORK/$name.rss"
        sleep 1
    done
    awk '/VmHWM/ {print $2}' "/proc/$pid/status" >"$WORK/$name.hwm"
    # CPU seconds per thread (clock ticks / 100): loop (decode), checkpointer, writer, ...;
    # then, from schedstat, the seconds it was runnable but waited for a core (2 cores here)
    for t in /proc/"$pid"/task/*; do
        printf "%s:%.1fs(+%.1fs) " "$(cat "$t/comm")" "$(awk '{print ($14 + $15) / 100}' "$t/stat")" \
            "$(awk '{print $2 / 1e9}' "$t/schedstat" 2>/dev/null || echo 0)"
    done >"$WORK/$name.cpu" 2>/dev/null || true
    kill -TERM "$pid"
    wait "$pid" || die "$name exited non-zero: $(tail -3 "$WORK/$name.log")"
}

echo "bench_process_10m: producing $N records (1% updates of earlier ids) ..."
"$USERGEN" produce -b "$BOOT" -t users -n "$N" -B 0 -U 10 -T 3600 | tail -1
echo "== 1. sluice process drains $N records into an empty SQLite store (defaults)"
T0=$(date +%s)
# shellcheck disable=SC2086 # BENCH_10M_JOB_ARGS is a list of options
run_job grow "$WORK/store" "" "$N" 7200 ${BENCH_10M_JOB_ARGS:-}
echo "   drained in $(($(date +%s) - T0)) s; $(grep 'summary:' "$WORK/grow.log" | sed 's/.*summary: //')"
echo "   drain's store: $(grep 'process: store:' "$WORK/grow.log" | sed 's/.*store: //')"
echo "   CPU by thread (the first three: loop/decode, checkpointer, writer; +s waiting for a core):"
echo "   $(cat "$WORK/grow.cpu")"

echo "== 2. steady $RATE records/s for $SECS s on the full table"
LN=$((RATE * SECS))
# The same group: it resumes where the drain stopped. Once it has its partitions, 1000
# records warm it up (so its cumulative latencies are the pipeline's, not its start-up's).
"$SLUICE" process --bootstrap "$BOOT" --topic users --group g-grow --store "sqlite:$WORK/store" \
    --stats-interval 1s >"$WORK/steady.log" 2>&1 &
SPID=$!
PIDS+=("$SPID")
deadline=$((SECONDS + 60))
while ! grep -q "assigned users\[2\]" "$WORK/steady.log" && ((SECONDS < deadline)); do
    sleep 0.2
done
"$USERGEN" produce -b "$BOOT" -t users -n 1000 -k "$N" -B 0 -U 0 -S 3 >/dev/null
WARM0=$SECONDS
while (($(stored_sum "$WORK/store" users) < N + 1000 && SECONDS < deadline)); do sleep 0.2; done
WARM_S=$((SECONDS - WARM0))
# The stats lines from here on are the steady phase's: the next line still covers the
# warm-up (its first batch reads the delta's ids and the filter), so it is waited for first.
MARK=$(wc -l <"$WORK/steady.log")
while (($(wc -l <"$WORK/steady.log") <= MARK && SECONDS < deadline)); do sleep 0.1; done
MARK=$(wc -l <"$WORK/steady.log")
# The broker's fsync histogram before and after the phase: its fsyncs hold the records back.
fsync_hist() {
    "$PY" -c 'import sys, urllib.request
for l in urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode().splitlines():
    if l.startswith("sluice_broker_fsync_duration_seconds_bucket"):
        print(l.split("le=\"")[1].split("\"")[0], l.split()[-1])' "$MPORT" 2>/dev/null || true
}
fsync_hist >"$WORK/fsync.0"
# Producer linger 5 ms, as `sluice ingest` (issue 12); usergen prints its ack latency too.
"$USERGEN" produce -b "$BOOT" -t users -n "$LN" -k $((N + 1000)) -r "$RATE" -B 0 -U 10 -S 3 \
    -T 600 -L 5 | tail -2
deadline=$((SECONDS + 120))
while (($(stored_sum "$WORK/store" users) < N + 1000 + LN && SECONDS < deadline)); do
    sleep 0.2
done
STEADY_HWM=$(awk '/VmHWM/ {print $2}' "/proc/$SPID/status")
fsync_hist >"$WORK/fsync.1"
kill -TERM "$SPID"
wait "$SPID" 2>/dev/null || true
tail -n +"$((MARK + 1))" "$WORK/steady.log" >"$WORK/steady.part"
echo "   steady job: $(grep 'summary:' "$WORK/steady.log" | sed 's/.*summary: //')"
echo "   steady job's store: $(grep 'process: store:' "$WORK/steady.log" | sed 's/.*store: //')"
if ((WARM_S > 10)); then
    echo "   the warm-up's 1000 records took ${WARM_S} s to be stored; the job's first lines:"
    head -12 "$WORK/steady.log" | sed 's/^/     /'
fi

echo "== 3. naive peer: one transaction per record, SQLite defaults, first $NAIVE_N records"
run_job naive "$WORK/naive" "?cache_mb=2&checkpoint=inline&checkpoint_pages=1000&sort=0" \
    "$NAIVE_N" 1800 --batch-max 1
NAIVE=$(grep "summary:" "$WORK/naive.log" | tail -1 | sed -E 's/.*rate ([0-9]+).*/\1/')

"$PY" - "$WORK" "$N" "$STEP" "$NAIVE_N" "$NAIVE" "$RATE" "$STEADY_HWM" "${BENCH_10M_PLOT:-}" <<'EOF'
import re, sys, datetime
work, n, step, naive_n, naive, rate, steady_hwm, plot = sys.argv[1:]
n, step, naive_n, naive, rate = int(n), int(step), int(naive_n), float(naive), int(rate)
pat = re.compile(r"^(\S+) INFO  process: in \d+ .*?stored (\d+) .*?batch p50 ([\d.]+) ms p99 "
                 r"([\d.]+) ms \| end-to-end p50 (\d+) ms p99 (\d+) ms")
def lines(path):
    out = []
    for l in open(path, errors="replace"):
        m = pat.match(l)
        if m:
            t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
            out.append((t, int(m.group(2)), float(m.group(3)), float(m.group(4)),
                        float(m.group(5)), float(m.group(6))))
    return out
rss = []
for l in open(work + "/grow.rss"):
    p = l.split()
    if len(p) == 2:
        rss.append((float(p[0]), int(p[1])))
g = lines(work + "/grow.log")
if not g:
    sys.exit("no stats lines")
# Rows stored (offsets include the 1% updates, rows are offsets here: no bad records).
def cross(target):
    prev = (g[0][0] - 1.0, 0)
    for t, s, *_ in g:
        if s >= target:
            f = (target - prev[1]) / max(s - prev[1], 1)
            return prev[0] + f * (t - prev[0])
        prev = (t, s)
    return None
start = cross(1) or g[0][0]
print("\n  %-22s %10s %12s %12s %10s" % ("rows (offsets)", "rows/s", "batch p50 ms",
                                           "batch p99 ms", "RSS MB"))
steps, lo, t_lo = [], 0, start
while lo < n:
    hi = min(lo + step, n)
    t_hi = cross(hi)
    if t_hi is None:
        break
    sel = [x for x in g if t_lo < x[0] <= t_hi] or [min(g, key=lambda x: abs(x[0] - t_hi))]
    p50 = sorted(x[2] for x in sel)[len(sel) // 2]
    p99 = max(x[3] for x in sel)
    r = [v for t, v in rss if t_lo <= t <= t_hi]
    rate_s = (hi - lo) / max(t_hi - t_lo, 1e-3)
    steps.append((hi, rate_s))
    print("  %10d-%-11d %10.0f %12.1f %12.1f %10.0f" % (lo, hi, rate_s, p50, p99,
                                                     max(r) / 1024 if r else 0))
    lo, t_lo = hi, t_hi
total = n / max(t_lo - start, 1e-3)
hwm = int(open(work + "/grow.hwm").read().strip() or 0)
print("  overall %.0f rows/s; peak RSS %.0f MB" % (total, hwm / 1024))
s = lines(work + "/steady.part")
s = [x for x in s if x[4] > 0]
# The job's summary: percentiles over all its records (the 1,000 warm-up records included).
overall = ""
for l in open(work + "/steady.log", errors="replace"):
    m = re.search(r"summary: .*end-to-end p50 ([\d.]+) ms p99 ([\d.]+) ms", l)
    if m:
        overall = "; over all records p50 %s ms, p99 %s ms" % (m.group(1), m.group(2))
# The broker's fsyncs during the phase (bucket counts after minus before).
def hist(path):
    try:
        return {float(a) if a != "+Inf" else float("inf"): int(float(b))
                for a, b in (l.split() for l in open(path) if l.strip())}
    except (OSError, ValueError):
        return {}
h0, h1 = hist(work + "/fsync.0"), hist(work + "/fsync.1")
if h1:
    les = sorted(h1)
    cum = [h1[le] - h0.get(le, 0) for le in les]
    total = cum[-1]
    if total > 0:
        p99 = next(le for le, c in zip(les, cum) if c >= 0.99 * total)
        over = total - max((c for le, c in zip(les, cum) if le <= 0.1), default=0)
        print("  broker fsyncs in the steady phase: %d, p99 <= %.0f ms, %d above 100 ms" %
              (total, p99 * 1000, over))
if s:
    print("  steady %d records/s on the full table: end-to-end p50 %.0f ms (median of 1 s "
          "intervals), p99 %.0f ms (worst 1 s interval)%s; batch p50 %.1f ms, p99 %.1f ms; "
          "peak RSS %.0f MB" % (rate, sorted(x[4] for x in s)[len(s) // 2],
                                max(x[5] for x in s), overall,
                                sorted(x[2] for x in s)[len(s) // 2], max(x[3] for x in s),
                                int(steady_hwm or 0) / 1024))
first = cross(naive_n)
if first and naive > 0:
    sl = naive_n / max(first - start, 1e-3)
    print("  first %d rows: sluice %.0f rows/s, naive peer %.0f rows/s: %.1fx" %
          (naive_n, sl, naive, sl / naive))
if plot and steps:
    W, H, L, B = 640, 360, 70, 40
    ymax = max(r for _, r in steps) * 1.15
    def X(v): return L + (W - L - 20) * v / n
    def Y(v): return H - B - (H - B - 20) * v / ymax
    pts = " ".join("%.1f,%.1f" % (X(h - step / 2), Y(r)) for h, r in steps)
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">' % (W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="14" font-size="13">sluice process into SQLite: rows/s per %d-row step</text>' % (L, step)]
    for k in range(6):
        v = ymax * k / 5
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (L, W - 20, Y(v), Y(v)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%.0fk</text>' % (L - 5, Y(v) + 4, v / 1000))
    for k in range(0, 11):
        v = n * k / 10
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%gM</text>' % (X(v), H - B + 15, round(v / 1e6, 2)))
    out.append('<text x="%d" y="%d" text-anchor="middle">table size (rows)</text>' % ((W + L) / 2, H - 5))
    out.append('<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="%s"/>' % pts)
    out.append('</svg>')
    open(plot, "w").write("\n".join(out) + "\n")
    print("  plot: " + plot)
EOF
