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

ready() { search_ready; }

launch() {
  local m
  {
    echo "    <dependency><groupId>org.opensearch</groupId><artifactId>opensearch</artifactId><version>$OS_VERSION</version></dependency>"
    for m in transport-netty4-client analysis-common mapper-extras-client reindex-client lang-painless; do
      echo "    <dependency><groupId>org.opensearch.plugin</groupId><artifactId>$m</artifactId><version>$OS_VERSION</version></dependency>"
    done
    echo "    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>"
  } | maven_pom opensearch-node
  start_search_node "OpenSearch $OS_VERSION" PigeonOpenSearchNode
}

svc_main "$@"
