"""Real clients read streamed answers (docs/broker-server.md, "Memory per request"): kafka-python
admin calls whose answers pass 64 KiB -- listing a group's offsets for 6,000 partitions
(OffsetFetch, one request) and describing 3,000 config resources (DescribeConfigs, one request)
-- decode, with the committed offset and the topic's configs where they belong among the
unknown ones. (kafka-python describes groups one request each: those answers stay small; it
checks the group answers' encoding still decodes.)"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brokerlib  # noqa: E402
import kwire  # noqa: E402


def main():
    try:
        from kafka import KafkaAdminClient
        from kafka.admin import ConfigResource, ConfigResourceType
        from kafka.structs import TopicPartition
    except ImportError:
        brokerlib.skip("kafka-python is not importable by /usr/bin/python3")
    with brokerlib.Broker() as b:
        c = kwire.Conn(b.port, timeout=60)
        kwire.ensure_topic(c, "mem", 1)
        w = kwire.Writer
        resp = c.call(8, 2, w().string("g1").i32(-1).string("").i64(-1).i32(1).string("mem")
                      .i32(1).i32(0).i64(42).string("meta").done())
        if resp[-2:] != b"\0\0":
            brokerlib.fail("OffsetCommit failed: %r" % resp)

        ka = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=60000)
        ids = ["nope-%d" % i for i in range(100)] + ["g1"] + ["gone-%d" % i for i in range(99)]
        described = ka.describe_consumer_groups(ids)
        states = {}
        for d in described:
            states[d.group] = d.state
        if len(described) != len(ids) or states.get("g1") != "Empty" or \
                states.get("nope-7") != "Dead" or states.get("gone-98") != "Dead":
            brokerlib.fail("DescribeGroups of %d ids: %d answers, g1 %r, nope-7 %r"
                           % (len(ids), len(described), states.get("g1"), states.get("nope-7")))
        print("%d groups described (g1 %s)" % (len(described), states["g1"]))

        parts = [TopicPartition("mem", i) for i in range(6000)]
        got = ka.list_consumer_group_offsets("g1", partitions=parts)
        if len(got) != 6000 or got[TopicPartition("mem", 0)].offset != 42 or \
                got[TopicPartition("mem", 0)].metadata != "meta" or \
                got[TopicPartition("mem", 5999)].offset != -1:
            brokerlib.fail("OffsetFetch of 6000 partitions: %d answers, p0 %r, p5999 %r"
                           % (len(got), got.get(TopicPartition("mem", 0)),
                              got.get(TopicPartition("mem", 5999))))
        print("%d partitions' offsets (p0 %d)" % (len(got), got[TopicPartition("mem", 0)].offset))

        res = [ConfigResource(ConfigResourceType.TOPIC, "mem" if i % 2 == 0 else "nope-%d" % i)
               for i in range(3000)]
        answers = ka.describe_configs(res)
        entries = [r for a in answers for r in a.resources]
        mem = [e for e in entries if e[3] == "mem"]
        unknown = [e for e in entries if e[3].startswith("nope-")]
        configs = dict((cfg[0], cfg[1]) for cfg in mem[0][4]) if mem else {}
        if len(entries) != 3000 or len(mem) != 1500 or configs.get("cleanup.policy") != "delete" \
                or any(e[0] != 3 for e in unknown) or any(e[0] != 0 for e in mem):
            brokerlib.fail("DescribeConfigs of 3000 resources: %d answers, %d for mem, %r"
                           % (len(entries), len(mem), configs))
        print("%d config resources described (%d configs of mem)" % (len(entries), len(configs)))
        ka.close()
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
