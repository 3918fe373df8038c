# Shared helpers of pigeon's test-server scripts (scripts/services/<name>.sh). Sourced, never run.
#
#   <name>.sh start    install what is missing, start the server in the background in its own session (a Ctrl-C
#                      in the terminal does not reach it), wait until it answers (bounded; on failure the last
#                      40 log lines and exit 1). Idempotent: a running server is reused. On success stdout holds
#                      only the server's PIGEON_TEST_* lines (also written to <service>/endpoint.env); messages
#                      go to stderr.
#   <name>.sh stop     TERM the server's process group, KILL after 30 s. Only the pid of our pid file, and only
#                      when that process is still the one we started (same start time).
#   <name>.sh status   exit 0 and the PIGEON_TEST_* lines when running and answering; 1 not running; 3 running
#                      but not answering (yet)
#   <name>.sh restart  stop + start
#   <name>.sh reset    stop and delete the service's data (downloads stay)
#   <name>.sh logs [N] the last N lines (default 40) of the server's log
#
# Everything lives under $PIGEON_SERVICES_DIR (default ~/.cache/pigeon-test-services):
#   m2/          Maven local repository shared by the JVM services (~/.m2 is never used)
#   <service>/   pom.xml, classpath.txt, conf/, classes/, data/, endpoint.env, run/ (pid, log, lock)
#
# A script sets SVC_PORTS (ports that must be free), SVC_TIMEOUT (seconds to wait for readiness) and defines
#   launch          install/configure, then start_bg the server
#   ready           succeeds once the server answers
#   endpoint_lines  prints the PIGEON_TEST_* lines
#   reset_data      (optional) deletes the data; default rm -rf data/
# and ends with: svc_main "$@"

PIGEON_SERVICES_DIR="${PIGEON_SERVICES_DIR:-$HOME/.cache/pigeon-test-services}"
export PIGEON_SERVICES_DIR
SERVICES_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

die() { echo "[$SVC_NAME] ERROR: $*" >&2; exit 1; }
say() { echo "[$SVC_NAME] $*" >&2; }

# svc_init NAME -> SVC_NAME SVC_DIR RUN_DIR DATA_DIR PID_FILE LOG_FILE ENDPOINT_FILE
svc_init() {
  SVC_NAME="$1"
  SVC_DIR="$PIGEON_SERVICES_DIR/$1"
  RUN_DIR="$SVC_DIR/run"
  DATA_DIR="$SVC_DIR/data"
  PID_FILE="$RUN_DIR/$1.pid"
  LOG_FILE="$RUN_DIR/$1.log"
  ENDPOINT_FILE="$SVC_DIR/endpoint.env"
  mkdir -p "$SVC_DIR" "$RUN_DIR" "$DATA_DIR"
}

# One start/stop/reset of a service at a time (two test runs, or a runner and a lone test file, may race).
# fd 9 holds the lock; start_bg closes it in the server so the lock ends with this script.
svc_lock() {
  exec 9>"$RUN_DIR/lock"
  flock -w 1800 9 || die "another start/stop of $SVC_NAME holds $RUN_DIR/lock"
}

# A Java 17 binary: $PIGEON_JAVA, else the first java 17 found ($JAVA_HOME, PATH, /usr/lib/jvm).
# (OpenSearch 3.x would need 21; every server here is pinned to a line that runs on 17.)
find_java17() {
  local c v
  for c in "${PIGEON_JAVA:-}" "${JAVA_HOME:+$JAVA_HOME/bin/java}" "$(command -v java 2>/dev/null)" /usr/lib/jvm/*17*/bin/java; do
    [ -n "$c" ] && [ -x "$c" ] || continue
    v="$("$c" -version 2>&1 | head -1)"
    case "$v" in *'"17'*) echo "$c"; return 0 ;; esac
  done
  die "no Java 17 found (install openjdk-17-jdk-headless or set PIGEON_JAVA to a java 17 binary)"
}

# javac_for JAVA : the javac next to it (the launchers and the S3Mock customizer are compiled here)
javac_for() {
  local j; j="$(dirname "$1")/javac"
  [ -x "$j" ] || die "javac not found next to $1 (a JDK 17, not only a JRE, is needed)"
  echo "$j"
}

# write_if_changed FILE : stdin to FILE, leaving FILE (and its mtime) alone when the content is the same
write_if_changed() {
  cat > "$1.new"
  if cmp -s "$1.new" "$1"; then rm "$1.new"; else mv "$1.new" "$1"; fi
}

# maven_pom ARTIFACT : a pom of its own at $SVC_DIR/pom.xml whose <dependencies> are stdin (the <dependency> elements)
maven_pom() {
  {
    printf '<project>\n  <modelVersion>4.0.0</modelVersion>\n'
    printf '  <groupId>pigeon.test-services</groupId><artifactId>%s</artifactId><version>1</version>\n' "$1"
    printf '  <packaging>pom</packaging>\n  <dependencies>\n'
    cat
    printf '  </dependencies>\n</project>\n'
  } | write_if_changed "$SVC_DIR/pom.xml"
}

