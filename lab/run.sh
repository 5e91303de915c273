#!/usr/bin/env bash
# lab/run.sh - `make run`: bring up the lab PBX and Redis (if they are not up
# already), then run the gateway in the foreground on the example config.
# Ctrl-C stops the gateway, and the lab too if this script started it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LAB_DIR/.."

started_lab=no
if ! ari_up || ! redis_up; then
  started_lab=yes
fi
"$LAB_DIR/up.sh"

cleanup() {
  trap - EXIT INT TERM
  if [ -n "${gw_pid:-}" ]; then kill -TERM "$gw_pid" 2>/dev/null || true; wait "$gw_pid" 2>/dev/null || true; fi
  if [ -n "${sink_pid:-}" ]; then kill -TERM "$sink_pid" 2>/dev/null || true; wait "$sink_pid" 2>/dev/null || true; fi
  if [ "$started_lab" = yes ]; then "$LAB_DIR/down.sh"; fi
}
trap cleanup EXIT INT TERM

mkdir -p "$LAB_STATE"
bin/ticket-sink -listen 127.0.0.1:50052 -file "$LAB_STATE/tickets.jsonl" &
sink_pid=$!
log "ticket sink: 127.0.0.1:50052, tickets in $LAB_STATE/tickets.jsonl"
log "gateway: metrics http://127.0.0.1:9108/metrics  gRPC 127.0.0.1:50051  (Ctrl-C to stop)"
log "try a call: sipp -sf lab/sipp/uac_call.xml -s 12333 -i 127.0.0.1 -p 5070 -m 1 -d 5000 127.0.0.1:5060"
bin/hotline-gw -config configs/gateway.example.yaml &
gw_pid=$!
wait "$gw_pid"
