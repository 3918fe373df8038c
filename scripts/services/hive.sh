#!/usr/bin/env bash
# Apache Hive 4.0.1 HiveServer2 for pigeon's Hive connector tests, from Maven Central jars: embedded metastore
# on embedded Derby (schema created by DataNucleus: the schema SQL scripts are in no Maven jar), the local file
# system as warehouse, MapReduce in local mode inside the server's JVM (no child JVMs), binary Thrift transport.
#
#   hive.sh start|stop|restart|status|reset            (see _lib.sh)
#   prints  PIGEON_TEST_HIVE=127.0.0.1:<port>  PIGEON_TEST_HIVE_AUTH=NONE|NOSASL
#
# env: PIGEON_SERVICES_DIR      cache (default ~/.cache/pigeon-test-services)
#      PIGEON_TEST_HIVE_PORT    (default 10300)
#      PIGEON_TEST_HIVE_AUTH    NONE (default: SASL PLAIN, any user and password) or NOSASL
#      PIGEON_TEST_HIVE_HEAP    (default 1g)
#      PIGEON_TEST_HIVE_TIMEOUT seconds to wait for readiness (default 300)
#
# First start: ~295 MB of jars, then DataNucleus creates the metastore schema (10-30 s).
# Caveats for tests:
# * hive-driver does not notice an auth mismatch: a PLAIN client against a NOSASL server (or the reverse) hangs in
#   connect/openSession without an error. Put a timeout around connect + openSession.
# * LOAD DATA LOCAL INPATH reads a path on the server's machine: it works here because tests share the disk.
# * OpenCSVSerde reads every column as STRING (declare staging tables STRING and CAST in INSERT … SELECT).
# * Every query that runs a MapReduce job (INSERT, GROUP BY, ORDER BY, even a 2-row INSERT … VALUES) costs 2-5 s,
#   the first one after a start ~15 s; DDL and LOAD DATA take well under a second.
# * No ACID tables (DummyTxnManager), no Tez.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/_lib.sh"
svc_init hive

PORT="${PIGEON_TEST_HIVE_PORT:-10300}"
AUTH="${PIGEON_TEST_HIVE_AUTH:-NONE}"
HEAP="${PIGEON_TEST_HIVE_HEAP:-1g}"
SVC_TIMEOUT="${PIGEON_TEST_HIVE_TIMEOUT:-300}"
SVC_PORTS=("$PORT")
HIVE_VERSION=4.0.1
HADOOP_VERSION=3.3.6
case "$AUTH" in NONE|NOSASL) ;; *) die "PIGEON_TEST_HIVE_AUTH must be NONE or NOSASL, not '$AUTH'" ;; esac

endpoint_lines() {
  echo "PIGEON_TEST_HIVE=127.0.0.1:$PORT"
  echo "PIGEON_TEST_HIVE_AUTH=$AUTH"
}

ready() { port_open "$PORT"; }

write_pom() {
  # log4j 1 / reload4j bindings clash with the log4j 2 that Hive logs through
  local nolog='<exclusion><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId></exclusion>
        <exclusion><groupId>org.slf4j</groupId><artifactId>slf4j-log4j12</artifactId></exclusion>
        <exclusion><groupId>log4j</groupId><artifactId>log4j</artifactId></exclusion>
        <exclusion><groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId></exclusion>'
  maven_pom hive-server2 <<DEPS
    <!-- pac4j (SAML auth) pulls net.shibboleth.tool:xmlsectool, which is not on Maven Central: excluded -->
    <dependency><groupId>org.apache.hive</groupId><artifactId>hive-service</artifactId><version>$HIVE_VERSION</version>
      <exclusions><exclusion><groupId>org.pac4j</groupId><artifactId>*</artifactId></exclusion>
        $nolog</exclusions></dependency>
    <dependency><groupId>org.apache.hive</groupId><artifactId>hive-standalone-metastore-server</artifactId><version>$HIVE_VERSION</version>
      <exclusions>$nolog</exclusions></dependency>
    <dependency><groupId>org.apache.hadoop</groupId><artifactId>hadoop-common</artifactId><version>$HADOOP_VERSION</version>
      <exclusions>$nolog</exclusions></dependency>
    <dependency><groupId>org.apache.hadoop</groupId><artifactId>hadoop-mapreduce-client-jobclient</artifactId><version>$HADOOP_VERSION</version>
      <exclusions>$nolog</exclusions></dependency>
    <dependency><groupId>org.apache.hadoop</groupId><artifactId>hadoop-hdfs-client</artifactId><version>$HADOOP_VERSION</version></dependency>
    <!-- DDL needs org.apache.hadoop.hdfs.protocol.SnapshotException, which lives in the server jar -->
    <dependency><groupId>org.apache.hadoop</groupId><artifactId>hadoop-hdfs</artifactId><version>$HADOOP_VERSION</version>
      <exclusions>$nolog</exclusions></dependency>
DEPS
}

