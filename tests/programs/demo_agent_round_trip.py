"""Builds the trainer with the learning-side levers on imported demos, trains a few steps, pickles it as
tmrl's checkpoint does and resumes it; prints as JSON what each stage did."""

import json
import pickle

import tmrl.config.config_constants as cfg
from tmrl.custom.custom_algorithms import SpinupSacAgent
from tmrl.networking import Buffer

from playerruns.bridge.dataset import import_runs
from playerruns.bridge.setup import load_setup
from playerruns.runs.runfile import save_run
from playerruns.tools.synthetic import gym_run
from playerruns.trainer.config import parse_player_runs
from playerruns.trainer.demo_sac import DemoSacAgent
from playerruns.trainer.roles import training_cls
from playerruns.trainer.training import update_training_instance

setup = load_setup()
player_runs = parse_player_runs(cfg.TMRL_CONFIG)
runs = setup.dataset_path.parent / "runs"
runs.mkdir()
save_run(runs / "demo.pkl", gym_run(setup, episodes=2, max_steps=30, seed=1))
import_runs(str(runs), setup)
cls = training_cls(setup, player_runs)
out = {}
trainer = cls()
out["agent"] = type(trainer.agent).__name__
out["pretrained_steps"] = trainer.pretrained_steps
worker = Buffer()
for s in gym_run(setup, episodes=3, max_steps=30, seed=9).samples:
    worker.append_sample(s)
trainer.memory.append(worker)
stats = [trainer.agent.train(batch) for batch in trainer.memory]  # one round, as tmrl's run_epoch draws it
out["bc_rows"] = [s["bc_rows"] for s in stats]
out["bc_steps"] = trainer.agent.bc_steps
blob = pickle.dumps(trainer)  # what tmrl's checkpoint does
resumed = update_training_instance(pickle.loads(blob), cls)
out["resumed_agent"] = type(resumed.agent).__name__
out["resumed_pretrained_steps"] = resumed.pretrained_steps
out["resumed_bc_steps"] = resumed.agent.bc_steps
out["resumed_rows_needed"] = resumed.memory.demo_rows_needed
# a checkpoint of tmrl's stock agent is upgraded in place and clones from then on
stock = pickle.loads(blob)
stock.agent.__class__ = SpinupSacAgent
upgraded = update_training_instance(stock, cls)
out["upgraded"] = isinstance(upgraded.agent, DemoSacAgent) and upgraded.agent.bc_steps == 0
print(json.dumps(out))
