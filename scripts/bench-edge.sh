#!/usr/bin/env bash
# Edge-cache benchmarks, all in one run on this machine (only the ratios
# between rows mean anything):
#   a) a cached segment through reel-balancer, 64 and 256 connections;
#   b) the same file from nginx (sendfile) on disk, 64 and 256 connections;
#   c) the same segment straight from one reel-node;
#   d) node requests per viewer segment, 50 paced viewers through the
#      balancer with the edge cache on, then off.
# Every server runs on 127.0.0.1 on a free port with its data in a temp dir
# and is stopped on exit. Writes benches/results/<date>-<host>-edge.md and
# the raw JSON beside it.
#
# Usage: scripts/bench-edge.sh [--quick] [--out DIR] [--keep]
#   --quick  shorter runs (the whole script stays under ~3 minutes after the build)
#   --out    results directory (default benches/results)
#   --keep   keep the temp dir (logs, media) for inspection
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

QUICK=0
OUT=benches/results
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --out) OUT=$2; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$QUICK" = 1 ]; then
  RPS_S=4; WARM_S=1; VIEW_N=50; VIEW_S=10; CLIP_S=20
else
  RPS_S=10; WARM_S=2; VIEW_N=50; VIEW_S=20; CLIP_S=30
fi
VIEW_SPEED=4
RUNG=720p

# ---- processes and cleanup ----------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/reel-bench-edge.XXXXXX")
declare -A PIDS=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for name in "${!PIDS[@]}"; do
    kill -TERM "${PIDS[$name]}" 2>/dev/null || true
  done
  for name in "${!PIDS[@]}"; do
    wait "${PIDS[$name]}" 2>/dev/null || true
  done
  if [ "$KEEP" = 1 ] || [ "$rc" != 0 ]; then
    echo "logs and data kept in $TMP" >&2
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "bench-edge: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

# A free TCP port on 127.0.0.1: nothing answers a connect, and not handed
# out before in this run.
USED_PORTS=" "
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    case "$USED_PORTS" in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      USED_PORTS+="$p "
      echo "$p"
      return
    fi
  done
  die "no free port found"
}

wait_http() { # URL WHAT
  for _ in $(seq 1 150); do
    curl -fsS -m 2 -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  die "$2 did not answer at $1 (logs in $TMP)"
}

# CPU seconds (user + system) of a process and its direct children.
TICK=$(getconf CLK_TCK)
cpu_s() {
  local total=0 p f
  for p in "$1" $(pgrep -P "$1" || true); do
    [ -r "/proc/$p/stat" ] || continue
    # Fields after the command name, which may hold spaces: utime is the
    # 12th, stime the 13th.
    f=$(sed 's/^.*) //' "/proc/$p/stat")
    set -- $f
    total=$((total + ${12} + ${13}))
  done
  echo "scale=3; $total / $TICK" | bc
}

# ---- build and tools ------------------------------------------------------
log "building release binaries"
cargo build --release -p reel-node -p reel-balancer -p reel-loadgen
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
LOADGEN=$BIN/reel-loadgen
for t in curl ffmpeg jq bc pgrep; do command -v "$t" >/dev/null || die "$t is needed"; done

NGINX=$(command -v nginx || true)
[ -n "$NGINX" ] || [ ! -x /usr/sbin/nginx ] || NGINX=/usr/sbin/nginx
if [ -z "$NGINX" ]; then
  log "installing nginx (Debian package)"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get install -y --no-install-recommends nginx >&2 || {
    $SUDO apt-get update >&2 && $SUDO apt-get install -y --no-install-recommends nginx >&2
  }
  NGINX=/usr/sbin/nginx
  # The package may have started its own service; the bench uses only the
  # instance it starts below.
fi

# ---- media ----------------------------------------------------------------
DATA=$TMP/data
mkdir -p "$DATA" "$TMP/logs" "$TMP/json"
# Temporal noise keeps the encoder near the rung's bitrate cap, so segments
# have the size of real footage rather than of a still test pattern.
log "making a ${CLIP_S} s 1280x720 test clip"
ffmpeg -v error -y -f lavfi -i "testsrc=size=1280x720:rate=30:duration=$CLIP_S" \
  -f lavfi -i "sine=frequency=440:duration=$CLIP_S" -vf "noise=alls=25:allf=t+u" \
  -c:v libx264 -preset ultrafast -crf 18 \
  -pix_fmt yuv420p -c:a aac -shortest "$TMP/clip.mp4"
"$BIN/reel-node" --data-dir "$DATA" migrate >/dev/null
log "importing it (transcodes the ladder)"
VIDEO=$("$BIN/reel-node" --data-dir "$DATA" import "$TMP/clip.mp4" --title bench 2>"$TMP/logs/import.log" | tail -1)
[ -n "$VIDEO" ] || die "import printed no id (see $TMP/logs/import.log)"

