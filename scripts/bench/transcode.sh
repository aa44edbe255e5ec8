#!/usr/bin/env bash
# Transcoding benchmarks, all in one run on this machine and on one source
# (only the ratios between rows mean anything), one ffmpeg at a time:
#   a) Reel's one-process ladder: one ffmpeg decodes the source once and
#      encodes every rung;
#   b) the same rungs with one ffmpeg each (audio with the first);
#   c) the decode-once limit: decode + scale alone (Reel's filter graph into
#      -f null), plus each rung's encode alone from a raw file already at the
#      rung's size;
#   d) the PSNR of the 720p rung of a) and of b) against the source;
#   e) `reel-node import` of the same file, poster and storyboard included:
#      the seconds until the video is playable, and its ffmpeg runs.
# The source is 1920x1080 30 fps testsrc2 with temporal noise and a sine
# tone: 8 s with --quick, 60 s otherwise. Plans and ffmpeg arguments come
# from Reel itself (app-node/examples/ladder_bench.rs), never from here.
# Writes <out>/<date>-<host>-transcode.md and .json.
#
# Usage: scripts/bench/transcode.sh [--quick] [--out DIR] [--keep]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init transcode "$@"

if [ "$QUICK" = 1 ]; then SECS=8; else SECS=60; fi

build_release
LADDER_BENCH=$BIN/examples/ladder_bench
if [ "${BENCH_BUILT:-0}" != 1 ] || [ ! -x "$LADDER_BENCH" ]; then
  log "building the ladder bench"
  cargo build --release -p reel-node -p reel-balancer -p reel-loadgen --example ladder_bench >&2
fi

log "ladder, per rung, decode-once limit and import on a ${SECS} s 1080p source"
"$LADDER_BENCH" --make-source "$SECS" --work "$TMP/work" --json-dir "$TMP/json" \
  --reel-node "$BIN/reel-node" --meta "$TMP/meta.json" | sed 's/^/   /' >&2
rm -rf "$TMP/work"

write_report --slurpfile meta "$TMP/meta.json" -- '$meta[0]' <<'JQ'
include "report";
.runs as $r | .ratios as $q | .source.duration_s as $d |
def row($title; $run; $psnr):
  "| \($title) | \($run.wall_s) | \(r($run.wall_s / $d)) | \($run.cpu_s) | \($psnr) |";
"## Transcoding: one-process ladder, one ffmpeg per rung, the decode-once limit, the import",
"",
machine,
"Source: \(.source.width)x\(.source.height), \(.source.fps) fps, \(.source.duration_s) s (testsrc2 with temporal noise, sine tone); rungs \(.rungs | join(" ")); libx264 \(.preset). One ffmpeg at a time; CPU = user + system seconds of the processes.",
"",
"| method | wall (s) | × source duration | CPU (s) | PSNR \(.psnr_rung) (dB) |",
"|---|---|---|---|---|",
row("one process, decode once (Reel's ladder)"; $r.one_process; $r.one_process.psnr_720p_db),
row("one ffmpeg per rung"; $r.per_rung; $r.per_rung.psnr_720p_db),
row("decode-once limit (sum of the two rows below)"; $r.limit; ""),
row("· decode + scale only (`-f null`)"; $r.limit.decode_scale; ""),
row("· every rung's encode alone, from raw input"; {wall_s: r($r.limit.wall_s - $r.limit.decode_scale.wall_s), cpu_s: r($r.limit.cpu_s - $r.limit.decode_scale.cpu_s)}; ""),
row("decode only, for reference"; $r.limit.decode_only; ""),
(if $r.import then row("`reel-node import` (ladder, poster, storyboard, publish)"; $r.import; "") else empty end),
"",
"Per rung (wall s): " + ([.rungs[] as $n | "\($n) \($r.per_rung.rungs[$n].wall_s) alone, \($r.limit.encode_only[$n].wall_s) encode only"] | join("; ")) + ".",
"",
"| ratio | value | goal |",
"|---|---|---|",
"| per-rung ÷ one-process, wall time | **\($q.per_rung_over_one_process)** | > 1 |",
"| per-rung ÷ one-process, CPU | **\($q.per_rung_cpu_over_one_process_cpu)** | > 1 |",
"| one-process ÷ decode-once limit, wall time | **\($q.one_process_over_limit)** | ≤ 1.10 |",
"| one-process ÷ decode-once limit, CPU | **\($q.one_process_cpu_over_limit_cpu)** | ≤ 1.10 |",
"| PSNR \(.psnr_rung), one-process − per-rung (dB, absolute) | **\($q.psnr_720p_delta_db)** | ≤ 0.1 |",
(if $r.import then
"| import ÷ one-process ladder, wall time | **\($q.import_over_one_process)** | ≤ 1.0 |",
"",
"Seconds until playable: **\($r.import.seconds_until_playable)** s after the import's encoding attempt began, against \($r.import.wall_s) s for the whole import (the ladder is published while it is encoded). ffmpeg runs in the import: \($r.import.ffmpeg_runs) (one reads and decodes the source for the rungs, the poster and the storyboard tiles; one tiles the storyboard sprite from those small frames)."
else empty end),
""
JQ
