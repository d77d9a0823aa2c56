#!/usr/bin/env bash
# Dashboard benchmark: how fast the server renders the web pages with many products stored.
#
#   bench/dashboard.sh
#
# Starts the release binary on a free 127.0.0.1 port with a fresh SQLite database, loads
# `marketscout demo` (BENCH_DASH_PRODUCTS products over BENCH_DASH_DAYS days: every product
# scored, with its posts, videos and ads), adds BENCH_DASH_EXTRA more products (with ads,
# watchlist entries and scores) through the API with bench/seed.py, as the load benchmark
# does, signs a user up through the sign-up form, then runs
# wrk with that session's cookie against each page: first with one connection (the latency
# of one render, what a user waits for), then with BENCH_CONNECTIONS connections
# (throughput). Prints one markdown table, and each page's size.
#
# Environment (all optional):
#   BENCH_DASH_PRODUCTS=1000 BENCH_DASH_DAYS=90   the demo data (days: 90-365)
#   BENCH_DASH_EXTRA=9000   products seeded through the API on top (10,000 in all)
#   BENCH_DURATION=10    seconds per run        BENCH_CONNECTIONS=16   connections for throughput
#   BENCH_SKIP_BUILD=1   use the existing target/release/marketscout
set -euo pipefail
export LC_ALL=C

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
BIN="$ROOT/target/release/marketscout"
PRODUCTS="${BENCH_DASH_PRODUCTS:-1000}"
DAYS="${BENCH_DASH_DAYS:-90}"
EXTRA="${BENCH_DASH_EXTRA:-9000}"
DURATION="${BENCH_DURATION:-10}"
CONNECTIONS="${BENCH_CONNECTIONS:-16}"

command -v wrk >/dev/null 2>&1 || { apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }; }
[[ "${BENCH_SKIP_BUILD:-0}" == 1 ]] || (cd "$ROOT" && cargo build --release)

TMP="$(mktemp -d)"
SERVER_PID=
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export DATABASE_URL="sqlite://$TMP/bench.db"
export SECRET_KEY="bench-secret-key-that-is-long-enough-0123456789"
export RATE_LIMIT_ENABLED=false SCANNER_ENABLED=false

started=$SECONDS
if ! "$BIN" demo --products "$PRODUCTS" --days "$DAYS" >"$TMP/demo.log" 2>&1; then
  cat "$TMP/demo.log" >&2
  exit 1
fi
echo "demo data: $(tail -n 2 "$TMP/demo.log" | head -n 1) ($((SECONDS - started)) s)"

"$BIN" serve --host 127.0.0.1 --port "$PORT" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 100); do curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
if [[ "$EXTRA" -gt 0 ]]; then
  started=$SECONDS
  python3 "$BENCH_DIR/seed.py" seed "$BASE" --out "$TMP/seed.json" --products "$EXTRA" \
    --ads $((EXTRA * 3)) --watch 50 --scores 1000 >"$TMP/seed.log" 2>&1 || { cat "$TMP/seed.log" >&2; exit 1; }
  echo "seeded $EXTRA more products through the API ($((SECONDS - started)) s)"
fi
echo "products stored: $((PRODUCTS + EXTRA))"

# A session, as a browser gets one: the sign-up form's CSRF token, then the form.
JAR="$TMP/cookies"
csrf=$(curl -fsS -c "$JAR" -b "$JAR" "$BASE/app/signup" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -n 1)
curl -fsS -o /dev/null -c "$JAR" -b "$JAR" -X POST "$BASE/app/signup" \
  --data-urlencode "csrf=$csrf" -d "username=bench&email=bench@example.com&password=bench-password"
COOKIE=$(awk '$6 == "ms_session" || $6 == "ms_csrf" { printf "%s=%s; ", $6, $7 }' "$JAR")
PRODUCT=$(curl -fsS -b "$JAR" "$BASE/app" | grep -o '/app/products/[0-9]*' | head -n 1)

# The bench user watches 50 products, and a viral ad for each raises real alerts (through the
# rules, as a scan would), so the overview and the alert centre show unread alerts.
TOKEN=$(curl -fsS -X POST "$BASE/token" -d "username=bench&password=bench-password" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
for id in $(seq 1 50); do
  curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d "{\"product_id\": $id}" "$BASE/watchlists"
  curl -fsS -o /dev/null -H 'content-type: application/json' \
    -d "{\"product_id\": $id, \"platform\": \"TikTok\", \"ad_content\": \"VIRAL deal of the day! Get yours now before they sell out!!\"}" \
    "$BASE/ads"
done
ALERTS=$(curl -fsS -H "Authorization: Bearer $TOKEN" "$BASE/alerts?limit=1" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["unread"])')
echo "the bench user watches 50 products and has $ALERTS unread alerts"

PAGES=(
  "/app|overview"
  "/app/trends|trends explorer"
  "/app/trends?stage=emerging&sort=change|trends, filtered"
  "$PRODUCT|product page"
  "/app/heat-map|heat map"
  "/app/ads|ad scanner"
  "/app/watchlist|watchlist and alert centre"
)

echo
echo "| page | size | 1 connection: p50 · p99 | $CONNECTIONS connections: req/s · p50 · p99 |"
echo "|---|---:|---:|---:|"
for entry in "${PAGES[@]}"; do
  path="${entry%%|*}"
  label="${entry#*|}"
  code=$(curl -s -o "$TMP/page" -w '%{http_code}' -H "Cookie: $COOKIE" "$BASE$path")
  [[ "$code" == 200 ]] || { echo "$label ($path) answered $code" >&2; exit 1; }
  size=$(wc -c <"$TMP/page")
  one=$(wrk -t 1 -c 1 -d "${DURATION}s" -H "Cookie: $COOKIE" -s "$BENCH_DIR/report.lua" "$BASE$path" | grep BENCH_RESULT)
  many=$(wrk -t 2 -c "$CONNECTIONS" -d "${DURATION}s" -H "Cookie: $COOKIE" -s "$BENCH_DIR/report.lua" "$BASE$path" | grep BENCH_RESULT)
  field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
  for result in "$one" "$many"; do
    [[ "$(field "$result" non2xx)" == 0 ]] || { echo "$label: errors under load: $result" >&2; exit 1; }
  done
  printf '| %s | %.1f KB | %s ms · %s ms | %.0f · %s ms · %s ms |\n' "$label" "$(echo "$size / 1024" | bc -l)" \
    "$(field "$one" p50_ms)" "$(field "$one" p99_ms)" \
    "$(field "$many" rps)" "$(field "$many" p50_ms)" "$(field "$many" p99_ms)"
done
