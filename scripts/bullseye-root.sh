#!/usr/bin/env bash
# A Debian 11 (bullseye, glibc 2.31) root for the old-userland load test (scripts/test-old-glibc.sh),
# made once with `debootstrap --variant=minbase` and reused: a machine keeps it in
# $EKA_BULLSEYE_ROOT (default /var/cache/eka-webhook-sdk/bullseye-root), outside the clone.
# Prints the root's path. Needs root (debootstrap, chroot).
set -euo pipefail

root_dir="${EKA_BULLSEYE_ROOT:-/var/cache/eka-webhook-sdk/bullseye-root}"
# Written last, so a root whose debootstrap was interrupted is made again instead of reused.
complete_marker="$root_dir/.eka-bullseye-complete"

if [[ -f "$complete_marker" ]]; then
  echo "$root_dir"
  exit 0
fi

if ! command -v debootstrap >/dev/null; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
fi

# The Debian mirror this machine's apt already uses (deb822 .sources or one-line lists).
mirror="$(
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
    2>/dev/null | awk '/^URIs:/ || /^deb / { print $2 }' | grep -m 1 '/debian/\?$' || true
)"
mirror="${mirror:-http://deb.debian.org/debian}"

rm -rf "$root_dir"
mkdir -p "$(dirname "$root_dir")"
debootstrap --variant=minbase bullseye "$root_dir" "$mirror" >&2
touch "$complete_marker"
echo "$root_dir"
