#!/usr/bin/env bash
# Makes sure the database servers the catalog tests run against are up on
# their standard loopback ports: PostgreSQL on 5432 (user postgres, no
# password) and MariaDB on 3306 (user root, no password). A server that is
# installed but stopped is started; one that is missing is installed from
# Debian's packages and, being fresh and used only for tests, given those
# password-less loopback logins. Servers that already run are not touched.
set -euo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_up() {
  for _ in $(seq 1 100); do up "$1" && return 0; sleep 0.2; done
  echo "test-services: nothing answers on 127.0.0.1:$1" >&2
  return 1
}
install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! up 5432; then
  fresh=no
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "test-services: installing PostgreSQL"
    install postgresql
    fresh=yes
  fi
  version=$(ls /etc/postgresql | sort -V | tail -1)
  if [ "$fresh" = yes ]; then
    hba=/etc/postgresql/$version/main/pg_hba.conf
    sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
  fi
  echo "test-services: starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster "$version" main restart
  wait_up 5432
fi

if ! up 3306; then
  fresh=no
  if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
    echo "test-services: installing MariaDB"
    install mariadb-server
    fresh=yes
  fi
  echo "test-services: starting MariaDB"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  wait_up 3306
  if [ "$fresh" = yes ]; then
    mariadb -uroot -e "ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('')"
  fi
fi

# The tests log in without a password unless told otherwise; say so plainly
# here rather than letting every catalog test fail on authentication.
pg_url=${REEL_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
if command -v psql >/dev/null 2>&1 &&
  ! PGCONNECT_TIMEOUT=5 psql -w -qtA "$pg_url" -c 'SELECT 1' >/dev/null 2>&1; then
  echo "test-services: PostgreSQL refuses $pg_url; point REEL_TEST_POSTGRES at a login that may create databases" >&2
  exit 1
fi
mysql_client=$(command -v mariadb || command -v mysql || true)
if [ -z "${REEL_TEST_MYSQL:-}" ] && [ -n "$mysql_client" ] &&
  ! "$mysql_client" --connect-timeout=5 -h 127.0.0.1 -uroot -e 'SELECT 1' >/dev/null 2>&1; then
  echo "test-services: MariaDB refuses root@127.0.0.1 without a password; point REEL_TEST_MYSQL at a login that may create databases" >&2
  exit 1
fi