# ---- servers --------------------------------------------------------------
N1=$(free_port); N2=$(free_port); LB=$(free_port); ADMIN=$(free_port); NG=$(free_port)
for n in 1 2; do
  port=$([ "$n" = 1 ] && echo "$N1" || echo "$N2")
  REEL_DATA_DIR="$DATA" "$BIN/reel-node" --listen "127.0.0.1:$port" --node-name "node-$n" serve \
    >"$TMP/logs/node-$n.log" 2>&1 &
  PIDS[node$n]=$!
done
wait_http "http://127.0.0.1:$N1/readyz" node-1
wait_http "http://127.0.0.1:$N2/readyz" node-2

start_balancer() { # extra env assignments
  mkdir -p -m 700 "$TMP/balancer"
  env REEL_UPGRADE_SOCK="$TMP/balancer/upgrade.sock" \
    REEL_LIMITS__MAX_CONNECTIONS_PER_IP=2048 "$@" \
    "$BIN/reel-balancer" --config "$ROOT/configs/balancer.toml" \
    --listen "127.0.0.1:$LB" --admin-listen "127.0.0.1:$ADMIN" \
    --backend "127.0.0.1:$N1" --backend "127.0.0.1:$N2" \
    >>"$TMP/logs/balancer.log" 2>&1 &
  PIDS[balancer]=$!
  wait_http "http://127.0.0.1:$LB/readyz" balancer
}
stop_balancer() {
  kill -TERM "${PIDS[balancer]}" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "${PIDS[balancer]}" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "${PIDS[balancer]}" 2>/dev/null || true
  wait "${PIDS[balancer]}" 2>/dev/null || true
  unset 'PIDS[balancer]'
}
start_balancer

# As root, nginx's workers would switch to `nobody`, who cannot read the
# private temp dir: keep them as the current user.
NGINX_USER=""
[ "$(id -u)" != 0 ] || NGINX_USER="user $(id -un) $(id -gn);"
cat >"$TMP/nginx.conf" <<CONF
$NGINX_USER
worker_processes $(nproc);
daemon off;
pid $TMP/nginx.pid;
error_log $TMP/logs/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  client_body_temp_path $TMP/nginx-tmp;
  proxy_temp_path $TMP/nginx-tmp;
  fastcgi_temp_path $TMP/nginx-tmp;
  uwsgi_temp_path $TMP/nginx-tmp;
  scgi_temp_path $TMP/nginx-tmp;
  types { video/iso.segment m4s; video/mp4 mp4; }
  server {
    listen 127.0.0.1:$NG;
    root $DATA;
  }
}
CONF
mkdir -p "$TMP/nginx-tmp"
"$NGINX" -p "$TMP" -e "$TMP/logs/nginx-error.log" -c "$TMP/nginx.conf" >"$TMP/logs/nginx.log" 2>&1 &
PIDS[nginx]=$!

