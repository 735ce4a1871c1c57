#!/usr/bin/env bash
# The old-userland load test: this machine's node, inside a Debian 11 root (glibc 2.31; made once
# by scripts/bullseye-root.sh and kept outside the clone), requires the package as npm installs it
# (the packed package and its dependencies, plus the addon) and handles a delivery
# (scripts/old-userland-check.js). Argument: the addon to test (default: the one `npm run build`
# made at the root). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

addon_name="$(node -p "require('./package.json').napi.binaryName").linux-x64-gnu.node"
addon="$(realpath "${1:-$addon_name}")"
root_dir="$(bash scripts/bullseye-root.sh)"
app_dir=/opt/eka-webhook-app
installed_package="$app_dir/node_modules/@eka-care/webhook-sdk"

rm -rf "${root_dir:?}$app_dir"
mkdir -p "$root_dir$app_dir"
tarball="$(npm pack --json --pack-destination "$root_dir$app_dir" | node -p 'JSON.parse(require("fs").readFileSync(0, "utf8"))[0].filename')"
(
  cd "$root_dir$app_dir"
  echo '{ "private": true }' >package.json
  npm install --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline "./$tarball" >/dev/null
)
cp "$addon" "$root_dir$installed_package/$addon_name"
cp scripts/old-userland-check.js "$root_dir/opt/"
install -m 755 "$(command -v node)" "$root_dir/usr/local/bin/node"
chroot "$root_dir" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root \
  node /opt/old-userland-check.js "$installed_package"