# Every scratch and staging directory points into data/tmp: by default Hive and MapReduce write to /tmp/hive,
# /tmp/hadoop and /tmp/hadoop-<user>.
write_site() {
  local d="$DATA_DIR" t="$DATA_DIR/tmp"
  mkdir -p "$SVC_DIR/conf" "$d/warehouse" "$d/warehouse-ext" "$t"
  write_if_changed "$SVC_DIR/conf/hive-site.xml" <<SITE
<configuration>
  <property><name>hive.server2.thrift.bind.host</name><value>127.0.0.1</value></property>
  <property><name>hive.server2.thrift.port</name><value>$PORT</value></property>
  <property><name>hive.server2.transport.mode</name><value>binary</value></property>
  <property><name>hive.server2.authentication</name><value>$AUTH</value></property>
  <property><name>hive.server2.enable.doAs</name><value>false</value></property>
  <property><name>hive.server2.webui.port</name><value>0</value></property>
  <property><name>hive.metastore.uris</name><value></value></property>
  <property><name>javax.jdo.option.ConnectionURL</name><value>jdbc:derby:;databaseName=$d/metastore_db;create=true</value></property>
  <property><name>javax.jdo.option.ConnectionDriverName</name><value>org.apache.derby.jdbc.EmbeddedDriver</value></property>
  <property><name>hive.metastore.schema.verification</name><value>false</value></property>
  <property><name>datanucleus.schema.autoCreateAll</name><value>true</value></property>
  <property><name>hive.metastore.warehouse.dir</name><value>file://$d/warehouse</value></property>
  <property><name>hive.metastore.warehouse.external.dir</name><value>file://$d/warehouse-ext</value></property>
  <property><name>fs.defaultFS</name><value>file:///</value></property>
  <property><name>hive.execution.engine</name><value>mr</value></property>
  <property><name>mapreduce.framework.name</name><value>local</value></property>
  <property><name>hive.exec.submitviachild</name><value>false</value></property>
  <property><name>hive.exec.submit.local.task.via.child</name><value>false</value></property>
  <property><name>hadoop.tmp.dir</name><value>$t/hadoop</value></property>
  <property><name>mapreduce.jobtracker.staging.root.dir</name><value>$t/mapred-staging</value></property>
  <property><name>mapreduce.cluster.local.dir</name><value>$t/mapred-local</value></property>
  <property><name>hive.exec.scratchdir</name><value>$t/hive</value></property>
  <property><name>hive.exec.local.scratchdir</name><value>$t/local</value></property>
  <property><name>hive.downloaded.resources.dir</name><value>$t/resources</value></property>
  <property><name>hive.querylog.location</name><value>$t/querylog</value></property>
  <property><name>hive.query.results.cache.directory</name><value>$t/resultscache</value></property>
  <property><name>hive.server2.logging.operation.log.location</name><value>$t/oplogs</value></property>
  <property><name>hive.stats.autogather</name><value>false</value></property>
  <property><name>hive.support.concurrency</name><value>false</value></property>
  <property><name>hive.txn.manager</name><value>org.apache.hadoop.hive.ql.lockmgr.DummyTxnManager</value></property>
  <property><name>hive.compactor.initiator.on</name><value>false</value></property>
  <property><name>hive.metastore.event.db.notification.api.auth</name><value>false</value></property>
  <property><name>hive.metastore.housekeeping.threads.on</name><value>false</value></property>
</configuration>
SITE
}

launch() {
  write_pom
  mvn_classpath "$SVC_DIR" "$SVC_DIR/classpath.txt"
  write_site
  local java cp opens
  java="$(find_java17)"
  # The shaded hadoop-client-api clashes with hadoop-common (NoClassDefFoundError
  # org/apache/hadoop/shaded/com/ctc/wstx/io/InputBootstrapper); the log4j 1 bindings clash with log4j 2.
  cp="$SVC_DIR/conf:$(tr ':' '\n' < "$SVC_DIR/classpath.txt" \
        | grep -v -E '/hadoop-client-api-|/slf4j-log4j12-|/log4j/log4j/|reload4j' | paste -sd: -)"
  opens="$(add_opens java.lang java.lang.invoke java.lang.reflect java.io java.net java.nio java.util java.util.concurrent \
           java.util.concurrent.atomic java.util.regex java.text sun.nio.ch sun.nio.cs sun.security.action sun.util.calendar)"
  opens="$opens --add-opens=java.sql/java.sql=ALL-UNNAMED"
  say "starting Apache Hive $HIVE_VERSION HiveServer2 on 127.0.0.1:$PORT (auth $AUTH, heap $HEAP)"
  # shellcheck disable=SC2086
  start_bg "$java" -Xmx"$HEAP" -XX:+UseSerialGC $opens \
    -Djava.io.tmpdir="$DATA_DIR/tmp" -Dderby.system.home="$DATA_DIR" \
    -Dhive.root.logger=console -Dhive.log.level=INFO \
    -cp "$cp" org.apache.hive.service.server.HiveServer2
}

svc_main "$@"