# ---- the segment ----------------------------------------------------------
# Resolves a playlist line against the playlist's URL.
resolve() { # BASE_URL REF
  case "$2" in
    http://*) echo "$2" ;;
    /*) echo "${1%%/media/*}$2" ;;
    *) echo "${1%/*}/$2" ;;
  esac
}
MASTER_URL=$(curl -fsSL -m 10 -o "$TMP/master.m3u8" -w '%{url_effective}' \
  "http://127.0.0.1:$LB/media/$VIDEO/master.m3u8")
VARIANT=$(grep -A1 "RESOLUTION=1280x720" "$TMP/master.m3u8" | grep -v '^#' | head -1 || true)
[ -n "$VARIANT" ] || die "no 1280x720 rung in $TMP/master.m3u8"
MEDIA_URL=$(resolve "$MASTER_URL" "$VARIANT")
curl -fsS -m 10 -o "$TMP/media.m3u8" "$MEDIA_URL"
SEG_REF=$(grep -v '^#' "$TMP/media.m3u8" | grep . | sed -n 2p)
SEG_URL=$(resolve "$MEDIA_URL" "$SEG_REF")
SEG_PATH=${SEG_URL#http://127.0.0.1:$LB}
[ -f "$DATA$SEG_PATH" ] || die "segment $SEG_PATH is not at $DATA$SEG_PATH"
SEG_BYTES=$(stat -c %s "$DATA$SEG_PATH")
wait_http "http://127.0.0.1:$NG$SEG_PATH" nginx
cmp -s <(curl -fsS -m 10 "http://127.0.0.1:$NG$SEG_PATH") "$DATA$SEG_PATH" ||
  die "nginx does not serve the segment's bytes"
log "segment $SEG_PATH ($SEG_BYTES bytes)"

# ---- measurements ---------------------------------------------------------
# Runs reel-loadgen and records its JSON plus the CPU seconds of the
# server under load and of the loadgen itself.
measure() { # NAME SERVER_PID -- loadgen args…
  local name=$1 pid=$2 c0 c1 l0 l1
  shift 3
  c0=$(cpu_s "$pid")
  # `times` must run in this shell: a subshell starts with no children's time.
  times >"$TMP/times"
  l0=$(tail -1 "$TMP/times")
  "$LOADGEN" "$@" --json "$TMP/json/$name.json" | sed "s/^/   [$name] /" >&2
  times >"$TMP/times"
  l1=$(tail -1 "$TMP/times")
  c1=$(cpu_s "$pid")
  # `times` prints the children's user and system time, e.g. "0m1.5s 0m0.2s".
  local lcpu
  lcpu=$(awk -v a="$l0" -v b="$l1" 'function s(t, m){split(t,m,/[ms]/); return m[1]*60+m[2]}
    BEGIN{split(a,x," "); split(b,y," "); printf "%.3f", s(y[1])+s(y[2])-s(x[1])-s(x[2])}')
  jq --arg c "$(echo "$c1 - $c0" | bc)" --arg l "$lcpu" \
    '. + {server_cpu_s: ($c|tonumber), loadgen_cpu_s: ($l|tonumber)}' \
    "$TMP/json/$name.json" >"$TMP/json/$name.tmp" && mv "$TMP/json/$name.tmp" "$TMP/json/$name.json"
}
rps() { # NAME PID BASE CONNECTIONS [PATH]
  log "rps $1: $4 connections, ${RPS_S} s"
  measure "$1" "$2" -- rps --url "$3${5:-$SEG_PATH}" --connections "$4" \
    --duration-s "$RPS_S" --warmup-s "$WARM_S"
}

# a) fill the cache, check it is a hit, then load it.
curl -fsS -m 10 -o /dev/null "http://127.0.0.1:$LB$SEG_PATH"
XC=$(curl -fsS -m 10 -o /dev/null -D - "http://127.0.0.1:$LB$SEG_PATH" | tr -d '\r' |
  sed -n 's/^[Xx]-[Cc]ache: *//p')
[ "$XC" = HIT ] || die "second fetch through the balancer was X-Cache: '$XC', not HIT"
for c in 64 256; do rps "balancer_cached_c$c" "${PIDS[balancer]}" "http://127.0.0.1:$LB" "$c"; done
# b) nginx from disk, c) one node directly.
for c in 64 256; do rps "nginx_c$c" "${PIDS[nginx]}" "http://127.0.0.1:$NG" "$c"; done
rps node_direct_c64 "${PIDS[node1]}" "http://127.0.0.1:$N1" 64
# The tool's own ceiling: nginx answering a tiny file (the playlist).
MEDIA_PATH=${MEDIA_URL#http://127.0.0.1:$LB}
rps nginx_small_c64 "${PIDS[nginx]}" "http://127.0.0.1:$NG" 64 "$MEDIA_PATH"

# d) node requests per viewer segment, cache on and off, each on a fresh
# balancer so the cache starts empty and the counters at zero.
metric_sum() { # NAME [LABEL_FILTER]
  curl -fsS -m 5 "http://127.0.0.1:$ADMIN/metrics" |
    awk -v n="$1" -v f="${2:-}" '($1 == n || index($1, n "{") == 1) && index($1, f) {s += $2}
      END {printf "%d", s}'
}
viewers() { # NAME
  local name=$1
  log "viewers $name: $VIEW_N viewers, ${VIEW_S} s at ${VIEW_SPEED}x, rung $RUNG"
  measure "$name" "${PIDS[balancer]}" -- --target "http://127.0.0.1:$LB" --video "$VIDEO" \
    -n "$VIEW_N" -d "$VIEW_S" --ramp-up-s 2 --speed "$VIEW_SPEED" --rung "$RUNG"
  jq --argjson up "$(metric_sum reel_balancer_upstream_requests_total)" \
    --argjson req "$(metric_sum reel_balancer_requests_total)" \
    --argjson hit "$(metric_sum reel_balancer_cache_requests_total 'result="hit"')" \
    --argjson miss "$(metric_sum reel_balancer_cache_requests_total 'result="miss"')" \
    --argjson co "$(metric_sum reel_balancer_cache_requests_total 'result="coalesced"')" \
    '. + {balancer_requests: $req, upstream_requests: $up, cache_hit: $hit, cache_miss: $miss,
          cache_coalesced: $co,
          node_requests_per_segment: (if .segments > 0 then $up / .segments else null end)}' \
    "$TMP/json/$name.json" >"$TMP/json/$name.tmp" && mv "$TMP/json/$name.tmp" "$TMP/json/$name.json"
}
stop_balancer; start_balancer
viewers viewers_cache_on
stop_balancer; start_balancer REEL_CACHE__ENABLED=false
viewers viewers_cache_off

# ---- report ---------------------------------------------------------------
DATE=$(date -u +%Y-%m-%d)
HOST=$(hostname -s 2>/dev/null || hostname)
mkdir -p "$OUT"
BASE="$OUT/$DATE-$HOST-edge"
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
NGINX_V=$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')
jq -s --arg date "$DATE" --arg host "$HOST" --arg cpu "$CPU_MODEL" --argjson cores "$(nproc)" \
  --arg nginx "$NGINX_V" --arg seg "$SEG_PATH" --argjson seg_bytes "$SEG_BYTES" \
  --argjson quick "$QUICK" --arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  --argjson names "$(cd "$TMP/json" && ls *.json | sed 's/\.json$//' | jq -R . | jq -s .)" \
  '{date: $date, host: $host, cpu: $cpu, cores: $cores, nginx: $nginx, commit: $commit,
    quick: ($quick == 1), segment: $seg, segment_bytes: $seg_bytes,
    runs: ([$names, .] | transpose | map({key: .[0], value: .[1]}) | from_entries)}' \
  "$TMP"/json/*.json >"$BASE.json"

