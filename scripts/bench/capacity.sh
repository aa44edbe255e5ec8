#!/usr/bin/env bash
# Capacity in viewers, all in one run on this machine:
#   a) how many paced 720p viewers (reel-loadgen, fixed rung, video and
#      audio) one reel-node holds with under 1 % stalls, stepping the count
#      (doubling until a step fails, then bisecting, a bounded number of
#      steps);
#   b) the same for two nodes behind reel-balancer (sample config: edge
#      cache and admission on);
#   c) a crowd of 10x the two-node capacity arriving while a base group of
#      that capacity is already playing: errors and stalls of both groups,
#      and the RSS of every process.
# The client (reel-loadgen) shares the cores with the servers; its CPU is
# recorded beside theirs. The quick run plays at --speed 4 (four media
# seconds per wall second): each viewer then asks for four times the data
# per second, so a quick capacity is about a quarter of the real-time one
# (see `realtime_equivalent` in the JSON).
# Every server runs on 127.0.0.1 on a free port with its data in a temp dir
# and is stopped on exit. Writes <out>/<date>-<host>-capacity.md and .json.
#
# Usage: scripts/bench/capacity.sh [--quick] [--out DIR] [--keep]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init capacity "$@"

if [ "$QUICK" = 1 ]; then
  SPEED=4; VIEW_S=8; RAMP_S=2; START=100; MAX_STEPS=3; CROWD_S=8
else
  SPEED=1; VIEW_S=40; RAMP_S=10; START=50; MAX_STEPS=7; CROWD_S=40
fi
# Every viewer holds its own connection, all from 127.0.0.1.
MAX_VIEWERS=4000
# A step passes with under 1 % of due segments late or failed and (nearly)
# every viewer started.
STALL_LIMIT=0.01

build_release
ensure_media 30
N1=$(free_port); N2=$(free_port); LB_PORT=$(free_port); ADMIN_PORT=$(free_port)
start_node node-1 "$N1"
start_node node-2 "$N2"

