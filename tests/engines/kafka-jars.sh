#!/usr/bin/env bash
# kafka-jars.sh: makes sure Apache Kafka's jars (broker kafka_2.13, CLI tools kafka-tools, and
# log4j-slf4j-impl as the SLF4J binding, which is what Kafka's own distribution ships) are in
# the cache, fetching them once with Maven, and prints the directory that holds them (use it as
# the classpath "DIR/*").
#
#   KAFKA_VERSION   Kafka version (default 4.3.1; 4.4.0's kafka-tools is not served here)
#   SLUICE_CACHE    cache root (default $HOME/.cache/sluice); jars go to
#                   $SLUICE_CACHE/kafka-$KAFKA_VERSION/libs
#
# Offline-safe: a complete cache is used as is, without Maven. Exit 77 (skip) with a notice on
# stderr when java is absent, or when mvn is absent and the cache is not complete yet.
set -euo pipefail

KAFKA_VERSION=${KAFKA_VERSION:-4.3.1}
# Binding for slf4j-api 1.7.x (the version Kafka 4.x depends on), same log4j2 as kafka-server's.
LOG4J_VERSION=${KAFKA_LOG4J_VERSION:-2.25.4}
CACHE_ROOT=${SLUICE_CACHE:-${HOME:-/tmp}/.cache/sluice}
DIR="$CACHE_ROOT/kafka-$KAFKA_VERSION"
LIBS="$DIR/libs"
STAMP="$DIR/.complete"

if ! command -v java >/dev/null 2>&1; then
    echo "SKIP: java is not installed; Apache Kafka's jars cannot run here" >&2
    exit 77
fi

complete() {
    [[ -f "$STAMP" && -d "$LIBS" ]] || return 1
    local n
    n=$(find "$LIBS" -maxdepth 1 -name '*.jar' | wc -l)
    [[ "$n" -eq "$(cat "$STAMP")" ]] &&
        [[ -f "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" && -f "$LIBS/kafka-tools-$KAFKA_VERSION.jar" ]]
}

if complete; then
    echo "$LIBS"
    exit 0
fi

if ! command -v mvn >/dev/null 2>&1; then
    echo "SKIP: mvn is not installed and $LIBS holds no complete Kafka $KAFKA_VERSION jar set" >&2
    exit 77
fi

mkdir -p "$DIR"
# One fetch at a time per cache directory (parallel test runs share the cache).
exec 9>"$DIR/.lock"
if command -v flock >/dev/null 2>&1; then
    flock -w 900 9 || { echo "kafka-jars: could not lock $DIR/.lock in 900 s" >&2; exit 1; }
fi
if complete; then
    echo "$LIBS"
    exit 0
fi

BUILD=$(mktemp -d "$DIR/.build.XXXXXX")
trap 'rm -rf "$BUILD"' EXIT
cat >"$BUILD/pom.xml" <<POM
<?xml version="1.0" encoding="UTF-8"?>
<project>
  <modelVersion>4.0.0</modelVersion>
  <groupId>sluice.tests</groupId>
  <artifactId>kafka-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
POM

echo "kafka-jars: fetching Apache Kafka $KAFKA_VERSION jars with Maven into $LIBS (once)" >&2
if ! (cd "$BUILD" && mvn -B -q -f pom.xml dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$BUILD/libs" >"$BUILD/mvn.log" 2>&1); then
    echo "kafka-jars: mvn failed; its output:" >&2
    tail -n 60 "$BUILD/mvn.log" >&2
    exit 1
fi
[[ -f "$BUILD/libs/kafka_2.13-$KAFKA_VERSION.jar" && -f "$BUILD/libs/kafka-tools-$KAFKA_VERSION.jar" ]] || {
    echo "kafka-jars: mvn succeeded but the Kafka jars are missing from $BUILD/libs" >&2
    exit 1
}
rm -rf "$LIBS"
mv "$BUILD/libs" "$LIBS"
find "$LIBS" -maxdepth 1 -name '*.jar' | wc -l >"$STAMP"
echo "kafka-jars: $(cat "$STAMP") jars in $LIBS" >&2
echo "$LIBS"
