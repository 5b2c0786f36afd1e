"""Why does the cloned policy leave the player's line? One learner in one process, every number printed.

The warmup benchmark trains through tmrl's real roles, which is what a user lives with but hides the
learner's insides. This script runs the same learner in one process so that each evaluation prints
what the critic and the cloning were doing at that moment: tmrl's ``SpinupSacAgent`` or playerruns'
``DemoSacAgent`` (the trainer's classes, built with the benchmark's hyper-parameters), the stand-in
driver's runs of ``playerruns.envs.drivers``, MiniTrack unpaced, one update per environment step, the
demo share of batches annealed from 25 % to 5 % over 20,000 updates, 1,000 demo-only pretraining
updates. The replay is a plain array here (the demo-weighted memory's sampling is measured apart by
``sampling_cost.py``); the evaluation is the benchmark's (lowest return of 3 deterministic episodes).

Settings (``--setting``), each one learning-side lever changed from the one before:

- ``decayed``: the previous demo's cloning: coefficient 0.4 decayed to 0 over 20,000 updates, Q-filtered,
  3,000 clone-only actor warm-up updates;
- ``kept``: the same without the decay or the filter (cloning at 0.4 throughout, the warm-up kept);
- ``bound``: ``kept`` without the warm-up, with DEMO_RETURN_BOUND (the critic's target on a demo row is at least the
  player's discounted return from it): the demo's ``all`` levers;
- ``bound-q-filter``: ``bound`` with the Q-filter back on;
- ``bound-layer-norm``: ``bound`` with CRITIC_LAYER_NORM;
- ``bound-averaged``: ``bound`` with POLICY_AVERAGING 0.999 (the policy driven and evaluated is an average
  of the actor's weights over about 1,000 updates);
- ``bound-averaged-q-filter``: ``bound-averaged`` with the Q-filter back on;
- ``bound-averaged-decayed``: ``bound-averaged`` with the cloning decayed from 0.4 to 0 over 30,000 updates;
- ``ibrl``: IBRL's proposal policy (Hu et al. 2023), written here for the comparison only: the pretrained
  policy is frozen as a proposal; the agent acts with, and bootstraps on, whichever of the proposal's
  and the RL actor's action the critic rates higher; the RL actor is also cloned towards the proposal.
- ``scratch``: stock SAC, no player runs.

``--weights-per-episode`` and ``--data-per-episode`` give it a tmrl worker's lags: each episode driven with the
weights it began with, and its samples reaching the learner only when it ends.

Per evaluation it prints the score, the 3 episodes' lengths (a lap in fewer steps is faster), the
critic's mean Q on demo and other rows, the share of rows cloned and the entropy coefficient.

    python benchmarks/forgetting.py --setting decayed --seed 1 --steps 15000
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SETTINGS = {
    "decayed": {"bc_coef": 0.4, "bc_decay_steps": 20_000, "bc_q_filter": True, "actor_warmup_steps": 3000},
    "kept": {"bc_coef": 0.4, "bc_q_filter": False, "actor_warmup_steps": 3000},
    "bound": {"bc_coef": 0.4, "bc_q_filter": False, "demo_return_bound": True},
    "bound-q-filter": {"bc_coef": 0.4, "bc_q_filter": True, "demo_return_bound": True},
    "bound-layer-norm": {"bc_coef": 0.4, "bc_q_filter": False, "demo_return_bound": True},
    "bound-averaged": {"bc_coef": 0.4, "bc_q_filter": False, "demo_return_bound": True, "policy_averaging": 0.999},
    "bound-averaged-q-filter": {"bc_coef": 0.4, "bc_q_filter": True, "demo_return_bound": True,
                                "policy_averaging": 0.999},
    "bound-averaged-decayed": {"bc_coef": 0.4, "bc_decay_steps": 30_000, "bc_q_filter": False,
                               "demo_return_bound": True, "policy_averaging": 0.999},
    "ibrl": {"bc_coef": 0.4, "bc_q_filter": False},
    "scratch": {},
}
BATCH = 256
GAMMA = 0.99


class Replay:
    """Transitions in arrays; the player's come first, with their discounted returns."""

    def __init__(self, size: int, obs_dim: int, act_dim: int) -> None:
        self.o = np.zeros((size, obs_dim), np.float32)
        self.a = np.zeros((size, act_dim), np.float32)
        self.r = np.zeros(size, np.float32)
        self.o2 = np.zeros((size, obs_dim), np.float32)
        self.d = np.zeros(size, np.float32)
        self.g = np.full(size, np.nan, np.float32)
        self.n = 0
        self.n_demo = 0

    def add(self, o: Any, a: Any, r: float, o2: Any, terminated: bool) -> None:
        i = self.n
        self.o[i], self.a[i], self.r[i], self.o2[i], self.d[i] = o, a, r, o2, float(terminated)
        self.n += 1

    def close_demos(self, ends: list[int]) -> None:
        """The demos are the first ``n`` rows, episodes ending at ``ends``: their returns, backwards."""
        self.n_demo = self.n
        following = 0.0
        for i in range(self.n_demo - 1, -1, -1):
            following = float(self.r[i]) + GAMMA * (0.0 if i in ends else following)
            self.g[i] = following

    def batch(self, rng: np.random.Generator, share: float | None) -> Any:
        import torch

        from playerruns.trainer.memories import DemoBatch

        if share is None:  # demos only
            idx = rng.integers(0, self.n_demo, BATCH)
        elif self.n_demo == 0:
            idx = rng.integers(0, self.n, BATCH)
        else:
            k = rng.binomial(BATCH, share) if self.n > self.n_demo else BATCH
            idx = np.concatenate([rng.integers(0, self.n_demo, k), rng.integers(self.n_demo, self.n, BATCH - k)
                                  if BATCH - k else np.zeros(0, np.int64)])
        rows = (self.o[idx], self.a[idx], self.r[idx], self.o2[idx], self.d[idx], np.zeros(BATCH, np.float32))
        return DemoBatch(tuple(torch.as_tensor(x) for x in rows), idx < self.n_demo, self.g[idx])


