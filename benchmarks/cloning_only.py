"""How fast does a policy cloned from a driver's runs drive, before any reinforcement learning?

The warmup benchmark's first lap comes from the cloned policy and what SAC adds to it. This script takes the
reinforcement learning away: it records a driver's 10 runs of MiniTrack (``playerruns.envs.drivers``, the
benchmark's recordings' seeds), clones them with ``DemoSacAgent.pretrain`` (the trainer's demo-only
pretraining: the critic learns by SAC's update with ``DEMO_RETURN_BOUND``, the actor only clones, weight
0.4) and, after each number of pretraining updates in ``--updates``, drives the cloned policy
deterministically from the benchmark's evaluation starts (seeds 10,000 + k). Per driver and seed it prints
the driver's laps (of 10, and their median steps; an episode ends at 1,000 steps), then per checkpoint the
cloned policy's laps, its median episode steps, how far round the lap it got (median share) and its mean gas.

An episode of MiniTrack stops at 1,000 steps, so a driver whose laps take ~980 steps finishes only when
they are not slower than usual: a clone that drives like them on average laps as often as they do, and a
clone that is any slower does not lap at all.

    python benchmarks/cloning_only.py --skills 1.0,0.4 --seeds 0-2 --updates 1000,3000,10000
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from forgetting import GAMMA, SETTINGS, Replay, record_runs  # the one-process learner's pieces

EPISODES = 12  # evaluation episodes per checkpoint, from seeds 10,000 + k


def seeds(text: str) -> list[int]:
    low, _, high = text.partition("-")
    return list(range(int(low), int(high or low) + 1))


def evaluate(agent: Any, env: Any) -> dict[str, float]:
    import torch

    finished, lengths, fractions, gas = 0, [], [], []
    for k in range(EPISODES):
        obs, _ = env.reset(seed=10_000 + k)
        done, steps, info = False, 0, {}
        while not done:
            with torch.no_grad():
                action, _ = agent.get_actor()(torch.as_tensor(obs)[None], test=True, with_logprob=False)
            action = action.numpy().reshape(-1)
            gas.append(float(action[0]))
            obs, _, terminated, truncated, info = env.step(action)
            done, steps = terminated or truncated, steps + 1
        finished += bool(info.get("finished"))
        lengths.append(steps)
        fractions.append(float(info["lap_fraction"]))
    return {"laps": finished, "median_steps": statistics.median(lengths),
            "median_lap_share": statistics.median(fractions), "mean_gas": float(np.mean(gas))}


def clone_and_drive(skill: float, seed: int, updates: list[int], runs: int) -> None:
    import gymnasium
    import torch
    from tmrl.custom.custom_models import MLPActorCritic

    from playerruns.builtin.tasks import TASKS, hyperparameters
    from playerruns.trainer.demo_sac import DemoSacAgent

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    env = gymnasium.make("playerruns.envs.minitrack:MiniTrack-v0")
    replay = Replay(runs * 1000, env.observation_space.shape[0], env.action_space.shape[0])
    laps = record_runs(env, replay, skill, seed, runs)
    median = statistics.median(laps) if laps else None
    print(f"skill {skill} seed {seed}: the driver finished {len(laps)} of {runs} runs, median lap {median} steps",
          flush=True)
    alg = hyperparameters(TASKS["minitrack"])["ALG"]
    agent = DemoSacAgent(observation_space=env.observation_space, action_space=env.action_space, device="cpu",
                         model_cls=MLPActorCritic, gamma=GAMMA, polyak=alg["POLYAK"], alpha=alg["ALPHA"],
                         lr_actor=alg["LR_ACTOR"], lr_critic=alg["LR_CRITIC"], lr_entropy=alg["LR_ENTROPY"],
                         learn_entropy_coef=True, target_entropy=alg["TARGET_ENTROPY"], **SETTINGS["bound"])
    done = 0
    for target in updates:
        for _ in range(target - done):
            agent.pretrain(replay.batch(rng, None))
        done = target
        figures = evaluate(agent, env)
        print(f"  after {target:>6} cloning updates: {figures['laps']:>2} laps of {EPISODES}, median episode "
              f"{figures['median_steps']:.0f} steps, {100 * figures['median_lap_share']:.0f} % of the lap, "
              f"mean gas {figures['mean_gas']:+.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skills", default="1.0,0.4", help="drivers' skills (drivers.Skill.at), comma-separated")
    parser.add_argument("--seeds", default="0-2", help="a seed or a range such as 0-2")
    parser.add_argument("--updates", default="1000,3000,10000", help="pretraining updates at which to drive")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="playerruns-cloning-"))
    os.environ["HOME"] = str(home)  # tmrl reads ~/TmrlData/config/config.json at import
    try:
        from playerruns.bridge.setup import init_tmrl_data

        init_tmrl_data(home, interface="GYM:playerruns.envs.minitrack:MiniTrack-v0")
        import torch

        torch.set_num_threads(1)
        updates = sorted(int(u) for u in args.updates.split(","))
        for skill in (float(s) for s in args.skills.split(",")):
            for seed in seeds(args.seeds):
                clone_and_drive(skill, seed, updates, args.runs)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
