#!/usr/bin/env bash
# lab/up.sh - bring up the hotline-gw lab: Asterisk 22 (Debian sid chroot) + redis.
# Idempotent: safe to run again; only does what is missing.
#   sudo lab/up.sh            # root needed (debootstrap, chroot, mount)
# Env: HOTLINE_LAB_ROOT (default /var/cache/hotline-lab/root), HOTLINE_LAB_STATE
#      (default /var/lib/hotline-lab), HOTLINE_LAB_TIMEOUT (ARI wait, default 60 s).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_root
start=$SECONDS

ensure_host_packages debootstrap redis-server redis-tools sip-tester curl

build_root() {
  local tmp="$LAB_ROOT.partial" mirror pkgs
  mirror="$(lab_mirror)"
  umount_proc "$tmp"
  rm -rf "$tmp"
  mkdir -p "$(dirname "$LAB_ROOT")"
  log "building Asterisk root ($LAB_SUITE from $mirror) in $tmp - about a minute"
  debootstrap --variant=minbase --include=asterisk,asterisk-modules \
    "$LAB_SUITE" "$tmp" "$mirror" >"$tmp.log" 2>&1 || {
      tail -n 30 "$tmp.log" >&2; die "debootstrap failed (full log: $tmp.log)"; }
  # Music on hold: use Debian's opsound package when the suite has it;
  # otherwise musiconhold.conf falls back to core sounds (see lab/asterisk/musiconhold.conf).
  pkgs="$(cat "$tmp"/var/lib/apt/lists/*_Packages 2>/dev/null || true)"
  if grep -qx 'Package: asterisk-moh-opsound-gsm' <<<"$pkgs"; then
    log "installing asterisk-moh-opsound-gsm in the root"
    chroot "$tmp" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends asterisk-moh-opsound-gsm >>"$tmp.log" 2>&1 ||
      log "warning: asterisk-moh-opsound-gsm install failed; MOH falls back to core sounds"
  fi
  chroot "$tmp" apt-get clean
  date -u +%FT%TZ >"$tmp/.hotline-lab-root-ok"
  umount_proc "$LAB_ROOT"
  rm -rf "$LAB_ROOT"
  mv "$tmp" "$LAB_ROOT"
  rm -f "$tmp.log"
}

if [ -f "$LAB_MARKER" ] && [ -x "$LAB_ROOT/usr/sbin/asterisk" ]; then
  log "root present: $LAB_ROOT"
else
  if ast_running; then ast_stop; fi
  build_root
fi

# Config: always re-copied so edits in lab/asterisk take effect; restart if it changed.
if ! diff -q -r "$LAB_DIR/asterisk" "$LAB_ROOT/etc/asterisk" >/dev/null 2>&1; then
  install_ast_config
  if ast_running; then
    log "asterisk config changed: restarting asterisk"
    ast_stop
  fi
  log "asterisk config installed from lab/asterisk"
fi

# MOH fallback directory (only used when the opsound package is missing).
if [ ! -d "$LAB_ROOT/usr/share/asterisk/moh" ] || [ -z "$(ls -A "$LAB_ROOT/usr/share/asterisk/moh" 2>/dev/null)" ]; then
  mkdir -p "$LAB_ROOT/var/lib/asterisk/moh-lab"
  for src in "$LAB_ROOT"/usr/share/asterisk/sounds/en_US_f_Allison/{demo-congrats,demo-instruct}.gsm; do
    if [ -f "$src" ]; then cp "$src" "$LAB_ROOT/var/lib/asterisk/moh-lab/"; fi
  done
  rmdir "$LAB_ROOT/usr/share/asterisk/moh" 2>/dev/null || true
  ln -sfn /var/lib/asterisk/moh-lab "$LAB_ROOT/usr/share/asterisk/moh"
fi

ast_start

if redis_up; then
  log "redis already answering on 127.0.0.1:$REDIS_PORT"
else
  mkdir -p "$REDIS_DIR"
  log "starting redis on 127.0.0.1:$REDIS_PORT (dir $REDIS_DIR)"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes \
    --dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" \
    --save '' --appendonly yes --appendfsync everysec --protected-mode yes
  for _ in $(seq 1 50); do redis_up && break; sleep 0.1; done
  redis_up || die "redis did not answer PING (log: $REDIS_DIR/redis.log)"
fi

log "lab up in $((SECONDS - start)) s: ARI $ARI_URL ($ARI_USER/$ARI_PASS), SIP udp 127.0.0.1:5060, redis 127.0.0.1:$REDIS_PORT"
