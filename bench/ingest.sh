#!/usr/bin/env bash
# Ingest benchmark: durable webhook deliveries per second on one core, beside a yardstick.
#
# Starts each server (release build) pinned to CPU 0 and drives it from CPU 1 with wrk,
# posting a real, signed 26 KB pull_request payload with a unique delivery ID per request.
# First the yardstick, `bench/bare_ingest.rs`: a bare axum handler that verifies the HMAC
# and parses the whole body into a serde_json::Value, storing nothing. Then `shipgate serve`
# with SQLite (WAL, synchronous=FULL), then with PostgreSQL. Prints deliveries/s (and, for
# shipgate, its ratio to the yardstick's in this run), p50/p99 acknowledgement latency, the
# server's CPU per delivery and peak RSS, and how long shipgate's worker then took to
# process the burst. Every 202 from shipgate is a committed row: the script checks the
# stored count against wrk's.
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

cargo build --release --quiet --bin shipgate --example bare_ingest
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
BIN="$TARGET/release/shipgate"
BARE="$TARGET/release/examples/bare_ingest"
BARE_RATE=""
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

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# name url → the server's pid (SERVER_PID), after its /healthz answers
start_server() {
  local name="$1" url="$2"
  if [ "$name" = bare ]; then
    (cd "$WORK" && env -i PATH="$PATH" taskset -c 0 "$BARE" "127.0.0.1:$PORT" "$SECRET" >"$WORK/$name.log" 2>&1) &
  else
    (cd "$WORK" && env -i PATH="$PATH" RUST_LOG="${RUST_LOG:-info}" DATABASE_URL="$url" \
       SHIPGATE_BIND="127.0.0.1:$PORT" GITHUB_APP_ID=1 GITHUB_PRIVATE_KEY_PATH="$WORK/app.pem" \
       GITHUB_WEBHOOK_SECRET="$SECRET" taskset -c 0 "$BIN" serve >"$WORK/$name.log" 2>&1) &
  fi
  WRAPPER=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
  # The server is the subshell started above once it has exec'd, or else its child.
  local comm=shipgate
  [ "$name" = bare ] && comm=bare_ingest
  SERVER_PID="$WRAPPER"
  [ "$(cat "/proc/$SERVER_PID/comm" 2>/dev/null)" = "$comm" ] || SERVER_PID=$(pgrep -P "$WRAPPER" -n)
}

run_one() {
  local name="$1" url="$2"
  PORT=$(free_port)
  start_server "$name" "$url"
  local pid="$SERVER_PID"
  # Warm up (connections, page cache) and let the worker catch up, then measure.
  load "$PORT" "$name-warm" 2 >/dev/null
  [ "$name" = bare ] || wait_drained "$url" >/dev/null
  local cpu_before cpu_after hwm out drain="" stored="" processed=""
  cpu_before=$(awk '{print $14+$15}' "/proc/$pid/stat")
  out=$(load "$PORT" "$name" "$DURATION")
  cpu_after=$(awk '{print $14+$15}' "/proc/$pid/stat")
  if [ "$name" != bare ]; then
    drain=$(wait_drained "$url")
    stored=$(sql "$url" "select count(*) from deliveries where delivery_id like '$name-%' and delivery_id not like '$name-warm%'")
    processed=$(sql "$url" "select count(*) from deliveries d join delivery_outcomes o on o.id = d.id where d.delivery_id like '$name-%' and d.delivery_id not like '$name-warm%' and o.status = 'processed'")
  fi
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$WRAPPER" || true
  SERVER_PID=""
  local line; line=$(grep '^RESULT' <<<"$out")
  eval "$(sed 's/^RESULT //' <<<"$line")"
  # Only what was answered 2xx counts (a server refusing fast is not fast).
  local rate; rate=$(awk -v r="$requests" -v x="$non2xx" -v d="$duration_us" 'BEGIN { printf "%.0f", (r - x) / (d / 1e6) }')
  [ "$name" = bare ] && BARE_RATE="$rate"
  awk -v n="$name" -v r="$requests" -v rate="$rate" -v bare="$BARE_RATE" -v d="$duration_us" -v p50="$p50_us" -v p99="$p99_us" -v e="$errors" \
      -v x="$non2xx" -v s="$stored" -v p="$processed" -v rss="$hwm" -v cpu="$((cpu_after - cpu_before))" \
      -v hz="$(getconf CLK_TCK)" -v drain="$drain" 'BEGIN {
    ratio = (n == "bare" || bare == "") ? "" : sprintf(" (%.2f× bare)", rate / bare)
    printf "%-9s %6d deliveries/s%s  p50 %.2f ms  p99 %.2f ms  server CPU %3.0f%% (%.0f µs/delivery)  peak RSS %.1f MiB\n",
      n, rate, ratio, p50 / 1000, p99 / 1000, 100 * cpu / hz / (d / 1e6), 1e6 * cpu / hz / r, rss / 1024
    if (n == "bare")
      printf "%-9s %d requests, %d non-2xx, %d socket errors (verify + parse, nothing stored)\n", "", r, x, e
    else
      printf "%-9s %d requests, %d stored, %d non-2xx, %d socket errors; all %d processed %.1f s after the burst\n",
        "", r, s, x, e, p, drain }'
  grep -o "rows=[0-9]* commits=[0-9]* largest_batch=[0-9]*" "$WORK/$name.log" | tail -1 | sed "s/^/          writer (whole run): /" || true
}

echo "shipgate ingest benchmark: ${DURATION}s, ${CONNECTIONS} connections, server on CPU 0, wrk on CPU 1, $(stat -c %s "$BODY")-byte payload"
run_one bare ""
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
