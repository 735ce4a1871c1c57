#!/usr/bin/env bash
# Everything a fresh machine needs before `npm test` or `npm run demo`: npm packages, the Python
# venv (reference SDK + moto), a running MariaDB, and the native addon (release build).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
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

npx napi build --platform --release
