"""Shared helpers for the Python interop tests: a private `sluice broker` on a free 127.0.0.1
port with its own temporary data directory, stopped and removed when the test ends.
Exit code 77 tells ctest a test was skipped."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77


def skip(why):
    print("SKIP: " + why)
    sys.exit(SKIP)


def fail(why):
    print("FAIL: " + why, file=sys.stderr)
    sys.exit(1)


def env(name):
    v = os.environ.get(name)
    if not v:
        skip("%s is not set (run through ctest)" % name)
    return v


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def gated_broker_env(prefix, gate_all=False):
    """A work directory for a broker under the crash simulator with its sync gate
    (tests/crash/crashsim.c): returns (work, data, shadow, gate, env), data made, env carrying
    LD_PRELOAD and the CRASHSIM_* settings (CRASHSIM_GATE_ALL=1 when gate_all: the gate also
    holds fsync and unlink). Skips when libcrashsim.so is not built."""
    lib = os.path.join(env("TOOLS_DIR"), "libcrashsim.so")
    if not os.path.exists(lib):
        skip("%s is not built" % lib)
    work = tempfile.mkdtemp(prefix=prefix)
    data, shadow, gate = (os.path.join(work, n) for n in ("data", "shadow", "gate"))
    os.makedirs(data)
    e = dict(os.environ, LD_PRELOAD=lib, CRASHSIM_ROOT=data, CRASHSIM_SHADOW=shadow,
             CRASHSIM_SYNC_GATE=gate)
    if gate_all:
        e["CRASHSIM_GATE_ALL"] = "1"
    return work, data, shadow, gate, e


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class Broker:
    """`with Broker() as b:` starts the broker; b.bootstrap is its address. The port and data
    directory stay the same across stop()/start(), as after a restart of a real broker."""

    def __init__(self, *extra_args):
        self.bin = env("SLUICE_BIN")
        self.work = tempfile.mkdtemp(prefix="sluice-interop.")
        self.data_dir = os.path.join(self.work, "data")
        self.log_path = os.path.join(self.work, "broker.log")
        self.port = free_port()
        self.bootstrap = "127.0.0.1:%d" % self.port
        self.extra = list(extra_args)
        self.proc = None
        self.failed = False

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, etype, evalue, tb):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        failing = etype is not None and not (etype is SystemExit and evalue.code in (0, SKIP))
        if failing or self.failed:
            self.dump_log()
        shutil.rmtree(self.work, ignore_errors=True)
        return False

    def start(self, timeout=20):
        with open(self.log_path, "ab") as log:
            log.write(b"=== broker start\n")
            log.flush()
            self.proc = subprocess.Popen(
                [self.bin, "broker", "--listen", self.bootstrap, "--data-dir", self.data_dir]
                + self.extra, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.proc.poll() is not None:
                self.failed = True
                fail("broker exited during start-up with status %d" % self.proc.returncode)
            if time.monotonic() > deadline:
                self.failed = True
                fail("broker did not accept connections on %s in %d s" % (self.bootstrap, timeout))
            time.sleep(0.1)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Stops the broker; with SIGTERM it must exit cleanly (status 0) in time."""
        if not self.proc:
            return
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.failed = True
            fail("broker did not stop within %d s of signal %d" % (timeout, sig))
        if sig == signal.SIGTERM and rc != 0:
            self.failed = True
            fail("broker exited with status %d after SIGTERM" % rc)
        self.proc = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def dump_log(self, lines=40):
        try:
            with open(self.log_path, "rb") as f:
                tail = f.read().decode("utf-8", "replace").splitlines()[-lines:]
            print("--- last lines of the broker's log:", file=sys.stderr)
            for line in tail:
                print(line, file=sys.stderr)
        except OSError:
            pass


def tool(name):
    path = os.path.join(env("TOOLS_DIR"), name)
    if not os.access(path, os.X_OK):
        skip("%s is not built" % path)
    return path


def run(cmd, timeout, check=True, **kw):
    """Runs cmd with a time limit; returns CompletedProcess with text output."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        fail("%s did not finish in %d s" % (" ".join(cmd), timeout))
    if check and p.returncode != 0:
        fail("%s exited %d\nstdout: %s\nstderr: %s" % (" ".join(cmd), p.returncode,
                                                        p.stdout[-2000:], p.stderr[-2000:]))
    return p
