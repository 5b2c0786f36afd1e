#!/usr/bin/env bash
# Creates .venv in the repository root and installs playerruns with tmrl 0.7.1 into it.
# Idempotent: a second run only re-installs when the requirement files changed.
# TORCH_SPEC overrides the torch requirement (default: the CPU build torch==2.13.0).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
stamp=".venv/.playerruns-setup"
want="$(cat pyproject.toml requirements/*.txt scripts/setup.sh | sha256sum | cut -c1-16) $TORCH_SPEC"
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "playerruns: setting up .venv (tmrl 0.7.1, $TORCH_SPEC) ..." >&2
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" "$TORCH_SPEC"
"${pip[@]}" -r requirements/linux.txt -r requirements/dev.txt
# tmrl 0.7.1's wheel requires the Windows-only pywin32 and vgamepad, so it goes in last, without its
# declared dependencies (its real Linux needs are requirements/linux.txt, installed above).
echo "playerruns: installing tmrl 0.7.1 without its Windows-only dependencies (pywin32, vgamepad)" >&2
"${pip[@]}" --no-deps "tmrl==0.7.1"
"${pip[@]}" --no-deps --no-build-isolation -e .
echo "$want" > "$stamp"
echo "playerruns: .venv ready" >&2
