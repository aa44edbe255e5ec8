#!/usr/bin/env bash
# Installs what Reel needs on Debian and is missing: media tools, the
# C toolchain pieces pingora's compression crates build with, Node.js for
# the pinned front-end packages, the benches' shell tools, and (with --browser, the test mode)
# Chromium for the browser tests, the S3 server for the storage tests and
# python3-venv for the API fuzzing.
# Safe to run again: present packages are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

want=(ffmpeg cmake pkg-config libssl-dev build-essential curl ca-certificates)
# The bench scripts (make bench) read JSON and do arithmetic with these;
# nginx and HAProxy are installed by the bench parts that compare with them.
want+=(jq bc python3 procps)
# python3-venv: scripts/api-fuzz.sh installs schemathesis into a venv.
if [ "${1:-}" = "--browser" ]; then want+=(chromium faketime python3-venv); fi
command -v npm >/dev/null 2>&1 || want+=(nodejs npm)
command -v cargo >/dev/null 2>&1 || { echo "cargo is missing: install Rust (rustup) first" >&2; exit 1; }

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Test mode: the loopback S3 server the storage suite runs against (s3s-fs,
# built once from crates.io into ~/.cache/reel-tools; quiet when present).
if [ "${1:-}" = "--browser" ]; then
  scripts/s3-server.sh install
fi

# Front-end packages exactly as locked (hls.js; playwright-core for tests).
if [ ! -d app-node/web/node_modules ] || [ app-node/web/package-lock.json -nt app-node/web/node_modules ]; then
  (cd app-node/web && npm ci --no-audit --no-fund)
fi
