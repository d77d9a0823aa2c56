#!/usr/bin/env bash
# Load benchmark: MarketScout (SQLite, PostgreSQL) against the FastAPI reference.
#
#   bench/load.sh [--only sqlite|postgres|reference[,...]] [--duration SECONDS]
#
# For each target: start the server on a free 127.0.0.1 port with a fresh database, seed it
# through its public HTTP API (bench/seed.py), then run wrk against six read endpoints and
# print / write a markdown table (bench/results/latest.md). See bench/README.md.
#
# Environment (all optional):
#   BENCH_DURATION=10      seconds per endpoint (--duration overrides)
#   BENCH_CONNECTIONS=32   wrk connections        BENCH_THREADS=2   wrk threads
#   BENCH_WARMUP=1         seconds of discarded warm-up per endpoint (0 = none)
#   BENCH_TIMEOUT=10       wrk per-request timeout, seconds (a timeout counts as a failure)
#   BENCH_PRODUCTS=10000 BENCH_ADS=30000 BENCH_WATCH=50 BENCH_SCORES=1000 BENCH_SEED_CONCURRENCY=16
#   BENCH_DEMO_PRODUCTS=0 BENCH_DEMO_DAYS=160   with products > 0, MarketScout targets also get
#                          `marketscout demo` (simulated products with their posts, videos and
#                          ads; 700 x 160 is about 1,000,000 observations) before the runs
#   BENCH_REF_START_TIMEOUT=900   seconds to wait for the reference (first start builds a virtualenv)
#   BENCH_SERVE_ARGS       arguments for `marketscout serve`, PORT is replaced by the port
#                          (default: detected from `marketscout serve --help`)
#   BENCH_SKIP_BUILD=1     use the existing target/release/marketscout
#   BENCH_KEEP_TMP=1       keep the temporary directory (databases, server logs)
set -euo pipefail
export LC_ALL=C

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
REF_REL="../shared/anchors/seed-fastapi"
REF_DIR="$ROOT/$REF_REL"
BIN="$ROOT/target/release/marketscout"
PY="${PYTHON:-python3}"

DURATION="${BENCH_DURATION:-10}"
CONNECTIONS="${BENCH_CONNECTIONS:-32}"
THREADS="${BENCH_THREADS:-2}"
WARMUP="${BENCH_WARMUP:-1}"
WRK_TIMEOUT="${BENCH_TIMEOUT:-10}"
PRODUCTS="${BENCH_PRODUCTS:-10000}"
ADS="${BENCH_ADS:-30000}"
WATCH="${BENCH_WATCH:-50}"
SCORES="${BENCH_SCORES:-1000}"
SEED_CONCURRENCY="${BENCH_SEED_CONCURRENCY:-16}"
REF_START_TIMEOUT="${BENCH_REF_START_TIMEOUT:-900}"
DEMO_PRODUCTS="${BENCH_DEMO_PRODUCTS:-0}"
DEMO_DAYS="${BENCH_DEMO_DAYS:-160}"
DEMO_URL=""
PG_HOST=127.0.0.1
PG_PORT=5432
PG_USER=postgres

ALL_TARGETS=(sqlite postgres reference)
ONLY=""

usage() { sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --only) ONLY="${ONLY:+$ONLY,}${2:?--only needs sqlite|postgres|reference}"; shift 2 ;;
    --only=*) ONLY="${ONLY:+$ONLY,}${1#--only=}"; shift ;;
    --duration) DURATION="${2:?--duration needs a number of seconds}"; shift 2 ;;
    --duration=*) DURATION="${1#--duration=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "load.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

for n in "$DURATION" "$CONNECTIONS" "$THREADS" "$WARMUP" "$WRK_TIMEOUT" "$PRODUCTS" "$ADS" "$WATCH" "$SCORES" "$DEMO_PRODUCTS" "$DEMO_DAYS"; do
  [[ "$n" =~ ^[0-9]+$ ]] || { echo "load.sh: not a whole number: $n" >&2; exit 2; }
done
[ "$DURATION" -ge 1 ] || { echo "load.sh: --duration must be at least 1" >&2; exit 2; }

TARGETS=()
if [ -z "$ONLY" ]; then
  TARGETS=("${ALL_TARGETS[@]}")
else
  IFS=',' read -r -a wanted <<<"$ONLY"
  for t in "${ALL_TARGETS[@]}"; do
    for w in "${wanted[@]}"; do [ "$w" = "$t" ] && TARGETS+=("$t") && break; done
  done
  for w in "${wanted[@]}"; do
    case "$w" in sqlite|postgres|reference) ;; *) echo "load.sh: --only takes sqlite, postgres or reference, not '$w'" >&2; exit 2 ;; esac
  done
