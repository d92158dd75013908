#!/usr/bin/env bash
# The whole test suite on a fresh machine: install, lint, then every test (kernels, DVC, MLflow).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export PATH="$PWD/.venv/bin:$PATH" DVC_NO_ANALYTICS=1
ruff check .
python -m pytest -n 2 -q "$@"
