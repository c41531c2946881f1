#!/usr/bin/env bash
# cassandra-jars.sh [server|driver]: makes sure Apache Cassandra's jars are in the cache, fetching
# them once with Maven, and prints the directory that holds them (classpath "DIR/*").
#
#   server (default)  org.apache.cassandra:cassandra-all $CASSANDRA_VERSION and its runtime
#                     dependencies -> $SLUICE_CACHE/cassandra-$CASSANDRA_VERSION/libs
#   driver            org.apache.cassandra:java-driver-core $CASSANDRA_DRIVER_VERSION (DataStax
#                     Java driver 4.x, for bench/) -> $SLUICE_CACHE/java-driver-$VER/libs
#
#   CASSANDRA_VERSION         default 5.0.9 (newest 5.0.x served here)
#   CASSANDRA_DRIVER_VERSION  default 4.19.4
#   SLUICE_CACHE              cache root (default $HOME/.cache/sluice), as kafka-jars.sh
#
# Offline-safe: a complete cache is used as is. Exit 77 (skip) with a notice when java is absent,
# or when mvn is absent and the cache is not complete.
set -euo pipefail

WHAT=${1:-server}
CASSANDRA_VERSION=${CASSANDRA_VERSION:-5.0.9}
DRIVER_VERSION=${CASSANDRA_DRIVER_VERSION:-4.19.4}
CACHE_ROOT=${SLUICE_CACHE:-${HOME:-/tmp}/.cache/sluice}
case "$WHAT" in
server)
    DIR="$CACHE_ROOT/cassandra-$CASSANDRA_VERSION"
    MAINJAR="cassandra-all-$CASSANDRA_VERSION.jar"
    DEPS="<dependency><groupId>org.apache.cassandra</groupId><artifactId>cassandra-all</artifactId><version>$CASSANDRA_VERSION</version></dependency>"
    ;;
driver)
    DIR="$CACHE_ROOT/java-driver-$DRIVER_VERSION"
    MAINJAR="java-driver-core-$DRIVER_VERSION.jar"
    DEPS="<dependency><groupId>org.apache.cassandra</groupId><artifactId>java-driver-core</artifactId><version>$DRIVER_VERSION</version></dependency>"
    ;;
*)
    echo "usage: cassandra-jars.sh [server|driver]" >&2
    exit 2
    ;;
esac
LIBS="$DIR/libs"
STAMP="$DIR/.complete"

if ! command -v java >/dev/null 2>&1; then
    echo "SKIP: java is not installed; Apache Cassandra's jars cannot run here" >&2
    exit 77
fi

complete() {
    [[ -f "$STAMP" && -d "$LIBS" && -f "$LIBS/$MAINJAR" ]] || return 1
    local n
    n=$(find "$LIBS" -maxdepth 1 -name '*.jar' | wc -l)
    [[ "$n" -eq "$(cat "$STAMP")" ]]
}

if complete; then
    echo "$LIBS"
    exit 0
fi
if ! command -v mvn >/dev/null 2>&1; then
    echo "SKIP: mvn is not installed and $LIBS holds no complete jar set" >&2
    exit 77
fi

mkdir -p "$DIR"
exec 9>"$DIR/.lock"
if command -v flock >/dev/null 2>&1; then
    flock -w 900 9 || { echo "cassandra-jars: could not lock $DIR/.lock in 900 s" >&2; exit 1; }
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
  <artifactId>cassandra-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>$DEPS</dependencies>
</project>
POM

echo "cassandra-jars: fetching $MAINJAR and its dependencies with Maven into $LIBS (once)" >&2
if ! (cd "$BUILD" && mvn -B -q -f pom.xml dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$BUILD/libs" >"$BUILD/mvn.log" 2>&1); then
    echo "cassandra-jars: mvn failed; its output:" >&2
    tail -n 60 "$BUILD/mvn.log" >&2
    exit 1
fi
[[ -f "$BUILD/libs/$MAINJAR" ]] || {
    echo "cassandra-jars: mvn succeeded but $MAINJAR is missing from $BUILD/libs" >&2
    exit 1
}
rm -rf "$LIBS"
mv "$BUILD/libs" "$LIBS"
find "$LIBS" -maxdepth 1 -name '*.jar' | wc -l >"$STAMP"
echo "cassandra-jars: $(cat "$STAMP") jars in $LIBS" >&2
echo "$LIBS"
