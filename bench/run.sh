#!/usr/bin/env bash
# scimd load benchmark. See bench/README.md for the install steps and the latest figures.
#
# Builds target/release/scimd and scimd-bench, creates a fresh database, seeds it, starts the
# server, runs each workload with wrk for a fixed duration, and prints a table: requests/s, p50,
# p99, the server's RSS after the workload, and each read workload's ratio to /healthz.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/run.sh [options]
  --users N           users seeded in the benchmark tenant (default 10000)
  --group-members N   members of the large group, in a tenant of its own (default 100000)
  --patch-pool N      users the PATCH workload adds to the group, one per request (default 50000)
  --duration S        seconds per workload (default 10)
  --connections N     concurrent connections (default 32)
  --threads N         wrk threads (default 2)
  --database URL      database to seed and serve (default: sqlite:// in a fresh temporary directory);
                      it must be empty: the script migrates and seeds it
  --listen ADDR       where the server listens (default 127.0.0.1:18080)
  --replicas N        servers sharing the database (PostgreSQL only; default 1): replica i listens
                      on the port after replica i-1's, and each gets its own wrk process with
                      1/N of the connections (no load balancer needed); req/s are summed, p50/p99
                      and RSS are the worst replica's
  --only LIST         comma-separated workloads to run (default: all, in the order below)
  --no-build          use the binaries already in target/release
  --keep              keep the temporary directory (database, server log, ids)
Workloads: healthz get_user filter_username page filter_email group_get patch_member post_user
EOF
}

USERS=10000
GROUP_MEMBERS=100000
PATCH_POOL=50000
DURATION=10
CONNECTIONS=32
THREADS=2
DATABASE=""
LISTEN=127.0.0.1:18080
ONLY=""
REPLICAS=1
BUILD=1
KEEP=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --users) USERS="$2"; shift 2 ;;
    --group-members) GROUP_MEMBERS="$2"; shift 2 ;;
    --patch-pool) PATCH_POOL="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --database) DATABASE="$2"; shift 2 ;;
    --listen) LISTEN="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --replicas) REPLICAS="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

