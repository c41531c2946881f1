"""Regression 007 (issue 11, finding 3): the number of partitions is not bounded by the
descriptor limit. Every segment (and the recovered active segment's index) used to keep a
descriptor for ever, so under `ulimit -n 1024` a topic with more than about a thousand
partitions could not be created or reopened. Here, with RLIMIT_NOFILE 1024 (soft and hard), a
5,000-partition topic is created, every partition written with acks=all, the broker restarted,
and every partition must still end at offset 1."""
import os
import resource
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402
import kwire  # noqa: E402

TOPIC = "wide"
N = 5000


def produce_all(c, batch):
    w = kwire.Writer().string(None).i16(-1).i32(60000)
    w.i32(1).string(TOPIC).i32(N)
    for p in range(N):
        w.i32(p).bytes_(batch)
    res = kwire.parse_produce_v3(c.call(kwire.API_PRODUCE, 3, w.done()))
    bad = [r for r in res if r[2] != kwire.ERR_NONE or r[3] != 0]
    if len(res) != N or bad:
        brokerlib.fail("produce: %d answers, %d bad, e.g. %r" % (len(res), len(bad), bad[:3]))


def log_ends(c):
    w = kwire.Writer().i32(-1).i32(1).string(TOPIC).i32(N)
    for p in range(N):
        w.i32(p).i64(-1)
    res = kwire.parse_list_offsets_v1(c.call(kwire.API_LIST_OFFSETS, 1, w.done()))
    return {idx: (err, off) for _, idx, err, _, off in res}


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1024:
        brokerlib.skip("the hard descriptor limit is below 1024")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))  # inherited by the broker
    with brokerlib.Broker() as b:
        c = kwire.Conn(b.port, timeout=240)
        res = kwire.parse_create_topics_v2(c.call(kwire.API_CREATE_TOPICS, 2,
                                                  kwire.create_topics_v2(TOPIC, N, timeout_ms=240000)))
        if len(res) != 1 or res[0][1] != kwire.ERR_NONE:
            brokerlib.fail("CreateTopics of %d partitions: %r" % (N, res))
        produce_all(c, bytes(kwire.record_batch([(b"k", b"v")])))
        ends = log_ends(c)
        bad = [p for p in range(N) if ends.get(p) != (kwire.ERR_NONE, 1)]
        if bad:
            brokerlib.fail("%d partitions do not end at 1 before the restart, e.g. %r"
                           % (len(bad), [(p, ends.get(p)) for p in bad[:3]]))
        c.close()
        b.stop()
        b.start(timeout=240)
        c = kwire.Conn(b.port, timeout=240)
        ends = log_ends(c)
        bad = [p for p in range(N) if ends.get(p) != (kwire.ERR_NONE, 1)]
        if bad:
            brokerlib.fail("%d partitions do not end at 1 after the restart, e.g. %r"
                           % (len(bad), [(p, ends.get(p)) for p in bad[:3]]))
        # and the records are written again after the restart
        produce_all_again = kwire.Writer().string(None).i16(-1).i32(60000)
        produce_all_again.i32(1).string(TOPIC).i32(1).i32(N - 1)
        produce_all_again.bytes_(bytes(kwire.record_batch([(b"k2", b"v2")])))
        res = kwire.parse_produce_v3(c.call(kwire.API_PRODUCE, 3, produce_all_again.done()))
        if res != [(TOPIC, N - 1, kwire.ERR_NONE, 1)]:
            brokerlib.fail("produce after the restart: %r" % res)
        c.close()
        print("%d partitions under RLIMIT_NOFILE 1024: created, written, restarted" % N)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
