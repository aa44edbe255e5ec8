#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ (cargo-fuzz + libFuzzer) for a while each and
# exits non-zero if any of them crashes, panics, times out or runs out of memory.
#
#   scripts/fuzz.sh                 # every target, 60 s each
#   scripts/fuzz.sh range srt       # only these targets
#   FUZZ_SECONDS=600 scripts/fuzz.sh config
#
# cargo-fuzz wants nightly rustc for its -Z flags; on stable, RUSTC_BOOTSTRAP=1
# lets rustc accept them (this script sets it). The address sanitizer is used
# when the toolchain ships its runtime (stable rustup toolchains do); set
# FUZZ_SANITIZER=none to build without it.
#
# Crashes land in fuzz/artifacts/<target>/ (git-ignored); libFuzzer prints the
# command that replays one. The corpus grows in fuzz/corpus-run/<target>/
# (git-ignored), seeded from the small committed fuzz/corpus/<target>/.
# Every input that once crashed is kept as a unit test next to the code it
# broke, so `cargo test` guards the fix without the fuzzer.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SECONDS_EACH="${FUZZ_SECONDS:-60}"
SANITIZER="${FUZZ_SANITIZER:-address}"
# An input slower than this many seconds counts as a crash (quadratic work).
TIMEOUT_S="${FUZZ_TIMEOUT:-5}"
# Memory ceiling per process; a blow-up past it is a crash too.
RSS_MB="${FUZZ_RSS_MB:-2048}"
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install --locked cargo-fuzz
fi

# The node embeds the pinned hls.js at build time.
if [ ! -d "$ROOT/app-node/web/node_modules/hls.js" ]; then
    (cd "$ROOT/app-node/web" && npm ci --no-audit --no-fund)
fi

cd "$ROOT/fuzz"
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

# -a: debug assertions and overflow checks on, so arithmetic overflow panics.
build_flags=(-a --sanitizer "$SANITIZER")
cargo fuzz build "${build_flags[@]}"

failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus-run/$t" "corpus/$t"
    echo "fuzz: $t for ${SECONDS_EACH}s" >&2
    # Keys and edge values of the format, so mutations reach deep paths soon.
    dict=()
    case "$t" in
        srt | webvtt) dict=(-dict=dict/subtitles.dict) ;;
        *) [ -f "dict/$t.dict" ] && dict=(-dict="dict/$t.dict") ;;
    esac
    # New inputs go to the first (ignored) directory; the seeds are read only.
    if ! cargo fuzz run "${build_flags[@]}" "$t" "corpus-run/$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -timeout="$TIMEOUT_S" -rss_limit_mb="$RSS_MB" \
        "${dict[@]}" -print_final_stats=1; then
        failed+=("$t")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${SECONDS_EACH}s each without a crash" >&2
