#!/usr/bin/python3
"""fsync_probe.py DIR: what this disk allows a durable log, measured in DIR (the real disk).

Prints the latency of appending a chunk and fdatasyncing it (p50/p99 over N rounds) for one
file, for three files synced one after the other, for three files synced by three threads at
once, and the sequential write bandwidth (1 GiB written in 1 MiB appends then one fdatasync,
and with an fdatasync every 1 MiB, then that file written again in place the same way).
Usage: fsync_probe.py DIR [ROUNDS] [CHUNK_BYTES]."""
import os
import sys
import threading
import time

d = sys.argv[1]
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 200
chunk = b"x" * (int(sys.argv[3]) if len(sys.argv) > 3 else 100_000)
os.makedirs(d, exist_ok=True)


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] * 1000


def report(name, lat):
    print(f"{name:<44} p50 {pct(lat, .5):7.2f} ms  p99 {pct(lat, .99):7.2f} ms  "
          f"mean {sum(lat) / len(lat) * 1000:7.2f} ms")


def files(n, tag):
    return [os.open(os.path.join(d, f"{tag}.{i}"), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            for i in range(n)]


def close(fds, tag):
    for i, fd in enumerate(fds):
        os.close(fd)
        os.unlink(os.path.join(d, f"{tag}.{i}"))


def serial(n):
    fds, lat = files(n, f"s{n}"), []
    for _ in range(rounds):
        t = time.perf_counter()
        for fd in fds:
            os.write(fd, chunk)
        for fd in fds:
            os.fdatasync(fd)
        lat.append(time.perf_counter() - t)
    close(fds, f"s{n}")
    return lat


def parallel(n):
    fds, lat = files(n, f"p{n}"), []
    for _ in range(rounds):
        t = time.perf_counter()
        for fd in fds:
            os.write(fd, chunk)
        th = [threading.Thread(target=os.fdatasync, args=(fd,)) for fd in fds]
        for x in th:
            x.start()
        for x in th:
            x.join()
        lat.append(time.perf_counter() - t)
    close(fds, f"p{n}")
    return lat


def bandwidth(sync_every, rewrite=False):
    """MiB/s writing 1 GiB to a new file; with rewrite, then again over the same blocks."""
    fd = files(1, "bw")[0]
    mib = b"y" * (1 << 20)
    rates = []
    for _ in range(2 if rewrite else 1):
        os.lseek(fd, 0, os.SEEK_SET)
        t = time.perf_counter()
        for i in range(1024):
            os.write(fd, mib)
            if sync_every and (i + 1) % sync_every == 0:
                os.fdatasync(fd)
        os.fdatasync(fd)
        rates.append(1024 / (time.perf_counter() - t))
    close([fd], "bw")
    return rates


print(f"fsync_probe: {d}, {rounds} rounds of {len(chunk)} B appends; load {open('/proc/loadavg').read().strip()}")
report("1 file: append + fdatasync", serial(1))
report("3 files: appends, 3 fdatasyncs one by one", serial(3))
report("3 files: appends, 3 fdatasyncs in 3 threads", parallel(3))
print(f"sequential write, 1 GiB then fdatasync:        {bandwidth(0)[0]:8.1f} MiB/s")
fresh, again = bandwidth(1, rewrite=True)
print(f"sequential write, fdatasync every 1 MiB:       {fresh:8.1f} MiB/s")
# A log appends to new files. Blocks the disk holds no data in (here a virtual disk, ext4
# mounted with discard) cost several times as much to write as blocks written again; this line
# shows how large that difference is right now.
print(f"  the same 1 GiB written again in place:       {again:8.1f} MiB/s")
print(f"load at end {open('/proc/loadavg').read().strip()}")
