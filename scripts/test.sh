#!/usr/bin/env bash
# The whole test suite on a fresh machine: install, lint, then every test (kernels, DVC, MLflow).
set -euo pipefail
cd "$(dirname "$0")/.."
# The browser tests drive Debian's Chromium (Playwright never downloads a browser here); the serving tests
# scrape with Debian's Prometheus and check the alert rules with its promtool; the README's blocks
# (tests/e2e/test_readme.py) ask the model server with curl.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ] || missing+=(prometheus)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  as_root=""; [ "$(id -u)" -eq 0 ] || as_root="sudo"
  $as_root apt-get update -qq
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
# Installs the package with the test extras; the build hook compiles the lab extension (needs node).
bash scripts/setup.sh test
export PATH="$PWD/.venv/bin:$PATH" DVC_NO_ANALYTICS=1
ruff check .
# Four workers on two cores: most of a test's time is spent waiting on a kernel, a server or a subprocess.
# A file's tests stay on one worker (loadfile), so a module's server, lab or registered model is built once;
# files go out in collection order (tests/conftest.py puts those taking minutes first), not largest-count first.
python -m pytest -n 4 --dist loadfile --no-loadscope-reorder -q "$@"
