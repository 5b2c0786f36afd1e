"""Injects runs, pickles the trainer as tmrl's checkpoint does, resumes it, and prints as JSON what
each step injected."""

import json
import pickle

import tmrl.config.config_constants as cfg
from tmrl.networking import Buffer
from tmrl.training_offline import TorchTrainingOffline

from playerruns.bridge.setup import load_setup
from playerruns.runs.runfile import save_run
from playerruns.tools.synthetic import gym_run
from playerruns.trainer.config import parse_player_runs
from playerruns.trainer.roles import training_cls
from playerruns.trainer.training import PlayerRunsTraining, update_training_instance

setup = load_setup()
player_runs = parse_player_runs(cfg.TMRL_CONFIG)
source = player_runs.source_path
source.mkdir(parents=True, exist_ok=True)
for k in range(2):
    save_run(source / f"run{k}.pkl", gym_run(setup, episodes=1, max_steps=30, seed=k))
cls = training_cls(setup, player_runs)
out = {}
trainer = cls()
out["type"] = type(trainer.memory).__name__
out["first"] = trainer.inject_player_runs()
out["second"] = trainer.inject_player_runs()
worker = Buffer()
for s in gym_run(setup, episodes=2, max_steps=30, seed=9).samples:
    worker.append_sample(s)
trainer.memory.append(worker)
out["total_samples"] = trainer.total_samples
blob = pickle.dumps(trainer)  # what tmrl's checkpoint does
resumed = update_training_instance(pickle.loads(blob), cls)
out["resumed_inject"] = resumed.inject_player_runs()
out["resumed_demo_flags"] = int(resumed.memory.demo_index.n_demo_samples)
out["resumed_weight"] = resumed.memory.demo_weight
out["fresh_inject"] = cls().inject_player_runs()
out["files"] = sorted(p.name for p in source.iterdir())
# a checkpoint written by a stock tmrl trainer is upgraded in place
stock = pickle.loads(blob)
stock.__class__ = TorchTrainingOffline
del stock.injection_record
upgraded = update_training_instance(stock, cls)
out["upgraded"] = isinstance(upgraded, PlayerRunsTraining) and upgraded.injection_record.files == 0
print(json.dumps(out))
