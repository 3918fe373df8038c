#!/usr/bin/env bash
# Redis for pigeon's distributed-run tests (BullMQ queue of node attempts): Debian's redis-server, run in the
# foreground with its own config (no persistence, 127.0.0.1 only; the system's redis service is never started).
# A Redis that already answers PING on 127.0.0.1:6379 (a developer's, or the machine's) is used as it is: status
# reports it running, so the test runner neither starts nor stops one. Tests keep apart by queue names of their own.
#
#   redis.sh start|stop|restart|status|reset           (see _lib.sh)
#   prints  PIGEON_TEST_REDIS=redis://127.0.0.1:<port>
#
# env: PIGEON_SERVICES_DIR       cache (default ~/.cache/pigeon-test-services)
#      PIGEON_TEST_REDIS_PORT    port of the Redis started here (default: the first free one from 6390)
#      PIGEON_TEST_REDIS_TIMEOUT seconds to wait for readiness (default 30)
#      PIGEON_TEST_REDIS_SHARED_PORT  the port of a Redis to reuse when it answers (default 6379)
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/_lib.sh"
svc_init redis

SVC_TIMEOUT="${PIGEON_TEST_REDIS_TIMEOUT:-30}"
SHARED_PORT="${PIGEON_TEST_REDIS_SHARED_PORT:-6379}"

# ping PORT : succeeds when a Redis answers PING there (no redis-cli needed)
ping() { [ "$( (exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1; printf 'PING\r\n' >&3; timeout 2 head -c 5 <&3) 2>/dev/null)" = '+PONG' ]; }

if [ -n "${PIGEON_TEST_REDIS_PORT:-}" ]; then
  PORT="$PIGEON_TEST_REDIS_PORT"
elif [ -f "$ENDPOINT_FILE" ] && running_pid >/dev/null; then
  PORT="$(sed -n 's/^PIGEON_TEST_REDIS=redis:\/\/127.0.0.1://p' "$ENDPOINT_FILE")"
else
  PORT=6390
  while port_open "$PORT"; do PORT=$((PORT + 1)); done
fi
SVC_PORTS=("$PORT")

endpoint_lines() { echo "PIGEON_TEST_REDIS=redis://127.0.0.1:$PORT"; }

ready() { ping "$PORT"; }

launch() {
  if [ ! -x /usr/bin/redis-server ]; then apt_install redis-server; fi
  mkdir -p "$DATA_DIR"
  cat > "$SVC_DIR/redis.conf" <<CONF
bind 127.0.0.1
port $PORT
protected-mode yes
daemonize no
save ""
appendonly no
dir $DATA_DIR
CONF
  say "starting redis-server on 127.0.0.1:$PORT"
  start_bg /usr/bin/redis-server "$SVC_DIR/redis.conf"
}

# The Redis of 127.0.0.1:6379 is someone else's: reused, never started or stopped here.
if [ -z "${PIGEON_TEST_REDIS_PORT:-}" ] && ! running_pid >/dev/null && ping "$SHARED_PORT"; then
  case "${1:-}" in
    start|status) say "using the Redis that answers on 127.0.0.1:$SHARED_PORT"; echo "PIGEON_TEST_REDIS=redis://127.0.0.1:$SHARED_PORT"; exit 0 ;;
    stop|restart|reset) say "127.0.0.1:$SHARED_PORT is not a Redis this script started: left alone"; exit 0 ;;
  esac
fi

svc_main "$@"
