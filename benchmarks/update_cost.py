"""The cost of one trainer update of the player-runs agent against tmrl's stock SAC, on the same batch.

Both agents are built as the trainer builds them (``playerruns.trainer.roles.training_cls`` on a GYM
MiniTrack config): tmrl's ``SpinupSacAgent`` with every lever off, and the agent of the demo's
player-runs levers (``tasks.LEVERS[BEST]``: ``DemoSacAgent`` with its cloning, Q-filter, return bound
and critic settings). One batch of ``--batch`` rows (a quarter of them demos, with the player's
returns, as the schedule draws them early on) is made once; each agent trains on it in blocks of
``--block`` updates, the order alternating, one thread, so both see the same machine noise.
Memory sampling is the same for both and is measured by ``sampling_cost.py``.

Target: player-runs median / stock median <= 1.25. Writes ``results/update-cost.json``;
last line: ``update_cost_ratio: <ratio>``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
TARGET = 1.25


def build_agents(home: Path, levers_name: str) -> tuple[Any, Any, Any]:
    from playerruns.bridge.setup import init_tmrl_data
    from playerruns.builtin import tasks

    task = tasks.TASKS["minitrack"]
    init_tmrl_data(home, interface=f"GYM:{task.env_id}", overrides=tasks.hyperparameters(task))
    import gymnasium

    from playerruns.bridge.setup import load_setup
    from playerruns.trainer.config import parse_player_runs
    from playerruns.trainer.roles import training_cls

    setup = load_setup()
    env = gymnasium.make(task.env_id)
    agents = []
    for levers in ({}, tasks.LEVERS[levers_name]):
        config = parse_player_runs({"ENV": {"RTGYM_INTERFACE": f"GYM:{task.env_id}"}, "PLAYER_RUNS": levers})
        agent_cls = training_cls(setup, config).keywords["training_agent_cls"]
        agents.append(agent_cls(observation_space=env.observation_space, action_space=env.action_space,
                                device="cpu"))
    return agents[0], agents[1], env


def make_batch(env: Any, rows: int, demo_share: float) -> Any:
    import numpy as np
    import torch

    from playerruns.trainer.memories import DemoBatch

    rng = np.random.default_rng(0)
    obs = torch.as_tensor(np.stack([env.observation_space.sample() for _ in range(rows)]))
    nxt = torch.as_tensor(np.stack([env.observation_space.sample() for _ in range(rows)]))
    act = torch.as_tensor(np.stack([env.action_space.sample() for _ in range(rows)]))
    rew = torch.as_tensor(rng.uniform(0.0, 0.6, rows).astype(np.float32))
    done = torch.zeros(rows)
    demo = np.arange(rows) < int(rows * demo_share)
    returns = np.where(demo, rng.uniform(0.0, 45.0, rows), np.nan).astype(np.float32)
    return DemoBatch((obs, act, rew, nxt, done, torch.zeros(rows)), demo, returns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--blocks", type=int, default=20, help="blocks per agent")
    parser.add_argument("--block", type=int, default=25, help="updates per block")
    parser.add_argument("--out", type=Path, default=RESULTS)
    from playerruns.builtin import tasks  # no tmrl import: HOME is not set yet

    parser.add_argument("--levers", default=tasks.BEST, choices=list(tasks.LEVERS), metavar="SETTING",
                        help="the lever setting of the player-runs agent (playerruns.builtin.tasks.LEVERS; default: "
                             "the demo's, BEST); another setting (or --at-step) prints its ratio and writes nothing")
    parser.add_argument("--at-step", type=int, default=0, metavar="N",
                        help="time the update after N online training steps (a decaying weight, such as "
                             "CRITIC_CONSERVATISM_DECAY_STEPS, as it is then; default: the first, past any warm-up)")
    args = parser.parse_args()
    levers_name = args.levers
    home = Path(tempfile.mkdtemp(prefix="playerruns-update-cost-"))
    os.environ["HOME"] = str(home)  # tmrl reads ~/TmrlData/config/config.json at import
    try:
        import torch

        torch.set_num_threads(1)  # as every role runs (playerruns.builtin.harness)
        stock, player, env = build_agents(home, levers_name)
        batch = make_batch(env, args.batch, 0.25)
        player.bc_steps = max(player.actor_warmup_steps, args.at_step)  # past the warm-up: the budget's update
        for agent in (stock, player):  # warm up allocators and caches
            for _ in range(5):
                agent.train(batch)
        times: dict[str, list[float]] = {"stock": [], "player": []}
        for k in range(args.blocks):
            order = (("stock", stock), ("player", player)) if k % 2 == 0 else (("player", player), ("stock", stock))
            for name, agent in order:
                started = time.perf_counter()
                for _ in range(args.block):
                    agent.train(batch)
                times[name].append((time.perf_counter() - started) / args.block)
        stock_ms = 1000 * statistics.median(times["stock"])
        player_ms = 1000 * statistics.median(times["player"])
        ratio = player_ms / stock_ms
        print(f"stock SAC update:        {stock_ms:.2f} ms (median of {args.blocks} blocks of {args.block})")
        print(f"player-runs agent update: {player_ms:.2f} ms ({type(player).__name__}, levers {levers_name}, "
              f"from step {args.at_step})")
        print(f"target: <= {TARGET} x stock: {'met' if ratio <= TARGET else 'MISSED'}")
        if levers_name != tasks.BEST or args.at_step:
            print(f"update_cost_ratio ({levers_name}, from step {args.at_step}): {ratio:.3f}")
            return
        record = {"update_cost_ratio": round(ratio, 3), "stock_ms": round(stock_ms, 3),
                  "player_ms": round(player_ms, 3), "batch": args.batch, "levers": tasks.LEVERS[levers_name],
                  "date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count()}
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "update-cost.json").write_text(json.dumps(record, indent=2) + "\n")
        print(f"update_cost_ratio: {ratio:.3f}")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
