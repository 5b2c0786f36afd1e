"""PlayerRunsTraining as tmrl checkpoints it: injection state and demo flags survive a pickle round trip,
a resumed trainer does not inject twice, a fresh one does. Runs tmrl's generic path in a subprocess."""

from __future__ import annotations

import json

from tests.helpers import make_home, run_python

SCRIPT = """
import json, pickle, sys
from pathlib import Path
from tmrl.networking import Buffer
from playerruns.trainer.config import parse_player_runs
from playerruns.runs.runfile import save_run
from playerruns.builtin.synthetic import gym_run
from playerruns.tmrl_bridge import load_setup
from playerruns.trainer.roles import training_cls
from playerruns.trainer.training import PlayerRunsTraining, update_training_instance
import tmrl.config.config_constants as cfg

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
from tmrl.training_offline import TorchTrainingOffline
stock = pickle.loads(blob)
stock.__class__ = TorchTrainingOffline
del stock.injection_record
upgraded = update_training_instance(stock, cls)
out["upgraded"] = isinstance(upgraded, PlayerRunsTraining) and upgraded.injection_record.files == 0
print(json.dumps(out))
"""


def test_checkpoint_round_trip(tmp_path):
    runs = tmp_path / "runs"
    home = make_home(tmp_path, interface="GYM:Pendulum-v1",
                     PLAYER_RUNS={"ONLINE_INJECTION": True, "SOURCE_PATH": str(runs), "CONSUME_ON_READ": False,
                                  "MAX_FILES_PER_UPDATE": 5, "DEMO_INJECTION_REPEAT": 2, "DEMO_SAMPLING_WEIGHT": 2.5})
    result = run_python(home, SCRIPT)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["type"] == "DemoWeightedGenericTorchMemory"
    assert out["first"] == 2 * 31 * 2  # two files of 31 samples, repeated twice
    assert out["second"] == 0
    assert out["total_samples"] == 124  # injected samples count toward the trainer's total
    assert out["resumed_inject"] == 0 and out["resumed_demo_flags"] == 124 and out["resumed_weight"] == 2.5
    assert out["fresh_inject"] == 124
    assert out["files"] == ["run0.pkl", "run1.pkl"]  # CONSUME_ON_READ false: left in place
    assert out["upgraded"]
