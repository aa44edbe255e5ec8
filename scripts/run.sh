#!/usr/bin/env bash
# Starts Reel on one machine: the balancer on 127.0.0.1:8080 in front of two
# nodes (127.0.0.1:8081 and :8082) sharing ./data (SQLite catalog + media).
# Imports a demo video when the catalog is empty, prints the address and an
# uploader token, and stops everything on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${REEL_BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}
DATA=${REEL_DATA_DIR:-./data}
NODE="$BIN/reel-node"
mkdir -p "$DATA/logs"

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping Reel…"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  exit 0
}
trap stop INT TERM EXIT

for port in 8080 8081 8082 9091; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is already in use; stop whatever listens there first" >&2
    exit 1
  fi
done

"$NODE" --data-dir "$DATA" migrate >/dev/null
for n in 1 2; do
  REEL_DATA_DIR="$DATA" "$NODE" --listen "127.0.0.1:808$n" --node-name "node-$n" serve \
    >>"$DATA/logs/node-$n.log" 2>&1 &
  pids+=($!)
done
"$BIN/reel-balancer" --config configs/balancer.toml >>"$DATA/logs/balancer.log" 2>&1 &
pids+=($!)

for i in $(seq 1 100); do
  curl -fsS -o /dev/null http://127.0.0.1:8080/readyz 2>/dev/null && break
  [ "$i" = 100 ] && { echo "the cluster did not become ready; see $DATA/logs" >&2; exit 1; }
  sleep 0.2
done

# An uploader for the demo: created once, password kept beside the data.
if [ ! -f "$DATA/uploader-password.txt" ]; then
  pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  echo "$pw" | "$NODE" --data-dir "$DATA" user add uploader 2>/dev/null || true
  (umask 077; echo "$pw" >"$DATA/uploader-password.txt")
fi
# The token is kept beside the data too and reused while it is valid (an
# operator may have revoked it with `reel-node token revoke`).
token=""
if [ -f "$DATA/uploader-token.txt" ]; then
  token=$(cat "$DATA/uploader-token.txt")
  "$NODE" --data-dir "$DATA" token check <<<"$token" >/dev/null 2>&1 || token=""
fi
if [ -z "$token" ]; then
  token=$("$NODE" --data-dir "$DATA" token create uploader 2>/dev/null)
  (umask 077; echo "$token" >"$DATA/uploader-token.txt")
fi

total=$(curl -fsS "http://127.0.0.1:8080/api/videos?per_page=1" | sed -n 's/.*"total":\([0-9]*\).*/\1/p')
if [ "${total:-0}" = 0 ]; then
  echo "empty catalog: making and importing the demo video (1080p, 30 s)…"
  mkdir -p "$DATA/demo"
  [ -f "$DATA/demo/demo.mp4" ] || scripts/demo-video.sh "$DATA/demo/demo.mp4"
  "$NODE" --data-dir "$DATA" import "$DATA/demo/demo.mp4" --title "Reel demo" --owner uploader >/dev/null
fi

cat <<MSG

Reel is running.
  Watch:    http://127.0.0.1:8080/
  Upload:   http://127.0.0.1:8080/upload  (user "uploader", password in $DATA/uploader-password.txt)
  API token for uploads: $token
  Balancer metrics: http://127.0.0.1:9091/metrics   backends: http://127.0.0.1:9091/backends
  Logs: $DATA/logs/
Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}" || true
echo "a Reel process exited; see $DATA/logs" >&2