# add_opens PACKAGE... : the --add-opens flags that open these java.base packages to the classpath (Hadoop, Hive and
# Spark reflect into the JDK)
add_opens() {
  local p; for p in "$@"; do printf -- ' --add-opens=java.base/%s=ALL-UNNAMED' "$p"; done
}

# An Elasticsearch-like single node (elasticsearch.sh, opensearch.sh): a green or yellow cluster health answer means
# the node takes requests.
search_ready() { case "$(http_get "$PORT" /_cluster/health)" in *'"status":"green"'*|*'"status":"yellow"'*) return 0 ;; esac; return 1; }

# start_search_node PRODUCT CLASS : resolves the pom's jars, compiles java/CLASS.java (which loads the modules as
# classpath plugins) and starts it on $PORT/$TPORT with $HEAP, data in $DATA_DIR
start_search_node() {
  local product="$1" class="$2" cp java
  mvn_classpath "$SVC_DIR" "$SVC_DIR/classpath.txt"
  cp="$(cat "$SVC_DIR/classpath.txt")"; java="$(find_java17)"
  compile_java "$SVC_DIR/classes" "$cp" "$SERVICES_SRC/java/$class.java"
  mkdir -p "$DATA_DIR/tmp"
  say "starting $product on http://127.0.0.1:$PORT (transport $TPORT, heap $HEAP)"
  start_bg "$java" -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseSerialGC -Djava.io.tmpdir="$DATA_DIR/tmp" \
    -Dlog4j2.formatMsgNoLookups=true -Djava.awt.headless=true \
    -cp "$SVC_DIR/classes:$cp" "$class" "$DATA_DIR" "$PORT" "$TPORT"
}

# mvn_classpath POM_DIR OUT_FILE : resolve the pom's dependencies into $PIGEON_SERVICES_DIR/m2 and write the
# classpath (':'-separated jar paths). Skipped when OUT_FILE is newer than the pom and all its jars exist.
mvn_classpath() {
  local pom_dir="$1" out="$2" ok=1 j
  if [ -s "$out" ] && [ "$out" -nt "$pom_dir/pom.xml" ]; then
    for j in $(tr ':' ' ' < "$out"); do [ -f "$j" ] || { ok=0; break; }; done
    [ "$ok" = 1 ] && return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
  say "resolving Maven dependencies (the first run downloads them from Maven Central; log: $pom_dir/mvn.log)"
  if ! (cd "$pom_dir" && timeout --foreground "${PIGEON_TEST_MVN_TIMEOUT:-1800}" \
        mvn -B -q -Dmaven.repo.local="$PIGEON_SERVICES_DIR/m2" \
        dependency:build-classpath -Dmdep.outputFile="$out.tmp" >"$pom_dir/mvn.log" 2>&1); then
    tail -n 30 "$pom_dir/mvn.log" >&2
    die "Maven dependency resolution failed (or took longer than ${PIGEON_TEST_MVN_TIMEOUT:-1800}s)"
  fi
  mv "$out.tmp" "$out"
}

# compile_java CLASSES_DIR CLASSPATH SOURCE... : javac the sources (from scripts/services/java) into CLASSES_DIR,
# unless the copies kept there are identical (a changed source recompiles).
compile_java() {
  local dir="$1" cp="$2" java javac s same=1; shift 2
  for s in "$@"; do cmp -s "$s" "$dir/src/$(basename "$s")" || same=0; done
  [ "$same" = 1 ] && return 0
  java="$(find_java17)"; javac="$(javac_for "$java")"
  rm -rf "$dir"; mkdir -p "$dir/src"
  "$javac" -nowarn -d "$dir" -cp "$cp" "$@" || { rm -rf "$dir"; die "compiling $* failed"; }
  cp "$@" "$dir/src/"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

port_free_or_die() {
  if port_open "$1"; then die "port $1 is already in use by another process (the *_PORT variables at the top of $0 move it)"; fi
}

# http_get PORT PATH : the raw HTTP/1.0 answer (no curl needed)
http_get() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
   printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3; cat <&3) 2>/dev/null
}

# start time of a process in clock ticks since boot (field 22 of /proc/PID/stat; comm may hold spaces)
proc_start() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }

# pid of the running service, or fail. The pid file holds "pid start-time": a reused pid is not ours.
running_pid() {
  local p t
  [ -f "$PID_FILE" ] || return 1
  read -r p t < "$PID_FILE" || true
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null && [ "$(proc_start "$p")" = "$t" ] || return 1
  echo "$p"
}

