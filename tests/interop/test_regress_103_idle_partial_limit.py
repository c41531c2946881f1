"""Regression 103: connections that hold resources without doing anything are shed, and a
well-behaved client keeps being served throughout. 10,000 idle connections are closed by the
idle timeout and 1,000 connections that sent only part of a frame by the partial-frame timeout
(short timeouts here: --idle-timeout 3s, --partial-frame-timeout 3s); connections beyond
--max-connections are refused. The broker had neither timeout: such connections stayed open
for ever, each holding a descriptor and its buffers."""
import os
import resource
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402
import kwire  # noqa: E402

IDLE = 10000
PARTIAL = 1000


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        brokerlib.skip("the open-file hard limit %d is below the %d this test needs" % (hard, need))
    if soft != resource.RLIM_INFINITY and soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def served(c):
    """The well-behaved client: one request, answered."""
    body = c.call(kwire.API_VERSIONS, 0, kwire.api_versions_v0())
    if kwire.parse_api_versions(body)[0] != kwire.ERR_NONE:
        brokerlib.fail("ApiVersions answered with an error")


def closed(s):
    try:
        return s.recv(4096) == b""
    except BlockingIOError:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setblocking(False)
    return s


def main():
    raise_nofile(IDLE + PARTIAL + 200)
    with brokerlib.Broker("--idle-timeout", "3s", "--partial-frame-timeout", "3s",
                          "--max-connections", str(IDLE + PARTIAL + 100)) as b:
        good = kwire.Conn(b.port, timeout=20)
        served(good)
        idle, partial = [], []
        t0 = time.monotonic()
        for i in range(IDLE):
            idle.append(connect(b.port))
            if i % 1000 == 999:
                served(good)
        for i in range(PARTIAL):
            s = connect(b.port)
            # a frame announcing 100 bytes, of which only 10 ever come
            s.send(struct.pack(">i", 100) + b"\0" * 10)
            partial.append(s)
        served(good)
        print("opened %d idle and %d half-sent connections in %.1f s"
              % (IDLE, PARTIAL, time.monotonic() - t0))
        deadline = time.monotonic() + 60
        left_idle, left_partial = idle, partial
        while (left_idle or left_partial) and time.monotonic() < deadline:
            served(good)  # keeps it busy, so not idle, and shows it is served
            time.sleep(0.5)
            left_idle = [s for s in left_idle if not closed(s)]
            left_partial = [s for s in left_partial if not closed(s)]
        served(good)
        if left_idle or left_partial:
            brokerlib.fail("after 60 s, %d idle and %d half-sent connections are still open"
                           % (len(left_idle), len(left_partial)))
        print("all %d idle and %d half-sent connections were closed in %.1f s; the busy client "
              "was served throughout" % (IDLE, PARTIAL, time.monotonic() - t0))
        for s in idle + partial:
            s.close()

    with brokerlib.Broker("--max-connections", "20") as b:
        conns = []
        for _ in range(20):  # one at a time: the start-up probe's connection is gone by then
            conns.append(kwire.Conn(b.port, timeout=10))
            served(conns[-1])
        extra = [connect(b.port) for _ in range(10)]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(closed(s) for s in extra):
            time.sleep(0.1)
        if not all(closed(s) for s in extra):
            brokerlib.fail("connections beyond --max-connections 20 were not refused")
        for c in conns:
            served(c)
        print("connections beyond --max-connections were refused; the first 20 still served")
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
