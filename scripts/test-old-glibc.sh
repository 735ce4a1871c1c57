#!/usr/bin/env bash
# The old-userland load test: this machine's node, inside a Debian 11 root (glibc 2.31; made once
# by scripts/bullseye-root.sh and kept outside the clone), requires the package as it ships (the
# loader, lib/, the simulator and the addon) and handles a delivery (scripts/old-userland-check.js).
# Argument: the addon to test (default: the one `npm run build` made at the root). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

addon_name="$(node -p "require('./package.json').napi.binaryName").linux-x64-gnu.node"
addon="${1:-$addon_name}"
root_dir="$(bash scripts/bullseye-root.sh)"
package_dir=/opt/eka-webhook-sdk

rm -rf "${root_dir:?}$package_dir"
mkdir -p "$root_dir$package_dir"
cp -r package.json binding.js lib simulator "$root_dir$package_dir/"
cp "$addon" "$root_dir$package_dir/$addon_name"
cp scripts/old-userland-check.js "$root_dir/opt/"
install -m 755 "$(command -v node)" "$root_dir/usr/local/bin/node"
chroot "$root_dir" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root \
  node /opt/old-userland-check.js "$package_dir"
