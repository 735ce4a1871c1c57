#!/usr/bin/env bash
# Runs every cargo-fuzz target of eka-webhook-core for N seconds (default 30), one at a time.
#
#   fuzz/run.sh [seconds]
#
# Exits 0 when every target ran clean, 1 when a target crashed (the input is saved under
# fuzz/artifacts/<target>/ and the command to reproduce it is printed), 2 when the targets
# do not build. Without cargo-fuzz it prints a notice and exits 0: CI calls it
# opportunistically, and `cargo test -p eka-webhook-core` replays seeds/ and regressions/ anyway.
#
# Only the stable toolchain is needed: RUSTC_BOOTSTRAP=1 lets it accept the nightly-only flags
# cargo-fuzz passes (-Zsanitizer=address and friends). If the AddressSanitizer build fails,
# the targets are built with --sanitizer none instead (still libFuzzer-instrumented).
# Environment: FUZZ_TARGETS="a b" limits the targets; FUZZ_ARGS adds libFuzzer options;
# FUZZ_TARGET_DIR is where the instrumented builds go (default fuzz/target; CI keeps one outside
# the clone so a fresh clone does not rebuild every dependency with the sanitizer).
set -uo pipefail

seconds="${1:-30}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
  echo "usage: fuzz/run.sh [seconds]  (a positive whole number; default 30)" >&2
  exit 2
fi
fuzz_dir="$(cd "$(dirname "$0")" && pwd)"
cd "$fuzz_dir" || exit 2

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz/run.sh: cargo-fuzz is not installed; skipping the fuzz run (install it with" \
       "'cargo install cargo-fuzz'). The regression corpus is still replayed by cargo test."
  exit 0
fi

export RUSTC_BOOTSTRAP=1
sanitizer_note=""
build_options=(--target-dir "${FUZZ_TARGET_DIR:-$fuzz_dir/target}")
if ! cargo fuzz build "${build_options[@]}" >build.log 2>&1; then
  echo "fuzz/run.sh: the AddressSanitizer build failed (see fuzz/build.log); retrying with --sanitizer none"
  build_options+=(--sanitizer none)
  sanitizer_note=" (--sanitizer none)"
  if ! cargo fuzz build "${build_options[@]}" >build.log 2>&1; then
    tail -n 30 build.log
    echo "fuzz/run.sh: the fuzz targets do not build (full log: fuzz/build.log)" >&2
    exit 2
  fi
fi
rm -f build.log

targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
failed=()
for target in $targets; do
  mkdir -p "corpus/$target"
  echo "=== fuzz target $target: ${seconds}s${sanitizer_note}"
  # corpus/<target> (first: new inputs go there, git-ignored), then the committed seeds and the
  # regression corpus, read only.
  # shellcheck disable=SC2086
  if cargo fuzz run "${build_options[@]}" "$target" "corpus/$target" "seeds/$target" "regressions/$target" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -dict="dicts/$target.dict" \
      -print_final_stats=1 ${FUZZ_ARGS:-} 2>"run-$target.log"; then
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+[[:space:]]+DONE)' "run-$target.log" || true
    rm -f "run-$target.log"
  else
    tail -n 60 "run-$target.log"
    echo "fuzz/run.sh: $target CRASHED (log: fuzz/run-$target.log; input under fuzz/artifacts/$target/)" >&2
    failed+=("$target")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz/run.sh: crashes in: ${failed[*]}. Reproduce with: RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <artifact>;" \
       "after the fix, copy the artifact to fuzz/regressions/<target>/" >&2
  exit 1
fi
echo "fuzz/run.sh: all targets ran ${seconds}s without a crash"
