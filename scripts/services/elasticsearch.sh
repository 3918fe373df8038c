#!/usr/bin/env bash
# Elasticsearch 7.17.29 single node for pigeon's Elasticsearch connector tests, from Maven Central jars: the
# server + the transport-netty4 module, loaded as a classpath plugin by java/PigeonElasticsearchNode.java
# (compiled into the cache). No x-pack: plain HTTP, no security. Elastic-licensed 7.17 line.
#
#   elasticsearch.sh start|stop|restart|status|reset   (see _lib.sh)
#   prints  PIGEON_TEST_ELASTICSEARCH=http://127.0.0.1:<port>
#
# env: PIGEON_SERVICES_DIR                      cache (default ~/.cache/pigeon-test-services)
#      PIGEON_TEST_ELASTICSEARCH_PORT           (default 9401, beside opensearch.sh on 9400)
#      PIGEON_TEST_ELASTICSEARCH_TRANSPORT_PORT (default 9501, loopback too)
#      PIGEON_TEST_ELASTICSEARCH_HEAP           (default 512m)
#      PIGEON_TEST_ELASTICSEARCH_TIMEOUT        seconds to wait for readiness (default 180)
#
# First start: ~32 MB of jars. The version is pinned: a range such as [7.17,7.18) took 2 min to resolve.
# Caveats for tests:
# * Only transport-netty4 is loaded: no painless scripts, no _reindex / _update_by_query / _delete_by_query, no
#   ingest pipelines, no analysis-common filters.
# * @elastic/elasticsearch 7.13 to 9.x and @opensearch-project/opensearch all talk to it (it sends
#   X-Elastic-Product: Elasticsearch). PIT: POST /<index>/_pit?keep_alive=1m gives id, DELETE /_pit {"id":id}.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/_lib.sh"
svc_init elasticsearch

PORT="${PIGEON_TEST_ELASTICSEARCH_PORT:-9401}"
TPORT="${PIGEON_TEST_ELASTICSEARCH_TRANSPORT_PORT:-9501}"
HEAP="${PIGEON_TEST_ELASTICSEARCH_HEAP:-512m}"
SVC_TIMEOUT="${PIGEON_TEST_ELASTICSEARCH_TIMEOUT:-180}"
SVC_PORTS=("$PORT" "$TPORT")
ES_VERSION=7.17.29

endpoint_lines() { echo "PIGEON_TEST_ELASTICSEARCH=http://127.0.0.1:$PORT"; }

ready() { search_ready; }

launch() {
  maven_pom elasticsearch-node <<DEPS
    <dependency><groupId>org.elasticsearch</groupId><artifactId>elasticsearch</artifactId><version>$ES_VERSION</version></dependency>
    <dependency><groupId>org.elasticsearch.plugin</groupId><artifactId>transport-netty4-client</artifactId><version>$ES_VERSION</version></dependency>
DEPS
  start_search_node "Elasticsearch $ES_VERSION" PigeonElasticsearchNode
}

svc_main "$@"
