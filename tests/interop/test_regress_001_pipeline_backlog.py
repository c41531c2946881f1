"""Regression 001: more pipelined requests than the per-connection in-flight cap (64), sent in
one burst, must all be answered. The broker stops reading at the cap; it used to resume only
on new socket data, so requests already buffered stayed unanswered forever once the client
had nothing more to send (seen as a producer stuck for its 30 s request timeout)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402
import kwire  # noqa: E402

N = 300
TOPIC = "backlog"


def main():
    with brokerlib.Broker() as b:
        c = kwire.Conn(b.port)
        kwire.ensure_topic(c, TOPIC, 1)
        batch = kwire.record_batch([(b"k", b"v")])
        frames = b"".join(kwire.request_frame(kwire.API_PRODUCE, 3, 1000 + i,
                                              kwire.produce_v3(TOPIC, 0, bytes(batch)))
                          for i in range(N))
        c.send_raw(frames)
        for i in range(N):
            try:
                got = c.recv(timeout=15)
            except TimeoutError:
                brokerlib.fail("only %d of %d pipelined requests were answered" % (i, N))
            if got is None:
                brokerlib.fail("the broker closed the connection after %d answers" % i)
            corr, body = got
            if corr != 1000 + i:
                brokerlib.fail("answer %d has correlation id %d, expected %d" % (i, corr, 1000 + i))
            res = kwire.parse_produce_v3(body)
            if res[0][2] != kwire.ERR_NONE:
                brokerlib.fail("response %d: error %d" % (i, res[0][2]))
        print("%d pipelined acks=all produce requests all answered" % N)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
