"""A TrackMania trainer injects two runs from SOURCE_PATH, one stamped with the current reward and one
with another reward trajectory; its log (stdout) must warn about the second only. Prints the run ids."""

import json
import logging
import sys

import numpy as np
import tmrl.config.config_constants as cfg

from playerruns.bridge.demo_path import reward_stamp
from playerruns.bridge.setup import load_setup
from playerruns.runs.runfile import save_run
from playerruns.tools.synthetic import synthetic_run
from playerruns.trainer.config import parse_player_runs
from playerruns.trainer.roles import training_cls

logging.basicConfig(stream=sys.stdout, level=logging.INFO)
setup = load_setup()
player_runs = parse_player_runs(cfg.TMRL_CONFIG)
source = player_runs.source_path
source.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(3)
ids = {}
for name, stamp in (("fresh", reward_stamp(setup)), ("stale", {"trajectory": "0123456789abcdef", "config": {}})):
    run = synthetic_run(setup, steps=20, rng=rng)
    run.metadata["reward_stamp"] = stamp
    save_run(source / f"{name}.pkl", run)
    ids[name] = run.run_id
trainer = training_cls(setup, player_runs)()
injected = sum(trainer.inject_player_runs() for _ in range(3))  # MAX_FILES_PER_UPDATE files per poll
print(json.dumps({"ids": ids, "injected": injected}))
