"""Regression 101: a request frame exactly at --max-request-bytes, arriving right behind a small
request on the same connection, must be read and answered. The broker kept up to 1 MiB of
already-handled input in its buffer, whose maximum is one frame: the big frame then could not
fit, and the healthy connection was closed as abuse."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402
import kwire  # noqa: E402

CAP = 2 * 1024 * 1024
TOPIC = "atcap"


def main():
    with brokerlib.Broker("--max-request-bytes", str(CAP)) as b:
        c = kwire.Conn(b.port, timeout=20)
        kwire.ensure_topic(c, TOPIC, 1)
        small = kwire.request_frame(kwire.API_VERSIONS, 0, 7, kwire.api_versions_v0())
        # a Produce frame of exactly CAP bytes (after its size): its records are larger than
        # --max-message-bytes, so the answer is MESSAGE_TOO_LARGE on a connection still open
        empty = kwire.request_frame(kwire.API_PRODUCE, 3, 8, kwire.produce_v3(TOPIC, 0, b""))
        pad = CAP - (len(empty) - 4)
        big = kwire.request_frame(kwire.API_PRODUCE, 3, 8, kwire.produce_v3(TOPIC, 0, b"x" * pad))
        if len(big) - 4 != CAP:
            brokerlib.fail("test bug: frame is %d bytes, not %d" % (len(big) - 4, CAP))
        c.send_raw(small + big[:1000])
        time.sleep(0.3)  # the small request is handled while the big one is still partial
        try:
            c.send_raw(big[1000:])
        except (ConnectionResetError, BrokenPipeError):
            pass  # closed while sending: reported below
        for want in (7, 8):
            try:
                got = c.recv(timeout=20)
            except TimeoutError:
                brokerlib.fail("no answer to request %d" % want)
            except (ConnectionResetError, BrokenPipeError):
                got = None
            if got is None:
                brokerlib.fail("the broker closed a healthy connection before answering "
                               "request %d (a frame of %d bytes, the cap)" % (want, CAP))
            if got[0] != want:
                brokerlib.fail("answer has correlation id %d, expected %d" % (got[0], want))
        res = kwire.parse_produce_v3(got[1])
        if res[0][2] != 10:
            brokerlib.fail("produce at the cap answered error %d, expected 10" % res[0][2])
        # and the connection still works
        c.call(kwire.API_VERSIONS, 0, kwire.api_versions_v0())
        print("a frame at the %d-byte cap behind a small request was answered" % CAP)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
