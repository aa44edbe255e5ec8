#!/usr/bin/env bash
# Runs every bench part (scripts/bench/*.sh) in one go and gathers their
# results into benches/results/<date>-<host>.md and .json, with SVG plots
# drawn from the JSON by reel-benchplot.
#
# Usage: scripts/bench.sh [--full] [--only PART,PART] [--out DIR] [--keep]
#   (default) the quick version of every part: `make bench`, under 10 minutes after the build
#   --full    the long version: `make bench-full`
#   --only    run only these parts (catalog, serve, balancer, edge, capacity, transcode)
#   --out     results directory (default benches/results)
#   --keep    keep each part's temp dir
# Exits non-zero when a part fails; the parts that ran are still reported.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PARTS="catalog serve balancer edge capacity transcode"
MODE=quick
OUT=benches/results
PASS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --full) MODE=full ;;
    --only) PARTS=${2//,/ }; shift ;;
    --out) OUT=$2; shift ;;
    --keep) PASS+=(--keep) ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$MODE" = full ] || PASS+=(--quick)
for p in $PARTS; do
  [ -x "scripts/bench/$p.sh" ] || { echo "bench: no part named $p" >&2; exit 2; }
done

for t in cargo curl ffmpeg jq bc pgrep; do
  command -v "$t" >/dev/null || { echo "bench: $t is needed (make deps)" >&2; exit 1; }
done
echo "== building release binaries" >&2
# The same package set as lib.sh's build_release, plus the examples the
# catalog and transcode parts drive, so no part rebuilds anything.
cargo build --release -p reel-node -p reel-balancer -p reel-loadgen >&2
cargo build --release -p reel-node -p reel-balancer -p reel-loadgen \
  --example catalog_bench --example ladder_bench >&2
cargo build --release -p reel-benchplot >&2
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release

DATE=$(date -u +%Y-%m-%d)
HOST=$(hostname -s 2>/dev/null || hostname)
STAMP=$DATE-$HOST
SHARED=$(mktemp -d "${TMPDIR:-/tmp}/reel-bench.XXXXXX")
trap 'rm -rf "$SHARED"' EXIT
mkdir -p "$SHARED/parts" "$OUT"

# Each part writes $SHARED/parts/$STAMP-<part>.{md,json}; the imported test
# clip is made once and shared through BENCH_SHARED.
FAILED=()
declare -A SECONDS_OF=()
START=$(date +%s)
for p in $PARTS; do
  echo "== part $p ($MODE)" >&2
  t0=$(date +%s)
  if ! BENCH_SHARED=$SHARED BENCH_BUILT=1 BENCH_STAMP=$STAMP \
    "scripts/bench/$p.sh" "${PASS[@]}" --out "$SHARED/parts"; then
    FAILED+=("$p")
    echo "== part $p FAILED" >&2
  fi
  SECONDS_OF[$p]=$(($(date +%s) - t0))
done
TOTAL=$(($(date +%s) - START))

# ---- combined JSON -------------------------------------------------------------
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
TIMES=$(for p in $PARTS; do echo "{\"$p\": ${SECONDS_OF[$p]}}"; done | jq -s 'add')
jq -n --arg date "$DATE" --arg host "$HOST" --arg cpu "$CPU" --argjson cores "$(nproc)" \
  --arg mem "$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)" \
  --arg kernel "$(uname -r)" --arg mode "$MODE" \
  --arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  --argjson seconds "$TIMES" --argjson total "$TOTAL" \
  --argjson failed "$(printf '%s\n' "${FAILED[@]}" | jq -R 'select(. != "")' | jq -s .)" \
  '{date: $date, host: $host, cpu: $cpu, cores: $cores, memory: $mem, kernel: $kernel,
    mode: $mode, commit: $commit, seconds: $seconds, total_seconds: $total,
    failed: $failed, parts: {}}' >"$SHARED/all.json"
for p in $PARTS; do
  f="$SHARED/parts/$STAMP-$p.json"
  [ -s "$f" ] || continue
  jq --arg p "$p" --slurpfile r "$f" '.parts[$p] = $r[0]' "$SHARED/all.json" >"$SHARED/all.tmp"
  mv "$SHARED/all.tmp" "$SHARED/all.json"
done
cp "$SHARED/all.json" "$OUT/$STAMP.json"

# ---- plots ---------------------------------------------------------------------
PLOTS=$("$BIN/reel-benchplot" "$OUT/$STAMP.json" "$OUT/$STAMP" || true)

# ---- combined markdown ---------------------------------------------------------
{
  jq -r '"# Reel benchmarks, \(.date) (\(.mode) run)",
    "",
    "Machine: \(.host), \(.cpu), \(.cores) cores, \(.memory), Linux \(.kernel); commit \(.commit).",
    "Every server and the load generator run on this one machine on 127.0.0.1, so only ratios within one table mean anything.",
    "",
    "| part | seconds |", "|---|---|",
    (.seconds | to_entries[] | "| \(.key) | \(.value) |"),
    "| total | \(.total_seconds) |",
    "",
    (if (.failed | length) > 0 then "**Failed parts:** \(.failed | join(", ")) (see the run log).\n" else empty end)' \
    "$OUT/$STAMP.json"
  for p in $PARTS; do
    f="$SHARED/parts/$STAMP-$p.md"
    if [ -s "$f" ]; then cat "$f"; echo; fi
  done
  if [ -n "$PLOTS" ]; then
    echo "## Plots"
    echo
    for svg in $PLOTS; do
      name=$(basename "$svg")
      echo "![${name%.svg}]($name)"
      echo
    done
  fi
} >"$OUT/$STAMP.md"

echo "== wrote $OUT/$STAMP.md, $OUT/$STAMP.json and $(echo "$PLOTS" | grep -c . || true) plots in ${TOTAL} s" >&2
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "== failed parts: ${FAILED[*]}" >&2
  exit 1
fi
