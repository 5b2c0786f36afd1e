"""Injects runs, checkpoints the trainer with tmrl's own checkpoint functions (a file in the HOME's
checkpoints folder), resumes it as tmrl's Trainer does (load, then the updater), and prints as JSON what
each step injected and what the resumed trainer holds next to what was checkpointed."""

import json
import pickle
from functools import partial

import tmrl.config.config_constants as cfg
from tmrl.custom.custom_memories import GenericTorchMemory
from tmrl.networking import Buffer, dump_run_instance, load_run_instance
from tmrl.training_offline import TorchTrainingOffline

from playerruns.bridge.setup import load_setup
from playerruns.runs.runfile import save_run
from playerruns.tools.synthetic import gym_run
from playerruns.trainer.config import parse_player_runs
from playerruns.trainer.roles import training_cls
from playerruns.trainer.training import update_training_instance


def state(trainer):
    """What a checkpoint must carry: the injection record, the replay memory (data and demo flags) and the
    trainer's counters."""
    record, memory = trainer.injection_record, trainer.memory
    return {"record": {"run_ids": sorted(record.run_ids), "training_id": record.training_id,
                       "file_names": sorted(record.file_names), "files": record.files, "samples": record.samples},
            "data": pickle.dumps(memory.data).hex(), "demo_flags": memory.demo_index.demo.tolist(),
            "total_samples": trainer.total_samples}


setup = load_setup()
player_runs = parse_player_runs(cfg.TMRL_CONFIG)
source = player_runs.source_path
source.mkdir(parents=True, exist_ok=True)
for k in range(2):
    save_run(source / f"run{k}.pkl", gym_run(setup, episodes=1, max_steps=30, seed=k))
cls = training_cls(setup, player_runs)
checkpoint = str(cfg.CHECKPOINT_PATH)  # where tmrl's Trainer checkpoints this RUN_NAME
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
out["checkpointed"] = state(trainer)
dump_run_instance(trainer, checkpoint)
del trainer
resumed = update_training_instance(load_run_instance(checkpoint), cls)
out["resumed"] = state(resumed)  # read before it injects anything
out["resumed_inject"] = resumed.inject_player_runs()
out["resumed_weight"] = resumed.memory.demo_weight
out["fresh_inject"] = cls().inject_player_runs()
out["files"] = sorted(p.name for p in source.iterdir())
# a checkpoint written by a stock tmrl trainer (its stock memory holding the worker's samples) resumes as a
# PlayerRunsTraining with that memory's data, its counters, and nothing injected yet
weighted = cls.keywords["memory_cls"]
stock_memory = partial(GenericTorchMemory, *weighted.args, **{k: v for k, v in weighted.keywords.items()
                                                               if k not in ("demo_schedule", "keep_demos")})
stock_keywords = {k: v for k, v in cls.keywords.items() if k not in ("player_runs", "watch")}
stock = TorchTrainingOffline(**{**stock_keywords, "memory_cls": stock_memory})
stock.memory.append(worker)
stock.total_samples += len(worker)
stock_data = pickle.dumps(stock.memory.data)
dump_run_instance(stock, checkpoint)
del stock
upgraded = update_training_instance(load_run_instance(checkpoint), cls)
out["upgraded"] = {"type": type(upgraded).__name__, "memory": type(upgraded.memory).__name__,
                   "same_data": pickle.dumps(upgraded.memory.data) == stock_data,
                   "total_samples": upgraded.total_samples, "demo_flags": upgraded.memory.demo_index.n_demo_samples,
                   "inject": upgraded.inject_player_runs()}
print(json.dumps(out))
