#!/usr/bin/env bash
# Balancer benchmarks, all in one run on this machine (only the ratios
# between rows mean anything):
#   a) reel-balancer (sample config, edge cache off so every request takes
#      the proxy path) in front of two reel-nodes;
#   b) HAProxy (Debian package: roundrobin, health checks on /readyz,
#      http-reuse always, one thread per core, logs off) in front of the
#      same two nodes;
#   c) one node directly, the baseline of "added p99".
# Each is loaded with a small response (the 720p variant playlist) and a
# segment, at 64 and 256 connections. Also the balancer's RSS when idle,
# after start and after the load.
# Every server runs on 127.0.0.1 on a free port with its data in a temp dir
# and is stopped on exit. Writes <out>/<date>-<host>-balancer.md and .json.
#
# Usage: scripts/bench/balancer.sh [--quick] [--out DIR] [--keep]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init balancer "$@"

if [ "$QUICK" = 1 ]; then
  RPS_S=3; WARM_S=1
else
  RPS_S=10; WARM_S=2
fi
CONNS="64 256"

build_release
ensure_media 30
N1=$(free_port); N2=$(free_port); LB_PORT=$(free_port); ADMIN_PORT=$(free_port); HA=$(free_port)
start_node node-1 "$N1"
start_node node-2 "$N2"
find_segment "http://127.0.0.1:$N1"
log "small: $MEDIA_PATH; segment: $SEG_PATH ($SEG_BYTES bytes)"

# The balancer's idle RSS is read right after start (health checks have
# run once), then again after all the load below.
start_balancer "$N1 $N2" REEL_CACHE__ENABLED=false
sleep 1
RSS_START=$(rss_kib "${PIDS[balancer]}")

# HAProxy, as an operator would set it up for this job.
start_haproxy() { # PORT "NODE_PORT…"
  local haproxy p i=0 servers=""
  haproxy=$(ensure_program haproxy haproxy)
  for p in $2; do
    i=$((i + 1))
    servers+="  server node-$i 127.0.0.1:$p check inter 2s fall 2 rise 2"$'\n'
  done
  cat >"$TMP/haproxy.cfg" <<CONF
global
  nbthread $(nproc)
  maxconn 8000
  pidfile $TMP/haproxy.pid

defaults
  mode http
  option http-keep-alive
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  timeout http-request 10s
  timeout http-keep-alive 30s
  timeout check 1s

frontend viewers
  bind 127.0.0.1:$1
  maxconn 8000
  default_backend nodes

backend nodes
  balance roundrobin
  option httpchk GET /readyz
  http-reuse always
$servers
CONF
  "$haproxy" -c -q -f "$TMP/haproxy.cfg" >&2 || die "haproxy refused $TMP/haproxy.cfg"
  "$haproxy" -db -f "$TMP/haproxy.cfg" >"$TMP/logs/haproxy.log" 2>&1 &
  PIDS[haproxy]=$!
  HAPROXY_VERSION=$("$haproxy" -v 2>&1 | sed -n '1s/^HAProxy version \([^ ]*\).*/\1/p')
  wait_http "http://127.0.0.1:$1/readyz" haproxy
}
start_haproxy "$HA" "$N1 $N2"

LB=http://127.0.0.1:$LB_PORT
HP=http://127.0.0.1:$HA
D1=http://127.0.0.1:$N1
for base in "$LB" "$HP"; do
  cmp -s <(curl -fsS -m 10 "$base$SEG_PATH") "$DATA$SEG_PATH" ||
    die "$base does not pass the segment's bytes"
done

# Node CPU during a run, both nodes together (the direct runs use node-1).
nodes_cpu() { echo "$(cpu_s "${PIDS[node-1]}") + $(cpu_s "${PIDS[node-2]}")" | bc; }
run() { # NAME PID URL CONNECTIONS
  local n0
  n0=$(nodes_cpu)
  rps "$1" "$2" "$3" "$4" "$RPS_S" "$WARM_S"
  json_add "$1" --arg n "$(echo "$(nodes_cpu) - $n0" | bc)" '{nodes_cpu_s: ($n|tonumber)}'
}

# Interleaved per object and connection count, so that the noise of this
# shared machine spreads over all three setups alike.
for c in $CONNS; do
  for what in small seg; do
    case $what in small) path=$MEDIA_PATH ;; seg) path=$SEG_PATH ;; esac
    run "direct_${what}_c$c" "${PIDS[node-1]}" "$D1$path" "$c"
    run "balancer_${what}_c$c" "${PIDS[balancer]}" "$LB$path" "$c"
    run "haproxy_${what}_c$c" "${PIDS[haproxy]}" "$HP$path" "$c"
  done
