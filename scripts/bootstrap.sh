#!/usr/bin/env bash
# Everything a fresh machine needs before `npm test` or `npm run demo`: npm packages, the Python
# venv (reference SDK + moto), a running MariaDB and PostgreSQL (each with a database `test`), and
# the native addon (release build, linked against glibc 2.17 with napi-rs's cross toolchain, which
# scripts/build-native.mjs sets up once in ~/.napi-rs).
set -euo pipefail
cd "$(dirname "$0")/.."

# The platform packages join optionalDependencies only at publish time (`napi pre-publish`), so the
# lock file matches package.json and `npm ci` installs exactly it. No dependency's install script
# runs while installing; then `npm rebuild` runs only those package.json's `allowScripts`
# approves at the exact version pinned there: npm enforces the pins itself (against the lock
# file's `resolved` URLs, which .npmrc keeps), and `--strict-allow-scripts` fails on any other.
if [ "$(npm config get strict-allow-scripts)" = undefined ]; then
  echo "bootstrap: npm $(npm --version) does not enforce package.json's allowScripts; use npm 11.19 or later" >&2
  exit 1
fi
npm ci --no-audit --no-fund --ignore-scripts
if ! npm rebuild --strict-allow-scripts; then
  echo "bootstrap: a dependency's install script is not approved at its version in package-lock.json." >&2
  echo "  allowScripts in package.json pins exact versions (name@version): review the locked version's" >&2
  echo "  script, then pin that version (npm install-scripts approve <name>)." >&2
  exit 1
fi
bash scripts/setup-venv.sh
# shellcheck: actionlint (in .ci/run) checks the workflows' `run:` scripts with it.
if ! command -v shellcheck >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck
fi

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

npm run build
