#!/usr/bin/env bash
# lab/pbx.sh - control the lab Asterisk alone (the root must exist: run lab/up.sh once).
#   lab/pbx.sh start|stop|kill|restart|status
#   lab/pbx.sh cli 'pjsip show endpoints'
# start/restart return only when ARI answers (or fail after HOTLINE_LAB_TIMEOUT s);
# stop/kill/restart fail when no lab Asterisk is running.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_root
[ -f "$LAB_MARKER" ] || die "no lab root at $LAB_ROOT: run lab/up.sh first"

cmd="${1:-status}"
shift || true
case "$cmd" in
  start) ast_start ;;
  # stop, kill and restart fail when no lab Asterisk runs: a fault that
  # touches nothing must not pass for one.
  stop) ast_running || die "stop: no lab asterisk is running (nothing to stop)"; ast_stop ;;
  kill) ast_kill ;;
  restart) ast_running || die "restart: no lab asterisk is running (nothing to restart)"; ast_stop; ast_start ;;
  status)
    if ast_running; then
      if ari_up; then log "asterisk running (pid $(ast_pids | tr '\n' ' ')), ARI up"
      else log "asterisk running (pid $(ast_pids | tr '\n' ' ')), ARI NOT answering"; exit 1; fi
    else
      log "asterisk stopped"; exit 3
    fi ;;
  cli)
    [ "$#" -gt 0 ] || die "usage: $0 cli 'COMMAND'"
    ast_running || die "asterisk is not running"
    ast_cli "$*" ;;
  *) die "usage: $0 {start|stop|kill|restart|status|cli CMD}" ;;
esac
