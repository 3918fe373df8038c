#!/usr/bin/env bash
# SFTP server for pigeon's SFTP connector tests: OpenSSH sshd from Debian (openssh-server), run in the
# foreground with its own config, host keys and pid file (the system's sshd and /etc/ssh are neither used nor
# touched; only /run/sshd, sshd's privilege-separation directory, is created if missing). SFTP only
# (internal-sftp), no shell, no forwarding. Password and key login.
# The user is a system account (sshd only logs in those) this script creates once with useradd (shell nologin);
# stop and reset leave it. It is chrooted to <cache>/sftp/data/chroot and starts in /data, the writable directory
# ('/' itself must be root-owned). sshd refuses a chroot with a group/world-writable or non-root component on its
# path (such as /tmp): then the chroot goes to /var/lib/pigeon-test-services/sftp-chroot (or PIGEON_TEST_SFTP_CHROOT).
# Needs root (apt-get, useradd, sshd).
#
#   sftp.sh start|stop|restart|status|reset            (see _lib.sh)
#   prints  PIGEON_TEST_SFTP=sftp://<user>:<password>@127.0.0.1:<port>/data
#           PIGEON_TEST_SFTP_KEY=<private key file (ed25519, no passphrase) that logs in the same user>
#
# env: PIGEON_SERVICES_DIR      cache (default ~/.cache/pigeon-test-services)
#      PIGEON_TEST_SFTP_PORT    (default 2422)
#      PIGEON_TEST_SFTP_USER    (default pigeon)   PIGEON_TEST_SFTP_PASSWORD (default pigeon; URL-safe characters)
#      PIGEON_TEST_SFTP_CHROOT  (default <cache>/sftp/data/chroot, see above)
#      PIGEON_TEST_SFTP_TIMEOUT seconds to wait for readiness (default 30)
#
# Caveat for tests: SFTP v3 rename onto an existing file FAILS (code 4); the posix-rename@openssh.com extension
# (ssh2-sftp-client posixRename) replaces the target atomically.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/_lib.sh"
svc_init sftp

PORT="${PIGEON_TEST_SFTP_PORT:-2422}"
SFTP_USER="${PIGEON_TEST_SFTP_USER:-pigeon}"
SFTP_PASSWORD="${PIGEON_TEST_SFTP_PASSWORD:-pigeon}"
SVC_TIMEOUT="${PIGEON_TEST_SFTP_TIMEOUT:-30}"
SVC_PORTS=("$PORT")
CONF="$SVC_DIR/conf"
FALLBACK_CHROOT=/var/lib/pigeon-test-services/sftp-chroot

endpoint_lines() {
  echo "PIGEON_TEST_SFTP=sftp://$SFTP_USER:$SFTP_PASSWORD@127.0.0.1:$PORT/data"
  echo "PIGEON_TEST_SFTP_KEY=$CONF/client_ed25519"
}

ready() { [ "$( (exec 3<>"/dev/tcp/127.0.0.1/$PORT" || exit 1; head -c 7 <&3) 2>/dev/null)" = "SSH-2.0" ]; }

# chroot_path_ok DIR: every component from / to DIR root-owned and not group/world-writable
chroot_path_ok() {
  local cur="" part owner mode
  BAD_COMPONENT=""
  for part in $(echo "$1" | tr '/' ' '); do
    cur="$cur/$part"
    owner="$(stat -c %u "$cur")"; mode="$(stat -c %a "$cur")"
    if [ "$owner" != 0 ] || [ $(( 8#$mode & 8#022 )) -ne 0 ]; then BAD_COMPONENT="$cur"; return 1; fi
  done
}

configure() {
  [ "$(id -u)" = 0 ] || die "must run as root (apt-get, useradd, sshd)"
  if [ ! -x /usr/sbin/sshd ] || [ ! -x /usr/lib/openssh/sftp-server ]; then
    apt_install openssh-server openssh-sftp-server
  fi
  local chroot="${PIGEON_TEST_SFTP_CHROOT:-$DATA_DIR/chroot}"
  mkdir -p "$CONF" "$chroot/data"
  chown root:root "$chroot"; chmod 755 "$chroot"
  if ! chroot_path_ok "$chroot"; then
    [ -n "${PIGEON_TEST_SFTP_CHROOT:-}" ] && die "PIGEON_TEST_SFTP_CHROOT=$chroot: $BAD_COMPONENT is not root-owned or is group/world-writable (sshd refuses it)"
    say "$BAD_COMPONENT cannot be on a chroot path (sshd wants root-owned, not group/world-writable); using $FALLBACK_CHROOT"
    chroot="$FALLBACK_CHROOT"
    mkdir -p "$chroot/data"; chown root:root "$(dirname "$chroot")" "$chroot"; chmod 755 "$(dirname "$chroot")" "$chroot"
  fi
  echo "$chroot" > "$CONF/chroot-path"
  if ! id "$SFTP_USER" >/dev/null 2>&1; then
    say "creating system user $SFTP_USER"
    useradd --no-create-home --home-dir /data --shell /usr/sbin/nologin "$SFTP_USER"
  fi
  echo "$SFTP_USER:$SFTP_PASSWORD" | chpasswd
  chown "$SFTP_USER:" "$chroot/data"
  [ -s "$CONF/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$CONF/ssh_host_ed25519_key"
  [ -s "$CONF/ssh_host_rsa_key" ] || ssh-keygen -q -t rsa -b 3072 -N '' -f "$CONF/ssh_host_rsa_key"
  [ -s "$CONF/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "$SFTP_USER@pigeon-test" -f "$CONF/client_ed25519"
  mkdir -p "$CONF/authorized_keys"; cp "$CONF/client_ed25519.pub" "$CONF/authorized_keys/$SFTP_USER"
  mkdir -p /run/sshd; chmod 755 /run/sshd
  cat > "$CONF/sshd_config" <<SSHD
Port $PORT
ListenAddress 127.0.0.1
HostKey $CONF/ssh_host_ed25519_key
HostKey $CONF/ssh_host_rsa_key
PidFile $RUN_DIR/sshd.pid
UsePAM no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
# the key file sits under the (possibly 0700) cache dir the user cannot traverse: sshd reads it as root
AuthorizedKeysFile none
AuthorizedKeysCommand /bin/cat $CONF/authorized_keys/%u
AuthorizedKeysCommandUser root
StrictModes no
PermitRootLogin no
AllowUsers $SFTP_USER
AllowTcpForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTTY no
MaxStartups 50:30:100
MaxSessions 20
LogLevel INFO
Subsystem sftp internal-sftp
Match User $SFTP_USER
  ChrootDirectory $chroot
  ForceCommand internal-sftp -d /data
SSHD
  /usr/sbin/sshd -t -f "$CONF/sshd_config" || die "sshd rejected the generated config"
}

launch() {
  configure
  say "starting OpenSSH sftp on 127.0.0.1:$PORT, user $SFTP_USER"
  # -D: foreground (the pid is ours), -e: log to stderr (our log file)
  start_bg /usr/sbin/sshd -D -e -f "$CONF/sshd_config"
}

reset_data() {
  if [ -s "$CONF/chroot-path" ]; then rm -rf "$(cat "$CONF/chroot-path")"; rm -f "$CONF/chroot-path"; fi
  rm -rf "$DATA_DIR"
  say "(the system user $SFTP_USER stays)"
}

svc_main "$@"
