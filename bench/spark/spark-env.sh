#!/usr/bin/env bash
# spark-env.sh jars|venv: makes sure what the seed's Spark job needs is in the cache, fetching it
# once, and prints where it is.
#
#   jars   org.apache.spark:spark-sql-kafka-0-10_2.12 $SPARK_VERSION and
#          com.datastax.spark:spark-cassandra-connector_2.12 $SPARK_CASSANDRA_VERSION with their
#          runtime dependencies, through Maven (a generated pom + dependency:copy-dependencies, as
#          tests/engines/kafka-jars.sh does) -> prints $SLUICE_CACHE/spark-jars-VER/libs
#   venv   a Python venv with pyspark==$SPARK_VERSION from PyPI (pip) -> prints the venv's dir;
#          it sees Debian's site packages (python3-cassandra, python3-kafka) as well
#
#   SPARK_VERSION            default 3.5.7 (pyspark and spark-sql-kafka-0-10 use the same)
#   SPARK_CASSANDRA_VERSION  default 3.5.1 (the connector line for Spark 3.5)
#   SLUICE_CACHE             cache root (default $HOME/.cache/sluice)
#
# Offline-safe: a complete cache is used as is. Exit 77 (skip) with a notice when java, mvn or
# pip (PyPI) are not available and the cache is not complete.
set -euo pipefail

WHAT=${1:-jars}
SPARK_VERSION=${SPARK_VERSION:-3.5.7}
SCC_VERSION=${SPARK_CASSANDRA_VERSION:-3.5.1}
CACHE_ROOT=${SLUICE_CACHE:-${HOME:-/tmp}/.cache/sluice}

if ! command -v java >/dev/null 2>&1; then
    echo "SKIP: java is not installed; Spark cannot run here" >&2
    exit 77
fi

lock() { # DIR
    mkdir -p "$1"
    exec 9>"$1/.lock"
    if command -v flock >/dev/null 2>&1; then
        flock -w 900 9 || { echo "spark-env: could not lock $1/.lock in 900 s" >&2; exit 1; }
    fi
}

jars() {
    local dir="$CACHE_ROOT/spark-jars-$SPARK_VERSION-$SCC_VERSION"
    local libs="$dir/libs" stamp="$dir/.complete"
    local kafka="spark-sql-kafka-0-10_2.12-$SPARK_VERSION.jar"
    local scc="spark-cassandra-connector_2.12-$SCC_VERSION.jar"
    complete() {
        [[ -f "$stamp" && -f "$libs/$kafka" && -f "$libs/$scc" ]] || return 1
        [[ "$(find "$libs" -maxdepth 1 -name '*.jar' | wc -l)" -eq "$(cat "$stamp")" ]]
    }
    if complete; then
        echo "$libs"
        return 0
    fi
    command -v mvn >/dev/null 2>&1 || {
        echo "SKIP: mvn is not installed and $libs holds no complete jar set" >&2
        exit 77
    }
    lock "$dir"
    if complete; then
        echo "$libs"
        return 0
    fi
    build=$(mktemp -d "$dir/.build.XXXXXX")
    trap 'rm -rf "$build"' EXIT
    cat >"$build/pom.xml" <<POM
<?xml version="1.0" encoding="UTF-8"?>
<project>
  <modelVersion>4.0.0</modelVersion>
  <groupId>sluice.bench</groupId>
  <artifactId>spark-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.spark</groupId>
      <artifactId>spark-sql-kafka-0-10_2.12</artifactId>
      <version>$SPARK_VERSION</version>
    </dependency>
    <dependency>
      <groupId>com.datastax.spark</groupId>
      <artifactId>spark-cassandra-connector_2.12</artifactId>
      <version>$SCC_VERSION</version>
    </dependency>
  </dependencies>
</project>
POM
    echo "spark-env: fetching the Spark Kafka source and Cassandra connector jars with Maven into $libs (once)" >&2
    if ! (cd "$build" && mvn -B -q -f pom.xml dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$build/libs" >"$build/mvn.log" 2>&1); then
        echo "spark-env: mvn failed; its output:" >&2
        tail -n 60 "$build/mvn.log" >&2
        exit 1
    fi
    [[ -f "$build/libs/$kafka" && -f "$build/libs/$scc" ]] || {
        echo "spark-env: mvn succeeded but $kafka or $scc is missing" >&2
        exit 1
    }
    rm -rf "$libs"
    mv "$build/libs" "$libs"
    find "$libs" -maxdepth 1 -name '*.jar' | wc -l >"$stamp"
    echo "spark-env: $(cat "$stamp") jars in $libs" >&2
    echo "$libs"
}

venv() {
    local dir="$CACHE_ROOT/pyspark-$SPARK_VERSION"
    local stamp="$dir/.complete"
    if [[ -f "$stamp" && -x "$dir/bin/python" ]]; then
        echo "$dir"
        return 0
    fi
    lock "$CACHE_ROOT/pyspark-$SPARK_VERSION.d"
    if [[ -f "$stamp" && -x "$dir/bin/python" ]]; then
        echo "$dir"
        return 0
    fi
    /usr/bin/python3 -m venv --help >/dev/null 2>&1 || {
        echo "SKIP: python3 venv is not available" >&2
        exit 77
    }
    rm -rf "$dir"
    /usr/bin/python3 -m venv --system-site-packages "$dir"
    echo "spark-env: installing pyspark==$SPARK_VERSION from PyPI into $dir (once)" >&2
    if ! "$dir/bin/pip" install -q "pyspark==$SPARK_VERSION" >"$CACHE_ROOT/pyspark-$SPARK_VERSION.d/pip.log" 2>&1; then
        echo "SKIP: pip could not install pyspark==$SPARK_VERSION (PyPI unreachable?):" >&2
        tail -n 5 "$CACHE_ROOT/pyspark-$SPARK_VERSION.d/pip.log" >&2
        rm -rf "$dir"
        exit 77
    fi
    touch "$stamp"
    echo "$dir"
}

case "$WHAT" in
jars) jars ;;
venv) venv ;;
*)
    echo "usage: spark-env.sh jars|venv" >&2
    exit 2
    ;;
esac
