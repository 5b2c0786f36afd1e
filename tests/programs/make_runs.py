"""Writes argv[2] (default 3) run files of the configured interface into the folder argv[1] (synthetic for
TrackMania, a random gymnasium driver otherwise), named run0.pkl, run1.pkl..., of 2 episodes of argv[3] (default
40) steps."""

import sys
from pathlib import Path

import numpy as np

from playerruns.bridge.setup import load_setup
from playerruns.runs.runfile import save_run
from playerruns.tools.synthetic import gym_run, synthetic_run

setup = load_setup()
out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(7)
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 40
for k in range(int(sys.argv[2]) if len(sys.argv) > 2 else 3):
    if setup.env_id:
        run = gym_run(setup, episodes=2, max_steps=steps, seed=k)
    else:
        run = synthetic_run(setup, episodes=2, steps=steps, rng=rng)
    save_run(out / f"run{k}.pkl", run)
