#!/usr/bin/env bash
# S3-compatible server for pigeon's S3 (and Redshift-via-S3) connector tests: Adobe S3Mock 4.12.4
# (com.adobe.testing:s3mock, the Spring Boot 'exec' jar from Maven Central), file-system store emptied at
# every start, plain HTTP plus its self-signed HTTPS connector.
#
#   s3.sh start|stop|restart|status|reset              (see _lib.sh)
#   prints  PIGEON_TEST_S3=http://127.0.0.1:<port>  PIGEON_TEST_S3_HTTPS=https://127.0.0.1:<https port>
#           PIGEON_TEST_S3_BUCKET=<first initial bucket>
#
# env: PIGEON_SERVICES_DIR        cache (default ~/.cache/pigeon-test-services)
#      PIGEON_TEST_S3_PORT        (default 9490)
#      PIGEON_TEST_S3_HTTPS_PORT  (default 9491)
#      PIGEON_TEST_S3_BUCKETS     buckets that exist from the start, comma separated (default pigeon)
#      PIGEON_TEST_S3_HEAP        (default 256m)
#      PIGEON_TEST_S3_TIMEOUT     seconds to wait for readiness (default 120)
#
# First start: one 59 MB jar. Needs unzip (to compile the customizer below against the jar's libraries).
# S3Mock binds its plain-HTTP connector to all interfaces (only the HTTPS one honours server.address):
# java/LoopbackConnectors.java, loaded through Spring Boot's PropertiesLauncher, binds both to 127.0.0.1.
# S3Mock 4.x reads its HTTP port from com.adobe.testing.s3mock.httpPort; the 3.x property http.port is ignored
# (the server then stays on 9090 and never answers on ours).
# Caveats for tests:
# * Any access key / secret is accepted (signatures are not checked). Region us-east-1. Use path-style
#   addressing (forcePathStyle: true); virtual-host style was never tried.
# * The AWS SDK's default CRC32 checksum headers are accepted and stored; WHEN_REQUIRED is not needed.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/_lib.sh"
svc_init s3

PORT="${PIGEON_TEST_S3_PORT:-9490}"
HTTPS_PORT="${PIGEON_TEST_S3_HTTPS_PORT:-9491}"
BUCKETS="${PIGEON_TEST_S3_BUCKETS:-pigeon}"
HEAP="${PIGEON_TEST_S3_HEAP:-256m}"
SVC_TIMEOUT="${PIGEON_TEST_S3_TIMEOUT:-120}"
SVC_PORTS=("$PORT" "$HTTPS_PORT")
S3MOCK_VERSION=4.12.4

endpoint_lines() {
  echo "PIGEON_TEST_S3=http://127.0.0.1:$PORT"
  echo "PIGEON_TEST_S3_HTTPS=https://127.0.0.1:$HTTPS_PORT"
  echo "PIGEON_TEST_S3_BUCKET=${BUCKETS%%,*}"
}

# both connectors accept, and the plain one answers an S3 request (ListBuckets)
ready() { port_open "$HTTPS_PORT" && case "$(http_get "$PORT" /)" in 'HTTP/1.1 200'*) true ;; *) false ;; esac; }

write_pom() {
  maven_pom s3mock-server <<DEPS
    <!-- the exec jar carries all its libraries inside: take nothing else -->
    <dependency><groupId>com.adobe.testing</groupId><artifactId>s3mock</artifactId><version>$S3MOCK_VERSION</version>
      <classifier>exec</classifier>
      <exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions></dependency>
DEPS
}

# compile java/LoopbackConnectors.java against the Spring and Tomcat jars inside the exec jar
build_customizer() {
  local jar="$1" src="$SERVICES_SRC/java/LoopbackConnectors.java" lib="$SVC_DIR/compile-lib"
  cmp -s "$src" "$SVC_DIR/classes/src/LoopbackConnectors.java" && return 0
  command -v unzip >/dev/null || die "unzip not found (apt-get install unzip)"
  rm -rf "$lib"; mkdir -p "$lib"
  unzip -j -q -o "$jar" 'BOOT-INF/lib/spring-boot-3*.jar' 'BOOT-INF/lib/spring-context-6*.jar' \
    'BOOT-INF/lib/spring-beans-6*.jar' 'BOOT-INF/lib/spring-core-6*.jar' 'BOOT-INF/lib/tomcat-embed-core-*.jar' \
    -d "$lib" || die "could not extract the compile libraries from $jar"
  compile_java "$SVC_DIR/classes" "$(ls "$lib"/*.jar | paste -sd: -)" "$src"
  rm -rf "$lib"
}

launch() {
  write_pom
  mvn_classpath "$SVC_DIR" "$SVC_DIR/classpath.txt"
  local java jar; java="$(find_java17)"; jar="$(cat "$SVC_DIR/classpath.txt")"
  build_customizer "$jar"
  # every start begins with an empty store: objects an earlier run (or a server that died mid-write) left behind
  # must not decide what this run's tests see
  rm -rf "$DATA_DIR/store"
  mkdir -p "$DATA_DIR/store" "$DATA_DIR/tmp"
  rm -rf "$DATA_DIR"/tmp/tomcat* # Tomcat leaves work and docbase dirs behind at every start
  say "starting S3Mock $S3MOCK_VERSION on http://127.0.0.1:$PORT (https $HTTPS_PORT, buckets $BUCKETS)"
  start_bg "$java" -Xmx"$HEAP" -XX:+UseSerialGC -Djava.io.tmpdir="$DATA_DIR/tmp" \
    -Dloader.path="$SVC_DIR/classes" -Dloader.main=com.adobe.testing.s3mock.S3MockApplication \
    -cp "$jar" org.springframework.boot.loader.launch.PropertiesLauncher \
    --spring.main.sources=pigeon.LoopbackConnectors \
    --server.address=127.0.0.1 --server.port="$HTTPS_PORT" --com.adobe.testing.s3mock.httpPort="$PORT" \
    --com.adobe.testing.s3mock.store.root="$DATA_DIR/store" \
    --com.adobe.testing.s3mock.store.retainFilesOnExit=true \
    --com.adobe.testing.s3mock.store.initialBuckets="$BUCKETS"
}

svc_main "$@"