STEP_NO=0
# One loadgen run of N viewers against TARGET; records the CPU seconds and
# RSS of the named server processes and the loadgen's own CPU.
step() { # SETUP NAME N TARGET DURATION_S PROCESS…
  local setup=$1 name=$2 n=$3 target=$4 secs=$5 p l0 l1 lcpu procs="{}"
  shift 5
  declare -A c0=()
  for p in "$@"; do c0[$p]=$(cpu_s "${PIDS[$p]}"); done
  log "$setup: $n viewers, ${secs} s at ${SPEED}x, rung 720p"
  times >"$TMP/times"
  l0=$(tail -1 "$TMP/times")
  "$LOADGEN" --target "$target" --video "$VIDEO" -n "$n" -d "$secs" --ramp-up-s "$RAMP_S" \
    --speed "$SPEED" --rung 720p --json "$TMP/json/$name.json" | sed "s/^/   [$name] /" >&2
  times >"$TMP/times"
  l1=$(tail -1 "$TMP/times")
  lcpu=$(times_delta "$l0" "$l1")
  for p in "$@"; do
    procs=$(jq -c --arg p "$p" --arg c "$(echo "$(cpu_s "${PIDS[$p]}") - ${c0[$p]}" | bc)" \
      --arg r "$(rss_kib "${PIDS[$p]}")" \
      '. + {($p): {cpu_s: ($c|tonumber), rss_kib: ($r|tonumber)}}' <<<"$procs")
  done
  json_add "$name" --arg setup "$setup" --argjson speed "$SPEED" --arg l "$lcpu" \
    --argjson procs "$procs" '{setup: $setup, speed: $speed, loadgen_cpu_s: ($l|tonumber),
      processes: $procs, stall_ratio: viewer_stall_ratio, errors_total: ([.errors[]] | add // 0)}'
}

# CPU seconds between two lines of `times` (children's user and system).
times_delta() { # BEFORE AFTER
  awk -v a="$1" -v b="$2" 'function s(t, m){split(t,m,/[ms]/); return m[1]*60+m[2]}
    BEGIN{split(a,x," "); split(b,y," "); printf "%.3f", s(y[1])+s(y[2])-s(x[1])-s(x[2])}'
}

# jq: late or failed segments over due ones; viewers that never started
# count as stalled throughout.
JQ_DEFS='def viewer_stall_ratio: if .segments_due > 0 then .stalls / .segments_due else 0 end;'
json_add() { # NAME jq-args… FILTER  (lib's json_add, with the definition above)
  local name=$1 f
  shift
  f=${*: -1}
  set -- "${@:1:$(($# - 1))}"
  jq "$@" "$JQ_DEFS $f" "$TMP/json/$name.json" | jq -s '.[0] + .[1]' "$TMP/json/$name.json" - \
    >"$TMP/json/$name.tmp" && mv "$TMP/json/$name.tmp" "$TMP/json/$name.json"
}

passes() { # NAME
  jq -e --argjson lim "$STALL_LIMIT" \
    '.stall_ratio < $lim and .viewers_started * 100 >= .viewers * 99' \
    "$TMP/json/$1.json" >/dev/null
}

# Doubling from START until a step fails, then bisecting; sets CAPACITY to
# the largest passing count (0 if none did).
find_capacity() { # SETUP TARGET START PROCESS…
  local setup=$1 target=$2 n=$3 lo=0 hi=0 k name
  shift 3
  for k in $(seq 1 "$MAX_STEPS"); do
    STEP_NO=$((STEP_NO + 1))
    name=$(printf 'step%02d' "$STEP_NO")
    step "$setup" "$name" "$n" "$target" "$VIEW_S" "$@"
    if passes "$name"; then lo=$n; else hi=$n; fi
    if [ "$hi" = 0 ]; then
      n=$((n * 2))
      [ "$n" -le "$MAX_VIEWERS" ] || break
    else
      n=$(((lo + hi) / 2))
      # Close enough: within an eighth (or 5 viewers).
      [ $((hi - lo)) -gt $((lo / 8 > 5 ? lo / 8 : 5)) ] || break
      [ "$n" -gt 0 ] || break
    fi
  done
  CAPACITY=$lo
}

find_capacity "one node" "http://127.0.0.1:$N1" "$START" node-1
CAP1=$CAPACITY
log "one node holds $CAP1 viewers at ${SPEED}x"

start_balancer "$N1 $N2" REEL_LIMITS__MAX_CONNECTIONS_PER_IP=20000
LB=http://127.0.0.1:$LB_PORT
find_capacity "two nodes + balancer" "$LB" "$((CAP1 > 0 ? CAP1 : START))" \
  balancer node-1 node-2
CAP2=$CAPACITY
log "two nodes behind the balancer hold $CAP2 viewers at ${SPEED}x"

# c) The crowd, on a fresh balancer (empty cache and session table): the
# base group starts first and is playing before the crowd arrives.
stop_process balancer
start_balancer "$N1 $N2" REEL_LIMITS__MAX_CONNECTIONS_PER_IP=20000
BASE_N=$((CAP2 > 0 ? CAP2 : START))
CROWD_N=$((BASE_N * 10 > 19000 ? 19000 : BASE_N * 10))
BASE_LEAD_S=4
BASE_S=$((BASE_LEAD_S + CROWD_S + RAMP_S + 2))
crowd_run() { # NAME N DURATION_S
  local l0 l1
  times >"$TMP/times.$1"
  l0=$(tail -1 "$TMP/times.$1")
  "$LOADGEN" --target "$LB" --video "$VIDEO" -n "$2" -d "$3" --ramp-up-s "$RAMP_S" \
    --speed "$SPEED" --rung 720p --json "$TMP/json/$1.json" | sed "s/^/   [$1] /" >&2
  times >"$TMP/times.$1"
  l1=$(tail -1 "$TMP/times.$1")
  times_delta "$l0" "$l1" >"$TMP/$1.cpu"
}
declare -A C0=()
for p in balancer node-1 node-2; do C0[$p]=$(cpu_s "${PIDS[$p]}"); done
log "crowd: base group of $BASE_N playing, then $CROWD_N more arrive"
crowd_run crowd_base "$BASE_N" "$BASE_S" &
BASE_PID=$!
sleep "$BASE_LEAD_S"
crowd_run crowd_arrivals "$CROWD_N" "$CROWD_S" &
CROWD_PID=$!
# Peak RSS of every process while both groups play.
declare -A PEAK=()
while kill -0 "$CROWD_PID" 2>/dev/null; do
  for p in balancer node-1 node-2; do
    r=$(rss_kib "${PIDS[$p]}")
    [ "$r" -le "${PEAK[$p]:-0}" ] || PEAK[$p]=$r
  done
  for lg in $(pgrep -P "$BASE_PID" -x reel-loadgen || true) $(pgrep -P "$CROWD_PID" -x reel-loadgen || true); do
    r=$(rss_kib "$lg")
    [ "$r" -le "${PEAK[loadgen]:-0}" ] || PEAK[loadgen]=$r
  done
  sleep 1
done
wait "$CROWD_PID"
wait "$BASE_PID"
PROCS="{}"
for p in balancer node-1 node-2; do
  PROCS=$(jq -c --arg p "$p" --arg c "$(echo "$(cpu_s "${PIDS[$p]}") - ${C0[$p]}" | bc)" \
    --argjson peak "${PEAK[$p]:-0}" --argjson r "$(rss_kib "${PIDS[$p]}")" \
    '. + {($p): {cpu_s: ($c|tonumber), rss_kib_peak: $peak, rss_kib_after: $r}}' <<<"$PROCS")
done
M="http://127.0.0.1:$ADMIN_PORT/metrics"
for g in crowd_base crowd_arrivals; do
  json_add "$g" --arg l "$(cat "$TMP/$g.cpu")" '{loadgen_cpu_s: ($l|tonumber),
    stall_ratio: viewer_stall_ratio, errors_total: ([.errors[]] | add // 0)}'
done
json_add crowd_base --argjson procs "$PROCS" --argjson lg "${PEAK[loadgen]:-0}" \
  --argjson shed "$(metric_sum "$M" reel_balancer_shed_total)" \
  --argjson shed_new "$(metric_sum "$M" reel_balancer_shed_total 'reason="new_sessions_paused"')" \
  '{processes: $procs, loadgen_rss_kib_peak: $lg, balancer_shed_total: $shed,
    balancer_shed_new_sessions: $shed_new}'

write_report --argjson cap1 "$CAP1" --argjson cap2 "$CAP2" --argjson speed "$SPEED" \
  --argjson view_s "$VIEW_S" --argjson limit "$STALL_LIMIT" --argjson ramp "$RAMP_S" \
  -- '{speed: $speed, step_seconds: $view_s, ramp_up_s: $ramp, stall_limit: $limit,
       capacity: {"one node": $cap1, "two nodes + balancer": $cap2},
       realtime_equivalent: {"one node": ($cap1 * $speed), "two nodes + balancer": ($cap2 * $speed)}}' \
  <<'JQ'
