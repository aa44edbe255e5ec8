#!/usr/bin/env bash
# File serving: reel-node against nginx (Debian package, sendfile on)
# serving the same media folder, in one run on this machine (only the
# ratios between rows mean anything):
#   a) the 720p variant playlist and a 720p segment (~1.4 MB), each at 64
#      and 256 keep-alive connections (closed loop, `reel-loadgen rps`):
#      req/s, latency p50/p99, server CPU seconds;
#   b) the resident memory of each server idle and with 1,000 open
#      keep-alive connections that have each carried one request.
# Every server runs on 127.0.0.1 on a free port with its data in a temp dir
# and is stopped on exit. Writes <out>/<date>-<host>-serve.md and .json.
#
# Usage: scripts/bench/serve.sh [--quick] [--out DIR] [--keep]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init serve "$@"

if [ "$QUICK" = 1 ]; then
  RPS_S=4; WARM_S=1
else
  RPS_S=10; WARM_S=2
fi
HELD=1000

# 1,000 held connections plus the load's own need more descriptors than
# the usual soft limit of 1,024, in the servers and in the holder.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 8192 2>/dev/null || true

build_release
ensure_media 30
NP=$(free_port); NG=$(free_port)
# Every connection comes from 127.0.0.1 here: lift the per-client cap
# (256 by default) so the 256-connection runs and the 1,000 held
# connections are not refused as one greedy client.
start_node node "$NP" REEL_HTTP__MAX_CONNECTIONS_PER_CLIENT=4096
start_nginx "$NG" "$DATA"
NODE=http://127.0.0.1:$NP
NGINX=http://127.0.0.1:$NG

find_segment "$NODE"
wait_http "$NGINX$SEG_PATH" nginx
for p in "$SEG_PATH" "$MEDIA_PATH"; do
  cmp -s <(curl -fsS -m 10 "$NGINX$p") <(curl -fsS -m 10 "$NODE$p") ||
    die "nginx and the node do not serve the same bytes for $p"
done
PLAYLIST_BYTES=$(stat -c %s "$DATA$MEDIA_PATH")
log "segment $SEG_PATH ($SEG_BYTES bytes), playlist $MEDIA_PATH ($PLAYLIST_BYTES bytes)"

NODE_RSS_IDLE=$(rss_kib "${PIDS[node]}")
NGINX_RSS_IDLE=$(rss_kib "${PIDS[nginx]}")

# a) each pair back to back, nginx first, so both see the same machine.
for c in 64 256; do
  for what in segment playlist; do
    if [ "$what" = segment ]; then path=$SEG_PATH; else path=$MEDIA_PATH; fi
    rps "nginx_${what}_c$c" "${PIDS[nginx]}" "$NGINX$path" "$c" "$RPS_S" "$WARM_S"
    rps "node_${what}_c$c" "${PIDS[node]}" "$NODE$path" "$c" "$RPS_S" "$WARM_S"
  done
done

# b) RSS with HELD idle keep-alive connections, each after one playlist GET.
# Prints "<rss KiB> <connections held> <refused or failed>".
held_rss() { # NAME PORT
  local ready="$TMP/held-$1" pid out
  rm -f "$ready"
  python3 "$ROOT/scripts/bench/hold_connections.py" 127.0.0.1 "$2" "$MEDIA_PATH" "$HELD" \
    "$ready" 60 &
  pid=$!
  for _ in $(seq 1 600); do
    [ -e "$ready" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -e "$ready" ] || die "the connection holder did not get ready"
  # A moment for the server to settle after the last answer.
  sleep 0.5
  out="$(rss_kib "${PIDS[$1]}") $(cat "$ready")"
  rm -f "$ready"
  wait "$pid" || true
  echo "$out"
}
log "RSS with $HELD open connections"
read -r NODE_RSS_HELD NODE_HELD NODE_HELD_FAILED < <(held_rss node "$NP")
read -r NGINX_RSS_HELD NGINX_HELD NGINX_HELD_FAILED < <(held_rss nginx "$NG")
log "node RSS $NODE_RSS_IDLE KiB idle, $NODE_RSS_HELD KiB with $NODE_HELD connections"

