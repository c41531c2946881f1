"""Streamed answers (docs/broker-server.md, "Memory per request") are the answers a client gets
for a normal-size request: for Produce (appends in order, acks=1 and all), Fetch (records
included, at once and after a wait), CreateTopics (created once, after the admin worker),
OffsetDelete, DescribeGroups, DescribeConfigs, OffsetFetch, ListOffsets,
DeleteGroups, DeleteTopics and CreatePartitions, in classic and flexible versions, a request whose answer is
streamed (its elements repeated until the answer passes 64 KiB) must answer each element with
exactly the bytes a small request gets for it (existing and unknown names, duplicates), and the
deleting APIs must answer a name's first occurrence with the deletion and later ones as
unknown, CreatePartitions each occurrence as the partition count stood then. A request pipelined behind a streamed answer is answered after it, in order."""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402
import kwire  # noqa: E402

GROUP_ID_NOT_FOUND = 69
UNKNOWN_TOPIC_OR_PARTITION = 3
failures = []


def string(s, flex):
    raw = s.encode()
    return kwire.uvarint(len(raw) + 1) + raw if flex else struct.pack(">h", len(raw)) + raw


def count(n, flex):
    return kwire.uvarint(n + 1) if flex else struct.pack(">i", n)


def check(what, got, want):
    if got != want:
        at = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]),
                  min(len(got), len(want)))
        failures.append(what)
        print("FAIL %s: %d bytes, expected %d; first difference at byte %d" %
              (what, len(got), len(want), at))
    else:
        print("ok   %s (%d bytes)" % (what, len(got)))


def flat(c, name, key, ver, flex, head, elems, tail, ans_head, ans_tail, reps):
    """A flat array: the answer to elems repeated reps times must be the small answer's
    elements repeated. head/tail: request bytes around the array; ans_head/ans_tail: the
    answer's byte counts before its array's count and after its elements."""
    hdr = b"\0" if flex else b""
    small = c.call(key, ver, hdr + head + count(len(elems), flex) + b"".join(elems) + tail)
    body = small[ans_head + len(count(len(elems), flex)):len(small) - ans_tail]
    n = len(elems) * reps
    big = c.call(key, ver, hdr + head + count(n, flex) + b"".join(elems) * reps + tail)
    want = small[:ans_head] + count(n, flex) + body * reps + small[len(small) - ans_tail:]
    check("%s v%d x%d" % (name, ver, reps), big, want)
    return small


def nested(c, name, key, ver, flex, head, topic, parts, topic_tail, tail, ans_head, ans_tail,
           reps):
    """One topic with partitions: the answer to parts repeated reps times must be the small
    answer's partitions repeated."""
    hdr = b"\0" if flex else b""
    tname = string(topic, flex)

    def req(n, ps):
        return hdr + head + count(1, flex) + tname + count(n, flex) + ps + topic_tail + tail

    small = c.call(key, ver, req(len(parts), b"".join(parts)))
    start = ans_head + len(count(1, flex)) + len(tname) + len(count(len(parts), flex))
    end = len(small) - ans_tail - (1 if flex else 0)
    body = small[start:end]
    n = len(parts) * reps
    big = c.call(key, ver, req(n, b"".join(parts) * reps))
    want = (small[:ans_head] + count(1, flex) + tname + count(n, flex) + body * reps +
            small[end:])
    check("%s v%d x%d" % (name, ver, reps), big, want)