fi

# endpoint key | path (wrk URL path) | label in the table
ENDPOINTS=(
  "products_list|/products?limit=20|GET /products?limit=20"
  "product_get|/products/{id}|GET /products/{id}"
  "trending|/trending?limit=10|GET /trending?limit=10"
  "heat_map|/heat-map|GET /heat-map"
  "scan_ads|/scan-ads|GET /scan-ads"
  "watchlists|/watchlists|GET /watchlists (auth)"
)

log() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
warn() { printf '\033[1;33mWARNING: %s\033[0m\n' "$*" >&2; }
loud() { printf '\033[1;31m!!! %s\033[0m\n' "$*" >&2; }

TMP="$(mktemp -d -t marketscout-bench.XXXXXX)"
RESULTS="$TMP/results"
mkdir -p "$RESULTS" "$TMP/pids"

# --- cleanup: every server we started, every database we created ------------------------------
alive() {  # alive PID: running (a zombie waiting to be reaped does not count)
  local stat
  stat="$(ps -o stat= -p "$1" 2>/dev/null || true)"
  [ -n "$stat" ] && [[ "$stat" != Z* ]]
}

stop_pid() {  # stop_pid PID: TERM its process group (the server runs in its own session), then KILL
  local pid="$1"
  if alive "$pid"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      alive "$pid" || break
      sleep 0.1
    done
  fi
  # whatever is left of the group (e.g. pip still installing under run.sh), then the leader
  kill -KILL -- "-$pid" 2>/dev/null || true
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

stop_servers() {
  local f
  for f in "$TMP"/pids/*; do
    [ -e "$f" ] || continue
    stop_pid "$(basename "$f")"
    rm -f "$f"
  done
}

pg() { PGCONNECT_TIMEOUT=5 psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "${PG_ADMIN_DB:-test}" -v ON_ERROR_STOP=1 -Atq "$@"; }

drop_databases() {
  local f db
  for f in "$TMP"/pgdb.*; do
    [ -e "$f" ] || continue
    db="$(cat "$f")"
    pg -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 \
      || warn "could not drop PostgreSQL database $db"
    rm -f "$f"
  done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_servers
  drop_databases
  if [ "${BENCH_KEEP_TMP:-0}" = 1 ]; then
    echo "kept $TMP" >&2
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "load.sh: interrupted" >&2; exit 130' INT
trap 'echo "load.sh: terminated" >&2; exit 143' TERM

# --- helpers -----------------------------------------------------------------------------------
free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

rand_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# start_server NAME LOGFILE CMD...: start CMD in its own session (so the whole tree can be
# stopped), from the log's directory (so no stray .env in the caller's directory is read),
# remember its pid for the trap, set SERVER_PID.
start_server() {
  local name="$1" logfile="$2" rundir
  shift 2
  rundir="$(dirname "$logfile")"
  # shellcheck disable=SC2016  # the inner script expands its own "$@"
  (cd "$rundir" && exec setsid bash -c '"$@"; rc=$?; echo "[load.sh] server exited with status $rc" >&2; exit $rc' server "$@") \
    >"$logfile" 2>&1 </dev/null &
  SERVER_PID=$!
  : >"$TMP/pids/$SERVER_PID"
  echo "started $name (pid $SERVER_PID, log $logfile)"
}

# wait_http URL TIMEOUT PID LOGFILE: until URL answers 200
wait_http() {
  local url="$1" timeout="$2" pid="$3" logfile="$4" start code
  start=$SECONDS
  while :; do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" 2>/dev/null || true)"
    [ "$code" = 200 ] && return 0
    if ! alive "$pid"; then
      loud "server exited before $url answered; last lines of $logfile:"
      tail -n 30 "$logfile" >&2 || true
      return 1
    fi
    if [ $((SECONDS - start)) -ge "$timeout" ]; then
      loud "$url did not answer 200 within ${timeout}s (last status: ${code:-none}); last lines of $logfile:"
      tail -n 30 "$logfile" >&2 || true
      return 1
    fi
    sleep 0.25
  done
}

ensure_wrk() {
  command -v wrk >/dev/null 2>&1 && return 0
  log "installing wrk"
  if ! apt-get install -y wrk; then
    apt-get update && apt-get install -y wrk
  fi
  command -v wrk >/dev/null 2>&1 || { loud "wrk is not available"; exit 1; }
}

ensure_curl() {
  command -v curl >/dev/null 2>&1 && return 0
  if ! apt-get install -y curl; then
    apt-get update && apt-get install -y curl
  fi
}

# serve_args PORT: the arguments that make `marketscout serve` listen on 127.0.0.1:PORT
serve_args() {
  local port="$1" help
  if [ -n "${BENCH_SERVE_ARGS:-}" ]; then
    echo "${BENCH_SERVE_ARGS//PORT/$port}"
    return 0
  fi
  help="$("$BIN" serve --help 2>&1)" || return 1
  if grep -q -- '--bind' <<<"$help"; then echo "--bind 127.0.0.1:$port"
  elif grep -q -- '--listen' <<<"$help"; then echo "--listen 127.0.0.1:$port"
  elif grep -q -- '--addr\b' <<<"$help"; then echo "--addr 127.0.0.1:$port"
  elif grep -q -- '--address' <<<"$help"; then echo "--address 127.0.0.1:$port"
  elif grep -q -- '--port' <<<"$help"; then
    if grep -q -- '--host' <<<"$help"; then echo "--host 127.0.0.1 --port $port"; else echo "--port $port"; fi
  else
    return 1
  fi
}

# run_wrk TARGET KEY PATH LABEL BASE_URL: one endpoint; writes $RESULTS/TARGET/KEY
run_wrk() {
  local target="$1" key="$2" path="$3" label="$4" base="$5" out="$RESULTS/$1" wlog line
  local -a args=(-t "$THREADS" -c "$CONNECTIONS" --timeout "${WRK_TIMEOUT}s" -s "$BENCH_DIR/report.lua")
  local -a envs=(BENCH_IDS_FILE=)
  if [ "$key" = watchlists ]; then
    TOKEN="$("$PY" "$BENCH_DIR/seed.py" token "$base")"   # fresh: long runs outlive a token
    args+=(-H "Authorization: Bearer $TOKEN")
  fi
  if [ "$key" = product_get ]; then
    envs=(BENCH_IDS_FILE="$IDS_FILE" BENCH_PATH_PREFIX=/products/)
    path=/products/
  fi
  wlog="$out/$key.wrk.log"
  if [ "$WARMUP" -gt 0 ]; then
    env "${envs[@]}" wrk "${args[@]}" -d "${WARMUP}s" "$base$path" >/dev/null 2>&1 || true
  fi
  if ! env "${envs[@]}" wrk "${args[@]}" -d "${DURATION}s" "$base$path" >"$wlog" 2>&1; then
    loud "$target $label: wrk failed:"
    cat "$wlog" >&2
  fi
  line="$(grep '^BENCH_RESULT ' "$wlog" | tail -n 1 || true)"
  if [ -z "$line" ]; then
    echo "BENCH_RESULT requests=0 seconds=0 rps=0 p50_ms=0 p90_ms=0 p99_ms=0 max_ms=0 non2xx=0 connect=0 read=0 write=0 timeout=0 wrkfailed=1" >"$out/$key"
  else
    echo "$line" >"$out/$key"
  fi
  local rps p50 p99 non2xx connect read write timeout wrkfailed=0
  eval "$(sed 's/^BENCH_RESULT //; s/ /\n/g' "$out/$key" | grep -E '^(rps|p50_ms|p99_ms|non2xx|connect|read|write|timeout|wrkfailed)=[0-9.]+$' \
          | sed 's/_ms=/=/')"
  local errors=$((connect + read + write + timeout))
  printf '  %-24s %10.0f req/s   p50 %8.2f ms   p99 %8.2f ms   non-2xx %d   socket errors %d\n' \
    "$label" "$rps" "$p50" "$p99" "$non2xx" "$errors"
  if [ "$wrkfailed" != 0 ]; then
    loud "FAILED ROW: $target $label: wrk produced no result (see above)"
  elif [ "$non2xx" -gt 0 ] || [ "$errors" -gt 0 ]; then
    loud "FAILED ROW: $target $label: $non2xx non-2xx answers, $errors socket errors (connect $connect, read $read, write $write, timeout $timeout)"
  fi
}

# bench_server TARGET BASE_URL PID LOGFILE: seed, check, run wrk on every endpoint
bench_server() {
  local target="$1" base="$2" pid="$3" logfile="$4" seedjson="$TMP/$1/seed.json" entry key path label first_id
  log "$target: seeding $PRODUCTS products, $ADS ads, $WATCH watchlist entries, $SCORES trend scores through the HTTP API"
  "$PY" "$BENCH_DIR/seed.py" seed "$base" --out "$seedjson" --products "$PRODUCTS" --ads "$ADS" \
    --watch "$WATCH" --scores "$SCORES" --concurrency "$SEED_CONCURRENCY"
  "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$seedjson" >"$RESULTS/$target/seed_seconds"
  IDS_FILE="$TMP/$target/ids.txt"
  "$PY" -c 'import json,sys; print("\n".join(map(str, json.load(open(sys.argv[1]))["product_ids"])))' "$seedjson" >"$IDS_FILE"
  first_id="$(head -n 1 "$IDS_FILE")"
  if [ -n "$DEMO_URL" ] && [ "$DEMO_PRODUCTS" -gt 0 ]; then
    log "$target: loading observations with marketscout demo --products $DEMO_PRODUCTS --days $DEMO_DAYS"
    local started=$SECONDS
    "$BIN" demo --products "$DEMO_PRODUCTS" --days "$DEMO_DAYS" --database-url "$DEMO_URL"
    echo "$((SECONDS - started))" >"$RESULTS/$target/demo_seconds"
  fi
  TOKEN="$("$PY" "$BENCH_DIR/seed.py" token "$base")"

  log "$target: checking that every endpoint answers 2xx with JSON"
  "$PY" "$BENCH_DIR/seed.py" check "$base" "/products?limit=20" "/products/$first_id" "/products/$(tail -n 1 "$IDS_FILE")" \
    "/trending?limit=10" /heat-map /scan-ads --nonempty trending_products --nonempty heat_map
  "$PY" "$BENCH_DIR/seed.py" check "$base" /watchlists --token "$TOKEN"

  log "$target: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s per endpoint (warm-up ${WARMUP}s)"
  for entry in "${ENDPOINTS[@]}"; do
    IFS='|' read -r key path label <<<"$entry"
    alive "$pid" || { loud "$target server died; last lines of $logfile:"; tail -n 30 "$logfile" >&2; return 1; }
    run_wrk "$target" "$key" "$path" "$label" "$base"
  done
  if grep -qiE 'panic|thread .* panicked' "$logfile"; then
    warn "$target server log mentions a panic; see the lines below"
    grep -iE -m 5 'panic' "$logfile" >&2 || true
  fi
}

# --- targets (each runs in a subshell with errexit; the parent records the outcome) -----------
target_marketscout() {
  local backend="$1" dir="$TMP/$1" port base logfile url db args
  mkdir -p "$dir/data"
  port="$(free_port)"
  base="http://127.0.0.1:$port"
  logfile="$dir/server.log"
  if [ "$backend" = sqlite ]; then
    url="sqlite://$dir/bench.db"
  else
    db="ms_bench_$(rand_hex 4)"
    echo "$db" >"$TMP/pgdb.$db"
    pg -c "CREATE DATABASE \"$db\"" >/dev/null
    url="postgres://$PG_USER@$PG_HOST:$PG_PORT/$db"
    echo "created PostgreSQL database $db"
  fi
  args="$(serve_args "$port")" || {
    loud "cannot tell how '$BIN serve' takes its listen address (set BENCH_SERVE_ARGS, e.g. '--bind 127.0.0.1:PORT')"
    return 1
  }
  log "$backend: starting marketscout serve $args"
  # shellcheck disable=SC2086
  start_server "marketscout ($backend)" "$logfile" env \
    DATABASE_URL="$url" RATE_LIMIT_ENABLED=false SECRET_KEY="$(rand_hex 32)" \
    MARKETSCOUT_DATA_DIR="$dir/data" LOG_LEVEL=warn RUST_LOG=warn \
    "$BIN" serve $args
  local pid=$SERVER_PID
  wait_http "$base/healthz" 60 "$pid" "$logfile"
  DEMO_URL="$url"
  bench_server "$backend" "$base" "$pid" "$logfile"
  stop_pid "$pid"
  rm -f "$TMP/pids/$pid"
}

target_reference() {
  local dir="$TMP/reference" port base logfile
  mkdir -p "$dir"
  port="$(free_port)"
  base="http://127.0.0.1:$port"
  logfile="$dir/server.log"
  log "reference: starting $REF_REL/run.sh $port (the first start creates its virtualenv with pip; allow a few minutes)"
  start_server "reference" "$logfile" env \
    DATABASE_URL="sqlite:///$dir/ref.db" RATE_LIMIT_ENABLED=false SECRET_KEY="$(rand_hex 32)" HOST=127.0.0.1 \
    "$REF_DIR/run.sh" "$port"
  local pid=$SERVER_PID
  # The reference has no /healthz: its OpenAPI document answers 200 once it serves.
  wait_http "$base/openapi.json" "$REF_START_TIMEOUT" "$pid" "$logfile"
  bench_server reference "$base" "$pid" "$logfile"
  stop_pid "$pid"
  rm -f "$TMP/pids/$pid"
}

# run_target NAME FUNCTION ARGS...: record ok / failed in $RESULTS/NAME/status
run_target() {
  local name="$1" rc
  shift
  mkdir -p "$RESULTS/$name"
  set +e
  ( set -euo pipefail; trap - EXIT; "$@" )
  rc=$?
  set -e
  stop_servers
  if [ "$rc" -eq 0 ]; then
    echo ok >"$RESULTS/$name/status"
  else
    [ "$rc" -ge 128 ] && exit "$rc"   # interrupted
    echo "failed (exit $rc, see the output above)" >"$RESULTS/$name/status"
    loud "$name: benchmark failed (exit $rc)"
  fi
}

skip_target() {  # skip_target NAME REASON
  mkdir -p "$RESULTS/$1"
  echo "skipped: $2" >"$RESULTS/$1/status"
  warn "$1: skipped: $2"
}

# --- main --------------------------------------------------------------------------------------
# A busy machine (a compile, another benchmark) skews everything: record how busy it was.
cut -d' ' -f1-3 /proc/loadavg >"$RESULTS/loadavg" 2>/dev/null || true
ensure_curl
ensure_wrk
echo "targets: ${TARGETS[*]}; ${DURATION}s per endpoint, $CONNECTIONS connections, $THREADS threads; $(nproc) cores"

want() { local t; for t in "${TARGETS[@]}"; do [ "$t" = "$1" ] && return 0; done; return 1; }

BUILD_OK=0
if want sqlite || want postgres; then
  if [ "${BENCH_SKIP_BUILD:-0}" = 1 ]; then
    log "using the existing $BIN (BENCH_SKIP_BUILD=1)"
    [ -x "$BIN" ] && BUILD_OK=1
  else
    log "cargo build --release"
    if (cd "$ROOT" && cargo build --release); then BUILD_OK=1; else loud "cargo build --release failed"; fi
  fi
  if [ "$BUILD_OK" = 1 ] && ! "$BIN" serve --help >/dev/null 2>&1; then
    loud "'$BIN serve --help' fails: the binary has no serve command yet"
    BUILD_OK=0
  fi
fi

for t in "${TARGETS[@]}"; do
  case "$t" in
    sqlite)
      if [ "$BUILD_OK" = 1 ]; then run_target sqlite target_marketscout sqlite
      else mkdir -p "$RESULTS/sqlite"; echo "failed: marketscout did not build or has no serve command" >"$RESULTS/sqlite/status"; fi ;;
    postgres)
      if [ "$BUILD_OK" != 1 ]; then
        mkdir -p "$RESULTS/postgres"; echo "failed: marketscout did not build or has no serve command" >"$RESULTS/postgres/status"
      elif ! command -v psql >/dev/null 2>&1; then
        skip_target postgres "psql is not installed"
      elif pg -c 'SELECT 1' >/dev/null 2>&1; then
        run_target postgres target_marketscout postgres
      elif PG_ADMIN_DB=postgres pg -c 'SELECT 1' >/dev/null 2>&1; then
        PG_ADMIN_DB=postgres; export PG_ADMIN_DB
        run_target postgres target_marketscout postgres
      else
        skip_target postgres "PostgreSQL at $PG_HOST:$PG_PORT (user $PG_USER) is unreachable"
      fi ;;
    reference)
      if [ -x "$REF_DIR/run.sh" ] || [ -f "$REF_DIR/run.sh" ]; then
        run_target reference target_reference
      else
        skip_target reference "$REF_REL is absent (the reference implementation is not on this machine)"
      fi ;;
  esac
done

log "results"
mkdir -p "$BENCH_DIR/results"
"$PY" "$BENCH_DIR/table.py" "$RESULTS" \
  --duration "$DURATION" --connections "$CONNECTIONS" --threads "$THREADS" \
  --seed-counts "$PRODUCTS,$ADS,$WATCH,$SCORES" --out "$BENCH_DIR/results/latest.md"
