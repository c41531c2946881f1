"""Regression 102: memory a request can make the broker allocate. Arrays in requests declare
their own count; the broker allocated count x (its struct size) after checking only that the
count fits the bytes left, so a 1 MiB DescribeConfigs of minimal elements cost ~160 MB (a frame
at the cap could ask for tens of GB). For the worst request of each API -- a frame at the cap
(--max-request-bytes 1MiB here) full of the smallest elements the encoding allows, in the
version whose answer is largest against its request (flexible versions too) -- the broker's
peak RSS may rise by at most twice the request's size (plus allocator slack), however large
the answer: answers larger than their requests are streamed (see "Memory per request" in
docs/broker-server.md). Each request goes to a broker of its own, so memory one request
left resident cannot hide the next one's, and each broker must then stop cleanly (under ASan,
LeakSanitizer checks what the streams held). The requests: DescribeConfigs v0/v4, Fetch (topics;
partitions, parked), CreateTopics v0/v7, DeleteTopics v0/v6, CreatePartitions, SyncGroup,
DescribeGroups v0/v5, JoinGroup, ListOffsets v1/v6, OffsetFetch v1/v6, DeleteGroups, Metadata,
Produce v3/v9, FindCoordinator v4, LeaveGroup v4, OffsetDelete."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402
import kwire  # noqa: E402

CAP = 1 << 20
SLACK = 512 * 1024  # allocator and page granularity


def status(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no %s in /proc/%d/status" % (field, pid))


def fill(head, elem, tail=b"", flex=False):
    """A body: head, then as many copies of elem as fit the cap (the count written where head
    ends: an int32, or a compact count when flex), then tail."""
    hdr = len(kwire.request_frame(0, 0, 0, b"")) - 4
    n = (CAP - hdr - len(head) - 4 - len(tail)) // len(elem)
    count = kwire.uvarint(n + 1) if flex else kwire.Writer().i32(n).done()
    return head + count + elem * n + tail, n


def requests():
    w = kwire.Writer
    out = []
    # DescribeConfigs v0: resources (type 2, name "", keys null)
    body, n = fill(b"", w().i8(2).string("").i32(-1).done())
    out.append(("DescribeConfigs", 32, 0, body, n))
    # Fetch v4: topics ("" with no partitions), no wait
    head = w().i32(-1).i32(0).i32(0).i32(1 << 20).i8(0).done()
    body, n = fill(head, w().string("").i32(0).done())
    out.append(("Fetch(topics)", 1, 4, body, n))
    # Fetch v4: one topic, partitions (index, offset, max_bytes), parked 300 ms for data
    head = w().i32(-1).i32(300).i32(1).i32(1 << 20).i8(0).i32(1).string("mem").done()
    body, n = fill(head, w().i32(0).i64(0).i32(1000).done())
    out.append(("Fetch(partitions, parked)", 1, 4, body, n))
    # CreateTopics v0: topics ("", partitions, replication, no assignments, no configs)
    body, n = fill(b"", w().string("").i32(1).i16(1).i32(0).i32(0).done(), w().i32(1000).done())
    out.append(("CreateTopics", 19, 0, body, n))
    # DeleteTopics v0: names ""
    body, n = fill(b"", w().string("").done(), w().i32(1000).done())
    out.append(("DeleteTopics", 20, 0, body, n))
    # CreatePartitions v0: (name "", count, assignments null)
    body, n = fill(b"", w().string("").i32(2).i32(-1).done(), w().i32(1000).i8(0).done())
    out.append(("CreatePartitions", 37, 0, body, n))
    # SyncGroup v0: assignments (member "", data empty)
    head = w().string("g").i32(1).string("m").done()
    body, n = fill(head, w().string("").bytes_(b"").done())
    out.append(("SyncGroup", 14, 0, body, n))
    # DescribeGroups v0: group ids ""
    body, n = fill(b"", w().string("").done())
    out.append(("DescribeGroups", 15, 0, body, n))
    # JoinGroup v0: protocols (name "", metadata empty)
    head = w().string("g").i32(10000).string("").string("consumer").done()
    body, n = fill(head, w().string("").bytes_(b"").done())
    out.append(("JoinGroup", 11, 0, body, n))
    # ListOffsets v1: one topic, partitions (index, timestamp)
    head = w().i32(-1).i32(1).string("mem").done()
    body, n = fill(head, w().i32(0).i64(-1).done())
    out.append(("ListOffsets", 2, 1, body, n))
    # OffsetFetch v1: one topic, partitions
    head = w().string("g").i32(1).string("mem").done()
    body, n = fill(head, w().i32(0).done())
    out.append(("OffsetFetch", 9, 1, body, n))
    # DeleteGroups v0: ids ""
    body, n = fill(b"", w().string("").done())
    out.append(("DeleteGroups", 42, 0, body, n))
    # Metadata v1: topic names "" (invalid: nothing is created)
    body, n = fill(b"", w().string("").done())
    out.append(("Metadata", 3, 1, body, n))
    # Produce v3 (acks=1): one topic, partitions (an unknown index, null records)
    head = w().string(None).i16(1).i32(1000).i32(1).string("mem").done()
    body, n = fill(head, w().i32(5).i32(-1).done())
    out.append(("Produce", 0, 3, body, n))
    # Flexible versions: compact strings make the smallest elements smaller still (the request
    # header's tagged fields are the body's first byte).
    # DescribeGroups v5: ids "" (1 byte each), include_authorized_operations
    body, n = fill(b"\0", b"\x01", b"\0\0", flex=True)
    out.append(("DescribeGroups v5", 15, 5, body, n))
    # DescribeConfigs v4: resources (type 2, name "", keys null, no tags)
    body, n = fill(b"\0", b"\x02\x01\x00\x00", b"\0\0\0", flex=True)
    out.append(("DescribeConfigs v4", 32, 4, body, n))
    # OffsetFetch v6: group "g", one topic "mem", partitions
    head = b"\0" + b"\x02g" + b"\x02" + b"\x04mem"
    body, n = fill(head, w().i32(0).done(), b"\0\0", flex=True)
    out.append(("OffsetFetch v6", 9, 6, body, n))
    # ListOffsets v6: one topic "mem", partitions (index, leader epoch, timestamp, no tags)
    head = b"\0" + w().i32(-1).i8(0).done() + b"\x02" + b"\x04mem"
    body, n = fill(head, w().i32(0).i32(-1).i64(-1).i8(0).done(), b"\0\0", flex=True)
    out.append(("ListOffsets v6", 2, 6, body, n))
    # Produce v9: transactional id null, acks=1, one topic, partitions (index 5, null records)
    head = b"\0" + b"\0" + w().i16(1).i32(1000).done() + b"\x02" + b"\x04mem"
    body, n = fill(head, w().i32(5).done() + b"\0\0", b"\0\0", flex=True)
    out.append(("Produce v9", 0, 9, body, n))
    # FindCoordinator v4: keys "" (1 byte each; a coordinator's whole answer each)
    body, n = fill(b"\0\0", b"\x01", b"\0", flex=True)
    out.append(("FindCoordinator v4", 10, 4, body, n))
    # LeaveGroup v4: group "g1", members (id "", instance null, no tags)
    body, n = fill(b"\0\x03g1", b"\x01\x00\x00", b"\0", flex=True)
    out.append(("LeaveGroup v4", 13, 4, body, n))
    # CreateTopics v7: topics ("", partitions, replication, no assignments, no configs)
    body, n = fill(b"\0", b"\x01" + w().i32(1).i16(1).done() + b"\x01\x01\0",
                   w().i32(1000).i8(0).done() + b"\0", flex=True)
    out.append(("CreateTopics v7", 19, 7, body, n))
    # DeleteTopics v6: topics by id (name null, a zero id, no tags): each answered with a message
    body, n = fill(b"\0", b"\0" + b"\0" * 16 + b"\0", w().i32(1000).done() + b"\0", flex=True)
    out.append(("DeleteTopics v6", 20, 6, body, n))
    # OffsetDelete v0: an existing group, one topic, partitions
    head = w().string("g1").i32(1).string("mem").done()
    body, n = fill(head, w().i32(0).done())
    out.append(("OffsetDelete", 47, 0, body, n))
    return out


def sanitized(path):
    """A sanitizer build's RSS (shadow memory, quarantine, redzones) says nothing here."""
    with open(path, "rb") as f:
        return b"AddressSanitizer" in f.read()


