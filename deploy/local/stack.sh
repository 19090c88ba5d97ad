#!/usr/bin/env bash
# The full local stack without Docker: a real Kafka broker, the declared topics, one worker on embedded ClickHouse.
#
#   deploy/local/stack.sh up     start (idempotent); prints the broker address and the worker's /metrics URL
#   deploy/local/stack.sh down   stop the worker, then the broker
#
# State lives under .local/ (broker data, embedded ClickHouse, logs). Settings come from PLATESTREAM_* variables.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
bin="$repo/.venv/bin"
run="$repo/.local"
mkdir -p "$run"

up() {
  bootstrap=$("$here/kafka.sh" start "$run/kafka")
  export PLATESTREAM_KAFKA_BOOTSTRAP="$bootstrap"
  export PLATESTREAM_WEB_PORT="${PLATESTREAM_WEB_PORT:-6066}"
  "$bin/platestream" topics create
  # Control events (hot list, holds, verifications) must be signed: the API signs with this key, the worker
  # trusts its public half (docs/security.md).
  [ -f "$run/control.key" ] || "$bin/platestream" keys control-new "$run/control.key"
  export PLATESTREAM_CONTROL_KEYS_FILE="$run/control.key.pub"
  if [ -f "$run/worker.pid" ] && kill -0 "$(cat "$run/worker.pid")" 2>/dev/null; then
    echo "worker already running (pid $(cat "$run/worker.pid"))"
  else
    nohup "$bin/platestream" worker >"$run/worker.log" 2>&1 &
    echo $! >"$run/worker.pid"
    for _ in $(seq 1 120); do
      curl -fsS "http://127.0.0.1:$PLATESTREAM_WEB_PORT/readyz" >/dev/null 2>&1 && break
      kill -0 "$(cat "$run/worker.pid")" 2>/dev/null || { tail -20 "$run/worker.log"; exit 1; }
      sleep 0.5
    done
  fi
  cat <<MSG
Kafka:    $bootstrap            (export PLATESTREAM_KAFKA_BOOTSTRAP=$bootstrap)
Worker:   http://127.0.0.1:$PLATESTREAM_WEB_PORT/metrics  and  /readyz   (log: .local/worker.log)
API:      PLATESTREAM_CONTROL_SIGNING_KEY_FILE=.local/control.key plus your identity provider's settings,
          then .venv/bin/platestream api   (docs/security.md)
Send reads:  PLATESTREAM_KAFKA_BOOTSTRAP=$bootstrap .venv/bin/platestream produce --reads 100000
MSG
}

down() {
  if [ -f "$run/worker.pid" ]; then
    pid=$(cat "$run/worker.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$run/worker.pid"
  fi
  "$here/kafka.sh" stop "$run/kafka"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
