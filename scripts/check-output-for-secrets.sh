#!/usr/bin/env bash
# Fails when a log file contains any secret the test suite configures (client secrets, signing
# keys, database and AWS secrets): the SDK must never print them, whatever path a test takes.
set -euo pipefail
log="$1"
secrets=(
  demo-secret                     # the simulator's default client secret
  whsec_test_signing_key          # __test__/support/sdk.mjs
  whsec_demo_signing_key          # the demo
  S3CRET-                         # __test__/secrets.test.mjs
  moto-secret-key-never-printed   # the DynamoDB tests
  interop-secret                  # the Python interop script
  cli-db-pass                     # the PostgreSQL URL of __test__/cli.test.mjs
  pw-secret                       # a PostgreSQL connection string in __test__/pipeline.test.mjs
)
found=0
for secret in "${secrets[@]}"; do
  if grep -n -F -- "$secret" "$log" >/dev/null; then
    echo "secret-check: '$secret' appears in $log:" >&2
    grep -n -F -- "$secret" "$log" | head -5 >&2
    found=1
  fi
done
[ "$found" -eq 0 ] && echo "secret-check: none of ${#secrets[@]} test secrets appears in the test output"
exit "$found"