def record_runs(env: Any, replay: Replay, skill: float, seed: int, runs: int) -> list[int]:
    """The stand-in at ``skill`` drives ``runs`` episodes of ``env`` into ``replay`` as its demos (with their
    returns; the replay must be empty); returns the steps of the laps it finished."""
    from playerruns.envs.drivers import Skill, line_follower

    drive = line_follower(rng=np.random.default_rng(1000 + seed), skill=Skill.at(skill))
    ends, laps = [], []
    for k in range(runs):
        o, _ = env.reset(seed=seed * 100 + k)
        done, steps, info = False, 0, {}
        while not done:
            act = drive(o)
            o2, r, terminated, truncated, info = env.step(act)
            replay.add(o, act, float(r), o2, terminated)
            o, done, steps = o2, terminated or truncated, steps + 1
        ends.append(replay.n - 1)
        if info.get("finished"):
            laps.append(steps)
    replay.close_demos(ends)
    return laps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=SETTINGS, default="bound")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", type=int, default=15_000)
    parser.add_argument("--skill", type=float, default=1.0, help="the driver's skill (drivers.Skill.at)")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--target-entropy", type=float, help="SAC's entropy target (default: the benchmark's "
                        "MiniTrack value, tasks.TASKS['minitrack'])")
    parser.add_argument("--weights-per-episode", action="store_true", help="drive each episode with the weights "
                        "of its start, as a tmrl worker does (it gets new weights between episodes)")
    parser.add_argument("--data-per-episode", action="store_true", help="the learner gets an episode's samples "
                        "only when it ends, as tmrl's trainer does (a worker sends its buffer between episodes)")
    parser.add_argument("--out", type=Path, help="a JSON file for the curve")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="playerruns-forgetting-"))
    os.environ["HOME"] = str(home)  # tmrl reads ~/TmrlData/config/config.json at import
    try:
        from playerruns.bridge.setup import init_tmrl_data

        init_tmrl_data(home, interface="GYM:playerruns.envs.minitrack:MiniTrack-v0")
        run(args)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run(args: argparse.Namespace) -> None:
    import gymnasium
    import torch
    from tmrl.custom.custom_algorithms import SpinupSacAgent
    from tmrl.custom.custom_models import MLPActorCritic

    from playerruns.builtin.tasks import TASKS, hyperparameters
    from playerruns.trainer.critics import LayerNormMLPActorCritic
    from playerruns.trainer.demo_sac import DemoSacAgent

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    env = gymnasium.make("playerruns.envs.minitrack:MiniTrack-v0")
    eval_env = gymnasium.make("playerruns.envs.minitrack:MiniTrack-v0")
    replay = Replay(args.steps + 20_000, env.observation_space.shape[0], env.action_space.shape[0])
    scratch = args.setting == "scratch"
    laps: list[int] = []
    if not scratch:
        laps = record_runs(env, replay, args.skill, args.seed, args.runs)
        print(f"player runs: {len(laps)} laps of {args.runs}, median lap {np.median(laps) if laps else '-'} steps")
    alg = hyperparameters(TASKS["minitrack"])["ALG"]
    common = dict(observation_space=env.observation_space, action_space=env.action_space, device="cpu",
                  model_cls=LayerNormMLPActorCritic if args.setting == "bound-layer-norm" else MLPActorCritic,
                  gamma=GAMMA, polyak=alg["POLYAK"], alpha=alg["ALPHA"], lr_actor=alg["LR_ACTOR"],
                  lr_critic=alg["LR_CRITIC"], lr_entropy=alg["LR_ENTROPY"], learn_entropy_coef=True,
                  target_entropy=alg["TARGET_ENTROPY"] if args.target_entropy is None else args.target_entropy)
    agent: Any = SpinupSacAgent(**common) if scratch else DemoSacAgent(**common, **SETTINGS[args.setting])
    proposal = None
    started = time.monotonic()
    if not scratch:
        for _ in range(1000):
            agent.pretrain(replay.batch(rng, None))
        if args.setting == "ibrl":
            proposal = copy.deepcopy(agent.model.actor).requires_grad_(False)

    driven: list[Any] = [None]  # with --weights-per-episode: the weights the episode started with

    def act(o: np.ndarray, test: bool) -> np.ndarray:
        with torch.no_grad():
            obs = torch.as_tensor(o)[None]
            if proposal is None:  # the policy the trainer would send to its workers
                actor = agent.get_actor() if test or driven[0] is None else driven[0]
                a, _ = actor(obs, test=test, with_logprob=False)
                return a.numpy().reshape(-1)
            a_rl, _ = agent.model.actor(obs, test=test, with_logprob=False)
            a_il, _ = proposal(obs, test=True, with_logprob=False)
            q = [float(torch.min(agent.model.q1(obs, x), agent.model.q2(obs, x))) for x in (a_il, a_rl)]
            return (a_il if q[0] > q[1] else a_rl).numpy().reshape(-1)

    def evaluate() -> tuple[float, list[int]]:
        returns, lengths = [], []
        for k in range(3):
            o, _ = eval_env.reset(seed=10_000 + k)
            done, total, steps = False, 0.0, 0
            while not done:
                o, r, terminated, truncated, _ = eval_env.step(act(o, test=True))
                total, steps, done = total + float(r), steps + 1, terminated or truncated
            returns.append(total)
            lengths.append(steps)
        return min(returns), lengths

    curve = []
    if args.weights_per_episode:
        driven[0] = copy.deepcopy(agent.get_actor())
    o, _ = env.reset(seed=args.seed * 1000 + 7)
    episodes, updates, stats = 0, 0, {}
    unsent: list[Any] = []  # this episode's transitions, not yet in the replay (--data-per-episode)
    for step in range(1, args.steps + 1):
        a = env.action_space.sample() if scratch and step <= 1000 else act(o, test=False)
        o2, r, terminated, truncated, _ = env.step(a)
        unsent.append((o, a, float(r), o2, terminated))
        if not args.data_per_episode or terminated or truncated:
            for transition in unsent:
                replay.add(*transition)
            unsent.clear()
        o = o2
        if terminated or truncated:
            if args.weights_per_episode:
                driven[0] = copy.deepcopy(agent.get_actor())
            episodes += 1
            o, _ = env.reset(seed=args.seed * 1000 + 7 + episodes)
        if step > 1000 or not scratch:
            share = None if scratch else 0.25 + (0.05 - 0.25) * min(1.0, updates / 20_000)
            batch = replay.batch(rng, 0.0 if scratch else share)
            stats = ibrl_step(agent, proposal, batch) if proposal is not None else agent.train(batch)
            updates += 1
        if step % args.eval_every == 0:
            score, lengths = evaluate()
            shown = {k: round(float(v), 3) for k, v in stats.items()
                     if k in ("q_demo", "q_other", "bc_rows", "entropy_coef", "bc_coef", "bound_raised")}
            curve.append({"steps": step, "score": score, "lengths": lengths, **shown})
            print(f"{step:>6} score {score:6.1f} episode steps {lengths} {json.dumps(shown)} "
                  f"{time.monotonic() - started:.0f}s", flush=True)
    if args.out:
        args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "player_laps": laps,
                                        "curve": curve}, indent=1) + "\n")


