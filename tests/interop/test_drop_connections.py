"""An idempotent librdkafka producer (confluent-kafka-python) while connections to the broker
are dropped at random: every message must end up in the log exactly once. The broker
advertises a chaos proxy, so every client connection goes through it; the proxy cuts each
connection after a random short time, often between a request and its response, which makes
the producer retry batches the broker has already written."""
import os
import random
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402

N = 20000
TOPIC = "chaos"


class ChaosProxy:
    def __init__(self, listen_port, target_port, seed=7):
        self.rng = random.Random(seed)
        self.target = target_port
        self.chaos = True
        self.drops = 0
        self.lock = threading.Lock()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", listen_port))
        self.srv.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                c.close()
                continue
            self.accepted = getattr(self, "accepted", 0) + 1
            pair = [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(a, b, pair), daemon=True).start()
            if self.chaos:
                with self.lock:
                    life = self.rng.uniform(0.05, 0.6)
                threading.Timer(life, self._drop, args=(pair,)).start()

    def _pipe(self, a, b, pair):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in pair:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _drop(self, pair):
        if not self.chaos:
            return
        with self.lock:
            self.drops += 1
        for s in pair:
            try:
                # reset rather than close politely, then wake the pipe threads blocked on it
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    try:
        from confluent_kafka import Consumer, Producer, TopicPartition
    except ImportError:
        brokerlib.skip("confluent_kafka is not importable by /usr/bin/python3")
    proxy_port = brokerlib.free_port()
    with brokerlib.Broker("--advertised", "127.0.0.1:%d" % proxy_port) as b:
        proxy = ChaosProxy(proxy_port, b.port)
        p = Producer({"bootstrap.servers": "127.0.0.1:%d" % proxy_port,
                      "enable.idempotence": True, "acks": "all", "linger.ms": 2,
                      "batch.num.messages": 200, "message.timeout.ms": 120000,
                      "retry.backoff.ms": 50, "reconnect.backoff.ms": 20, "reconnect.backoff.max.ms": 200,
                      "socket.connection.setup.timeout.ms": 3000,
                      "log_level": 0})
        failed = []

        def report(err, msg):
            if err is not None:
                failed.append(err)

        t0 = time.monotonic()
        for i in range(N):
            while True:
                try:
                    p.produce(TOPIC, key=b"k%06d" % i, value=b"v%d" % i, on_delivery=report)
                    break
                except BufferError:
                    p.poll(0.05)
            p.poll(0)
            if i % 100 == 99:
                time.sleep(0.04)  # spread the load over seconds, so drops hit it mid-flight
        left = p.flush(150)
        if left or failed:
            brokerlib.fail("%d undelivered, %d delivery errors (%s)" % (left, len(failed), failed[:3]))
        print("produced %d messages in %.1f s while the proxy dropped %d of %d connections"
              % (N, time.monotonic() - t0, proxy.drops, proxy.accepted))
        if proxy.drops < 5:
            brokerlib.fail("the proxy dropped only %d connections: the test proved nothing" % proxy.drops)
        proxy.chaos = False

        c = Consumer({"bootstrap.servers": "127.0.0.1:%d" % proxy_port, "group.id": "chaos-check",
                      "enable.auto.commit": False, "log_level": 0})
        parts = c.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions
        c.assign([TopicPartition(TOPIC, pid, 0) for pid in parts])
        ends = {pid: c.get_watermark_offsets(TopicPartition(TOPIC, pid), timeout=10)[1] for pid in parts}
        total = sum(ends.values())
        seen = {}
        deadline = time.monotonic() + 60
        count = 0
        while count < total and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            count += 1
            seen[m.key()] = seen.get(m.key(), 0) + 1
        c.close()
        dups = sum(1 for v in seen.values() if v > 1)
        missing = N - len(seen)
        print("log holds %d records: %d distinct keys, %d duplicated, %d missing"
              % (total, len(seen), dups, missing))
        if total != N or dups or missing:
            brokerlib.fail("not exactly once")
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