command -v wrk >/dev/null || { echo "wrk is not installed: see bench/README.md" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is not installed" >&2; exit 1; }

[[ $REPLICAS =~ ^[1-9][0-9]*$ ]] || { echo "--replicas must be a positive number" >&2; exit 2; }
if [[ $REPLICAS -gt 1 && "$DATABASE" != postgres* ]]; then
  echo "--replicas needs --database postgres://…: replicas of one SQLite file would be one server" >&2
  exit 2
fi
if (( CONNECTIONS % REPLICAS != 0 )); then
  echo "--connections must divide evenly among the replicas" >&2
  exit 2
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
SCIMD="$TARGET/release/scimd"
SEED="$TARGET/release/scimd-bench"
if [[ $BUILD == 1 ]]; then
  cargo build --release --locked -p scimd -p scimd-bench
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/scimd-bench.XXXXXX")"
SERVER_PIDS=()
cleanup() {
  for pid in "${SERVER_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [[ $KEEP == 0 ]]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT
DATABASE="${DATABASE:-sqlite://$WORK/scimd.db}"
export SCIMD_DATABASE_URL="$DATABASE"
export SCIMD_LOG_FORMAT="${SCIMD_LOG_FORMAT:-json}"

echo "== database $DATABASE" >&2
"$SCIMD" migrate >/dev/null
"$SCIMD" tenant create bench >/dev/null
"$SCIMD" tenant create groups >/dev/null
# The per-credential rate limit (1,000 requests/s by default) would answer 429 to most of the load:
# the benchmark measures the server, not the limiter.
"$SCIMD" tenant set bench --rate-limit 0 >/dev/null
"$SCIMD" tenant set groups --rate-limit 0 >/dev/null
TOKEN="$("$SCIMD" token create --tenant bench --name bench)"
GROUP_TOKEN="$("$SCIMD" token create --tenant groups --name bench)"

echo "== seeding $USERS users, a group of $GROUP_MEMBERS members (+$PATCH_POOL to add)" >&2
SEED_START=$(date +%s)
"$SEED" seed --tenant bench --users "$USERS" --group-tenant groups \
  --group-members "$GROUP_MEMBERS" --patch-pool "$PATCH_POOL" --out "$WORK"
echo "== seeded in $(( $(date +%s) - SEED_START )) s" >&2
# PostgreSQL plans from table statistics, which autovacuum refreshes only some time after a bulk
# load: measured right after seeding, the planner still believed the tenant had one user and
# filtered 10,000 rows per query (0.1 ms with statistics, 14 ms without). A server in service has
# them; so does the benchmark.
if [[ "$DATABASE" == postgres* ]]; then
  if command -v psql >/dev/null 2>&1; then
    psql -q "$DATABASE" -c ANALYZE >&2
    # And the seeding's WAL written out now, not by a checkpoint running during the reads (one
    # did, for two minutes, in a run on 2026-11-23). Needs a superuser or pg_checkpoint.
    psql -q "$DATABASE" -c CHECKPOINT >&2 || echo "== CHECKPOINT refused: a checkpoint may run during the workloads" >&2
  else
    echo "== psql not found: waiting 60 s for autovacuum to gather statistics" >&2
    sleep 60
  fi
fi

HOST="${LISTEN%:*}"
PORT="${LISTEN##*:}"
ADDRS=()
for ((i = 0; i < REPLICAS; i++)); do
  addr="$HOST:$((PORT + i))"
  ADDRS+=("$addr")
  RUST_LOG="${RUST_LOG:-warn}" "$SCIMD" serve --listen "$addr" >"$WORK/server-$i.log" 2>&1 &
  SERVER_PIDS+=($!)
done
for i in "${!ADDRS[@]}"; do
  for _ in $(seq 1 100); do
    curl -fsS "http://${ADDRS[$i]}/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "http://${ADDRS[$i]}/healthz" >/dev/null || { cat "$WORK/server-$i.log" >&2; exit 1; }
done

# The worst replica's resident set (VmRSS now, VmHWM the peak), in MiB.
status_mib() {
  for pid in "${SERVER_PIDS[@]}"; do awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; done |
    sort -n | tail -1 | awk '{ printf "%.1f", $1 / 1024 }'
}
rss_mib() { status_mib VmRSS; }
hwm_mib() { status_mib VmHWM; }

# One wrk process per replica, each with its share of the connections and threads.
WRK_THREADS=$(( THREADS / REPLICAS > 0 ? THREADS / REPLICAS : 1 ))
WRK_CONNECTIONS=$(( CONNECTIONS / REPLICAS ))
export BENCH_LUA="$ROOT/bench/lua" BENCH_OUT="$WORK" BENCH_USERS="$USERS" BENCH_THREADS="$WRK_THREADS"
export BENCH_SHARDS="$REPLICAS"
RUN_ID="$(date +%s)$$"

declare -A LABEL=(
  [healthz]="GET /healthz"
  [get_user]="GET /Users/{id}"
  [filter_username]="GET /Users?filter=userName eq"
  [page]="GET /Users?startIndex=1&count=100"
  [filter_email]="GET /Users?filter=emails[type eq work].value eq"
  [group_get]="GET /Groups/{id}?excludedAttributes=members"
  [patch_member]="PATCH /Groups/{id} add 1 member (100k)"
  [post_user]="POST /Users"
)
ORDER=(healthz get_user filter_username page filter_email group_get patch_member post_user)
if [[ -n $ONLY ]]; then IFS=, read -r -a ORDER <<<"$ONLY"; fi

declare -A RPS
ROWS=()
for w in "${ORDER[@]}"; do
  [[ -n ${LABEL[$w]:-} ]] || { echo "unknown workload $w" >&2; exit 2; }
  case "$w" in group_get|patch_member) export BENCH_TOKEN="$GROUP_TOKEN" ;; *) export BENCH_TOKEN="$TOKEN" ;; esac
  echo "== $w (${DURATION}s, $CONNECTIONS connections)" >&2
  WRK_PIDS=()
  for i in "${!ADDRS[@]}"; do
    BENCH_SHARD="$i" BENCH_RUN="${RUN_ID}r$i" wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${DURATION}s" \
      --timeout 10s -s "$BENCH_LUA/$w.lua" "http://${ADDRS[$i]}" >"$WORK/wrk-$w-$i.out" &
    WRK_PIDS+=($!)
  done
  wait "${WRK_PIDS[@]}" || true
  lines="$(cat "$WORK"/wrk-"$w"-*.out | grep '^RESULT ' || true)"
  [[ $(wc -l <<<"$lines") -eq $REPLICAS && -n $lines ]] ||
    { cat "$WORK"/wrk-"$w"-*.out >&2; echo "wrk printed no result for $w" >&2; exit 1; }
  # Throughput and counts add up across replicas; latency is the slowest replica's.
  read -r rps p50 p99 bad sockerr total < <(awk '
    { rps += $2; if ($3 > p50) p50 = $3; if ($4 > p99) p99 = $4; bad += $5; sock += $6; total += $7 }
    END { printf "%.1f %.3f %.3f %d %d %d\n", rps, p50, p99, bad, sock, total }' <<<"$lines")
  RPS[$w]="$rps"
  ROWS+=("$w|$rps|$p50|$p99|$bad|$sockerr|$total|$(rss_mib)")
done

echo
echo "scimd load benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
echo "users=$USERS group_members=$GROUP_MEMBERS duration=${DURATION}s connections=$CONNECTIONS database=${DATABASE%%://*} replicas=$REPLICAS"
echo
printf '| %-46s | %9s | %8s | %8s | %7s | %8s | %s |\n' workload "req/s" "p50 ms" "p99 ms" "RSS MiB" "÷healthz" "errors"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..48})" "-----------" "----------" "----------" "---------" "----------" "--------"
for row in "${ROWS[@]}"; do
  IFS='|' read -r w rps p50 p99 bad sockerr total rss <<<"$row"
  ratio="-"
  case "$w" in
    healthz|patch_member|post_user) ;;
    *) [[ -n ${RPS[healthz]:-} ]] && ratio="$(awk -v a="$rps" -v b="${RPS[healthz]}" 'BEGIN { printf "%.2f", a / b }')" ;;
  esac
  errors="$bad"
  [[ $sockerr != 0 ]] && errors="$bad + $sockerr socket"
  printf '| %-46s | %9.0f | %8.2f | %8.2f | %7s | %8s | %s |\n' "${LABEL[$w]}" "$rps" "$p50" "$p99" "$rss" "$ratio" "$errors"
  if [[ $w == patch_member && ${total%.*} -gt $PATCH_POOL ]]; then
    echo "note: $total PATCHes but a pool of $PATCH_POOL users: the later adds were no-ops (raise --patch-pool)" >&2
  fi
done
echo
echo "peak server RSS (VmHWM): $(hwm_mib) MiB"
