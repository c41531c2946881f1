"""Idempotent produce on the wire, deterministically: a batch re-sent with the same producer
id, epoch and sequence is acknowledged with its original offset and not written again, a
sequence gap is refused with OUT_OF_ORDER_SEQUENCE_NUMBER (45), and the broker still knows the
producer's last sequences after a restart (rebuilt from the log), which is what makes a
producer's retries after a broker crash safe."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402
import kwire  # noqa: E402

TOPIC = "idem"
API_INIT_PRODUCER_ID = 22
ERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45


def init_producer_id(c):
    body = kwire.Writer().string(None).i32(60000).done()
    r = kwire.Reader(c.call(API_INIT_PRODUCER_ID, 0, body))
    r.i32()  # throttle_time_ms
    err, pid, epoch = r.i16(), r.i64(), r.i16()
    if err or pid < 0 or epoch < 0:
        brokerlib.fail("InitProducerId: error %d, id %d, epoch %d" % (err, pid, epoch))
    return pid, epoch


def produce(c, pid, epoch, seq, keys):
    batch = kwire.record_batch([(k.encode(), b"v") for k in keys], producer_id=pid,
                               producer_epoch=epoch, base_sequence=seq)
    res = kwire.parse_produce_v3(c.call(kwire.API_PRODUCE, 3, kwire.produce_v3(TOPIC, 0, batch)))
    if len(res) != 1:
        brokerlib.fail("produce response %r" % res)
    return res[0][2], res[0][3]


def latest(c):
    res = kwire.parse_list_offsets_v1(c.call(kwire.API_LIST_OFFSETS, 1,
                                             kwire.list_offsets_v1(TOPIC, 0, -1)))
    return res[0][4]


def expect(what, got, want):
    if got != want:
        brokerlib.fail("%s: got %r, expected %r" % (what, got, want))
    print("%-52s %r" % (what, got))


def main():
    with brokerlib.Broker() as b:
        c = kwire.Conn(b.port)
        kwire.ensure_topic(c, TOPIC, 1)
        pid, epoch = init_producer_id(c)
        expect("first batch (seq 0, 3 records)", produce(c, pid, epoch, 0, ["a", "b", "c"]),
               (kwire.ERR_NONE, 0))
        expect("second batch (seq 3, 2 records)", produce(c, pid, epoch, 3, ["d", "e"]),
               (kwire.ERR_NONE, 3))
        expect("second batch again: duplicate, original offset",
               produce(c, pid, epoch, 3, ["d", "e"]), (kwire.ERR_NONE, 3))
        expect("first batch again: duplicate, original offset",
               produce(c, pid, epoch, 0, ["a", "b", "c"]), (kwire.ERR_NONE, 0))
        expect("latest offset", latest(c), 5)
        err, _ = produce(c, pid, epoch, 10, ["gap"])
        expect("batch after a sequence gap", err, ERR_OUT_OF_ORDER_SEQUENCE_NUMBER)
        expect("latest offset", latest(c), 5)
        c.close()

        b.stop(signal.SIGKILL)  # producer state must not depend on a clean shutdown
        b.start()
        c = kwire.Conn(b.port)
        expect("after kill -9 and restart, second batch again: duplicate",
               produce(c, pid, epoch, 3, ["d", "e"]), (kwire.ERR_NONE, 3))
        expect("after restart, next sequence", produce(c, pid, epoch, 5, ["f"]),
               (kwire.ERR_NONE, 5))
        expect("latest offset", latest(c), 6)
        c.close()
        b.stop()
        print("PASS")


if __name__ == "__main__":
    main()
