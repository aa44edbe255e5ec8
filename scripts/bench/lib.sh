# Shared parts of the bench scripts in scripts/bench/: argument parsing,
# process cleanup, free ports, CPU and RSS readings, tool installation,
# the imported test clip, and starting nodes, the balancer and nginx.
# Sourced, never run: `. "$(dirname "$0")/lib.sh"` then `bench_init NAME "$@"`.
#
# Every part accepts:
#   --quick   short runs (`make bench`)
#   --out DIR where NAME.md and NAME.json go (default benches/results, as
#             <date>-<host>-NAME.md/.json)
#   --keep    keep the temp dir (logs, data) for inspection
# Environment shared by the driver (scripts/bench.sh):
#   BENCH_SHARED  a directory where the imported clip is kept between parts
#   BENCH_BUILT=1 the release binaries are already built
#   BENCH_STAMP   <date>-<host> used in file names

set -euo pipefail

# ---- arguments, temp dir and cleanup ---------------------------------------
bench_init() { # NAME "$@"
  BENCH_NAME=$1
  shift
  ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  cd "$ROOT"
  QUICK=0
  OUT=benches/results
  KEEP=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --quick) QUICK=1 ;;
      --out) OUT=$2; shift ;;
      --keep) KEEP=1 ;;
      -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
      *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
  done
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/reel-bench-$BENCH_NAME.XXXXXX")
  mkdir -p "$TMP/logs" "$TMP/json"
  DATE=$(date -u +%Y-%m-%d)
  HOST=$(hostname -s 2>/dev/null || hostname)
  STAMP=${BENCH_STAMP:-$DATE-$HOST}
  declare -gA PIDS=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local name
  for name in "${!PIDS[@]}"; do kill -TERM "${PIDS[$name]}" 2>/dev/null || true; done
  for name in "${!PIDS[@]}"; do wait "${PIDS[$name]}" 2>/dev/null || true; done
  if [ "$KEEP" = 1 ] || [ "$rc" != 0 ]; then
    echo "bench-$BENCH_NAME: logs and data kept in $TMP" >&2
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}

die() { echo "bench-$BENCH_NAME: $*" >&2; exit 1; }
log() { echo "== [$BENCH_NAME] $*" >&2; }

# ---- ports, readiness, resources ------------------------------------------
# A free TCP port on 127.0.0.1: nothing answers a connect, and not handed
# out before in this run. Taken below the kernel's ephemeral range, so the
# thousands of client connections a bench opens cannot take it first.
# `free_port` runs in a `$(...)` subshell, so the ports handed out are kept
# in a file: a shell variable set there would be lost.
EPHEMERAL_LOW=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
  local p span=$((EPHEMERAL_LOW - 10000))
  [ "$span" -gt 1000 ] || span=20000
  for _ in $(seq 1 200); do
    p=$((10000 + RANDOM % span))
    grep -qx "$p" "$TMP/ports" 2>/dev/null && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p" >>"$TMP/ports"
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
cpu_s() { # PID
  local total=0 p f
  for p in "$1" $(pgrep -P "$1" || true); do
    [ -r "/proc/$p/stat" ] || continue
    # Fields after the command name, which may hold spaces: utime is the
    # 12th, stime the 13th.
    f=$(sed 's/^.*) //' "/proc/$p/stat")
    # shellcheck disable=SC2086
    set -- $f
    total=$((total + ${12} + ${13}))
  done
  echo "scale=3; $total / $TICK" | bc
}