def main():
    with brokerlib.Broker() as b:
        c = kwire.Conn(b.port, timeout=60)
        kwire.ensure_topic(c, "mem", 2)
        # committed offsets (a group "g1" with no members) with metadata
        w = kwire.Writer
        commit = (w().string("g1").i32(-1).string("").i64(-1).i32(1).string("mem").i32(2)
                  .i32(0).i64(42).string("meta").i32(1).i64(7).string("").done())
        kwire_resp = c.call(8, 2, commit)
        if kwire_resp[-2:] != b"\0\0":
            brokerlib.fail("OffsetCommit failed: %r" % kwire_resp)

        # DescribeGroups: an existing group, unknown ones, duplicates
        for ver in (0, 3, 5):
            flex = ver >= 5
            ids = [string(s, flex) for s in ("g1", "nope", "", "g1")]
            tail = (b"\0" if ver >= 3 else b"") + (b"\0" if flex else b"")
            flat(c, "DescribeGroups", 15, ver, flex, b"", ids, tail,
                 (1 if flex else 0) + (4 if ver >= 1 else 0), 1 if flex else 0, 2000)

        # DescribeConfigs: a topic, an unknown topic, the broker, a key filter, a bad type
        for ver in (0, 1, 4):
            flex = ver >= 4
            tags = b"\0" if flex else b""
            nullarr = b"\0" if flex else struct.pack(">i", -1)
            res = [b"\x02" + string("mem", flex) + nullarr + tags,
                   b"\x02" + string("nope", flex) + nullarr + tags,
                   b"\x04" + string("0", flex) + nullarr + tags,
                   b"\x02" + string("mem", flex) + count(1, flex) + string("retention.ms", flex)
                   + tags,
                   b"\x09" + string("x", flex) + nullarr + tags]
            tail = (b"\0" if ver >= 1 else b"") + (b"\0" if ver >= 3 else b"") + tags
            flat(c, "DescribeConfigs", 32, ver, flex, b"", res, tail, (1 if flex else 0) + 4,
                 1 if flex else 0, 400)

        # OffsetFetch: committed and uncommitted partitions, duplicates
        for ver in (1, 5, 6):
            flex = ver >= 6
            tags = b"\0" if flex else b""
            parts = [struct.pack(">i", p) for p in (0, 1, 5, 0)]
            nested(c, "OffsetFetch", 9, ver, flex, string("g1", flex), "mem", parts, tags, tags,
                   (1 if flex else 0) + (4 if ver >= 3 else 0),
                   (2 if ver >= 2 else 0) + (1 if flex else 0), 1500)

        # ListOffsets: earliest, latest, an unknown partition
        for ver in (1, 6):
            flex = ver >= 6
            tags = b"\0" if flex else b""
            head = struct.pack(">i", -1) + (b"\0" if ver >= 2 else b"")
            parts = [struct.pack(">i", p) + (struct.pack(">i", -1) if ver >= 4 else b"") +
                     struct.pack(">q", ts) + tags for p, ts in ((0, -2), (1, -1), (7, -1))]
            nested(c, "ListOffsets", 2, ver, flex, head, "mem", parts, tags, tags,
                   (1 if flex else 0) + (4 if ver >= 2 else 0), 1 if flex else 0, 1500)

        # DeleteGroups: the first occurrence of an existing group deletes it
        for ver in (0, 2):
            flex = ver >= 2
            tags = b"\0" if flex else b""
            gid = "del%d" % ver
            c.call(8, 2, w().string(gid).i32(-1).string("").i64(-1).i32(1).string("mem").i32(1)
                   .i32(0).i64(1).string("").done())
            names = [gid, "nope", gid] + ["x"] * 30000
            req = (b"\0" if flex else b"") + count(len(names), flex) + \
                b"".join(string(s, flex) for s in names) + tags
            got = c.call(42, ver, req)
            want = tags + struct.pack(">i", 0) + count(len(names), flex) + b"".join(
                string(s, flex) + struct.pack(">h", 0 if i == 0 else GROUP_ID_NOT_FOUND) + tags
                for i, s in enumerate(names)) + tags
            check("DeleteGroups v%d x%d" % (ver, len(names)), got, want)

        # DeleteTopics: likewise, with the error messages of v5
        for ver in (0, 5):
            flex = ver >= 4
            tags = b"\0" if flex else b""
            tname = "deltopic%d" % ver
            kwire.ensure_topic(c, tname, 1)
            names = [tname, "nope", tname] + ["y"] * 20000
            req = (b"\0" if flex else b"") + count(len(names), flex) + \
                b"".join(string(s, flex) for s in names) + struct.pack(">i", 1000) + tags
            got = c.call(20, ver, req)

            def entry(i, s):
                err = 0 if i == 0 else UNKNOWN_TOPIC_OR_PARTITION
                out = string(s, flex) + struct.pack(">h", err)
                if ver >= 5:
                    out += string("topic '%s' does not exist" % s, flex) if err else b"\0"
                return out + tags

            want = tags + (struct.pack(">i", 0) if ver >= 1 else b"") + \
                count(len(names), flex) + b"".join(entry(i, s) for i, s in enumerate(names)) + tags
            check("DeleteTopics v%d x%d" % (ver, len(names)), got, want)

        # CreatePartitions: each occurrence handled in turn (the count grows), unknown topics
        for ver in (0, 2):
            flex = ver >= 2
            tags = b"\0" if flex else b""
            tname = "cp%d" % ver
            kwire.ensure_topic(c, tname, 1)
            asks = [(tname, 3), (tname, 2), ("nope", 5), (tname, 5)] + [("z", 2)] * 20000
            nullarr = b"\0" if flex else struct.pack(">i", -1)
            req = (b"\0" if flex else b"") + count(len(asks), flex) + b"".join(
                string(t, flex) + struct.pack(">i", n) + nullarr + tags for t, n in asks) + \
                struct.pack(">i", 1000) + b"\0" + tags
            got = c.call(37, ver, req)

            def answer(t, err, msg):
                m = string(msg, flex) if msg else (b"\0" if flex else struct.pack(">h", -1))
                return string(t, flex) + struct.pack(">h", err) + m + tags

            bad = "topic has 3 partitions; the new count must be larger (at most 10000)"
            want = (tags + struct.pack(">i", 0) + count(len(asks), flex) +
                    answer(tname, 0, None) + answer(tname, 37, bad) +
                    answer("nope", 3, "unknown topic") + answer(tname, 0, None) +
                    answer("z", 3, "unknown topic") * 20000 + tags)
            check("CreatePartitions v%d x%d" % (ver, len(asks)), got, want)

        # Fetch: a partition with records (twice), one without, an unknown one; at once and
        # after a wait (v4 parked until its deadline), classic and flexible
        for _ in range(2):
            c.call(kwire.API_PRODUCE, 3, kwire.produce_v3(
                "mem", 0, kwire.record_batch([(b"k", b"v" * 50), (None, b"w")])))
        for ver, wait_ms, min_bytes in ((4, 0, 0), (4, 200, 1 << 30), (12, 0, 0)):
            flex = ver >= 12
            tags = b"\0" if flex else b""
            head = struct.pack(">iiiib", -1, wait_ms, min_bytes, 50 << 20, 0)
            if flex:
                head += struct.pack(">ii", 0, -1)

            def part(i, off):
                if flex:
                    return struct.pack(">iiqiqi", i, -1, off, -1, -1, 1 << 20) + tags
                return struct.pack(">iqi", i, off, 1 << 20)

            parts = [part(0, 0), part(1, 0), part(0, 1), part(9, 0)]
            tail = b"\x01\x01\0" if flex else b""
            nested(c, "Fetch%s" % (" (waited)" if wait_ms else ""), kwire.API_FETCH, ver, flex,
                   head, "mem", parts, tags, tail, 4 + (7 if flex else 0), 1 if flex else 0, 400)

        # OffsetDelete: committed offsets deleted (once), unknown partitions, a missing group
        c.call(8, 2, w().string("od").i32(-1).string("").i64(-1).i32(1).string("mem").i32(2)
               .i32(0).i64(5).string("").i32(1).i64(6).string("").done())
        parts = [struct.pack(">i", p) for p in (0, 1, 7, 0)]
        nested(c, "OffsetDelete", 47, 0, False, string("od", False), "mem", parts, b"", b"", 6, 0,
               3000)
        got = c.call(47, 0, string("nogroup", False) + count(1, False) + string("mem", False) +
                     count(12000, False) + b"".join(parts) * 3000)
        check("OffsetDelete v0 (no group) x12000", got,
              struct.pack(">hi", GROUP_ID_NOT_FOUND, 0) + count(0, False))

        # Produce: valid batches (appended in order), null records, a garbage batch, an unknown
        # partition; the streamed answer (over 1000 entries in over 96 KiB) against a small one
        batch = kwire.record_batch([(b"k", b"v" * 40)])
        for ver, acks in ((3, 1), (3, -1), (9, -1)):
            flex = ver >= 9
            tags = b"\0" if flex else b""

            def records(raw):
                if raw is None:
                    return b"\0" if flex else struct.pack(">i", -1)
                return (kwire.uvarint(len(raw) + 1) if flex else struct.pack(">i", len(raw))) + raw

            entries = [struct.pack(">i", 0) + records(batch) + tags,
                       struct.pack(">i", 0) + records(None) + tags,
                       struct.pack(">i", 0) + records(b"xyz") + tags,
                       struct.pack(">i", 9) + records(batch) + tags]

            def produce(reps):
                body = (b"\0" if flex else b"") + (b"\0" if flex else struct.pack(">h", -1)) + \
                    struct.pack(">hi", acks, 10000) + count(1, flex) + string("mem", flex) + \
                    count(len(entries) * reps, flex) + b"".join(entries) * reps + tags + tags
                return c.call(kwire.API_PRODUCE, ver, body)

            small = produce(1)
            big = produce(3000)
            # the small answer's entries; the valid batch's base offset advances per copy
            head = (1 if flex else 0) + len(count(1, flex)) + len(string("mem", flex))
            start = head + len(count(4, flex))
            entry_len = [None] * 4
            pos = start
            for i in range(4):  # index, error, base, log_append_time, [log_start], [v8+: ...]
                n = 4 + 2 + 8 + 8 + (8 if ver >= 5 else 0)
                if ver >= 8:
                    n += 1  # record_errors (empty compact array)
                    ml = small[pos + n]  # the message: compact nullable string
                    n += 1 + (ml - 1 if ml > 0 else 0)
                n += 1 if flex else 0
                entry_len[i] = n
                pos += n
            ents = []
            pos = start
            for n in entry_len:
                ents.append(small[pos:pos + n])
                pos += n
            base0 = struct.unpack(">q", ents[0][6:14])[0]
            want = bytearray(small[:head] + count(4 * 3000, flex))
            for k in range(3000):
                want += ents[0][:6] + struct.pack(">q", base0 + 1 + k) + ents[0][14:]
                want += ents[1] + ents[2] + ents[3]
            want += small[pos:]
            check("Produce v%d acks=%d x%d" % (ver, acks, 4 * 3000), big, bytes(want))

        # CreateTopics: a topic created (once), refused names, a duplicate, a bad replication
        # factor, validate_only; streamed (over 32 KiB of topics) as a small request answers
        for ver, validate in ((5, False), (7, False), (7, True)):
            flex = ver >= 5
            tags = b"\0" if flex else b""
            new = "ct%d%s" % (ver, "v" if validate else "")
            asks = [(new, 2, 1), ("", 1, 1), (new, 2, 1), (new + "x", 1, 3)] + \
                [("bad name!", 1, 1)] * 4000

            def topic(name, parts, rf):
                return string(name, flex) + struct.pack(">ih", parts, rf) + count(0, flex) + \
                    count(0, flex) + tags

            req = b"\0" + count(len(asks), flex) + b"".join(topic(*a) for a in asks) + \
                struct.pack(">ib", 10000, 1 if validate else 0) + tags
            got = c.call(19, ver, req)

            def answer(name, err, msg, parts, uuid=b"\0" * 16):
                out = string(name, flex) + (uuid if ver >= 7 else b"") + struct.pack(">h", err)
                out += string(msg, flex) if msg else b"\0"
                out += struct.pack(">ih", -1 if err else parts, -1 if err else 1)
                return out + count(0, flex) + tags

            # the created topic's id is the broker's: taken from the answer
            at = 1 + 4 + len(count(len(asks), flex)) + len(string(new, flex))
            uuid = got[at:at + 16] if ver >= 7 and not validate else b"\0" * 16
            exists = "topic '%s' already exists" % new
            want = (tags + struct.pack(">i", 0) + count(len(asks), flex) +
                    answer(new, 0, None, 2, uuid) +
                    answer("", 17, "invalid topic name", 1) +
                    (answer(new, 0, None, 2) if validate else answer(new, 36, exists, 2)) +
                    answer(new + "x", 38, "replication factor 3 is larger than the 1 available "
                           "broker", 1) +
                    answer("bad name!", 17, "invalid topic name", 1) * 4000 + tags)
            check("CreateTopics v%d%s x%d" % (ver, " validate_only" if validate else "",
                                             len(asks)), got, want)
            if ver >= 7 and not validate and uuid == b"\0" * 16:
                failures.append("CreateTopics v7 topic id")

        # a request pipelined behind a streamed answer comes after it
        ids = b"".join(string(s, False) for s in ("g1", "nope") * 10000)
        first = c.send(15, 0, count(20000, False) + ids)
        second = c.send(kwire.API_VERSIONS, 0, kwire.api_versions_v0())
        a = c.recv(timeout=60)
        bb = c.recv(timeout=60)
        if not a or not bb or a[0] != first or bb[0] != second or len(a[1]) < 20000 * 16:
            failures.append("pipelined")
            print("FAIL pipelined: %r %r" % (a and (a[0], len(a[1])), bb and bb[0]))
        else:
            print("ok   pipelined behind a streamed answer (%d bytes)" % len(a[1]))

        # streams cut short: a client that goes away in the middle, and one that stops reading
        # while the broker shuts down; both are freed (under ASan, LeakSanitizer checks the
        # clean exit that stop() requires)
        gone = kwire.Conn(b.port, timeout=60)
        gone.send(15, 5, b"\0" + count(200000, True) + b"\x03g1" * 200000 + b"\0\0")
        gone.sock.recv(1000)
        gone.close()
        stuck = kwire.Conn(b.port, timeout=60)
        stuck.send(15, 5, b"\0" + count(200000, True) + b"\x03g1" * 200000 + b"\0\0")
        fetch = struct.pack(">iiiib", -1, 0, 0, 50 << 20, 0) + count(1, False) + \
            string("mem", False) + count(3000, False) + struct.pack(">iqi", 0, 0, 1 << 20) * 3000
        stuck.send(kwire.API_FETCH, 4, fetch)
        stuck.sock.recv(1000)
        c.call(kwire.API_VERSIONS, 0, kwire.api_versions_v0())  # still serving others
        b.stop()
        stuck.close()
        print("ok   streams cut short; the broker stopped cleanly")
    if failures:
        brokerlib.fail("streamed answers differ: " + ", ".join(failures))
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