def measure(name, key, ver, body):
    """(request frame size, response size, peak RSS rise) for one request to a fresh broker."""
    with brokerlib.Broker("--max-request-bytes", str(CAP)) as b:
        c = kwire.Conn(b.port, timeout=60)
        kwire.ensure_topic(c, "mem", 1)
        # a group with a committed offset (OffsetDelete answers only for an existing group)
        c.call(8, 2, kwire.Writer().string("g1").i32(-1).string("").i64(-1).i32(1).string("mem")
               .i32(1).i32(0).i64(42).string("").done())
        c.call(kwire.API_VERSIONS, 0, kwire.api_versions_v0())
        pid = b.proc.pid
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")  # resets the peak (VmHWM) to the current RSS
        base = status(pid, "VmRSS")
        corr = c.send(key, ver, body)
        try:
            got = c.recv(timeout=60)
        except (TimeoutError, ConnectionResetError) as e:
            got = None
            print("%s: %s" % (name, e))
        if not b.alive():
            brokerlib.fail("the broker died on %s" % name)
        peak = status(pid, "VmHWM")
        if got is not None and got[0] != corr:
            brokerlib.fail("%s: answer has correlation id %d, expected %d" % (name, got[0], corr))
        # and it still serves, and stops cleanly (under ASan: nothing leaked)
        c = kwire.Conn(b.port, timeout=60)
        c.call(kwire.API_VERSIONS, 0, kwire.api_versions_v0())
        b.stop()
        resp = len(got[1]) + 4 if got else 0
        return len(body) + len(kwire.request_frame(0, 0, 0, b"")), resp, peak - base


def main():
    # A sanitizer build's RSS is not comparable: there the requests are still sent and answered
    # (the streams run under ASan and LeakSanitizer), only the rise is not checked.
    compare = not sanitized(brokerlib.env("SLUICE_BIN"))
    failures = []
    print("load average: %s" % open("/proc/loadavg").read().strip())
    print("%-26s %9s %10s %10s %10s %8s" % ("request", "elements", "req bytes", "resp bytes",
                                             "peak rise", "limit"))
    for name, key, ver, body, n in requests():
        frame, resp, rise = measure(name, key, ver, body)
        limit = 2 * frame + SLACK
        print("%-26s %9d %10d %10d %10d %8d%s" % (name, n, frame, resp, rise, limit,
                                                 "" if rise <= limit or not compare
                                                 else "  TOO MUCH"))
        sys.stdout.flush()
        if resp == 0:
            failures.append(name + " (no answer)")
        elif rise > limit and compare:
            failures.append(name)
    print("load average: %s" % open("/proc/loadavg").read().strip())
    if failures:
        brokerlib.fail("peak RSS rose by more than twice the request for: " + ", ".join(failures))
    if not compare:
        print("sanitizer build: answers checked, RSS not compared")
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
