#!/usr/bin/env bash
# OpenSearch 2.19.6 single node for pigeon's Elasticsearch/OpenSearch connector tests, from Maven Central jars:
# the server + transport-netty4, analysis-common, mapper-extras, reindex and lang-painless modules, loaded as
# classpath plugins by java/PigeonOpenSearchNode.java (compiled into the cache). Plain HTTP, no security plugin.
#
#   opensearch.sh start|stop|restart|status|reset      (see _lib.sh)
#   prints  PIGEON_TEST_OPENSEARCH=http://127.0.0.1:<port>
#
# env: PIGEON_SERVICES_DIR                   cache (default ~/.cache/pigeon-test-services)
#      PIGEON_TEST_OPENSEARCH_PORT           (default 9400)
#      PIGEON_TEST_OPENSEARCH_TRANSPORT_PORT (default 9500, loopback too)
#      PIGEON_TEST_OPENSEARCH_HEAP           (default 512m)
#      PIGEON_TEST_OPENSEARCH_TIMEOUT        seconds to wait for readiness (default 180)
#
# First start: ~48 MB of jars. 3.x needs Java 21: 2.19.x is the newest line for Java 17.
# Caveats for tests:
# * @elastic/elasticsearch 7.14 and later refuse OpenSearch (ProductNotSupportedError); use
#   @opensearch-project/opensearch (or @elastic/elasticsearch 7.13) against this server.
# * Its point-in-time API differs from Elasticsearch's: POST /<index>/_search/point_in_time?keep_alive=1m gives
#   pit_id, closed with DELETE /_search/point_in_time {"pit_id":[id]}.
# * Not loaded: ingest-common, percolator, parent-join, security, SQL/PPL, ISM, k-NN.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/_lib.sh"
svc_init opensearch

PORT="${PIGEON_TEST_OPENSEARCH_PORT:-9400}"
TPORT="${PIGEON_TEST_OPENSEARCH_TRANSPORT_PORT:-9500}"
HEAP="${PIGEON_TEST_OPENSEARCH_HEAP:-512m}"
SVC_TIMEOUT="${PIGEON_TEST_OPENSEARCH_TIMEOUT:-180}"
SVC_PORTS=("$PORT" "$TPORT")
OS_VERSION=2.19.6
LOG4J_VERSION=2.25.4   # the log4j-api that opensearch 2.19.6 brings; log4j-core is not among its dependencies

endpoint_lines() { echo "PIGEON_TEST_OPENSEARCH=http://127.0.0.1:$PORT"; }

# a green or yellow cluster health answer means the node takes requests
ready() { case "$(http_get "$PORT" /_cluster/health)" in *'"status":"green"'*|*'"status":"yellow"'*) return 0 ;; esac; return 1; }

write_pom() {
  local m deps=""
  for m in transport-netty4-client analysis-common mapper-extras-client reindex-client lang-painless; do
    deps="$deps    <dependency><groupId>org.opensearch.plugin</groupId><artifactId>$m</artifactId><version>$OS_VERSION</version></dependency>
"
  done
  write_if_changed "$SVC_DIR/pom.xml" <<POM
<project>
  <modelVersion>4.0.0</modelVersion>
  <groupId>pigeon.test-services</groupId><artifactId>opensearch-node</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.opensearch</groupId><artifactId>opensearch</artifactId><version>$OS_VERSION</version></dependency>
$deps    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
}

launch() {
  write_pom
  mvn_classpath "$SVC_DIR" "$SVC_DIR/classpath.txt"
  local cp java; cp="$(cat "$SVC_DIR/classpath.txt")"; java="$(find_java17)"
  compile_java "$SVC_DIR/classes" "$cp" "$SERVICES_SRC/java/PigeonOpenSearchNode.java"
  mkdir -p "$DATA_DIR/tmp"
  say "starting OpenSearch $OS_VERSION on http://127.0.0.1:$PORT (transport $TPORT, heap $HEAP)"
  start_bg "$java" -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseSerialGC -Djava.io.tmpdir="$DATA_DIR/tmp" \
    -Dlog4j2.formatMsgNoLookups=true -Djava.awt.headless=true \
    -cp "$SVC_DIR/classes:$cp" PigeonOpenSearchNode "$DATA_DIR" "$PORT" "$TPORT"
}

svc_main "$@"
