#!/usr/bin/env bash
# lab/lib.sh - shared helpers for the hotline-gw lab PBX scripts (up.sh, down.sh, pbx.sh).
# Sourced, not executed. Callers set `set -euo pipefail` themselves.

# Variables below are used by the scripts that source this file.
# shellcheck disable=SC2034
LAB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LAB_ROOT="${HOTLINE_LAB_ROOT:-/var/cache/hotline-lab/root}"
LAB_STATE="${HOTLINE_LAB_STATE:-/var/lib/hotline-lab}"
LAB_SUITE="${HOTLINE_LAB_SUITE:-sid}"
LAB_MARKER="$LAB_ROOT/.hotline-lab-root-ok"
ARI_URL="${HOTLINE_ARI_URL:-http://127.0.0.1:8088/ari}"
ARI_USER="${HOTLINE_ARI_USER:-hotline}"
ARI_PASS="${HOTLINE_ARI_PASS:-hotline-lab}"
REDIS_PORT="${HOTLINE_REDIS_PORT:-6379}"
REDIS_DIR="$LAB_STATE/redis"
AST_LOG="$LAB_STATE/asterisk-console.log"
AST_TIMEOUT="${HOTLINE_LAB_TIMEOUT:-60}"

log() { printf '[lab] %s\n' "$*"; }
die() { printf '[lab] ERROR: %s\n' "$*" >&2; exit 1; }

need_root() { [ "$(id -u)" -eq 0 ] || die "must run as root"; }

# Debian mirror from the host's apt sources (deb822 first, then one-line format).
# Never hard-coded: CI and developer machines use whatever apt is configured with.
lab_mirror() {
  local uri=""
  if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
    # first URIs: of a stanza that is not the security archive
    uri="$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
      /etc/apt/sources.list.d/*.sources)"
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri="$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($i !~ /security/) { print $i; exit } else break } }' \
      /etc/apt/sources.list)"
  fi
  [ -n "$uri" ] || die "cannot find a Debian mirror in /etc/apt/sources.list{,.d}"
  printf '%s\n' "${uri%/}"
}

# Install host packages (apt-get update only when something is missing).
ensure_host_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing host packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

proc_mounted() { mountpoint -q "$1/proc"; }

mount_proc() {
  proc_mounted "$LAB_ROOT" || mount -t proc proc "$LAB_ROOT/proc"
}

umount_proc() {
  local dir="${1:-$LAB_ROOT}"
  if [ -d "$dir/proc" ] && proc_mounted "$dir"; then
    umount "$dir/proc" 2>/dev/null || umount -l "$dir/proc"
  fi
}

# PIDs of asterisk processes running from the lab root (checked via /proc/PID/root).
ast_pids() {
  local pid root
  for pid in $(pgrep -x asterisk 2>/dev/null || true); do
    root="$(readlink "/proc/$pid/root" 2>/dev/null || true)"
    [ "$root" = "$LAB_ROOT" ] && printf '%s\n' "$pid"
  done
  return 0
}

ast_running() { [ -n "$(ast_pids)" ]; }

ast_cli() { chroot "$LAB_ROOT" /usr/sbin/asterisk -rx "$*"; }

ari_up() {
  curl -fsS -m 3 -u "$ARI_USER:$ARI_PASS" "$ARI_URL/asterisk/info" >/dev/null 2>&1
}

wait_ari() {
  local deadline=$((SECONDS + AST_TIMEOUT))
  while ! ari_up; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      printf '[lab] ERROR: ARI did not answer at %s within %ss. Tail of %s:\n' \
        "$ARI_URL/asterisk/info" "$AST_TIMEOUT" "$AST_LOG" >&2
      tail -n 40 "$AST_LOG" >&2 2>/dev/null || true
      tail -n 10 "$LAB_ROOT/var/log/asterisk/messages.log" >&2 2>/dev/null || true
      exit 1
    fi
    if ! ast_running; then
      printf '[lab] ERROR: Asterisk exited during startup. Tail of %s:\n' "$AST_LOG" >&2
      tail -n 40 "$AST_LOG" >&2 2>/dev/null || true
      exit 1
    fi
    sleep 0.3
  done
}

# Copy lab/asterisk/* into the root's /etc/asterisk, replacing the distro set.
install_ast_config() {
  local etc="$LAB_ROOT/etc/asterisk"
  if [ ! -d "$LAB_ROOT/etc/asterisk.distro" ]; then
    cp -a "$etc" "$LAB_ROOT/etc/asterisk.distro"   # keep the distro samples for reference
  fi
  find "$etc" -mindepth 1 -delete
  cp "$LAB_DIR"/asterisk/*.conf "$etc/"
  chmod 0644 "$etc"/*.conf
}

ast_prepare_dirs() {
  local d
  # var/spool/asterisk/recording holds ARI recordings (quality inspection).
  for d in var/lib/asterisk var/log/asterisk var/spool/asterisk var/spool/asterisk/recording var/cache/asterisk run/asterisk; do
    mkdir -p "$LAB_ROOT/$d"
    chroot "$LAB_ROOT" chown -R asterisk:asterisk "/$d"
  done
  # Fast, local-only DNS: a slow resolver stalls PJSIP at load time.
  rm -f "$LAB_ROOT/etc/resolv.conf"
  printf 'nameserver 127.0.0.1\n' >"$LAB_ROOT/etc/resolv.conf"
  mkdir -p "$LAB_STATE"
}

# close_inherited_fds closes every descriptor above 2 in the current
# (sub)shell. A daemon started from a session that holds the lab lock
# (`flock /tmp/hotline-lab.lock ...` passes the lock's descriptor down to
# every child) would otherwise keep the lock after the session ended.
close_inherited_fds() {
  local fd
  for fd in /proc/"$BASHPID"/fd/*; do
    fd="${fd##*/}"
    [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
  done
  return 0
}

