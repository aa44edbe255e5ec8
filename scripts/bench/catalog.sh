#!/usr/bin/env bash
# Catalog benchmark: a real reel-node serving a SQLite catalog of 10,000
# videos (9,000 ready, 1,000 queued; filled by the catalog_bench example,
# so every run holds the same catalog), measured with `reel-loadgen rps` at
# 64 keep-alive connections:
#   home_c64          the catalog page  /
#   home_page300_c64  a deep page       /?page=300
#   search_c64        a search with many pages  /?q=topic+1
#   api_videos_c64    the JSON listing  /api/videos (24 videos with their
#                     renditions and the total)
# Before loading, each URL is checked for content (24 videos, a link to the
# next page, the API's total). The node's worker is off, so nothing but the
# load touches the catalog. Goal: p99 ≤ 10 ms. Writes
# <out>/<date>-<host>-catalog.md and .json.
#
# Usage: scripts/bench/catalog.sh [--quick] [--out DIR] [--keep]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init catalog "$@"

if [ "$QUICK" = 1 ]; then
  RPS_S=4; WARM_S=1
else
  RPS_S=10; WARM_S=2
fi
CONNS=64
TARGET_MS=10
SEARCH=topic+1

build_release
FILL=$BIN/examples/catalog_bench
if [ "${BENCH_BUILT:-0}" != 1 ] || [ ! -x "$FILL" ]; then
  log "building the catalog_bench example"
  cargo build --release -p reel-node -p reel-balancer -p reel-loadgen --example catalog_bench >&2
fi

DATA=$TMP/data
mkdir -p "$DATA"
log "filling a SQLite catalog with 10,000 videos"
t0=$(date +%s.%N)
"$FILL" --fill-only "sqlite://$DATA/reel.db" 2>"$TMP/logs/fill.log" ||
  die "fill failed (see $TMP/logs/fill.log)"
FILL_S=$(echo "$(date +%s.%N) - $t0" | bc)

PORT=$(free_port)
start_node catalog "$PORT" REEL_WORKER__ENABLED=false
BASE=http://127.0.0.1:$PORT

# Content checks: a fast wrong answer must not pass for a fast page.
links() { grep -o 'href="/watch/[0-9a-f]\{16\}"' | wc -l; }
check_page() { # PATH WANT_LINKS WHAT
  local body n
  body=$(curl -fsS -m 10 "$BASE$1") || die "$3: $1 failed"
  n=$(links <<<"$body")
  [ "$n" -ge "$2" ] || die "$3: $1 links $n videos, expected at least $2"
  grep -q 'rel="next"' <<<"$body" || die "$3: $1 has no link to the next page"
}
check_page / 24 home
check_page "/?page=300" 24 "page 300"
check_page "/?q=$SEARCH" 24 search
NEXT=$(curl -fsS -m 10 "$BASE/?q=$SEARCH" |
  sed -n 's/.*rel="next" href="\([^"]*\)".*/\1/p' | sed 's/&amp;/\&/g')
[ "$NEXT" = "/?page=2&q=topic+1" ] || die "search links page 2 as '$NEXT'"
n=$(curl -fsS -m 10 "$BASE$NEXT" | links)
[ "$n" -ge 24 ] || die "search page 2 ($NEXT) links $n videos"
TOTAL=$(curl -fsS -m 10 "$BASE/api/videos" | jq '.total')
[ "$TOTAL" = 10000 ] || die "GET /api/videos says total $TOTAL, expected 10000"

NODE=${PIDS[catalog]}
rps home_c64 "$NODE" "$BASE/" "$CONNS" "$RPS_S" "$WARM_S"
rps home_page300_c64 "$NODE" "$BASE/?page=300" "$CONNS" "$RPS_S" "$WARM_S"
rps search_c64 "$NODE" "$BASE/?q=$SEARCH" "$CONNS" "$RPS_S" "$WARM_S"
rps api_videos_c64 "$NODE" "$BASE/api/videos" "$CONNS" "$RPS_S" "$WARM_S"
RSS=$(rss_kib "$NODE")

