"""The scheduler on a failing disk: EIO injected into the writes and fsyncs of its metadata DB
(DATA_DIR/scheduler/scheduler.db and its WAL) by the crash simulator's shim (libcrashsim.so,
CRASHSIM_FAIL, switched on by a file while a run is triggered). The scheduler must say so
clearly in its log, and its metadata must stay intact: after the fault is gone and the
scheduler restarted without the shim, PRAGMA integrity_check is ok, the run acknowledged
before the fault is there and succeeded, no run is left 'running', and a new run succeeds."""
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

DAG = """\
ok:
  default_args:
    owner: t
    start_date: 2024-01-01
    retries: 0
  schedule: null
  tasks:
    - task_id: hello
      operator: bash
      bash_command: "echo hello"
    - task_id: after
      operator: bash
      bash_command: "echo after"
      dependencies: [hello]
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


class Sched:
    def __init__(self, sluice, work):
        self.sluice, self.work = sluice, work
        self.data = os.path.join(work, "data")
        self.dags = os.path.join(work, "dags")
        self.log = os.path.join(work, "scheduler.log")
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        self.env["SLUICE_SCHEDULER_ADMIN_PASSWORD"] = "pw"
        self.proc = None

    def start(self, extra_env=None):
        env = dict(self.env, **(extra_env or {}))
        with open(self.log, "ab") as lf:
            lf.write(b"=== scheduler start\n")
            lf.flush()
            self.proc = subprocess.Popen(
                [self.sluice, "scheduler", "--listen", "127.0.0.1:%d" % self.port,
                 "--data-dir", self.data, "--dags-folder", self.dags,
                 "--no-dags-paused-at-creation", "--no-builtin-dags", "--no-ui"],
                stdout=lf, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.cli("list").returncode == 0:
                return
            if self.proc.poll() is not None:
                fail("the scheduler exited during start-up (status %d)" % self.proc.returncode)
            time.sleep(0.3)
        fail("the scheduler did not answer in 30 s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cli(self, *args):
        return subprocess.run([self.sluice, "dags"] + list(args) + ["--url", self.url,
                                                                  "--password", "pw"],
                              capture_output=True, text=True, timeout=30, env=self.env)

    def db(self):
        return os.path.join(self.data, "scheduler", "scheduler.db")

    def run_state(self, run_id):
        con = sqlite3.connect("file:%s?mode=ro" % self.db(), uri=True, timeout=10)
        try:
            st = con.execute("SELECT state FROM dag_run WHERE run_id=?", (run_id,)).fetchone()
            return st[0] if st else None
        finally:
            con.close()

    def wait_run(self, run_id, timeout=60):
        deadline = time.time() + timeout
        st = None
        while time.time() < deadline:
            st = self.run_state(run_id)
            if st in ("success", "failed"):
                return st
            time.sleep(0.3)
        return st


def main():
    sluice = os.environ.get("SLUICE_BIN")
    tools = os.environ.get("TOOLS_DIR")
    if not sluice or not tools:
        print("SKIP: SLUICE_BIN/TOOLS_DIR are not set")
        sys.exit(77)
    lib = os.path.join(tools, "libcrashsim.so")
    if not os.path.exists(lib):
        print("SKIP: %s is not built" % lib)
        sys.exit(77)
    work = tempfile.mkdtemp(prefix="sluice-sched-ioerr.")
    s = Sched(sluice, work)
    try:
        os.makedirs(s.dags)
        with open(os.path.join(s.dags, "ok.yaml"), "w") as f:
            f.write(DAG)
        gate = os.path.join(work, "fail-now")
        s.start({"LD_PRELOAD": lib, "CRASHSIM_FAIL": "pwrite,write,fsync",
                 "CRASHSIM_FAIL_PATH": s.db(), "CRASHSIM_FAIL_WHILE": gate})
        if s.cli("trigger", "ok", "--run-id", "r1").returncode != 0:
            fail("cannot trigger r1")
        if s.wait_run("r1") != "success":
            fail("r1 (before the fault) ended %s" % s.run_state("r1"))
        # The disk fails while a run is triggered and runs.
        open(gate, "w").close()
        t = s.cli("trigger", "ok", "--run-id", "r2")
        print("trigger during the fault: exit %d: %s" % (t.returncode,
                                                         (t.stdout + t.stderr).strip()[:300]))
        time.sleep(5)
        os.unlink(gate)
        alive = s.proc.poll() is None
        with open(s.log, errors="replace") as f:
            log = f.read()
        if "crashsim: injected EIO" not in log:
            fail("the shim injected nothing")
        said = [ln.strip() for ln in log.splitlines()
                if ("error" in ln.lower() or "ERROR" in ln) and "crashsim" not in ln
                and ("I/O" in ln or "disk" in ln.lower())]
        if not said:
            fail("the scheduler did not report the disk error in its log")
        print("the scheduler says: %s" % said[0])
        print("scheduler %s after the fault (status %s)"
              % ("still running" if alive else "stopped",
                 None if alive else s.proc.returncode))
        s.stop()
        s.start()  # without the shim
        con = sqlite3.connect("file:%s?mode=ro" % s.db(), uri=True, timeout=10)
        ic = con.execute("PRAGMA integrity_check").fetchone()[0]
        runs = dict(con.execute("SELECT run_id, state FROM dag_run").fetchall())
        con.close()
        if ic != "ok":
            fail("metadata integrity_check after the fault: %s" % ic)
        if runs.get("r1") != "success":
            fail("r1 is %s after the restart, expected success" % runs.get("r1"))
        print("after a restart: integrity_check ok, runs %s" % runs)
        if "r2" in runs:  # if its creation got through, it must finish like any run
            st2 = s.wait_run("r2")
            if st2 not in ("success", "failed"):
                fail("r2 is left %s after the restart" % st2)
        if s.cli("trigger", "ok", "--run-id", "r3").returncode != 0:
            fail("cannot trigger r3 after the restart")
        if s.wait_run("r3") != "success":
            fail("r3 (after the fault) ended %s" % s.run_state("r3"))
        print("the next run succeeded; PASS")
    except SystemExit as e:
        if e.code not in (0, 77) and os.path.exists(s.log):
            with open(s.log, errors="replace") as f:
                tail = [ln for ln in f.readlines() if "heartbeat" not in ln][-25:]
            print("--- scheduler log:\n" + "".join(tail), file=sys.stderr)
        raise
    finally:
        s.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
