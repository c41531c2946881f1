"""The stream job on a failing disk: I/O errors injected into its SQLite store by the crash
simulator's shim (libcrashsim.so, CRASHSIM_FAIL=...), the broker unaffected. Three runs of
`sluice process` over the same topic and store:
1. pwrite fails with EIO after a while (the WAL's writes): the job must stop with a non-zero
   status and say that the store's disk is failing;
2. fsync fails with EIO after a while (synchronous=full: each commit syncs the WAL): the same;
3. no fault: the job goes on from the stored offsets.
Rows only grow between runs, and in the end every record is stored exactly once (usergen
verify): nothing was counted as stored that was not, nothing twice."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))
import brokerlib  # noqa: E402
from brokerlib import fail, skip  # noqa: E402

N = 20000
GEN = ["-t", "users_created", "-n", str(N), "-S", "11", "-B", "0", "-U", "0"]


def count_rows(sluice, store):
    r = subprocess.run([sluice, "query", "--store", store, "--json",
                        "SELECT count(*) AS n FROM created_users"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return 0
    return int(json.loads(r.stdout)[0]["n"])


def run_job(b, store, log, env_extra, until_rows=None, timeout=120):
    """Runs the job; returns its exit status (None if still running at until_rows, then
    stopped by SIGTERM: returns that status)."""
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env.update(env_extra)
    with open(log, "wb") as lf:
        job = subprocess.Popen([b.bin, "process", "--bootstrap", b.bootstrap, "--store", store,
                                "--stats-interval", "2s"],
                               stdout=lf, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                return job.wait(0.5)
            except subprocess.TimeoutExpired:
                pass
            if until_rows is not None and count_rows(b.bin, store) >= until_rows:
                job.terminate()
                return job.wait(30)
        fail("the job neither stopped nor finished within %d s" % timeout)
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()


def tail(path, n=15):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-n:])


def faulty_run(b, store, lib, name, fault, rows_before):
    log = os.path.join(b.work, "job-%s.log" % name)
    rc = run_job(b, store, log, dict(fault, LD_PRELOAD=lib))
    text = open(log, errors="replace").read()
    if "crashsim: injected EIO" not in text:
        fail("%s: the shim injected nothing (rows %d):\n%s" % (name, count_rows(b.bin, store),
                                                              tail(log)))
    if rc == 0:
        fail("%s: the job exited 0 on a failing disk:\n%s" % (name, tail(log)))
    said = [ln.strip() for ln in text.splitlines() if "the store's disk is failing" in ln]
    if not said:
        fail("%s: the job (status %d) did not say its disk is failing:\n%s"
             % (name, rc, tail(log)))
    rows = count_rows(b.bin, store)
    if rows < rows_before:
        fail("%s: rows went from %d down to %d" % (name, rows_before, rows))
    if rows >= N:
        fail("%s: the fault came too late (all %d rows stored)" % (name, rows))
    print("%s: exit %d with rows %d -> %d; says: %s" % (name, rc, rows_before, rows, said[0]))
    return rows


def main():
    usergen = brokerlib.tool("usergen")
    lib = os.path.join(brokerlib.env("TOOLS_DIR"), "libcrashsim.so")
    if not os.path.exists(lib):
        skip("%s is not built" % lib)
    with brokerlib.Broker("--group-initial-delay", "0s") as b:
        dbdir = os.path.join(b.work, "store")
        brokerlib.run([usergen, "produce", "-b", b.bootstrap] + GEN, 180)
        # 1. failing writes; 2. failing fsyncs. Each starts after some batches have gone in.
        rows = faulty_run(b, "sqlite:" + dbdir, lib, "pwrite EIO",
                          {"CRASHSIM_FAIL": "pwrite", "CRASHSIM_FAIL_PATH": dbdir + "/",
                           "CRASHSIM_FAIL_AFTER": "300"}, 0)
        rows = faulty_run(b, "sqlite:" + dbdir + "?synchronous=full", lib, "fsync EIO",
                          {"CRASHSIM_FAIL": "fsync", "CRASHSIM_FAIL_PATH": dbdir + "/",
                           "CRASHSIM_FAIL_AFTER": "3"}, rows)
        # 3. the disk is fine again: the job goes on from the stored offsets
        log = os.path.join(b.work, "job-clean.log")
        rc = run_job(b, "sqlite:" + dbdir, log, {}, until_rows=N, timeout=180)
        final = count_rows(b.bin, "sqlite:" + dbdir)
        if rc != 0 or final != N:
            fail("clean run: exit %s with %d rows of %d:\n%s" % (rc, final, N, tail(log)))
        v = brokerlib.run([usergen, "verify", "-b", b.bootstrap] + GEN +
                          ["-d", os.path.join(dbdir, "spark_streams.db")], 180, check=False)
        print(v.stdout.strip())
        if v.returncode != 0:
            fail("verify: %s %s" % (v.stdout[-1500:], v.stderr[-1500:]))
        print("clean run: rows %d -> %d; PASS" % (rows, final))


if __name__ == "__main__":
    main()
