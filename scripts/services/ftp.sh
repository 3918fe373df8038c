#!/usr/bin/env bash
# FTP server for pigeon's FTP connector tests: ProFTPD 1.3.8 from Debian (proftpd-core, plus proftpd-mod-crypto
# for explicit FTPS), run in the foreground with its own config (the system's proftpd service is never used).
# One virtual user from a private AuthUserFile (no system account), chrooted to <cache>/ftp/data/root.
# Explicit FTPS (AUTH TLS, TLS 1.2/1.3) is offered, not required; the self-signed certificate is for IP 127.0.0.1.
# Needs root (apt-get on the first start; sessions run as the user who started the server, hence RootLogin on).
#
#   ftp.sh start|stop|restart|status|reset             (see _lib.sh)
#   prints  PIGEON_TEST_FTP=ftp://<user>:<password>@127.0.0.1:<port>  PIGEON_TEST_FTP_CA=<certificate file>
#
# env: PIGEON_SERVICES_DIR     cache (default ~/.cache/pigeon-test-services)
#      PIGEON_TEST_FTP_PORT    (default 2321)
#      PIGEON_TEST_FTP_PASV_MIN, PIGEON_TEST_FTP_PASV_MAX   passive data ports (default 30100-30119)
#      PIGEON_TEST_FTP_USER    (default pigeon)   PIGEON_TEST_FTP_PASSWORD (default pigeon; URL-safe characters)
#      PIGEON_TEST_FTP_TIMEOUT seconds to wait for readiness (default 30)
#
# Caveat for tests: RNFR/RNTO onto an existing file replaces it (AllowOverwrite on).
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/_lib.sh"
svc_init ftp

PORT="${PIGEON_TEST_FTP_PORT:-2321}"
PASV_MIN="${PIGEON_TEST_FTP_PASV_MIN:-30100}"
PASV_MAX="${PIGEON_TEST_FTP_PASV_MAX:-30119}"
FTP_USER="${PIGEON_TEST_FTP_USER:-pigeon}"
FTP_PASSWORD="${PIGEON_TEST_FTP_PASSWORD:-pigeon}"
SVC_TIMEOUT="${PIGEON_TEST_FTP_TIMEOUT:-30}"
SVC_PORTS=("$PORT")
CONF="$SVC_DIR/conf"

endpoint_lines() {
  echo "PIGEON_TEST_FTP=ftp://$FTP_USER:$FTP_PASSWORD@127.0.0.1:$PORT"
  echo "PIGEON_TEST_FTP_CA=$CONF/tls.crt"
}

ready() { [ "$( (exec 3<>"/dev/tcp/127.0.0.1/$PORT" || exit 1; head -c 3 <&3) 2>/dev/null)" = 220 ]; }

install() {
  [ "$(id -u)" = 0 ] || die "must run as root (apt-get, chroot)"
  if [ ! -x /usr/sbin/proftpd ] || [ ! -f /usr/lib/proftpd/mod_tls.so ] || ! command -v openssl >/dev/null; then
    # openssl only when missing: naming an installed package makes apt-get upgrade it (and libssl3)
    if command -v openssl >/dev/null; then apt_install proftpd-core proftpd-mod-crypto
    else apt_install proftpd-core proftpd-mod-crypto openssl; fi
  fi
}

configure() {
  mkdir -p "$CONF" "$DATA_DIR/root"
  if [ ! -s "$CONF/tls.key" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
      -keyout "$CONF/tls.key" -out "$CONF/tls.crt" >/dev/null 2>&1 || die "openssl could not make a certificate"
    chmod 600 "$CONF/tls.key"
  fi
  # /etc/passwd format; the session runs with the uid/gid of whoever started the server
  (umask 077; printf '%s:%s:%s:%s::%s:/bin/false\n' "$FTP_USER" "$(openssl passwd -6 "$FTP_PASSWORD")" \
    "$(id -u)" "$(id -g)" "$DATA_DIR/root" > "$CONF/ftpd.passwd")
  printf '%s:x:%s:\n' "$FTP_USER" "$(id -g)" > "$CONF/ftpd.group"
  cat > "$CONF/proftpd.conf" <<CONF
ServerName            "pigeon test ftp"
ServerType            standalone
DefaultServer         on
UseIPv6               off
DefaultAddress        127.0.0.1
SocketBindTight       on
Port                  $PORT
PassivePorts          $PASV_MIN $PASV_MAX
MaxInstances          30
User                  nobody
Group                 nogroup
PidFile               $RUN_DIR/proftpd.pid
ScoreboardFile        $RUN_DIR/proftpd.scoreboard
DelayTable            none
WtmpLog               off
UseReverseDNS         off
TransferLog           $RUN_DIR/xfer.log
AuthOrder             mod_auth_file.c
AuthUserFile          $CONF/ftpd.passwd
AuthGroupFile         $CONF/ftpd.group
RequireValidShell     off
RootLogin             on
DefaultRoot           ~
Umask                 022
AllowOverwrite        on
AllowStoreRestart     on
TimeoutIdle           600
<Limit SITE_CHMOD>
  AllowAll
</Limit>
ModulePath            /usr/lib/proftpd
LoadModule            mod_tls.c
<IfModule mod_tls.c>
  TLSEngine                 on
  TLSRequired               off
  TLSProtocol               TLSv1.2 TLSv1.3
  TLSRSACertificateFile     $CONF/tls.crt
  TLSRSACertificateKeyFile  $CONF/tls.key
  TLSOptions                NoSessionReuseRequired
  TLSVerifyClient           off
  TLSLog                    $RUN_DIR/tls.log
</IfModule>
CONF
  /usr/sbin/proftpd -t -c "$CONF/proftpd.conf" >"$RUN_DIR/configtest.log" 2>&1 \
    || { cat "$RUN_DIR/configtest.log" >&2; die "proftpd rejected the generated config"; }
}

launch() {
  install
  configure
  say "starting ProFTPD on 127.0.0.1:$PORT (passive $PASV_MIN-$PASV_MAX), user $FTP_USER"
  # -n: stay in the foreground (the pid is ours); -q: no banner
  start_bg /usr/sbin/proftpd -n -q -c "$CONF/proftpd.conf"
}

svc_main "$@"
