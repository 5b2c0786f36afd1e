#!/usr/bin/env bash
# Sets up .venv if needed, then runs the linter, the type checker and the test suite.
# Extra arguments go to pytest (e.g. -m "not slow" while iterating).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests benchmarks
.venv/bin/mypy
exec .venv/bin/python -m pytest -q "$@"
