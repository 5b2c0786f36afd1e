#!/usr/bin/env bash
# Sets up .venv if needed, then runs the linter, the type checker and the test suite.
# Extra arguments go to pytest (e.g. -m "not slow" while iterating).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# A virtual display and a key sender, for the tests of the windows and keys a person uses (Debian's
# packages; CI runs as root). Elsewhere those tests say why they are skipped.
if ! command -v Xvfb >/dev/null || ! command -v xdotool >/dev/null || ! command -v xwininfo >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "playerruns: installing xvfb, xdotool and x11-utils for the display tests" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xvfb xdotool x11-utils) >/dev/null
  fi
fi
.venv/bin/ruff check src tests benchmarks
.venv/bin/mypy
exec .venv/bin/python -m pytest -q "$@"