include "report";
def pct(x): "\(r(x * 100)) %";
def cpu(p): [p | to_entries[] | "\(.key) \(.value.cpu_s)"] | join(", ");
def rss(p): [p | to_entries[] | "\(.key) \(.value.rss_kib / 1024 | r(.))"] | join(", ");
[.runs | to_entries[] | select(.key | startswith("step")) | .value] as $steps |
"## Capacity: paced 720p viewers on one node and on two nodes behind the balancer",
"",
machine,
"Viewers play the 720p rung (video and audio segments) at \(.speed)× speed for \(.step_seconds) s each step\(if .speed > 1 then " (each viewer then fetches \(.speed)× the data per second of a real-time one, so the load of N viewers here is that of about \(.speed) × N real-time viewers)" else "" end); a step passes with under \(.stall_limit * 100) % stalls (segments late for playback or failed, over the segments due) and 99 % of the viewers started.",
"The client shares the \(.cores) cores with the servers: its CPU is in the table.",
"",
"| setup | viewers | stall ratio | segment p50 / p99 (ms) | startup p50 / p95 (ms) | errors | server CPU (s) | server RSS after (MB) | loadgen CPU (s) |",
"|---|---|---|---|---|---|---|---|---|",
($steps[] | "| \(.setup) | \(.viewers) | \(pct(.stall_ratio)) | \(.segment_ms_p50) / \(.segment_ms_p99) | \(.startup_ms_p50) / \(.startup_ms_p95) | \(errs(.errors)) | \(cpu(.processes)) | \(rss(.processes)) | \(.loadgen_cpu_s) |"),
"",
"| capacity (under 1 % stalls) | viewers at \(.speed)× | about, in real-time viewers |",
"|---|---|---|",
"| one node | **\(.capacity["one node"])** | \(.realtime_equivalent["one node"]) |",
"| two nodes + balancer | **\(.capacity["two nodes + balancer"])** | \(.realtime_equivalent["two nodes + balancer"]) |",
"| two nodes ÷ one node | **\(ratio(.capacity["two nodes + balancer"]; .capacity["one node"]))** | |",
"",
"A crowd of \(.runs.crowd_arrivals.viewers) viewers arriving over \(.ramp_up_s) s while \(.runs.crowd_base.viewers) already play through the balancer:",
"",
"| group | viewers | started | stall ratio | segment p99 (ms) | startup p95 (ms) | errors | 503 | loadgen CPU (s) |",
"|---|---|---|---|---|---|---|---|---|",
(["already playing", .runs.crowd_base], ["crowd", .runs.crowd_arrivals] | .[1] as $g |
  "| \(.[0]) | \($g.viewers) | \($g.viewers_started) | **\(pct($g.stall_ratio))** | \($g.segment_ms_p99) | \($g.startup_ms_p95) | \(errs($g.errors)) | \($g.status_503) | \($g.loadgen_cpu_s) |"),
"",
"Requests the balancer refused meanwhile: \(.runs.crowd_base.balancer_shed_total) (of which new sessions paused: \(.runs.crowd_base.balancer_shed_new_sessions)).",
"",
"| process | CPU (s) | RSS peak (MB) | RSS after (MB) |",
"|---|---|---|---|",
(.runs.crowd_base.processes | to_entries[] | "| \(.key) | \(.value.cpu_s) | \(.value.rss_kib_peak / 1024 | r(.)) | \(.value.rss_kib_after / 1024 | r(.)) |"),
"| reel-loadgen (both groups, largest) | | \(.runs.crowd_base.loadgen_rss_kib_peak / 1024 | r(.)) | |",
""
JQ

# The fields the plots read: steps in order, and the crowd in one place.
base="$OUT/$STAMP-$BENCH_NAME.json"
jq '. + {steps: [.runs | to_entries[] | select(.key | startswith("step")) | .value],
  crowd: {base: .runs.crowd_base, arrivals: .runs.crowd_arrivals,
          processes: .runs.crowd_base.processes}}' "$base" >"$base.tmp" && mv "$base.tmp" "$base"