write_report --arg nginx "$NGINX_VERSION" --arg seg "$SEG_PATH" --argjson seg_bytes "$SEG_BYTES" \
  --arg playlist "$MEDIA_PATH" --argjson playlist_bytes "$PLAYLIST_BYTES" \
  --argjson held "$HELD" \
  --argjson node_rss_idle "$NODE_RSS_IDLE" --argjson node_rss_held "$NODE_RSS_HELD" \
  --argjson node_held "$NODE_HELD" --argjson node_held_failed "$NODE_HELD_FAILED" \
  --argjson nginx_rss_idle "$NGINX_RSS_IDLE" --argjson nginx_rss_held "$NGINX_RSS_HELD" \
  --argjson nginx_held "$NGINX_HELD" --argjson nginx_held_failed "$NGINX_HELD_FAILED" \
  -- '{nginx: $nginx, segment: $seg, segment_bytes: $seg_bytes, playlist: $playlist,
       playlist_bytes: $playlist_bytes, held_connections: $held,
       node_rss_idle_kib: $node_rss_idle, node_rss_held_kib: $node_rss_held,
       node_held_open: $node_held, node_held_failed: $node_held_failed,
       nginx_rss_idle_kib: $nginx_rss_idle, nginx_rss_held_kib: $nginx_rss_held,
       nginx_held_open: $nginx_held, nginx_held_failed: $nginx_held_failed}' <<'JQ'
include "report";
def mib(k): r(k / 1024);
"## File serving: reel-node against nginx",
"",
machine + " \(.nginx) (sendfile on, one worker per core, access log off).",
"Segment: `\(.segment)` (\(.segment_bytes) bytes, 720p rung); playlist: `\(.playlist)` (\(.playlist_bytes) bytes). Client and servers share the same cores.",
"",
"Requests per second, closed loop on keep-alive connections:",
"",
rps_header,
(["segment", "playlist"][] as $w | (64, 256) as $c |
  rps_row("nginx, \($w)"; .runs["nginx_\($w)_c\($c)"]),
  rps_row("reel-node, \($w)"; .runs["node_\($w)_c\($c)"])),
"",
"| ratio (reel-node ÷ nginx, req/s) | 64 connections | 256 connections |",
"|---|---|---|",
((["segment", "0.9"], ["playlist", "0.7"]) as [$w, $goal] |
  "| \($w) (goal ≥ \($goal)) | **\(ratio(.runs["node_\($w)_c64"].requests_per_s; .runs["nginx_\($w)_c64"].requests_per_s))** | **\(ratio(.runs["node_\($w)_c256"].requests_per_s; .runs["nginx_\($w)_c256"].requests_per_s))** |"),
"",
"Server CPU per request, reel-node ÷ nginx (less sensitive than req/s to other load on the machine):",
"",
"| file | 64 connections | 256 connections |",
"|---|---|---|",
(["segment", "playlist"][] as $w |
  "| \($w) | \(ratio(cpu_us(.runs["node_\($w)_c64"]); cpu_us(.runs["nginx_\($w)_c64"]))) | \(ratio(cpu_us(.runs["node_\($w)_c256"]); cpu_us(.runs["nginx_\($w)_c256"]))) |"),
"",
"Resident memory (MiB), idle and with \(.held_connections) open keep-alive connections that each carried one playlist request:",
"",
"| server | idle | with connections open | connections held / failed |",
"|---|---|---|---|",
"| reel-node (goal ≤ 100 MiB) | \(mib(.node_rss_idle_kib)) | **\(mib(.node_rss_held_kib))** | \(.node_held_open) / \(.node_held_failed) |",
"| nginx (master + workers) | \(mib(.nginx_rss_idle_kib)) | \(mib(.nginx_rss_held_kib)) | \(.nginx_held_open) / \(.nginx_held_failed) |",
""
JQ
