#!/usr/bin/env bash
# Everything a fresh machine needs before `npm test` or `npm run demo`: npm packages, the Python
# venv (reference SDK + moto), a running MariaDB, and the native addon (release build).
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

npm run build
