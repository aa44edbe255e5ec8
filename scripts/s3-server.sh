#!/usr/bin/env bash
# A real S3-compatible server on loopback, for the storage tests and for
# running Reel with `storage.kind = "s3"` on one machine: s3s-fs, pinned,
# built once from crates.io into a tools folder.
#
#   scripts/s3-server.sh install                      # idempotent, quiet when present
#   scripts/s3-server.sh start PORT DATA_DIR [BUCKET...]  # foreground, 127.0.0.1 only
#   scripts/s3-server.sh path                         # prints the server binary
#
# `start` takes its only key pair from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
# (the variables the node signs with) and checks every signature, presigned
# URLs included. Objects live as files below DATA_DIR, one folder per bucket;
# each BUCKET named is created (as its folder) if missing.
#
# Why s3s-fs and not moto's server (quicker to install, from PyPI): moto does
# not check the signature of a presigned URL (it serves a tampered one), so it
# cannot show that `storage.serve = "redirect"` URLs are really signed. s3s-fs
# checks SigV4 headers and presigned URLs and does multipart uploads, ranged
# GETs, ListObjectsV2 and batch deletes. 0.14.1 is the newest release that
# builds with this project's Rust (later ones want a newer rustc).
set -euo pipefail

S3S_VERSION=0.14.1
TOOLS=${REEL_TOOLS_DIR:-${HOME:-/tmp}/.cache/reel-tools}
ROOT="$TOOLS/s3s-fs-$S3S_VERSION"
SERVER="$ROOT/bin/s3s-fs"

usage() {
  echo "usage: $0 install | start PORT DATA_DIR [BUCKET...] | path" >&2
  exit 2
}

install() {
  [ -x "$SERVER" ] && return 0
  command -v cargo >/dev/null 2>&1 || {
    echo "s3-server: cargo is missing: install Rust (rustup) first" >&2
    exit 1
  }
  echo "s3-server: building s3s-fs $S3S_VERSION into $ROOT (once; takes a few minutes)"
  mkdir -p "$TOOLS"
  # Its own temporary target folder: never the project's (a CARGO_TARGET_DIR
  # set for the project would otherwise fill with the server's build).
  # Its log is shown only on failure (on success cargo merely suggests
  # adding the folder to PATH, which nobody needs: scripts use `path`).
  local log
  log=$(mktemp)
  if ! env -u CARGO_TARGET_DIR cargo install --quiet --locked "s3s-fs@$S3S_VERSION" \
    --features binary --root "$ROOT" 2>"$log"; then
    cat "$log" >&2
    rm -f "$log"
    echo "s3-server: building s3s-fs failed" >&2
    exit 1
  fi
  rm -f "$log"
}

case "${1:-}" in
  install)
    [ $# -eq 1 ] || usage
    install
    ;;
  path)
    echo "$SERVER"
    ;;
  start)
    [ $# -ge 3 ] || usage
    port=$2
    data=$3
    shift 3
    case "$port" in '' | *[!0-9]*) usage ;; esac
    if [ -z "${AWS_ACCESS_KEY_ID:-}" ] || [ -z "${AWS_SECRET_ACCESS_KEY:-}" ]; then
      echo "s3-server: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any values; the node uses the same)" >&2
      exit 1
    fi
    install
    mkdir -p "$data"
    for b in "$@"; do
      case "$b" in
        '' | *[!a-z0-9.-]*) echo "s3-server: bad bucket name: $b" >&2; exit 2 ;;
      esac
      mkdir -p "$data/$b"
    done
    # exec: the caller's pid is the server's, so killing it stops the server.
    # The keys go on the command line (s3s-fs reads them nowhere else); on a
    # shared machine use throwaway values.
    exec "$SERVER" --host 127.0.0.1 --port "$port" \
      --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" "$data"
    ;;
  *)
    usage
    ;;
esac
