#!/usr/bin/env bash
# HiveServer2-protocol server for pigeon's Hive connector tests, an alternative to hive.sh: Spark Thrift Server
# 3.5.1 (org.apache.spark:spark-hive-thriftserver_2.12, Hive 2.3.9 metastore and serdes inside), local[2] master,
# embedded Derby metastore, local warehouse, binary Thrift transport.
#
#   spark-thrift.sh start|stop|restart|status|reset    (see _lib.sh)
#   prints  PIGEON_TEST_SPARK_THRIFT=127.0.0.1:<port>  PIGEON_TEST_SPARK_THRIFT_AUTH=NONE|NOSASL
#
# env: PIGEON_SERVICES_DIR              cache (default ~/.cache/pigeon-test-services)
#      PIGEON_TEST_SPARK_THRIFT_PORT    (default 10310)
#      PIGEON_TEST_SPARK_THRIFT_AUTH    NONE (default: SASL PLAIN, any user and password) or NOSASL
#      PIGEON_TEST_SPARK_THRIFT_HEAP    (default 1g)
#      PIGEON_TEST_SPARK_THRIFT_TIMEOUT seconds to wait for readiness (default 300)
#
# First start: ~250 MB of jars. The Spark driver's own ports (RPC, block manager) are random, on 127.0.0.1 too.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/_lib.sh"
svc_init spark-thrift

PORT="${PIGEON_TEST_SPARK_THRIFT_PORT:-10310}"
AUTH="${PIGEON_TEST_SPARK_THRIFT_AUTH:-NONE}"
HEAP="${PIGEON_TEST_SPARK_THRIFT_HEAP:-1g}"
SVC_TIMEOUT="${PIGEON_TEST_SPARK_THRIFT_TIMEOUT:-300}"
SVC_PORTS=("$PORT")
SPARK_VERSION=3.5.1
case "$AUTH" in NONE|NOSASL) ;; *) die "PIGEON_TEST_SPARK_THRIFT_AUTH must be NONE or NOSASL, not '$AUTH'" ;; esac

endpoint_lines() {
  echo "PIGEON_TEST_SPARK_THRIFT=127.0.0.1:$PORT"
  echo "PIGEON_TEST_SPARK_THRIFT_AUTH=$AUTH"
}

ready() { port_open "$PORT"; }

write_pom() {
  maven_pom spark-thrift <<DEPS
    <dependency><groupId>org.apache.spark</groupId><artifactId>spark-hive-thriftserver_2.12</artifactId><version>$SPARK_VERSION</version></dependency>
    <!-- without this, slf4j-api 1.7 wins mediation and the server logs nothing -->
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>2.0.7</version></dependency>
DEPS
}

launch() {
  write_pom
  mvn_classpath "$SVC_DIR" "$SVC_DIR/classpath.txt"
  local java opens
  java="$(find_java17)"
  mkdir -p "$DATA_DIR/warehouse" "$DATA_DIR/tmp"
  opens="-Djdk.reflect.useDirectMethodHandle=false$(add_opens java.lang java.lang.invoke java.lang.reflect java.io java.net \
           java.nio java.util java.util.concurrent java.util.concurrent.atomic sun.nio.ch sun.nio.cs sun.security.action sun.util.calendar)"
  say "starting Spark Thrift Server $SPARK_VERSION on 127.0.0.1:$PORT (auth $AUTH, heap $HEAP)"
  export SPARK_LOCAL_IP=127.0.0.1
  # shellcheck disable=SC2086
  start_bg "$java" -Xmx"$HEAP" -XX:+UseSerialGC $opens \
    -Djava.io.tmpdir="$DATA_DIR/tmp" -Dderby.system.home="$DATA_DIR" \
    -Dspark.master='local[2]' -Dspark.app.name=pigeon-spark-thrift -Dspark.ui.enabled=false \
    -Dspark.driver.host=127.0.0.1 -Dspark.driver.bindAddress=127.0.0.1 \
    -Dspark.local.dir="$DATA_DIR/tmp" -Dspark.sql.shuffle.partitions=2 \
    -Dspark.sql.warehouse.dir="$DATA_DIR/warehouse" \
    -Dspark.hadoop.javax.jdo.option.ConnectionURL="jdbc:derby:;databaseName=$DATA_DIR/metastore_db;create=true" \
    -cp "$(cat "$SVC_DIR/classpath.txt")" \
    org.apache.spark.sql.hive.thriftserver.HiveThriftServer2 \
    --hiveconf hive.server2.thrift.bind.host=127.0.0.1 \
    --hiveconf hive.server2.thrift.port="$PORT" \
    --hiveconf hive.server2.transport.mode=binary \
    --hiveconf hive.server2.authentication="$AUTH" \
    --hiveconf hive.exec.scratchdir="$DATA_DIR/tmp/hive" \
    --hiveconf hive.exec.local.scratchdir="$DATA_DIR/tmp/local" \
    --hiveconf hive.downloaded.resources.dir="$DATA_DIR/tmp/resources"
}

svc_main "$@"