# The same pages with the listing cache off: one catalog query and one render
# per request, which is what a crowd asking for many different pages costs.
stop_process catalog
PORT=$(free_port)
start_node uncached "$PORT" REEL_WORKER__ENABLED=false REEL_HTTP__LISTING_CACHE_MS=0
BASE=http://127.0.0.1:$PORT
NODE=${PIDS[uncached]}
rps uncached_home_c64 "$NODE" "$BASE/" "$CONNS" "$RPS_S" "$WARM_S"
rps uncached_home_page300_c64 "$NODE" "$BASE/?page=300" "$CONNS" "$RPS_S" "$WARM_S"
rps uncached_search_c64 "$NODE" "$BASE/?q=$SEARCH" "$CONNS" "$RPS_S" "$WARM_S"
rps uncached_api_videos_c64 "$NODE" "$BASE/api/videos" "$CONNS" "$RPS_S" "$WARM_S"

write_report --argjson fill_s "$FILL_S" --argjson target "$TARGET_MS" \
  --arg search "$SEARCH" --argjson rss "$RSS" \
  -- '{fill_s: $fill_s, target_p99_ms: $target, search: $search, node_rss_kib: $rss,
       videos: 10000, ready: 9000, queued: 1000, engine: "sqlite"}' <<'JQ'
include "report";
def row($title; $path; $run):
  "| \($title) | `\($path)` | \($run.requests_per_s | round) | \($run.latency_ms_p50) | \($run.latency_ms_p99) | **\(ratio($run.latency_ms_p99; .target_p99_ms))** | \(if $run.latency_ms_p99 <= .target_p99_ms then "yes" else "no" end) | \(errs($run.errors)) | \($run.server_cpu_s) | \(cpu_us($run)) |";
"## Catalog: pages and the API with 10,000 videos",
"",
machine,
"SQLite catalog of \(.videos) videos (\(.ready) ready, \(.queued) queued), filled in \(r(.fill_s)) s; one reel-node (worker off), \(.runs.home_c64.connections) keep-alive connections, client and node on the same cores. Node RSS after the runs: \(.node_rss_kib / 1024 | round) MiB.",
"",
"With the listing cache on (the default, `http.listing_cache_ms = 1000`): a node renders each listing once a second however many visitors ask for it.",
"",
"| page | path | req/s | p50 (ms) | p99 (ms) | p99 ÷ \(.target_p99_ms) ms target | within target | errors | node CPU (s) | node CPU per request (µs) |",
"|---|---|---|---|---|---|---|---|---|---|",
row("catalog page"; "/"; .runs.home_c64),
row("page 300"; "/?page=300"; .runs.home_page300_c64),
row("search, many pages"; "/?q=\(.search)"; .runs.search_c64),
row("JSON listing"; "/api/videos"; .runs.api_videos_c64),
"",
"With the listing cache off (`REEL_HTTP__LISTING_CACHE_MS=0`): one catalog query and one render per request, what a crowd spread over many different pages costs.",
"",
"| page | path | req/s | p50 (ms) | p99 (ms) | p99 ÷ \(.target_p99_ms) ms target | within target | errors | node CPU (s) | node CPU per request (µs) |",
"|---|---|---|---|---|---|---|---|---|---|",
row("catalog page"; "/"; .runs.uncached_home_c64),
row("page 300"; "/?page=300"; .runs.uncached_home_page300_c64),
row("search, many pages"; "/?q=\(.search)"; .runs.uncached_search_c64),
row("JSON listing"; "/api/videos"; .runs.uncached_api_videos_c64),
"",
"All runs:",
"",
rps_header,
rps_row("catalog page"; .runs.home_c64),
rps_row("page 300"; .runs.home_page300_c64),
rps_row("search"; .runs.search_c64),
rps_row("GET /api/videos"; .runs.api_videos_c64),
rps_row("catalog page, no listing cache"; .runs.uncached_home_c64),
rps_row("page 300, no listing cache"; .runs.uncached_home_page300_c64),
rps_row("search, no listing cache"; .runs.uncached_search_c64),
rps_row("GET /api/videos, no listing cache"; .runs.uncached_api_videos_c64),
""
JQ
