#!/usr/bin/env bash
# The scheduler's latencies and footprint, through the real binary and its REST API:
#  1. trigger -> first task running: POST /api/v2/dags/chain/dagRuns, then the moment the first
#     task's bash command began (it writes $EPOCHREALTIME) minus the moment the request was
#     sent; median and max over BENCH_RUNS (default 20) runs, one after the other;
#  2. task end -> next task start: in a chain of BENCH_TASKS (default 10) bash tasks, the
#     moment a task's command began minus the moment its upstream's command ended (both
#     written by the commands themselves); median and p90 over every pair;
#  3. the scheduler's RSS with 100 DAGs loaded (5 tasks each, daily, paused), against the
#     same scheduler with none.
# Airflow, the peer, is not runnable on this machine (no Airflow installation and no network
# to fetch one into a venv in a bench): no figure of it is printed; compare with your own
# Airflow measurements (its scheduler loop, its task start-up, its RSS).
# Usage: bench/bench_scheduler.sh BUILD_DIR.
set -euo pipefail
BUILD=$(cd "${1:?usage: bench_scheduler.sh BUILD_DIR}" && pwd)
SLUICE="$BUILD/sluice"
RUNS=${BENCH_RUNS:-20}
TASKS=${BENCH_TASKS:-10}
[[ -x "$SLUICE" ]] || { echo "bench_scheduler: $SLUICE is not built" >&2; exit 1; }
WORK=$(mktemp -d "$BUILD/bench-scheduler.XXXXXX")
PID=""
cleanup() {
    [[ -n "$PID" ]] && kill -KILL "$PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
start() { # start DAGS_DIR DATA_DIR PORT
    "$SLUICE" scheduler --dags-folder "$1" --data-dir "$2" --listen "127.0.0.1:$3" --no-auth \
        --no-builtin-dags --no-dags-paused-at-creation >>"$WORK/sched.log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$3/api/v2/monitor/health" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "bench_scheduler: the scheduler did not come up" >&2
    tail "$WORK/sched.log" >&2
    exit 1
}
stop() {
    kill -TERM "$PID"
    wait "$PID" 2>/dev/null || true
    PID=""
}

# 1 + 2: latencies
mkdir -p "$WORK/dags"
{
    echo "chain:"
    echo "  schedule: null"
    echo "  max_active_runs: 1"
    echo "  tasks:"
    for i in $(seq "$TASKS"); do
        echo "    - task_id: t$i"
        echo "      operator: bash"
        echo "      bash_command: 'echo \"\$AIRFLOW_CTX_DAG_RUN_ID \$AIRFLOW_CTX_TASK_ID start \$EPOCHREALTIME\" >> $WORK/stamps; echo \"\$AIRFLOW_CTX_DAG_RUN_ID \$AIRFLOW_CTX_TASK_ID end \$EPOCHREALTIME\" >> $WORK/stamps'"
        [[ $i -gt 1 ]] && echo "      dependencies: [t$((i - 1))]"
    done
} >"$WORK/dags/chain.yaml"
PORT=$(free_port)
start "$WORK/dags" "$WORK/data" "$PORT"
/usr/bin/python3 - "$PORT" "$WORK/data/scheduler/scheduler.db" "$RUNS" "$TASKS" "$WORK/stamps" <<'EOF'
import json, sqlite3, statistics, sys, time, urllib.request
port, db_path, runs, tasks = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
stamps_path = sys.argv[5]
base = f"http://127.0.0.1:{port}/api/v2"
db = sqlite3.connect(db_path, timeout=10)

for _ in range(100):  # the DAG is parsed within a turn or two
    if db.execute("SELECT count(*) FROM dag WHERE dag_id='chain'").fetchone()[0]:
        break
    time.sleep(0.1)
first, gaps, sent_at = [], [], {}
for i in range(runs):
    body = json.dumps({"dag_run_id": f"bench{i}", "logical_date": None, "conf": {}}).encode()
    req = urllib.request.Request(f"{base}/dags/chain/dagRuns", body, method="POST",
                                 headers={"Content-Type": "application/json"})
    sent = time.time()
    urllib.request.urlopen(req).read()
    for _ in range(3000):
        st = db.execute("SELECT state FROM dag_run WHERE run_id=?", (f"bench{i}",)).fetchone()
        if st and st[0] in ("success", "failed"):
            break
        time.sleep(0.01)
    if st[0] != "success":
        sys.exit(f"run bench{i} ended {st[0]}")
    sent_at[f"bench{i}"] = sent
stamp = {}
for line in open(stamps_path):
    run, task, what, t = line.split()
    stamp[(run, task, what)] = float(t.replace(",", "."))
for run, sent in sent_at.items():
    first.append(stamp[(run, "t1", "start")] - sent)
    for k in range(2, tasks + 1):
        gaps.append(stamp[(run, f"t{k}", "start")] - stamp[(run, f"t{k-1}", "end")])
ms = lambda v: f"{v * 1000:.1f} ms"
gaps.sort()
print(f"trigger -> first task running: median {ms(statistics.median(first))}, "
      f"max {ms(max(first))} over {runs} runs")
print(f"task end -> next task start:   median {ms(statistics.median(gaps))}, "
      f"p90 {ms(gaps[int(len(gaps) * 0.9)])} over {len(gaps)} task pairs")
EOF
stop

# 3: RSS with 100 DAGs
rss() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }
mkdir -p "$WORK/empty" "$WORK/many"
PORT=$(free_port)
start "$WORK/empty" "$WORK/data-empty" "$PORT"
sleep 1
rss0=$(rss)
stop
for d in $(seq 100); do
    {
        echo "dag_$d:"
        echo "  default_args: {owner: bench, start_date: 2024-01-01, retries: 2, retry_delay: 30s}"
        echo "  schedule: \"$((d % 60)) * * * *\""
        echo "  tags: [bench]"
        echo "  tasks:"
        for t in 1 2 3 4 5; do
            echo "    - task_id: task_$t"
            echo "      operator: bash"
            echo "      bash_command: echo $d $t"
            [[ $t -gt 1 ]] && echo "      dependencies: [task_$((t - 1))]"
        done
    } >"$WORK/many/dag_$d.yaml"
done
PORT=$(free_port)
"$SLUICE" scheduler --dags-folder "$WORK/many" --data-dir "$WORK/data-many" \
    --listen "127.0.0.1:$PORT" --no-auth --no-builtin-dags >>"$WORK/sched.log" 2>&1 &
PID=$!
for _ in $(seq 200); do
    n=$(/usr/bin/python3 -c 'import sqlite3,sys
try: print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM dag").fetchone()[0])
except Exception: print(0)' "$WORK/data-many/scheduler/scheduler.db")
    [[ "$n" == 100 ]] && break
    sleep 0.1
done
sleep 1
rss100=$(rss)
stop
echo "scheduler RSS: ${rss0} KiB with no DAG, ${rss100} KiB with $n DAGs loaded (paused, 5 tasks each)"
echo "peer (Airflow scheduler + API server): not runnable here; no figure quoted"
