#!/usr/bin/env bash
# Everything a fresh machine needs before `npm test` or `npm run demo`: npm packages, the Python
# venv (reference SDK + moto), a running MariaDB, and the native addon (release build, linked
# against glibc 2.17 with napi-rs's cross toolchain, which scripts/build-native.mjs sets up once in
# ~/.napi-rs).
set -euo pipefail
cd "$(dirname "$0")/.."

# The platform packages join optionalDependencies only at publish time (`napi pre-publish`), so the
# lock file matches package.json and `npm ci` installs exactly it.
npm ci --no-audit --no-fund
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

npm run build
