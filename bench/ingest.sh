#!/usr/bin/env bash
# Ingest benchmark: durable webhook deliveries per second on one core.
#
# Starts `shipgate serve` (release build) pinned to CPU 0 and drives it from CPU 1 with wrk,
# posting a real, signed 26 KB pull_request payload with a unique delivery ID per request.
# Prints deliveries/s, p50/p99 acknowledgement latency, the server's CPU per delivery and
# peak RSS, and how long the worker then took to process the burst — with SQLite (WAL,
# synchronous=FULL), then with PostgreSQL. Every 202 is a committed row: the script checks
# the stored count against wrk's.
#
# Usage: bench/ingest.sh [seconds] [connections]      (defaults: 10 s, 16 connections)
#        BENCH_BACKENDS="sqlite" bench/ingest.sh    (one back end only)
# Needs: wrk, taskset, openssl, python3, psql; PostgreSQL at SHIPGATE_TEST_POSTGRES_URL
# (default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
CONNECTIONS="${2:-16}"
PG_ADMIN="${SHIPGATE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

cargo build --release --quiet
BIN="$PWD/target/release/shipgate"
WORK="$(mktemp -d)"
SERVER_PID=""
trap '[ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
BODY="$PWD/tests/fixtures/github/webhooks/pull_request/opened-12.json"
SECRET="bench-secret"
SIGNATURE="sha256=$(openssl dgst -sha256 -hmac "$SECRET" -r "$BODY" | cut -d' ' -f1)"
# The App key only has to parse; the benchmark never calls GitHub.
openssl genrsa -traditional -out "$WORK/app.pem" 2048 2>/dev/null || openssl genrsa -out "$WORK/app.pem" 2048 2>/dev/null

sql() { # url query → one value
  if [[ "$1" == sqlite* ]]; then
    python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute(sys.argv[2]).fetchone()[0])' "${1#sqlite://}" "$2"
  else
    psql -qAt "$1" -c "$2"
  fi
}
pending() { sql "$1" "select count(*) from deliveries d left join delivery_outcomes o on o.id = d.id where o.id is null"; }
wait_drained() { # url → seconds it took until no delivery is pending
  local start=$EPOCHREALTIME
  for _ in $(seq 1200); do
    [[ "$(pending "$1")" == 0 ]] && break
    sleep 0.1
  done
  awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}
load() { # port prefix seconds
  BENCH_BODY="$BODY" BENCH_SIGNATURE="$SIGNATURE" BENCH_PREFIX="$2" \
    taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$3s" -s bench/ingest.lua "http://127.0.0.1:$1/api/github/webhooks"
}

run_one() {
  local name="$1" url="$2" port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  (cd "$WORK" && env -i PATH="$PATH" RUST_LOG="${RUST_LOG:-info}" DATABASE_URL="$url" \
     SHIPGATE_BIND="127.0.0.1:$port" GITHUB_APP_ID=1 GITHUB_PRIVATE_KEY_PATH="$WORK/app.pem" \
     GITHUB_WEBHOOK_SECRET="$SECRET" taskset -c 0 "$BIN" serve >"$WORK/$name.log" 2>&1) &
  local wrapper=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  # The server is the subshell started above once it has exec'd, or else its child.
  local pid="$wrapper"
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = shipgate ] || pid=$(pgrep -P "$wrapper" -n)
  SERVER_PID="$pid"
  # Warm up (connections, page cache) and let the worker catch up, then measure.
  load "$port" "$name-warm" 2 >/dev/null
  wait_drained "$url" >/dev/null
  local cpu_before cpu_after hwm out drain
  cpu_before=$(awk '{print $14+$15}' "/proc/$pid/stat")
  out=$(load "$port" "$name" "$DURATION")
  cpu_after=$(awk '{print $14+$15}' "/proc/$pid/stat")
  drain=$(wait_drained "$url")
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  local stored processed
  stored=$(sql "$url" "select count(*) from deliveries where delivery_id like '$name-%' and delivery_id not like '$name-warm%'")
  processed=$(sql "$url" "select count(*) from deliveries d join delivery_outcomes o on o.id = d.id where d.delivery_id like '$name-%' and d.delivery_id not like '$name-warm%' and o.status = 'processed'")
  kill -TERM "$pid"; wait "$wrapper" || true
  local line; line=$(grep '^RESULT' <<<"$out")
  eval "$(sed 's/^RESULT //' <<<"$line")"
  awk -v n="$name" -v r="$requests" -v d="$duration_us" -v p50="$p50_us" -v p99="$p99_us" -v e="$errors" \
      -v x="$non2xx" -v s="$stored" -v p="$processed" -v rss="$hwm" -v cpu="$((cpu_after - cpu_before))" \
      -v hz="$(getconf CLK_TCK)" -v drain="$drain" 'BEGIN {
    printf "%-9s %6.0f deliveries/s  p50 %.2f ms  p99 %.2f ms  server CPU %3.0f%% (%.0f µs/delivery)  peak RSS %.1f MiB\n",
      n, r / (d / 1e6), p50 / 1000, p99 / 1000, 100 * cpu / hz / (d / 1e6), 1e6 * cpu / hz / r, rss / 1024
    printf "%-9s %d requests, %d stored, %d non-2xx, %d socket errors; all %d processed %.1f s after the burst\n",
      "", r, s, x, e, p, drain }'
  grep -o "rows=[0-9]* commits=[0-9]* largest_batch=[0-9]*" "$WORK/$name.log" | tail -1 | sed "s/^/          writer (whole run): /" || true
}

echo "shipgate ingest benchmark: ${DURATION}s, ${CONNECTIONS} connections, server on CPU 0, wrk on CPU 1, $(stat -c %s "$BODY")-byte payload"
for backend in ${BENCH_BACKENDS:-sqlite postgres}; do
  case "$backend" in
    sqlite) run_one sqlite "sqlite://$WORK/bench.db" ;;
    postgres)
      DB="shipgate_bench_$$"
      psql -q "$PG_ADMIN" -c "CREATE DATABASE $DB" >/dev/null
      run_one postgres "${PG_ADMIN%/*}/$DB"
      psql -q "$PG_ADMIN" -c "DROP DATABASE $DB" >/dev/null ;;
  esac
done
