"""Regression 106 (issue 11, finding 8): creating a topic must not hold up the loop. The broker
created a topic's directory, every partition's files and topic.meta, with their directory
fsyncs, on its loop thread, so a CreateTopics with many partitions (or a Metadata request
auto-creating topics) stopped every connection for as long as the disk took.

The crash simulator's gate (CRASHSIM_SYNC_GATE with CRASHSIM_GATE_ALL=1) holds every fsync of
the data directory while the gate file exists. With the gate closed, a CreateTopics of 100
partitions and a Metadata request auto-creating a topic must wait, while another client's
Metadata and acks=1 Produce are answered, and the topics being created are not visible (no
partition may be used before its files are durable). Once the gate opens, both are answered
and the topics are there. Then a creation is held again and the machine loses power (the
simulator's crash-now): after a restart the finished topic is whole, the half-created one is
gone without leftovers, and it can be created again."""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402
import kwire  # noqa: E402

PARTS = 100
ERR_LEADER_NOT_AVAILABLE = 5


def start(data, port, log, env):
    proc = subprocess.Popen([brokerlib.env("SLUICE_BIN"), "broker", "--listen",
                             "127.0.0.1:%d" % port, "--data-dir", data,
                             "--default-partitions", "1"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 30
    while not brokerlib.port_open(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            brokerlib.fail("the broker did not start")
        time.sleep(0.05)
    return proc


def recv(conn, corr, what, timeout):
    """The body of the answer to corr, or None when none came within timeout."""
    try:
        got = conn.recv(timeout=timeout)
    except TimeoutError:
        return None
    if got is None:
        brokerlib.fail("the broker closed the connection instead of answering the %s" % what)
    if got[0] != corr:
        brokerlib.fail("%s: correlation id %d, expected %d" % (what, got[0], corr))
    return got[1]


def wait_dir(path):
    """Waits for the worker to have made a directory (the creation is then at the gate)."""
    deadline = time.monotonic() + 30
    while not os.path.isdir(path):
        if time.monotonic() > deadline:
            brokerlib.fail("%s was not made: the creation did not start" % path)
        time.sleep(0.02)


def metadata(conn, names):
    body = conn.call(kwire.API_METADATA, 1, kwire.metadata_v1(names))
    return {t["name"]: t for t in kwire.parse_metadata_v1(body)["topics"]}


def create(conn, name, parts):
    return conn.send(kwire.API_CREATE_TOPICS, 2, kwire.create_topics_v2(name, parts))


def check_created(body, name):
    res = kwire.parse_create_topics_v2(body)
    if len(res) != 1 or res[0][0] != name or res[0][1] != kwire.ERR_NONE:
        brokerlib.fail("CreateTopics %s answered %r" % (name, res))


def main():
    work, data, shadow, gate, env = brokerlib.gated_broker_env("sluice-createloop.", gate_all=True)
    port = brokerlib.free_port()
    log = open(os.path.join(work, "broker.log"), "wb")
    proc = start(data, port, log, env)
    try:
        c_admin, c_auto, c_other = (kwire.Conn(port, timeout=30) for _ in range(3))
        kwire.ensure_topic(c_other, "warm", 1)
        batch = bytes(kwire.record_batch([(b"k", b"v")]))

        # 1. Held creations; the loop serves another client meanwhile.
        open(gate, "w").close()
        held = create(c_admin, "big", PARTS)
        wait_dir(os.path.join(data, "topics", "big"))
        # queued behind big's creation (Metadata v1 may auto-create)
        held_auto = c_auto.send(kwire.API_METADATA, 1, kwire.metadata_v1(["auto1"]))
        try:
            seen = metadata(c_other, ["warm", "big"])
        except TimeoutError:
            os.unlink(gate)
            brokerlib.fail("a Metadata request was not answered while a topic creation was held")
        if len(seen["warm"]["partitions"]) != 1 or seen["warm"]["error"] != kwire.ERR_NONE:
            brokerlib.fail("Metadata for warm during the creation: %r" % seen["warm"])
        if seen["big"]["partitions"] or seen["big"]["error"] != ERR_LEADER_NOT_AVAILABLE:
            brokerlib.fail("big was visible before its creation completed: %r" % seen["big"])
        corr = c_other.send(kwire.API_PRODUCE, 3, kwire.produce_v3("warm", 0, batch, acks=1))
        body = recv(c_other, corr, "acks=1 produce", 30)
        if body is None:
            os.unlink(gate)
            brokerlib.fail("an acks=1 produce was not answered while a topic creation was held")
        if kwire.parse_produce_v3(body)[0][2] != kwire.ERR_NONE:
            brokerlib.fail("acks=1 produce during the creation: %r" % kwire.parse_produce_v3(body))
        corr = c_other.send(kwire.API_PRODUCE, 3, kwire.produce_v3("big", 0, batch, acks=1))
        res = kwire.parse_produce_v3(recv(c_other, corr, "produce to big", 30))
        if res[0][2] != kwire.ERR_UNKNOWN_TOPIC_OR_PARTITION:
            brokerlib.fail("a produce to the topic being created answered %r" % res)
        if os.path.exists(os.path.join(data, "topics", "big", "topic.meta")):
            brokerlib.fail("topic.meta was written while the creation's fsyncs were held")
        if recv(c_admin, held, "CreateTopics", 0.5) is not None:
            brokerlib.fail("CreateTopics was answered while its fsyncs were held")
        if recv(c_auto, held_auto, "auto-creating Metadata", 0.5) is not None:
            brokerlib.fail("the auto-creating Metadata was answered while the worker was held")
        os.unlink(gate)
        body = recv(c_admin, held, "CreateTopics", 60)
        if body is None:
            brokerlib.fail("CreateTopics was not answered once the gate opened")
        check_created(body, "big")
        body = recv(c_auto, held_auto, "auto-creating Metadata", 60)
        if body is None:
            brokerlib.fail("the auto-creating Metadata was not answered once the gate opened")
        auto = {t["name"]: t for t in kwire.parse_metadata_v1(body)["topics"]}["auto1"]
        if auto["error"] != kwire.ERR_NONE or len(auto["partitions"]) != 1:
            brokerlib.fail("the auto-creating Metadata answered %r" % auto)
        seen = metadata(c_other, ["big"])["big"]
        if seen["error"] != kwire.ERR_NONE or len(seen["partitions"]) != PARTS:
            brokerlib.fail("big after its creation: error %d, %d partitions"
                           % (seen["error"], len(seen["partitions"])))
        print("Metadata and an acks=1 produce answered while creating %d partitions was held; "
              "CreateTopics and auto-creation answered once released" % PARTS)

        # 2. Power loss in the middle of a creation.
        open(gate, "w").close()
        create(c_admin, "half", PARTS)
        wait_dir(os.path.join(data, "topics", "half"))
        open(os.path.join(shadow, "crash-now"), "w").close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            brokerlib.fail("the crash simulator did not stop the broker")
        os.unlink(gate)
        for c in (c_admin, c_auto, c_other):
            c.close()
        proc = start(data, port, log, dict(os.environ))
        conn = kwire.Conn(port, timeout=60)
        seen = metadata(conn, None)
        if "half" in seen:
            brokerlib.fail("the half-created topic is visible after the power loss: %r"
                           % seen["half"])
        if len(seen.get("big", {}).get("partitions", [])) != PARTS:
            brokerlib.fail("big is not whole after the power loss: %r" % seen.get("big"))
        if os.path.exists(os.path.join(data, "topics", "half")):
            brokerlib.fail("the half-created topic's directory was left after a restart")
        check_created(conn.call(kwire.API_CREATE_TOPICS, 2, kwire.create_topics_v2("half", PARTS)),
                      "half")
        if len(metadata(conn, ["half"])["half"]["partitions"]) != PARTS:
            brokerlib.fail("half was not created again after the power loss")
        print("after a power loss during a creation: the finished topic whole, the unfinished "
              "one gone and created again")
    finally:
        if os.path.exists(gate):
            os.unlink(gate)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        if os.environ.get("KEEP_WORK"):
            print("work directory kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
