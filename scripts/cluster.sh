#!/usr/bin/env bash
# Starts Reel as the several-machines deployment, on this one machine: the
# balancer on 127.0.0.1:8080 in front of two nodes (8081, 8082) that share
# NOTHING on disk. Each node has its own data_dir (scratch only); they share
# a PostgreSQL catalog and an S3 bucket on a loopback S3-compatible server
# (s3s-fs, see scripts/s3-server.sh). Configs: configs/cluster/.
#
# Starts what it needs: PostgreSQL where it is not running (installing it
# from Debian's packages if absent), and the S3 server. Imports the demo
# video when the catalog is empty. Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${REEL_BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}
NODE="$BIN/reel-node"
STATE=./data/cluster
S3_PORT=${REEL_CLUSTER_S3_PORT:-9000}
mkdir -p "$STATE/logs"

for port in 8080 8081 8082 9091 "$S3_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is already in use; stop whatever listens there first" >&2
    exit 1
  fi
done

as_postgres() { runuser -u postgres -- "$@"; }

# --- PostgreSQL: running, with a role and a database for Reel -------------
started_pg=
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "installing PostgreSQL (Debian package)…"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  fi
  version=$(ls /etc/postgresql | sort -V | tail -1)
  echo "starting PostgreSQL $version…"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  started_pg=$version
  for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && break; sleep 0.2; done
fi
# Secrets live beside the state, never in the configs.
if [ ! -f "$STATE/secrets.env" ]; then
  (umask 077; {
    echo "REEL_DB_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
    echo "AWS_ACCESS_KEY_ID=reel$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    echo "AWS_SECRET_ACCESS_KEY=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
  } >"$STATE/secrets.env")
fi
# Added separately so a secrets file from before still gains it.
if ! grep -q '^REEL_ADMIN__TOKEN=' "$STATE/secrets.env"; then
  (umask 077; echo "REEL_ADMIN__TOKEN=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')" >>"$STATE/secrets.env")
fi
set -a; . "$STATE/secrets.env"; set +a
# The nodes purge deleted videos from the balancer's edge cache with the
# balancer's admin token.
export REEL_EDGE__PURGE_TOKEN="$REEL_ADMIN__TOKEN"
as_postgres psql -qtA -v ON_ERROR_STOP=1 -v pw="$REEL_DB_PASSWORD" <<'SQL' >/dev/null
SELECT format('CREATE ROLE reel LOGIN PASSWORD %L', :'pw')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'reel') \gexec
SELECT format('ALTER ROLE reel PASSWORD %L', :'pw') \gexec
SELECT 'CREATE DATABASE reel_cluster OWNER reel'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'reel_cluster') \gexec
SQL
export REEL_CATALOG__URL="postgres://reel:$REEL_DB_PASSWORD@127.0.0.1:5432/reel_cluster"

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping the Reel cluster…"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$started_pg" ]; then
    pg_ctlcluster --skip-systemctl-redirect "$started_pg" main stop || true
  fi
  exit 0
}
trap stop INT TERM EXIT

# --- S3-compatible server ----------------------------------------------------
scripts/s3-server.sh install
scripts/s3-server.sh start "$S3_PORT" "$STATE/s3" reel >>"$STATE/logs/s3.log" 2>&1 &
pids+=($!)
for i in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$S3_PORT") 2>/dev/null && break
  [ "$i" = 100 ] && { echo "the S3 server did not start; see $STATE/logs/s3.log" >&2; exit 1; }
  sleep 0.1
done

# --- nodes and balancer --------------------------------------------------------
"$NODE" --config configs/cluster/node-1.toml migrate >/dev/null
for n in 1 2; do
  "$NODE" --config "configs/cluster/node-$n.toml" serve >>"$STATE/logs/node-$n.log" 2>&1 &
  pids+=($!)
done
"$BIN/reel-balancer" --config configs/cluster/balancer.toml >>"$STATE/logs/balancer.log" 2>&1 &
pids+=($!)
for i in $(seq 1 150); do
  curl -fsS -m 5 -o /dev/null http://127.0.0.1:8080/readyz 2>/dev/null && break
  [ "$i" = 150 ] && { echo "the cluster did not become ready; see $STATE/logs" >&2; exit 1; }
  sleep 0.2
done

# The command-line tools run as a third member with scratch of their own.
CLI=("$NODE" --config configs/cluster/node-1.toml --data-dir "$STATE/cli")
if [ ! -f "$STATE/uploader-password.txt" ]; then
  pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  echo "$pw" | "${CLI[@]}" user add uploader 2>/dev/null || true
  (umask 077; echo "$pw" >"$STATE/uploader-password.txt")
fi
if [ ! -f "$STATE/uploader-token.txt" ]; then
  (umask 077; "${CLI[@]}" token create uploader >"$STATE/uploader-token.txt")
fi
token=$(cat "$STATE/uploader-token.txt")

total=$(curl -fsS -m 5 "http://127.0.0.1:8080/api/videos?per_page=1" | sed -n 's/.*"total":\([0-9]*\).*/\1/p')
if [ "${total:-0}" = 0 ]; then
  echo "empty catalog: making the demo video (1080p, 30 s) and queueing it for the nodes…"
  mkdir -p ./data/demo
  [ -f ./data/demo/demo.mp4 ] || scripts/demo-video.sh ./data/demo/demo.mp4
  id=$("${CLI[@]}" import ./data/demo/demo.mp4 --title "Reel demo" --owner uploader --no-wait)
  while :; do
    v=$(curl -fsS -m 5 "http://127.0.0.1:8080/api/videos/$id" || true)
    status=$(echo "$v" | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p')
    printf '\r  %-12s %s' "${status:-?}" "$(echo "$v" | sed -n 's/.*"progress":\([0-9.]*\).*/\1/p')"
    case "$status" in ready) echo; break ;; failed) echo; echo "the demo failed: $v" >&2; break ;; esac
    sleep 1
  done
fi

cat <<MSG

Reel cluster is running: two nodes with separate data dirs over PostgreSQL + S3.
  Watch:    http://127.0.0.1:8080/
  Upload:   http://127.0.0.1:8080/upload  (user "uploader", password in $STATE/uploader-password.txt)
  API token for uploads: $token
  Balancer metrics: http://127.0.0.1:9091/metrics   backends: http://127.0.0.1:9091/backends
  Catalog: PostgreSQL database reel_cluster   Media: S3 bucket "reel" at http://127.0.0.1:$S3_PORT
  Logs: $STATE/logs/
Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}" || true
echo "a Reel process exited; see $STATE/logs" >&2
