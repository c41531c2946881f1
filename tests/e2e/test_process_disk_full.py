"""The stream job on a disk that fills up: its SQLite store on a small tmpfs this test mounts
(16 MiB, 13 of them taken by a filler file; root needed, skipped otherwise), the broker elsewhere. When the store's disk is full the job
must pause with a clear message naming the cause, keep running (no exit, no records skipped),
and resume by itself once space is freed; in the end every record is stored exactly once."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))
import brokerlib  # noqa: E402
from brokerlib import fail, skip  # noqa: E402

N = 12000


def count_rows(sluice, store):
    r = subprocess.run([sluice, "query", "--store", store, "--json",
                        "SELECT count(*) AS n FROM created_users"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return -1
    import json
    return int(json.loads(r.stdout)[0]["n"])


def main():
    usergen = brokerlib.tool("usergen")
    mnt = tempfile.mkdtemp(prefix="sluice-smallfs.")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(mnt)
        skip("cannot mount a small tmpfs here (%s)" % r.stderr.strip())
    job = None
    with brokerlib.Broker() as b:
        try:
            filler = os.path.join(mnt, "filler")
            with open(filler, "wb") as f:
                f.write(b"\0" * (13 << 20))
            store = "sqlite:" + os.path.join(mnt, "store")
            brokerlib.run([usergen, "produce", "-b", b.bootstrap, "-t", "users_created", "-n",
                           str(N), "-S", "7", "-B", "0", "-U", "0"], 180)
            joblog = os.path.join(b.work, "job.log")
            with open(joblog, "wb") as lf:
                job = subprocess.Popen([b.bin, "process", "--bootstrap", b.bootstrap,
                                        "--store", store, "--stats-interval", "2s"],
                                       stdout=lf, stderr=subprocess.STDOUT)
            # Wait until the job reports the full disk.
            deadline = time.time() + 120
            said = None
            while time.time() < deadline and said is None:
                time.sleep(0.5)
                if job.poll() is not None:
                    fail("the job exited (status %d) when its disk filled up" % job.returncode)
                with open(joblog, errors="replace") as f:
                    for line in f:
                        low = line.lower()
                        if ("warn" in low or "error" in low) and ("full" in low or "no space" in low):
                            said = line.strip()
                            break
            if said is None:
                fail("the job never said that its disk is full")
            print("the job says: %s" % said)
            time.sleep(5)
            if job.poll() is not None:
                fail("the job exited (status %d) while its disk was full" % job.returncode)
            before = count_rows(b.bin, store)
            print("rows while full: %d of %d" % (before, N))
            os.unlink(filler)
            deadline = time.time() + 180
            n = before
            while time.time() < deadline and n != N:
                time.sleep(1)
                n = count_rows(b.bin, store)
                if job.poll() is not None:
                    fail("the job exited (status %d) after space was freed" % job.returncode)
            if n != N:
                fail("after freeing space the store holds %d rows, expected %d" % (n, N))
            print("after freeing 13 MiB the job resumed by itself: %d rows" % n)
            job.terminate()
            job.wait(30)
            v = brokerlib.run([usergen, "verify", "-b", b.bootstrap, "-t", "users_created",
                               "-n", str(N), "-S", "7", "-B", "0", "-U", "0", "-d",
                               os.path.join(mnt, "store", "spark_streams.db")], 180, check=False)
            print(v.stdout.strip())
            if v.returncode != 0:
                fail("verify: %s %s" % (v.stdout[-1500:], v.stderr[-1500:]))
            print("PASS")
        except SystemExit as e:
            if e.code not in (0, 77):
                try:
                    with open(os.path.join(b.work, "job.log"), errors="replace") as f:
                        print("--- last lines of the job's log:\n" + "".join(f.readlines()[-15:]),
                              file=sys.stderr)
                except OSError:
                    pass
            raise
        finally:
            if job and job.poll() is None:
                job.kill()
                job.wait()
            subprocess.run(["umount", "-l", mnt], capture_output=True)
            shutil.rmtree(mnt, ignore_errors=True)


if __name__ == "__main__":
    main()
