#!/usr/bin/env bash
# Peak memory of `scimd serve` under concurrent sign-ins with unknown emails (each one Argon2id,
# 19 MiB): builds the release binary, starts it on 127.0.0.1 with a fresh SQLite database,
# registers an authorization-code client, fires CONCURRENCY sign-ins at once from SOURCES loopback
# addresses (bounded: one round, curl --max-time), and samples VmHWM/VmRSS from /proc/PID/status. Prints figures, asserts nothing.
set -euo pipefail
CONCURRENCY=${CONCURRENCY:-200}
PORT=${PORT:-18089}
cd "$(dirname "$0")/.."
cargo build --release -p scimd >/dev/null
BIN=target/release/scimd
DIR=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DIR"' EXIT
DB="sqlite://$DIR/scimd.db"
"$BIN" --database "$DB" tenant create acme >/dev/null
CLIENT=$("$BIN" --database "$DB" client create --tenant acme --grant authorization_code \
  --redirect-uri http://127.0.0.1:9/cb --name bench | sed -E 's/.*"client_id":"([^"]+)".*/\1/')
"$BIN" --database "$DB" serve --listen "127.0.0.1:$PORT" >/dev/null 2>&1 &
PID=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
rss() { awk '/VmHWM|VmRSS/ {printf "%s %s %s  ", $1, $2, $3}' "/proc/$PID/status"; echo; }
echo "before: $(rss)"
AUTH="http://127.0.0.1:$PORT/oauth2/authorize?response_type=code&client_id=$CLIENT&redirect_uri=http://127.0.0.1:9/cb"
JAR="$DIR/cookies"
CSRF=$(curl -fsS -c "$JAR" "$AUTH" | sed -nE 's/.*name="csrf" value="([^"]+)".*/\1/p' | head -1)
( while kill -0 "$PID" 2>/dev/null; do rss >>"$DIR/samples"; sleep 0.2; done ) &
SAMPLER=$!
# The sign-in throttle allows 20 failures per client address in 15 minutes: the attempts come from
# SOURCES loopback addresses (127.0.0.2 …), so that every one of them reaches the password hash.
SOURCES=${SOURCES:-50}
CURLS=()
for i in $(seq 1 "$CONCURRENCY"); do
  curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 -b "$JAR" --interface "127.0.0.$((2 + i % SOURCES))" \
    --data-urlencode "response_type=code" --data-urlencode "client_id=$CLIENT" \
    --data-urlencode "redirect_uri=http://127.0.0.1:9/cb" --data-urlencode "csrf=$CSRF" \
    --data-urlencode "action=login" --data-urlencode "email=nobody$i@example.com" \
    --data-urlencode "password=wrong" "http://127.0.0.1:$PORT/oauth2/authorize" >>"$DIR/codes" &
  CURLS+=($!)
done
# Only the sign-ins: the server and the sampler are background jobs too.
wait "${CURLS[@]}" 2>/dev/null || true
sleep 1
kill "$SAMPLER" 2>/dev/null || true
echo "after:  $(rss)"
echo "statuses: $(sort "$DIR/codes" | uniq -c | tr '\n' ' ')"
echo "peak (VmHWM): $(awk '/VmHWM/ {print $2, $3}' "/proc/$PID/status")"
