"""Builds the trainer with DEMO_RETURN_BOUND and CRITIC_LAYER_NORM on MiniTrack runs of the stand-in, draws
a batch, trains, checkpoints with tmrl's own functions and resumes; prints as JSON what each stage holds."""

import json

import numpy as np
import tmrl.config.config_constants as cfg
import torch
from tmrl.networking import Buffer, dump_run_instance, load_run_instance

from playerruns.bridge.dataset import import_runs
from playerruns.bridge.setup import load_setup
from playerruns.envs.drivers import line_follower
from playerruns.runs.runfile import save_run
from playerruns.tools.synthetic import gym_run
from playerruns.trainer.config import parse_player_runs
from playerruns.trainer.roles import training_cls
from playerruns.trainer.training import update_training_instance

setup = load_setup()
player_runs = parse_player_runs(cfg.TMRL_CONFIG)
runs = setup.dataset_path.parent / "runs"
runs.mkdir()
run = gym_run(setup, line_follower(rng=np.random.default_rng(0)), episodes=2, max_steps=60, seed=1)
save_run(runs / "demo.pkl", run)
import_runs(str(runs), setup)
gamma = float(cfg.TMRL_CONFIG["ALG"]["GAMMA"])
expected = []  # the player's discounted return from every step of the run, computed here from its rewards
episode: list[float] = []
for s in run.samples:
    episode.append(float(s[2]))
    if s[3] or s[4]:
        following = 0.0
        for r in reversed(episode[1:]):  # the first sample of an episode is its reset: no step ends there
            following = r + gamma * following
            expected.append(following)
        episode = []
cls = training_cls(setup, player_runs)
trainer = cls()
out = {"agent": type(trainer.agent).__name__, "bound": trainer.agent.demo_return_bound, "gamma": gamma,
       "memory_gamma": trainer.memory.return_gamma, "target_entropy": trainer.agent.target_entropy,
       "alg_target_entropy": cfg.TMRL_CONFIG["ALG"].get("TARGET_ENTROPY"),
       "layer_norms": sum(isinstance(m, torch.nn.LayerNorm) for m in trainer.agent.model.q1.modules())}
worker = Buffer()  # a worker's episodes beside the demos
for s in gym_run(setup, episodes=2, max_steps=60, seed=9).samples:
    worker.append_sample(s)
trainer.memory.append(worker)
batch = trainer.memory.sample()
returns = np.asarray(batch.demo_return)
out["rows"] = len(returns)
out["demo_rows"] = int(batch.demo.sum())
out["finite_where_demo"] = bool((np.isfinite(returns) == batch.demo).all())
out["returns_match"] = bool(all(np.isclose(expected, g, atol=1e-4).any() for g in returns[batch.demo]))
out["max_expected"] = max(expected)
stats = trainer.agent.train(batch)
out["bound_raised"] = stats["bound_raised"]
out["conservatism"], out["conservative_gap"] = trainer.agent.conservatism, stats["conservative_gap"]
out["conservatism_decay_steps"], out["conservatism_now"] = (trainer.agent.conservatism_decay_steps,
                                                            stats["conservatism"])
trainer.agent.train(trainer.memory.sample())
averaged = [p.detach().clone() for p in trainer.agent.get_actor().parameters()]
out["averaged"] = trainer.agent.get_actor() is not trainer.agent.model_nograd.actor
checkpoint = str(cfg.CHECKPOINT_PATH)
dump_run_instance(trainer, checkpoint)
loaded = load_run_instance(checkpoint)
loaded.agent.target_entropy = -0.5  # as if the checkpoint were made with another entropy target
resumed = update_training_instance(loaded, cls)
again = resumed.memory.sample()
out["resumed"] = {"bound": resumed.agent.demo_return_bound, "memory_gamma": resumed.memory.return_gamma,
                  "finite_where_demo": bool((np.isfinite(np.asarray(again.demo_return)) == again.demo).all()),
                  "best_policy": resumed.best_policy is not None,
                  "target_entropy": resumed.agent.target_entropy,
                  "conservatism": resumed.agent.conservatism,
                  "conservatism_decay_steps": resumed.agent.conservatism_decay_steps,
                  "same_average": all(torch.equal(a, b) for a, b in
                                      zip(averaged, resumed.agent.get_actor().parameters(), strict=True))}
print(json.dumps(out))
