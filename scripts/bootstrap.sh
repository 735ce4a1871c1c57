#!/usr/bin/env bash
# Everything a fresh machine needs before `npm test` or `npm run demo`: npm packages, the Python
# venv (reference SDK + moto), a running MariaDB and PostgreSQL (each with a database `test`), and
# the native addon (release build).
set -euo pipefail
cd "$(dirname "$0")/.."

# `npm install`, not `npm ci`: the optional platform package (@eka-care/webhook-sdk-linux-x64-gnu)
# is published with each release, so a checkout cannot have it in its lock file; npm skips it.
npm install --no-audit --no-fund
bash scripts/setup-venv.sh

# MariaDB is started before the session on this kind of machine; start it if it is down.
if ! mysqladmin --protocol=tcp -h 127.0.0.1 -u root ping >/dev/null 2>&1; then
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  for _ in $(seq 1 60); do
    mysqladmin --protocol=tcp -h 127.0.0.1 -u root ping >/dev/null 2>&1 && break
    sleep 1
  done
  mysqladmin --protocol=tcp -h 127.0.0.1 -u root ping >/dev/null
fi
mysql --protocol=tcp -h 127.0.0.1 -u root -e 'CREATE DATABASE IF NOT EXISTS test'

# PostgreSQL likewise (trust authentication on loopback): start the cluster on port 5432 if it
# is down (its version and name as pg_lsclusters lists them), and make sure `test` exists.
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  read -r pg_version pg_cluster < <(pg_lsclusters --no-header | awk '$3 == 5432 { print $1, $2; exit }')
  pg_ctlcluster --skip-systemctl-redirect "$pg_version" "$pg_cluster" start
  for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p 5432 && break
    sleep 1
  done
  pg_isready -h 127.0.0.1 -p 5432
fi
if [ "$(psql -X -A -t -h 127.0.0.1 -U postgres -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'test'")" != 1 ]; then
  createdb -h 127.0.0.1 -U postgres test
fi

npx napi build --platform --release