# Resident memory in KiB of a process and its direct children.
rss_kib() { # PID
  local total=0 p v
  for p in "$1" $(pgrep -P "$1" || true); do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# ---- build and tools --------------------------------------------------------
build_release() {
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
  if [ "${BENCH_BUILT:-0}" != 1 ]; then
    log "building release binaries"
    cargo build --release -p reel-node -p reel-balancer -p reel-loadgen >&2
  fi
  LOADGEN=$BIN/reel-loadgen
  for t in curl ffmpeg jq bc pgrep; do command -v "$t" >/dev/null || die "$t is needed"; done
}

# Installs a Debian package when its program is missing; prints the path.
ensure_program() { # PROGRAM PACKAGE
  local p
  p=$(command -v "$1" || true)
  [ -n "$p" ] || [ ! -x "/usr/sbin/$1" ] || p=/usr/sbin/$1
  if [ -z "$p" ]; then
    log "installing $2 (Debian package)"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get install -y --no-install-recommends "$2" >&2 || {
      $sudo apt-get update >&2 && $sudo apt-get install -y --no-install-recommends "$2" >&2
    }
    p=/usr/sbin/$1
    # The package may start its own service; the benches use only the
    # instances they start themselves.
  fi
  echo "$p"
}

# ---- the test clip ---------------------------------------------------------
# Makes a 1280x720 clip (testsrc with temporal noise, so 720p segments have
# the size of real footage, and a sine tone) and imports it with
# `reel-node import`. Sets DATA (the node's data dir) and VIDEO. With
# BENCH_SHARED set, the import is made once and reused by later parts.
ensure_media() { # [CLIP_SECONDS]
  local secs=${1:-30} base
  if [ -n "${BENCH_SHARED:-}" ]; then base=$BENCH_SHARED/media-$secs; else base=$TMP/media; fi
  DATA=$base/data
  if [ -s "$base/video_id" ]; then
    VIDEO=$(cat "$base/video_id")
    return
  fi
  mkdir -p "$DATA"
  log "making a ${secs} s 1280x720 test clip"
  ffmpeg -v error -y -f lavfi -i "testsrc=size=1280x720:rate=30:duration=$secs" \
    -f lavfi -i "sine=frequency=440:duration=$secs" -vf "noise=alls=25:allf=t+u" \
    -c:v libx264 -preset ultrafast -crf 18 \
    -pix_fmt yuv420p -c:a aac -shortest "$base/clip.mp4"
  "$BIN/reel-node" --data-dir "$DATA" migrate >/dev/null
  log "importing it (transcodes the ladder)"
  VIDEO=$("$BIN/reel-node" --data-dir "$DATA" import "$base/clip.mp4" --title bench \
    2>"$base/import.log" | tail -1)
  [ -n "$VIDEO" ] || die "import printed no id (see $base/import.log)"
  echo "$VIDEO" >"$base/video_id"
}

# Resolves a playlist line against the playlist's URL.
resolve() { # BASE_URL REF
  case "$2" in
    http://*) echo "$2" ;;
    /*) echo "${1%%/media/*}$2" ;;
    *) echo "${1%/*}/$2" ;;
  esac
}

# Sets MEDIA_PATH (the 720p variant playlist) and SEG_PATH (its second
# segment) and SEG_BYTES, read through BASE_URL (a node or the balancer).
find_segment() { # BASE_URL
  local master_url variant media_url seg
  master_url=$(curl -fsSL -m 10 -o "$TMP/master.m3u8" -w '%{url_effective}' \
    "$1/media/$VIDEO/master.m3u8")
  variant=$(grep -A1 "RESOLUTION=1280x720" "$TMP/master.m3u8" | grep -v '^#' | head -1 || true)
  [ -n "$variant" ] || die "no 1280x720 rung in $TMP/master.m3u8"
  media_url=$(resolve "$master_url" "$variant")
  curl -fsS -m 10 -o "$TMP/media.m3u8" "$media_url"
  seg=$(resolve "$media_url" "$(grep -v '^#' "$TMP/media.m3u8" | grep . | sed -n 2p)")
  MEDIA_PATH=${media_url#"$1"}
  SEG_PATH=${seg#"$1"}
  [ -f "$DATA$SEG_PATH" ] || die "segment $SEG_PATH is not at $DATA$SEG_PATH"
  SEG_BYTES=$(stat -c %s "$DATA$SEG_PATH")
}

# ---- servers ---------------------------------------------------------------
start_node() { # NAME PORT [extra env assignments…]
  local name=$1 port=$2
  shift 2
  env REEL_DATA_DIR="$DATA" "$@" "$BIN/reel-node" --listen "127.0.0.1:$port" \
    --node-name "$name" serve >"$TMP/logs/$name.log" 2>&1 &
  PIDS[$name]=$!
  wait_http "http://127.0.0.1:$port/readyz" "$name"
}

# Starts reel-balancer with the sample config on LB_PORT (admin on
# ADMIN_PORT) in front of the given node ports.
start_balancer() { # "PORT PORT…" [extra env assignments…]
  local backends=() p
  for p in $1; do backends+=(--backend "127.0.0.1:$p"); done
  shift
  mkdir -p -m 700 "$TMP/balancer"
  env REEL_UPGRADE_SOCK="$TMP/balancer/upgrade.sock" \
    REEL_LIMITS__MAX_CONNECTIONS_PER_IP=4096 "$@" \
    "$BIN/reel-balancer" --config "$ROOT/configs/balancer.toml" \
    --listen "127.0.0.1:$LB_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
    "${backends[@]}" >>"$TMP/logs/balancer.log" 2>&1 &
  PIDS[balancer]=$!
  wait_http "http://127.0.0.1:$LB_PORT/readyz" balancer
}

stop_process() { # NAME
  local pid=${PIDS[$1]:-}
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "PIDS[$1]"
}

# nginx (Debian package, sendfile on, one worker per core, access log off)
# serving ROOT_DIR as a static folder on PORT.
start_nginx() { # PORT ROOT_DIR
  local nginx user=""
  nginx=$(ensure_program nginx nginx)
  # As root, nginx's workers would switch to `nobody`, who cannot read the
  # private temp dir: keep them as the current user.
  [ "$(id -u)" != 0 ] || user="user $(id -un) $(id -gn);"
  mkdir -p "$TMP/nginx-tmp"
  cat >"$TMP/nginx.conf" <<CONF
$user
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
  types { video/iso.segment m4s; video/mp4 mp4; application/vnd.apple.mpegurl m3u8; }
  server {
    listen 127.0.0.1:$1;
    root $2;
  }
}
CONF
  "$nginx" -p "$TMP" -e "$TMP/logs/nginx-error.log" -c "$TMP/nginx.conf" \
    >"$TMP/logs/nginx.log" 2>&1 &
  PIDS[nginx]=$!
  NGINX_VERSION=$("$nginx" -v 2>&1 | sed 's/^nginx version: //')
}

# ---- measurements ------------------------------------------------------------
# Runs reel-loadgen with the given arguments, writes its JSON to
# $TMP/json/NAME.json and adds the CPU seconds the server (PID, with its
# children) and the loadgen itself used, and the server's RSS afterwards.
measure() { # NAME PID -- loadgen args…
  local name=$1 pid=$2 c0 c1 l0 l1 lcpu
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
  lcpu=$(awk -v a="$l0" -v b="$l1" 'function s(t, m){split(t,m,/[ms]/); return m[1]*60+m[2]}
    BEGIN{split(a,x," "); split(b,y," "); printf "%.3f", s(y[1])+s(y[2])-s(x[1])-s(x[2])}')
  json_add "$name" --arg c "$(echo "$c1 - $c0" | bc)" --arg l "$lcpu" --arg r "$(rss_kib "$pid")" \
    '{server_cpu_s: ($c|tonumber), loadgen_cpu_s: ($l|tonumber), server_rss_kib: ($r|tonumber)}'
}

# Closed-loop requests per second on one URL.
rps() { # NAME PID URL CONNECTIONS SECONDS WARMUP_SECONDS
  log "rps $1: $4 connections, $5 s"
  measure "$1" "$2" -- rps --url "$3" --connections "$4" --duration-s "$5" --warmup-s "$6"
}

# Merges a jq object (built from the given jq arguments) into NAME.json.
json_add() { # NAME jq-args… FILTER
  local name=$1
  shift
  jq "$@" "$TMP/json/$name.json" | jq -s '.[0] + .[1]' "$TMP/json/$name.json" - \
    >"$TMP/json/$name.tmp" && mv "$TMP/json/$name.tmp" "$TMP/json/$name.json"
}

# Sum of a Prometheus metric (all series, or those whose labels contain
# FILTER) at URL.
metric_sum() { # URL NAME [LABEL_FILTER]
  curl -fsS -m 5 "$1" |
    awk -v n="$2" -v f="${3:-}" '($1 == n || index($1, n "{") == 1) && index($1, f) {s += $2}
      END {printf "%d", s}'
}

# ---- report ------------------------------------------------------------------
# Gathers $TMP/json/*.json into $OUT/$STAMP-$BENCH_NAME.json as
# {date, host, cpu, cores, commit, quick, meta…, runs: {NAME: …}}, then
# renders the markdown with the jq program on stdin. Extra jq arguments
# (--arg/--argjson) become fields of the top-level object via META.
write_report() { # [jq-args for meta…] -- META_FILTER  (markdown jq program on stdin)
  local args=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
  shift || true
  local meta=${1:-"{}"} base cpu
  mkdir -p "$OUT"
  base="$OUT/$STAMP-$BENCH_NAME"
  cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
  local names
  names=$(cd "$TMP/json" && ls ./*.json 2>/dev/null | sed 's|^\./||; s/\.json$//' | jq -R . | jq -s .)
  jq -n "${args[@]}" --arg date "$DATE" --arg host "$HOST" --arg cpu "$cpu" \
    --argjson cores "$(nproc)" --argjson quick "$QUICK" --arg part "$BENCH_NAME" \
    --arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    --argjson names "$names" --slurpfile runs <(cat "$TMP"/json/*.json 2>/dev/null) \
    "{part: \$part, date: \$date, host: \$host, cpu: \$cpu, cores: \$cores, commit: \$commit,
      quick: (\$quick == 1)} + ($meta) +
     {runs: ([\$names, \$runs] | transpose | map({key: .[0], value: .[1]}) | from_entries)}" \
    >"$base.json"
  jq -r -L "$ROOT/scripts/bench" -f /dev/stdin "$base.json" >"$base.md"
  cat "$base.md" >&2
  log "wrote $base.md and $base.json"
}