done

# Idle again: give kept-alive client connections time to go.
sleep 2
RSS_AFTER=$(rss_kib "${PIDS[balancer]}")
HA_RSS=$(rss_kib "${PIDS[haproxy]}")

write_report --arg haproxy "${HAPROXY_VERSION:-unknown}" \
  --arg small "$MEDIA_PATH" --argjson small_bytes "$(stat -c %s "$DATA$MEDIA_PATH")" \
  --arg seg "$SEG_PATH" --argjson seg_bytes "$SEG_BYTES" \
  --argjson rss0 "$RSS_START" --argjson rss1 "$RSS_AFTER" --argjson ha_rss "$HA_RSS" \
  -- '{haproxy: $haproxy, small: $small, small_bytes: $small_bytes, segment: $seg,
       segment_bytes: $seg_bytes,
       balancer_rss_kib: {idle_after_start: $rss0, idle_after_load: $rss1},
       haproxy_rss_kib_after_load: $ha_rss}' <<'JQ'
include "report";
def run($w; $s; $c): .runs["\($s)_\($w)_c\($c)"];
def added($w; $s; $c): r(run($w; $s; $c).latency_ms_p99 - run($w; "direct"; $c).latency_ms_p99);
"## Balancer: reel-balancer against HAProxy over the same two nodes",
"",
machine + " HAProxy \(.haproxy).",
"Small response: the 720p variant playlist `\(.small)` (\(.small_bytes) bytes); segment: `\(.segment)` (\(.segment_bytes) bytes).",
"reel-balancer runs the sample config (configs/balancer.toml) with the edge cache off, so every request takes the proxy path; HAProxy runs roundrobin with `option httpchk GET /readyz`, `http-reuse always`, nbthread = \(.cores), logs off.",
"\"direct\" is one node without a proxy; both proxies spread over two nodes. Client, proxies and nodes share the same \(.cores) cores.",
"",
rps_header,
(("small", "seg") as $w | (64, 256) as $c | ("direct", "balancer", "haproxy") as $s |
  rps_row("\({direct: "node direct", balancer: "reel-balancer", haproxy: "HAProxy"}[$s]), \(if $w == "seg" then "segment" else "playlist" end)"; run($w; $s; $c))),
"",
"| ratio | value |",
"|---|---|",
(("small", "seg") as $w | (64, 256) as $c |
  "| reel-balancer ÷ HAProxy req/s, \(if $w == "seg" then "segment" else "playlist" end), \($c) connections | **\(ratio(run($w; "balancer"; $c).requests_per_s; run($w; "haproxy"; $c).requests_per_s))** |"),
(("small", "seg") as $w | (64, 256) as $c | ("balancer", "haproxy") as $s |
  "| added p99 (ms), \({balancer: "reel-balancer", haproxy: "HAProxy"}[$s]), \(if $w == "seg" then "segment" else "playlist" end), \($c) connections | **\(added($w; $s; $c))** |"),
"",
"Proxy CPU per request (µs), playlist at 256 connections: reel-balancer \(cpu_us(run("small"; "balancer"; 256))), HAProxy \(cpu_us(run("small"; "haproxy"; 256))).",
"",
"reel-balancer RSS when idle: **\(.balancer_rss_kib.idle_after_start / 1024 | r(.)) MB** after start, **\(.balancer_rss_kib.idle_after_load / 1024 | r(.)) MB** after the load (target ≤ 64 MB); HAProxy after the load: \(.haproxy_rss_kib_after_load / 1024 | r(.)) MB.",
""
JQ

# The ratios the report shows, also as JSON fields for the plots and the
# closing note: {small_c64: {rps_ratio, added_p99_ms: {balancer, haproxy}}, …}.
base="$OUT/$STAMP-$BENCH_NAME.json"
jq '. as $d | def run($k): $d.runs[$k];
  . + {ratios: ([("small", "seg") as $w | (64, 256) as $c | "\($w)_c\($c)" as $k |
    {key: $k, value: {
      rps_ratio: (if (run("haproxy_\($k)").requests_per_s // 0) > 0
        then run("balancer_\($k)").requests_per_s / run("haproxy_\($k)").requests_per_s else null end),
      added_p99_ms: {
        balancer: (run("balancer_\($k)").latency_ms_p99 - run("direct_\($k)").latency_ms_p99),
        haproxy: (run("haproxy_\($k)").latency_ms_p99 - run("direct_\($k)").latency_ms_p99)}}}]
    | from_entries)}' "$base" >"$base.tmp" && mv "$base.tmp" "$base"
