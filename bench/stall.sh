#!/usr/bin/env bash
# One tenant's large PATCHes against another tenant's creates (the hardening issue, item 1): a user
# of tenant `attacker` with --values emails is PATCHed without pause by --ops operations
# `replace emails[value eq "s{i}@a.example"].type` (by default the largest request the server
# accepts: 1,000 values, 1,000 operations), while tenant `victim` POSTs users. Prints the victim's
# requests/s, p50 and p99 alone and under the attack, and the attack's own rate. Asserts nothing;
# traffic only to 127.0.0.1; bounded by --duration (each phase) and wrk's own time limit.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DURATION=20
VALUES=1000
OPS=1000
ATTACKERS=8
VICTIMS=4
PORT=18089
BUILD=1

usage() {
  cat <<'USAGE'
bench/stall.sh [--duration SECONDS] [--values N] [--ops N] [--attackers N] [--victims N] [--port P] [--no-build]
  --duration   seconds per phase (victim alone, then victim under attack; default 20, at most 25)
  --values     emails of the attacked user (default 1000, the default max_attribute_values)
  --ops        operations per PATCH (default 1000, the default max_patch_operations)
  --attackers  wrk connections PATCHing (default 8)
  --victims    wrk connections POSTing users in the other tenant (default 4)
  --no-build   use target/release/scimd as it is
USAGE
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --values) VALUES="$2"; shift 2 ;;
    --ops) OPS="$2"; shift 2 ;;
    --attackers) ATTACKERS="$2"; shift 2 ;;
    --victims) VICTIMS="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
# Two phases of at most 25 s each, plus setup: the whole run stays near a minute.
(( DURATION > 25 )) && DURATION=25

command -v wrk >/dev/null || { echo "wrk is needed (apt-get install -y wrk)" >&2; exit 1; }
# SCIMD=path/to/scimd runs another build (and skips the release build).
if [[ -z "${SCIMD:-}" ]]; then
  if (( BUILD )); then
    (cd "$ROOT" && cargo build --release --locked -p scimd)
  fi
  SCIMD="$ROOT/target/release/scimd"
fi
DIR="$(mktemp -d)"
SERVER=""
cleanup() {
  if [[ -n "$SERVER" ]]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$DIR"
}
trap cleanup EXIT

export SCIMD_DATABASE_URL="sqlite://$DIR/scimd.db"
BASE="http://127.0.0.1:$PORT"
"$SCIMD" migrate >/dev/null
for t in attacker victim; do
  "$SCIMD" tenant create "$t" >/dev/null
  # The per-credential rate limit would throttle the attack itself: the benchmark measures the
  # server's isolation between tenants, not the limiter.
  "$SCIMD" tenant set "$t" --rate-limit 0 >/dev/null
done
ATTACK_TOKEN="$("$SCIMD" token create --tenant attacker --name stall)"
VICTIM_TOKEN="$("$SCIMD" token create --tenant victim --name stall)"

"$SCIMD" serve --listen "127.0.0.1:$PORT" --log-retention 1h >"$DIR/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do
  curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

# The attacked user: --values emails s0..s{n-1}@a.example.
python3 - "$VALUES" >"$DIR/user.json" <<'PY'
import json, sys
n = int(sys.argv[1])
print(json.dumps({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "target",
                  "emails": [{"value": f"s{i}@a.example", "type": "other"} for i in range(n)]}))
PY
USER_ID="$(curl -fsS -X POST "$BASE/tenants/attacker/scim/v2/Users" \
  -H "Authorization: Bearer $ATTACK_TOKEN" -H "Content-Type: application/scim+json" \
  --data-binary @"$DIR/user.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"

export BENCH_LUA="$ROOT/bench/lua" BENCH_RUN="$$" BENCH_USER="$USER_ID" BENCH_OPS="$OPS"
victim() {
  # Each phase its own userNames (post_user.lua names users after BENCH_RUN).
  BENCH_RUN="$$-$1" BENCH_TOKEN="$VICTIM_TOKEN" wrk -t1 -c"$VICTIMS" -d"${DURATION}s" --timeout 30s \
    -s "$ROOT/bench/lua/post_user.lua" "$BASE/tenants/victim" | grep '^RESULT'
}
attack() {
  BENCH_TOKEN="$ATTACK_TOKEN" wrk -t1 -c"$ATTACKERS" -d"$1s" --timeout 60s \
    -s "$ROOT/bench/lua/stall_patch.lua" "$BASE/tenants/attacker" | grep '^RESULT'
}

# The size of one attack request, as the Lua script builds it.
BODY_BYTES="$(python3 -c '
import sys
ops = int(sys.argv[1])
op = "{\"op\":\"replace\",\"path\":\"emails[value eq \\\"s%d@a.example\\\"].type\",\"value\":\"work\"}"
body = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[" + ",".join(op % i for i in range(ops)) + "]}"
print(len(body))' "$OPS")"

read -r v_rps v_p50 v_p99 v_err _ v_n <<<"$(victim alone | cut -d' ' -f2-)"
echo "victim alone:        ${v_rps} POST/s  p50 ${v_p50} ms  p99 ${v_p99} ms  (non-2xx ${v_err}, ${v_n} requests)"

attack $((DURATION + 2)) >"$DIR/attack.out" &
ATTACK=$!
sleep 1
read -r u_rps u_p50 u_p99 u_err _ u_n <<<"$(victim attacked | cut -d' ' -f2-)"
wait "$ATTACK"
read -r _ a_rps a_p50 a_p99 a_err _ a_n <"$DIR/attack.out"
echo "victim under attack: ${u_rps} POST/s  p50 ${u_p50} ms  p99 ${u_p99} ms  (non-2xx ${u_err}, ${u_n} requests)"
echo "attack:              ${a_rps} PATCH/s p50 ${a_p50} ms  p99 ${a_p99} ms  (non-2xx ${a_err}, ${a_n} requests;" \
  "${OPS} ops, ~${BODY_BYTES} bytes each, on ${VALUES} emails)"
