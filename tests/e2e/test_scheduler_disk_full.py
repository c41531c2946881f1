"""The scheduler on a disk that fills up: its data directory (metadata DB and task logs) on a
16 MiB tmpfs this test mounts (root needed; skipped otherwise). A task that writes 40 MB of
output fills the disk and fails. The scheduler must stay up, say why the task failed, record
the failure once space is freed (it could not while the disk was full: before the fix the try
stayed 'running' forever), mark the downstream task upstream_failed and the run failed, keep
its metadata intact (PRAGMA integrity_check), and run the next DAG run to success."""
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

DAG = """\
fill:
  default_args:
    owner: t
    start_date: 2024-01-01
    retries: 0
  schedule: null
  tasks:
    - task_id: big
      operator: bash
      bash_command: "head -c 40000000 /dev/zero | tr '\\\\0' x"
    - task_id: after
      operator: bash
      bash_command: "echo after"
      dependencies: [big]
ok:
  default_args:
    owner: t
    start_date: 2024-01-01
  schedule: null
  tasks:
    - task_id: hello
      operator: bash
      bash_command: "echo hello"
"""


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    sluice = os.environ.get("SLUICE_BIN")
    if not sluice:
        print("SKIP: SLUICE_BIN is not set")
        sys.exit(77)
    work = tempfile.mkdtemp(prefix="sluice-sched-smallfs.")
    mnt = os.path.join(work, "mnt")
    os.makedirs(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        shutil.rmtree(work)
        print("SKIP: cannot mount a small tmpfs here (%s)" % r.stderr.strip())
        sys.exit(77)
    sched = None
    try:
        dags = os.path.join(work, "dags")
        os.makedirs(dags)
        with open(os.path.join(dags, "fill.yaml"), "w") as f:
            f.write(DAG)
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * (4 << 20))
        data = os.path.join(mnt, "data")
        port = free_port()
        url = "http://127.0.0.1:%d" % port
        env = dict(os.environ, SLUICE_SCHEDULER_ADMIN_PASSWORD="pw")
        logp = os.path.join(work, "scheduler.log")
        with open(logp, "wb") as lf:
            sched = subprocess.Popen([sluice, "scheduler", "--listen", "127.0.0.1:%d" % port,
                                      "--data-dir", data, "--dags-folder", dags,
                                      "--no-dags-paused-at-creation", "--no-builtin-dags",
                                      "--no-ui"], stdout=lf, stderr=subprocess.STDOUT, env=env)

        def cli(*args):
            return subprocess.run([sluice, "dags"] + list(args) + ["--url", url, "--password",
                                                                    "pw"],
                                  capture_output=True, text=True, timeout=30, env=env)

        deadline = time.time() + 30
        while time.time() < deadline and cli("list").returncode != 0:
            time.sleep(0.3)
        if cli("trigger", "fill", "--run-id", "r1").returncode != 0:
            fail("cannot trigger fill")
        # Wait until the disk is full and the task has ended.
        deadline = time.time() + 60
        said = None
        while time.time() < deadline and said is None:
            time.sleep(0.5)
            if sched.poll() is not None:
                fail("the scheduler exited (status %d) when its disk filled up" % sched.returncode)
            with open(logp, errors="replace") as f:
                for line in f:
                    if "fill.big (r1) try 1:" in line:
                        said = line.strip()
        if said is None:
            fail("the scheduler never said why fill.big failed")
        print("the scheduler says: %s" % said)
        time.sleep(3)
        if sched.poll() is not None:
            fail("the scheduler exited (status %d) while its disk was full" % sched.returncode)
        os.unlink(filler)
        # Free a little more: the task's own output is what filled the disk.
        for root, _, files in os.walk(os.path.join(data, "scheduler", "logs")):
            for name in files:
                if os.path.getsize(os.path.join(root, name)) > (1 << 20):
                    with open(os.path.join(root, name), "r+b") as f:
                        f.truncate(1 << 20)
        db = os.path.join(data, "scheduler", "scheduler.db")
        deadline = time.time() + 60
        state = None
        while time.time() < deadline:
            con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
            state = con.execute("SELECT state FROM dag_run WHERE run_id='r1'").fetchone()
            tis = dict(con.execute("SELECT task_id, state FROM task_instance "
                                   "WHERE run_id='r1'").fetchall())
            con.close()
            if state and state[0] in ("success", "failed"):
                break
            time.sleep(0.5)
        print("after freeing space: run r1 %s, tasks %s" % (state and state[0], tis))
        if not state or state[0] != "failed":
            fail("run r1 is %s, expected failed" % (state and state[0]))
        if tis.get("big") != "failed" or tis.get("after") != "upstream_failed":
            fail("tasks %s, expected big failed and after upstream_failed" % tis)
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
        ic = con.execute("PRAGMA integrity_check").fetchone()[0]
        con.close()
        if ic != "ok":
            fail("metadata integrity_check: %s" % ic)
        if cli("trigger", "ok", "--run-id", "r2").returncode != 0:
            fail("cannot trigger ok after the disk was freed")
        deadline = time.time() + 60
        st2 = None
        while time.time() < deadline:
            con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
            st2 = con.execute("SELECT state FROM dag_run WHERE run_id='r2'").fetchone()
            con.close()
            if st2 and st2[0] in ("success", "failed"):
                break
            time.sleep(0.3)
        if not st2 or st2[0] != "success":
            fail("the next run ended %s, expected success" % (st2 and st2[0]))
        print("metadata intact (integrity_check ok); the next run succeeded")
        print("PASS")
    except SystemExit as e:
        if e.code not in (0, 77) and os.path.exists(os.path.join(work, "scheduler.log")):
            with open(os.path.join(work, "scheduler.log"), errors="replace") as f:
                tail = [ln for ln in f.readlines() if "heartbeat" not in ln][-15:]
            print("--- scheduler log:\n" + "".join(tail), file=sys.stderr)
        raise
    finally:
        if sched and sched.poll() is None:
            sched.terminate()
            try:
                sched.wait(20)
            except subprocess.TimeoutExpired:
                sched.kill()
                sched.wait()
        subprocess.run(["umount", "-l", mnt], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
