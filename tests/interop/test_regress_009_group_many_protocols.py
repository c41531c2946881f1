"""Regression 009 (issue 11, finding 1, end to end): a JoinGroup with more than 1000 protocols,
then an acknowledged OffsetCommit, must not lose that commit on restart. The group record (with
its member's 1001 protocols) passed its CRC but could not be applied at replay, replay stopped
there, and the compaction at start deleted every later record, the commit among them."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402
import kwire  # noqa: E402

API_OFFSET_COMMIT, API_OFFSET_FETCH, API_JOIN_GROUP, API_SYNC_GROUP = 8, 9, 11, 14
GROUP, TOPIC = "many-protocols", "mp"


def join_v0(member_id):
    w = kwire.Writer().string(GROUP).i32(10000).string(member_id).string("consumer")
    w.i32(1001)
    for i in range(1001):
        w.string("proto-%d" % i).bytes_(b"\x00\x01")
    return w.done()


def main():
    with brokerlib.Broker("--group-initial-delay", "0s") as b:
        c = kwire.Conn(b.port, timeout=30)
        kwire.ensure_topic(c, TOPIC, 1)
        r = kwire.Reader(c.call(API_JOIN_GROUP, 0, join_v0("")))
        err, gen, proto, leader, member = r.i16(), r.i32(), r.string(), r.string(), r.string()
        if err != kwire.ERR_NONE:
            brokerlib.fail("JoinGroup with 1001 protocols: error %d" % err)
        w = kwire.Writer().string(GROUP).i32(gen).string(member)
        w.i32(1).string(member).bytes_(b"\x00\x00")
        r = kwire.Reader(c.call(API_SYNC_GROUP, 0, w.done()))
        if r.i16() != kwire.ERR_NONE:
            brokerlib.fail("SyncGroup failed")
        w = kwire.Writer().string(GROUP).i32(gen).string(member).i64(-1)
        w.i32(1).string(TOPIC).i32(1).i32(0).i64(42).string("")
        r = kwire.Reader(c.call(API_OFFSET_COMMIT, 2, w.done()))
        (_, parts), = r.array(lambda r: (r.string(), r.array(lambda r: (r.i32(), r.i16()))))
        if parts != [(0, kwire.ERR_NONE)]:
            brokerlib.fail("OffsetCommit: %r" % parts)
        c.close()
        b.stop()
        b.start()
        c = kwire.Conn(b.port, timeout=30)
        w = kwire.Writer().string(GROUP).i32(1).string(TOPIC).i32(1).i32(0)
        r = kwire.Reader(c.call(API_OFFSET_FETCH, 1, w.done()))
        (_, parts), = r.array(lambda r: (r.string(), r.array(
            lambda r: (r.i32(), r.i64(), r.string(), r.i16()))))
        if parts[0][1] != 42:
            brokerlib.fail("the acknowledged commit of offset 42 came back as %d after a restart"
                           % parts[0][1])
        c.close()
        print("commit after a 1001-protocol JoinGroup survives a restart")
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
