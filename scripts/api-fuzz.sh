#!/usr/bin/env bash
# Fuzzes the node's HTTP API against its own OpenAPI description with
# schemathesis: a real `reel-node serve` on a free port with a fresh data
# dir, an admin user and API token made with the CLI. Fails on any 5xx,
# response that does not match its schema, undocumented status code,
# content type or header, and when no test case ran at all.
#
#   scripts/api-fuzz.sh            # uses $CARGO_TARGET_DIR/debug/reel-node
#   REEL_NODE_BIN=... scripts/api-fuzz.sh
#   API_FUZZ_EXAMPLES=300 scripts/api-fuzz.sh  # more cases per operation (default 100)
#   API_FUZZ_SEED=7 scripts/api-fuzz.sh        # random cases from this seed
#                                              # (default: deterministic ones)
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
BIN=${REEL_NODE_BIN:-$TARGET_DIR/debug/reel-node}
VENV=${API_FUZZ_VENV:-$TARGET_DIR/api-fuzz-venv}
EXAMPLES=${API_FUZZ_EXAMPLES:-100}
# Hard bound for the whole schemathesis run, seconds.
LIMIT=${API_FUZZ_TIME_LIMIT:-420}

[ -x "$BIN" ] || { echo "api-fuzz: $BIN is missing; run cargo build first" >&2; exit 1; }

# The pinned schemathesis in its own venv, installed once per version.
if [ "$("$VENV/bin/schemathesis" --version 2>/dev/null | grep -o '[0-9][0-9.]*$' || true)" != "$SCHEMATHESIS_VERSION" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

work=$(mktemp -d)
node_pid=
cleanup() {
  if [ -n "$node_pid" ]; then kill "$node_pid" 2>/dev/null || true; wait "$node_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

data=$work/data
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port

# Fuzzed source URLs must never be fetched: private and loopback
# addresses stay refused by the API (the default, set here so no REEL_* of
# the caller's shell changes it), and this node runs no worker, so an
# accepted public URL is only queued, never downloaded (and no ffmpeg runs
# on fuzzed uploads).
export REEL_INGEST__ALLOW_PRIVATE_NETWORKS=false
# Signed playback on, with a key made for this run, so the playback-token
# call is fuzzed doing its work (without keys it answers 501).
REEL_PLAYBACK__KEYS="fuzz:$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
export REEL_PLAYBACK__KEYS
"$BIN" --data-dir "$data" migrate >/dev/null
echo "fuzz-password-$$" | "$BIN" --data-dir "$data" user add fuzzer --admin >/dev/null
token=$("$BIN" --data-dir "$data" token create fuzzer)

"$BIN" --data-dir "$data" --listen "127.0.0.1:$port" --node-name api-fuzz serve --no-worker \
  >"$work/node.log" 2>&1 &
node_pid=$!
for _ in $(seq 100); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$node_pid" 2>/dev/null || { cat "$work/node.log" >&2; exit 1; }
  sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null

# Checks: all but positive_data_acceptance, which expects every request
# the schema allows to succeed; the node rightly refuses many such
# requests for reasons no schema can state (a source URL that resolves to
# a refused address, a tus upload whose bytes arrive at the wrong offset,
# a video that is not ready for subtitles yet).
report=$work/report.xml
status=0
# Run from the scratch dir: schemathesis keeps a cache in its working dir.
deterministic=(--generation-deterministic)
[ -n "${API_FUZZ_SEED:-}" ] && deterministic=(--seed "$API_FUZZ_SEED")
(cd "$work" && PYTHONPATH="$OLDPWD/scripts" SCHEMATHESIS_HOOKS=api_fuzz_hooks timeout "$LIMIT" \
  "$VENV/bin/schemathesis" --config-file "$OLDPWD/scripts/api-fuzz.toml" \
  run "$base/api/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks all --exclude-checks positive_data_acceptance \
  --max-examples "$EXAMPLES" "${deterministic[@]}" --workers 1 --request-timeout 20 \
  --suppress-health-check too_slow,filter_too_much \
  --no-color --report junit --report-junit-path "$report") 2>&1 | tee "$work/out.txt" \
  || status=$?

if [ "$status" -ne 0 ]; then
  cp "$work/node.log" "$TARGET_DIR/api-fuzz-node.log"
  echo "api-fuzz: schemathesis failed (exit $status); node log: $TARGET_DIR/api-fuzz-node.log" >&2
  exit "$status"
fi
# The summary line reads "N generated, N passed, ..."; no line, or zero,
# means nothing was tested.
cases=$(grep -o '[0-9]* generated' "$work/out.txt" | grep -o '^[0-9]*' | tail -1 || true)
operations=$(grep -o '<testsuite [^>]*tests="[0-9]*"' "$report" | grep -o 'tests="[0-9]*"' | grep -o '[0-9]*' | head -1 || true)
if [ "${cases:-0}" -eq 0 ] || [ "${operations:-0}" -eq 0 ]; then
  echo "api-fuzz: no test case ran" >&2
  exit 1
fi
echo "api-fuzz: $cases test cases over $operations operations, no failure"
