#!/usr/bin/env bash
# Event log latency: how long after a write's response its event reaches a waiting long poll
# (GET /admin/v1/tenants/{slug}/events?wait=…), or with --webhook a webhook receiver (at a steady
# --rate of writes per second), then one endpoint's delivery throughput. See bench/README.md,
# "Events".
#
# Builds target/release/scimd and scimd-bench (unless --no-build), starts the server on a fresh
# SQLite database (or --database), and has `scimd-bench event-latency` POST users one after
# another, each while a long poll waits for the next event; prints p50/p90/p99/max.
set -euo pipefail

WRITES=1000
WEBHOOK=0
RATE=200
DATABASE=""
LISTEN=127.0.0.1:18081
BUILD=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --writes) WRITES="$2"; shift 2 ;;
    --webhook) WEBHOOK=1; shift ;;
    --rate) RATE="$2"; shift 2 ;;
    --database) DATABASE="$2"; shift 2 ;;
    --listen) LISTEN="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) echo "usage: bench/events.sh [--writes N] [--webhook [--rate N]] [--database URL] [--listen ADDR] [--no-build]"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
SCIMD="$TARGET/release/scimd"
BENCH="$TARGET/release/scimd-bench"
if [[ $BUILD == 1 ]]; then
  cargo build --release -p scimd -p scimd-bench
fi

WORK="$(mktemp -d)"
SERVER=""
cleanup() {
  if [[ -n "$SERVER" ]] && kill -0 "$SERVER" 2>/dev/null; then
    kill "$SERVER"
    wait "$SERVER" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

export SCIMD_DATABASE_URL="${DATABASE:-sqlite://$WORK/scimd.db}"
"$SCIMD" migrate >/dev/null 2>&1
"$SCIMD" tenant create bench >/dev/null
"$SCIMD" tenant set bench --rate-limit 0 >/dev/null
TOKEN="$("$SCIMD" token create --tenant bench --name writer 2>/dev/null)"
EVENTS="$("$SCIMD" token create --tenant bench --name reader --scope events:read 2>/dev/null)"

# The receiver of --webhook is on loopback: the address guard must let it through.
SCIMD_WEBHOOK_ALLOW_PRIVATE=true RUST_LOG="${RUST_LOG:-warn}" "$SCIMD" serve --listen "$LISTEN" >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do
  curl -fsS "http://$LISTEN/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://$LISTEN/healthz" >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }

echo "$(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), ${DATABASE:-sqlite}"
if [[ $WEBHOOK == 1 ]]; then
  "$BENCH" webhook-latency --url "http://$LISTEN" --tenant bench --token "$TOKEN" --scimd "$SCIMD" --writes "$WRITES" --rate "$RATE"
  exit 0
fi
"$BENCH" event-latency --url "http://$LISTEN" --tenant bench --token "$TOKEN" --events-token "$EVENTS" --writes "$WRITES"
