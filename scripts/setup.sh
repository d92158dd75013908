#!/usr/bin/env bash
# Create .venv (if needed) and install the package with the given extras. Idempotent and quiet.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-example}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
.venv/bin/python -m pip install -q -e ".[${extras}]"
