#!/usr/bin/env bash
# Sets up .venv if needed, then runs the main job: the player-runs workflow on the built-in default
# environment, in ./playerruns-demo (no game, no existing TmrlData needed). Extra arguments go to --demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m playerruns --demo "$@"
