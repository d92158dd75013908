#!/usr/bin/env bash
# The main job, end to end: run the example notebook headless with tracking on, then list its runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh example
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p examples/out
papermill examples/churn.ipynb examples/out/churn.ipynb --cwd examples --log-output
jupyter mlops runs examples/churn.ipynb