def ibrl_step(agent: Any, proposal: Any, batch: Any) -> dict[str, Any]:
    """SAC's update with IBRL's target (the better of the proposal's and the actor's next action), the actor
    cloned towards the proposal (TD3+BC weight), then the target networks."""
    import torch

    o, a, r, o2, d, _ = batch
    pi, logp = agent.model.actor(o)
    alpha = torch.exp(agent.log_alpha.detach())
    loss_alpha = -(agent.log_alpha * (logp + agent.target_entropy).detach()).mean()
    agent.alpha_optimizer.zero_grad()
    loss_alpha.backward()
    agent.alpha_optimizer.step()
    with torch.no_grad():
        a2, logp2 = agent.model.actor(o2)
        a2_il, _ = proposal(o2, test=True, with_logprob=False)
        target_q = agent.model_target

        def q_of(x: Any) -> Any:
            return torch.min(target_q.q1(o2, x), target_q.q2(o2, x))
        target = r + GAMMA * (1 - d) * (torch.max(q_of(a2), q_of(a2_il)) - alpha * logp2)
    loss_q = ((agent.model.q1(o, a) - target) ** 2).mean() + ((agent.model.q2(o, a) - target) ** 2).mean()
    agent.q_optimizer.zero_grad()
    loss_q.backward()
    agent.q_optimizer.step()
    agent.model.q1.requires_grad_(False)
    agent.model.q2.requires_grad_(False)
    q_pi = torch.min(agent.model.q1(o, pi), agent.model.q2(o, pi))
    mu, _ = agent.model.actor(o, test=True, with_logprob=False)
    with torch.no_grad():
        a_il, _ = proposal(o, test=True, with_logprob=False)
    cloning = 0.4 * q_pi.abs().mean().detach() * ((mu - a_il) ** 2).sum(-1).mean()
    loss_pi = (alpha * logp - q_pi).mean() + cloning
    agent.pi_optimizer.zero_grad()
    loss_pi.backward()
    agent.pi_optimizer.step()
    agent.model.q1.requires_grad_(True)
    agent.model.q2.requires_grad_(True)
    with torch.no_grad():
        for p, p_target in zip(agent.model.parameters(), agent.model_target.parameters(), strict=True):
            p_target.mul_(agent.polyak).add_((1 - agent.polyak) * p)
    return {"entropy_coef": float(alpha)}


if __name__ == "__main__":
    main()