ast_start() {
  if ast_running; then
    log "asterisk already running (pid $(ast_pids | tr '\n' ' '))"
  else
    mount_proc
    ast_prepare_dirs
    log "starting asterisk (console log: $AST_LOG)"
    : >"$AST_LOG"
    # -f: foreground (we background it); runuser/rungroup come from asterisk.conf.
    # setsid keeps it out of the caller's process group (CI job control).
    # The subshell closes inherited descriptors (the lab lock) first.
    (close_inherited_fds; exec setsid chroot "$LAB_ROOT" /usr/sbin/asterisk -f \
      </dev/null >>"$AST_LOG" 2>&1) &
    disown || true
  fi
  wait_ari
  log "ARI is up at $ARI_URL"
}

# ast_kill: SIGKILL Asterisk, as a crash would (fault tests). Fails when no
# lab Asterisk runs (a kill that kills nothing must not pass for a crash) or
# when it is still there afterwards.
ast_kill() {
  local pids
  pids="$(ast_pids | tr '\n' ' ')"
  [ -n "${pids// /}" ] || die "kill: no lab asterisk is running (nothing to kill)"
  log "killing asterisk (SIGKILL, pid $pids)"
  # shellcheck disable=SC2086
  kill -9 $pids 2>/dev/null || true
  for _ in $(seq 1 50); do
    ast_running || break
    sleep 0.1
  done
  ast_running && die "kill: asterisk still running after SIGKILL (pid $(ast_pids | tr '\n' ' '))"
  for _ in $(seq 1 25); do
    ari_up || break
    sleep 0.2
  done
  ari_up && die "kill: ARI still answers at $ARI_URL after asterisk was killed"
  log "asterisk killed"
}

# ast_stop: stop Asterisk (core stop now, then kill); fails if it is still
# there afterwards. Nothing running is fine here (down.sh is idempotent);
# pbx.sh stop|restart refuse it.
ast_stop() {
  if ! ast_running; then
    log "asterisk not running"
    return 0
  fi
  log "stopping asterisk"
  ast_cli 'core stop now' >/dev/null 2>&1 || true
  for _ in $(seq 1 50); do
    ast_running || break
    sleep 0.2
  done
  if ast_running; then
    log "asterisk did not stop, killing"
    # shellcheck disable=SC2046
    kill $(ast_pids) 2>/dev/null || true
    sleep 1
    if ast_running; then
      # shellcheck disable=SC2046
      kill -9 $(ast_pids) 2>/dev/null || true
    fi
  fi
  ast_running && die "stop: asterisk still running (pid $(ast_pids | tr '\n' ' '))"
  # wait for ports to be released
  for _ in $(seq 1 25); do
    ari_up || break
    sleep 0.2
  done
  ari_up && die "stop: ARI still answers at $ARI_URL after asterisk stopped"
  log "asterisk stopped"
}

redis_up() {
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG
}