# start_bg CMD ARGS... : run in the background as the leader of a new session, log to $LOG_FILE
start_bg() {
  local p
  : > "$LOG_FILE"
  setsid "$@" >>"$LOG_FILE" 2>&1 < /dev/null 9>&- &
  p=$!
  echo "$p $(proc_start "$p")" > "$PID_FILE"
}

log_tail() { echo "----- last lines of $LOG_FILE -----" >&2; tail -n 40 "$LOG_FILE" >&2; }

# wait_ready TIMEOUT : poll `ready` every second; fail with the log tail when the process dies or time is up
wait_ready() {
  local timeout="$1" start now ms
  start=$(date +%s%N)
  while :; do
    if ready >/dev/null 2>&1; then
      ms=$(( ($(date +%s%N) - start) / 1000000 ))
      say "ready after $((ms / 1000)).$(printf %03d $((ms % 1000)) | cut -c1)s (pid $(running_pid), log $LOG_FILE)"; return 0
    fi
    if ! running_pid >/dev/null; then log_tail; die "the server exited before it was ready"; fi
    now=$(date +%s%N)
    if [ $(( (now - start) / 1000000000 )) -ge "$timeout" ]; then
      log_tail; die "not ready after ${timeout}s (still running as pid $(running_pid); '$0 stop' ends it)"
    fi
    sleep 1
  done
}

# stop_svc : TERM the server's process group (sessions of ftp/sftp, children of a JVM), KILL after 30 s
stop_svc() {
  local p target i
  if ! p="$(running_pid)"; then say "not running"; rm -f "$PID_FILE" "$ENDPOINT_FILE"; return 0; fi
  target="$p"
  [ "$(ps -o pgid= -p "$p" | tr -d ' ')" = "$p" ] && target="-$p"
  kill -TERM -- "$target" 2>/dev/null || true
  for i in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 1; done
  if kill -0 "$p" 2>/dev/null; then say "still alive after 30s, sending KILL"; kill -KILL -- "$target" 2>/dev/null || true; sleep 1; fi
  rm -f "$PID_FILE" "$ENDPOINT_FILE"
  say "stopped (pid $p)"
}

# apt_install PKG... : Debian packages, without letting them start their system-wide daemons
apt_install() {
  local created=0
  [ "$(id -u)" = 0 ] || die "installing $* needs root (apt-get)"
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; created=1
  fi
  say "installing Debian packages: $* (log: $SVC_DIR/apt.log)"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >"$SVC_DIR/apt.log" 2>&1; then
    say "apt-get install failed; running apt-get update once and retrying"
    apt-get update >>"$SVC_DIR/apt.log" 2>&1 || true
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >>"$SVC_DIR/apt.log" 2>&1; then
      [ "$created" = 1 ] && rm -f /usr/sbin/policy-rc.d
      tail -n 20 "$SVC_DIR/apt.log" >&2; die "apt-get install failed"
    fi
  fi
  [ "$created" = 1 ] && rm -f /usr/sbin/policy-rc.d
  return 0
}

reset_data() { rm -rf "$DATA_DIR"; }

svc_start() {
  local p want
  want="$(endpoint_lines)"
  if p="$(running_pid)"; then
    if [ -f "$ENDPOINT_FILE" ] && [ "$(cat "$ENDPOINT_FILE")" != "$want" ]; then
      die "already running (pid $p) with other settings:
$(cat "$ENDPOINT_FILE")
stop it first ('$0 stop') to start it with:
$want"
    fi
    if ready >/dev/null 2>&1; then say "already running (pid $p)"
    else say "pid $p is alive but does not answer yet: waiting"; wait_ready "$SVC_TIMEOUT"; fi
  else
    local port
    for port in "${SVC_PORTS[@]}"; do port_free_or_die "$port"; done
    launch
    (umask 077; echo "$want" > "$ENDPOINT_FILE")
    wait_ready "$SVC_TIMEOUT"
  fi
  echo "$want"
}

svc_status() {
  local p
  if ! p="$(running_pid)"; then say "not running"; return 1; fi
  if ready >/dev/null 2>&1; then say "running (pid $p)"; cat "$ENDPOINT_FILE" 2>/dev/null || endpoint_lines; return 0; fi
  say "running (pid $p) but not answering"; return 3
}

svc_main() {
  case "${1:-}" in
    start) svc_lock; svc_start ;;
    stop) svc_lock; stop_svc ;;
    restart) svc_lock; stop_svc; svc_start ;;
    status) svc_status ;;
    reset) svc_lock; stop_svc; reset_data; say "data deleted" ;;
    logs) [ -f "$LOG_FILE" ] && tail -n "${2:-40}" "$LOG_FILE" ;;
    *) echo "usage: $0 start|stop|restart|status|reset|logs [N]   (reset = stop and delete this service's data)" >&2; exit 2 ;;
  esac
}
