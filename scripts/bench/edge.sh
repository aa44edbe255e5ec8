#!/usr/bin/env bash
# Edge-cache benchmarks, all in one run on this machine (only the ratios
# between rows mean anything):
#   a) a cached segment through reel-balancer, 64 and 256 connections;
#   b) the same file from nginx (sendfile) on disk, 64 and 256 connections;
#   c) the same segment straight from one reel-node;
#   d) node requests per viewer segment, 50 paced viewers through the
#      balancer with the edge cache on, then off.
# Every server runs on 127.0.0.1 on a free port with its data in a temp dir
# and is stopped on exit. Writes <out>/<date>-<host>-edge.md and .json.
#
# Usage: scripts/bench/edge.sh [--quick] [--out DIR] [--keep]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init edge "$@"

if [ "$QUICK" = 1 ]; then
  RPS_S=4; WARM_S=1; VIEW_N=50; VIEW_S=10
else
  RPS_S=10; WARM_S=2; VIEW_N=50; VIEW_S=20
fi
VIEW_SPEED=4
RUNG=720p

build_release
ensure_media 30
N1=$(free_port); N2=$(free_port); LB_PORT=$(free_port); ADMIN_PORT=$(free_port); NG=$(free_port)
start_node node-1 "$N1"
start_node node-2 "$N2"
start_balancer "$N1 $N2"
start_nginx "$NG" "$DATA"
LB=http://127.0.0.1:$LB_PORT

find_segment "$LB"
wait_http "http://127.0.0.1:$NG$SEG_PATH" nginx
cmp -s <(curl -fsS -m 10 "http://127.0.0.1:$NG$SEG_PATH") "$DATA$SEG_PATH" ||
  die "nginx does not serve the segment's bytes"
log "segment $SEG_PATH ($SEG_BYTES bytes)"

# a) fill the cache, check it is a hit, then load it.
curl -fsS -m 10 -o /dev/null "$LB$SEG_PATH"
XC=$(curl -fsS -m 10 -o /dev/null -D - "$LB$SEG_PATH" | tr -d '\r' |
  sed -n 's/^[Xx]-[Cc]ache: *//p')
[ "$XC" = HIT ] || die "second fetch through the balancer was X-Cache: '$XC', not HIT"
for c in 64 256; do
  rps "balancer_cached_c$c" "${PIDS[balancer]}" "$LB$SEG_PATH" "$c" "$RPS_S" "$WARM_S"
done
# b) nginx from disk, c) one node directly.
for c in 64 256; do
  rps "nginx_c$c" "${PIDS[nginx]}" "http://127.0.0.1:$NG$SEG_PATH" "$c" "$RPS_S" "$WARM_S"
done
rps node_direct_c64 "${PIDS[node-1]}" "http://127.0.0.1:$N1$SEG_PATH" 64 "$RPS_S" "$WARM_S"
# The tool's own ceiling: nginx answering a tiny file (the playlist).
rps nginx_small_c64 "${PIDS[nginx]}" "http://127.0.0.1:$NG$MEDIA_PATH" 64 "$RPS_S" "$WARM_S"

# d) node requests per viewer segment, cache on and off, each on a fresh
# balancer so the cache starts empty and the counters at zero.
viewers() { # NAME
  local name=$1 m="http://127.0.0.1:$ADMIN_PORT/metrics"
  log "viewers $name: $VIEW_N viewers, ${VIEW_S} s at ${VIEW_SPEED}x, rung $RUNG"
  measure "$name" "${PIDS[balancer]}" -- --target "$LB" --video "$VIDEO" \
    -n "$VIEW_N" -d "$VIEW_S" --ramp-up-s 2 --speed "$VIEW_SPEED" --rung "$RUNG"
  json_add "$name" --argjson up "$(metric_sum "$m" reel_balancer_upstream_requests_total)" \
    --argjson req "$(metric_sum "$m" reel_balancer_requests_total)" \
    --argjson hit "$(metric_sum "$m" reel_balancer_cache_requests_total 'result="hit"')" \
    --argjson miss "$(metric_sum "$m" reel_balancer_cache_requests_total 'result="miss"')" \
    --argjson co "$(metric_sum "$m" reel_balancer_cache_requests_total 'result="coalesced"')" \
    '{balancer_requests: $req, upstream_requests: $up, cache_hit: $hit, cache_miss: $miss,
      cache_coalesced: $co,
      node_requests_per_segment: (if .segments > 0 then $up / .segments else null end)}'
}
stop_process balancer; start_balancer "$N1 $N2"
viewers viewers_cache_on
stop_process balancer; start_balancer "$N1 $N2" REEL_CACHE__ENABLED=false
viewers viewers_cache_off

write_report --arg nginx "$NGINX_VERSION" --arg seg "$SEG_PATH" --argjson seg_bytes "$SEG_BYTES" \
  -- '{nginx: $nginx, segment: $seg, segment_bytes: $seg_bytes}' <<'JQ'
include "report";
"## Edge cache: a cached segment against nginx, node requests per viewer segment",
"",
machine + " \(.nginx).",
"Segment: `\(.segment)` (\(.segment_bytes) bytes, 720p rung). Client and servers share the same cores.",
"",
"Requests per second on one segment:",
"",
rps_header,
rps_row("reel-balancer, cached"; .runs.balancer_cached_c64),
rps_row("reel-balancer, cached"; .runs.balancer_cached_c256),
rps_row("nginx, file on disk"; .runs.nginx_c64),
rps_row("nginx, file on disk"; .runs.nginx_c256),
rps_row("reel-node, direct"; .runs.node_direct_c64),
rps_row("nginx, tiny file (tool ceiling)"; .runs.nginx_small_c64),
"",
"| ratio | value |",
"|---|---|",
"| balancer cached ÷ nginx, 64 connections | **\(ratio(.runs.balancer_cached_c64.requests_per_s; .runs.nginx_c64.requests_per_s))** |",
"| balancer cached ÷ nginx, 256 connections | **\(ratio(.runs.balancer_cached_c256.requests_per_s; .runs.nginx_c256.requests_per_s))** |",
"| node direct ÷ nginx, 64 connections | \(ratio(.runs.node_direct_c64.requests_per_s; .runs.nginx_c64.requests_per_s)) |",
"| balancer cached ÷ node direct, 64 connections | \(ratio(.runs.balancer_cached_c64.requests_per_s; .runs.node_direct_c64.requests_per_s)) |",
"",
"Node requests per viewer segment, \(.runs.viewers_cache_on.viewers) viewers through the balancer, fixed rung, video and audio segments:",
"",
"| cache | segments fetched | balancer requests | node requests | node requests per segment | hits / misses / coalesced | segment p50 / p99 (ms) | on time | errors | balancer CPU (s) |",
"|---|---|---|---|---|---|---|---|---|---|",
(["on", .runs.viewers_cache_on], ["off", .runs.viewers_cache_off] | .[1] as $v |
  "| \(.[0]) | \($v.segments) | \($v.balancer_requests) | \($v.upstream_requests) | \(r($v.node_requests_per_segment)) | \($v.cache_hit) / \($v.cache_miss) / \($v.cache_coalesced) | \($v.segment_ms_p50) / \($v.segment_ms_p99) | \(r($v.on_time_ratio * 100)) % | \(errs($v.errors)) | \($v.server_cpu_s) |"),
"",
"Node requests with the cache on ÷ off: **\(ratio(.runs.viewers_cache_on.upstream_requests; .runs.viewers_cache_off.upstream_requests))**.",
""
JQ
