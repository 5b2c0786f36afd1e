"""Injects runs, pickles the trainer as tmrl's checkpoint does, resumes it, and prints as JSON what
each step injected."""

import json
import pickle
from functools import partial

import tmrl.config.config_constants as cfg
from tmrl.custom.custom_memories import GenericTorchMemory
from tmrl.networking import Buffer
from tmrl.training_offline import TorchTrainingOffline

from playerruns.bridge.setup import load_setup
from playerruns.runs.runfile import save_run
from playerruns.tools.synthetic import gym_run
from playerruns.trainer.config import parse_player_runs
from playerruns.trainer.roles import training_cls
from playerruns.trainer.training import update_training_instance

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
# a checkpoint written by a stock tmrl trainer (its stock memory holding the worker's samples) resumes as a
# PlayerRunsTraining with that memory's data, its counters, and nothing injected yet
weighted = cls.keywords["memory_cls"]
stock_memory = partial(GenericTorchMemory, *weighted.args, **{k: v for k, v in weighted.keywords.items()
                                                               if k not in ("demo_schedule", "keep_demos")})
stock_keywords = {k: v for k, v in cls.keywords.items() if k != "player_runs"}
stock = TorchTrainingOffline(**{**stock_keywords, "memory_cls": stock_memory})
stock.memory.append(worker)
stock.total_samples += len(worker)
stock_data = pickle.dumps(stock.memory.data)
upgraded = update_training_instance(pickle.loads(pickle.dumps(stock)), cls)
out["upgraded"] = {"type": type(upgraded).__name__, "memory": type(upgraded.memory).__name__,
                   "same_data": pickle.dumps(upgraded.memory.data) == stock_data,
                   "total_samples": upgraded.total_samples, "demo_flags": upgraded.memory.demo_index.n_demo_samples,
                   "inject": upgraded.inject_player_runs()}
print(json.dumps(out))