jq -r -f /dev/stdin "$BASE.json" >"$BASE.md" <<'JQ'
def r(x): (x * 100 | round) / 100;
def cpu_us(run): if run.requests > 0 then (run.server_cpu_s / run.requests * 1e6 | round) else null end;
def row($n; $title): .runs[$n] as $r |
  "| \($title) | \($r.connections) | \($r.requests_per_s | round) | \(r($r.mbytes_per_s)) | \($r.latency_ms_p50) / \($r.latency_ms_p99) / \($r.latency_ms_max) | \($r.errors | to_entries | map("\(.key): \(.value)") | join(", ") | if . == "" then "none" else . end) | \($r.server_cpu_s) | \(cpu_us($r)) | \($r.loadgen_cpu_s) |";
def ratio(a; b): r(.runs[a].requests_per_s / .runs[b].requests_per_s);
"# Edge cache benchmark, \(.date)",
"",
"Machine: \(.host), \(.cpu), \(.cores) cores; \(.nginx); commit \(.commit)\(if .quick then "; --quick" else "" end).",
"Segment: `\(.segment)` (\(.segment_bytes) bytes, 720p rung). Client and servers share the same cores.",
"",
"## Requests per second on one segment",
"",
"| server | connections | req/s | MB/s | latency p50 / p99 / max (ms) | errors | server CPU (s) | server CPU per request (µs) | loadgen CPU (s) |",
"|---|---|---|---|---|---|---|---|---|",
row("balancer_cached_c64"; "reel-balancer, cached"),
row("balancer_cached_c256"; "reel-balancer, cached"),
row("nginx_c64"; "nginx, file on disk"),
row("nginx_c256"; "nginx, file on disk"),
row("node_direct_c64"; "reel-node, direct"),
row("nginx_small_c64"; "nginx, tiny file (tool ceiling)"),
"",
"| ratio | value |",
"|---|---|",
"| balancer cached ÷ nginx, 64 connections | **\(ratio("balancer_cached_c64"; "nginx_c64"))** |",
"| balancer cached ÷ nginx, 256 connections | **\(ratio("balancer_cached_c256"; "nginx_c256"))** |",
"| node direct ÷ nginx, 64 connections | \(ratio("node_direct_c64"; "nginx_c64")) |",
"| balancer cached ÷ node direct, 64 connections | \(ratio("balancer_cached_c64"; "node_direct_c64")) |",
"",
"## Node requests per viewer segment",
"",
"\(.runs.viewers_cache_on.viewers) viewers through the balancer, fixed rung, video and audio segments.",
"",
"| cache | segments fetched | balancer requests | node requests | node requests per segment | hits / misses / coalesced | segment p50 / p99 (ms) | on time | errors | balancer CPU (s) |",
"|---|---|---|---|---|---|---|---|---|---|",
(["on", .runs.viewers_cache_on], ["off", .runs.viewers_cache_off] | .[1] as $v |
  "| \(.[0]) | \($v.segments) | \($v.balancer_requests) | \($v.upstream_requests) | \(r($v.node_requests_per_segment)) | \($v.cache_hit) / \($v.cache_miss) / \($v.cache_coalesced) | \($v.segment_ms_p50) / \($v.segment_ms_p99) | \(r($v.on_time_ratio * 100)) % | \($v.errors | to_entries | map("\(.key): \(.value)") | join(", ") | if . == "" then "none" else . end) | \($v.server_cpu_s) |"),
"",
"Node requests with the cache on ÷ off: **\(r(.runs.viewers_cache_on.upstream_requests / .runs.viewers_cache_off.upstream_requests))**."
JQ
cat "$BASE.md"
log "wrote $BASE.md and $BASE.json"
