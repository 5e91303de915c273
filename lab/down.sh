#!/usr/bin/env bash
# lab/down.sh - stop the lab: Asterisk, the redis that lab/up.sh started, unmount proc.
# Idempotent. The root in $HOTLINE_LAB_ROOT is kept (rm -rf it to rebuild from scratch).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_root
if [ -d "$LAB_ROOT" ]; then
  ast_stop
  umount_proc "$LAB_ROOT"
fi

pidfile="$REDIS_DIR/redis.pid"
if [ -f "$pidfile" ]; then
  pid="$(cat "$pidfile")"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q redis "/proc/$pid/comm" 2>/dev/null; then
    log "stopping redis (pid $pid)"
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
else
  log "no lab redis to stop"
fi
log "lab down"
