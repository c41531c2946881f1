#!/usr/bin/env bash
# kafka_peer.sh start|stop DIR: the Apache Kafka peer that broker benchmarks compare
# `sluice broker` with (a real Apache Kafka 4.x, KRaft, single node, from Maven jars; see
# tests/engines/README.md).
#
#   start DIR   picks a free 127.0.0.1 port pair, starts the broker with its data under DIR and
#               prints its bootstrap address (127.0.0.1:PORT) on stdout when it serves.
#   stop DIR    stops it (SIGTERM, then SIGKILL after 60 s).
#   pid DIR     prints the broker's process id (for /proc/PID/stat and /proc/PID/status).
#
#   KAFKA_PEER_FSYNC=1  fsync every append before answering (log.flush.interval.messages=1),
#                       like sluice's acks=all group commit; default 0 is Kafka's own default
#                       (page cache only, no fsync on the produce path). Say which in results.
#   KAFKA_VERSION, KAFKA_SERVER_HEAP (default 1G), KAFKA_SERVER_PROPS: see kafka-server.sh.
# Exit 77 when Java (or, before the first fetch, Maven) is missing: benchmarks then skip the
# peer and say so.
set -euo pipefail
ENGINES=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/engines" && pwd)

cmd=${1:-}
DIR=${2:-}
[[ -n "$cmd" && -n "$DIR" ]] || { sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

case "$cmd" in
    start)
        port=""
        for _ in $(seq 20); do
            p=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
            if ((p < 65535)) && ! port_open "$p" && ! port_open $((p + 1)); then port=$p; break; fi
        done
        [[ -n "$port" ]] || { echo "kafka_peer: no free port pair" >&2; exit 1; }
        props=${KAFKA_SERVER_PROPS:-}
        if [[ "${KAFKA_PEER_FSYNC:-0}" == 1 ]]; then
            props=$(printf '%s\n%s' "log.flush.interval.messages=1" "$props")
        fi
        KAFKA_SERVER_PROPS=$props exec "$ENGINES/kafka-server.sh" start "$DIR" "$port"
        ;;
    stop) exec "$ENGINES/kafka-server.sh" stop "$DIR" ;;
    pid) cat "$DIR/kafka.pid" ;;
    *) echo "kafka_peer: unknown command '$cmd' (start|stop|pid)" >&2; exit 2 ;;
esac
