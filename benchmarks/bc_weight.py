"""Is the cloning weight a dial? How far the actor moves towards the player's actions, per weight, two ways.

``DemoSacAgent`` clones demos either in a second Adam step on the cloning loss alone (the default) or, with
``DEMO_BC_JOINT``, as a term of SAC's actor loss in the same step (TD3+BC's way). Adam divides each gradient by
its running size, so the first way may move the actor by about the learning rate whatever the weight; the
second lets the weight trade the player's actions off against the critic's pull. This script measures it.

The agent is built as the trainer builds it (the demo's levers, ``tasks.LEVERS[BEST]``, on MiniTrack's
hyper-parameters, past its warm-up); one batch as ``update_cost.py`` makes it (a quarter demo rows, random
actions and rewards). From the same starting weights, for each weight in ``--weights`` and each way, the agent
trains ``--updates`` updates on that batch; it prints the cloning error (mean squared distance of the
policy's deterministic action from the player's, on the demo rows) before and after, and what share of the
error the updates removed. A dial: the removed share grows with the weight. Seeds (``--seeds``) repeat it
from other starting weights and batches; the figures are medians over them, with the range.

    python benchmarks/bc_weight.py --weights 0,0.01,0.1,0.4,2 --updates 300 --seeds 0-2
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from update_cost import build_agents, make_batch


def cloning_error(agent: Any, batch: Any) -> float:
    import torch

    demo = torch.as_tensor(batch.demo, dtype=torch.bool)
    with torch.no_grad():
        mu, _ = agent.model.actor(batch[0][demo], test=True, with_logprob=False)
    return float(((mu - batch[1][demo]) ** 2).sum(dim=-1).mean())


def removed_share(base: Any, batch: Any, *, weight: float, joint: bool, updates: int) -> tuple[float, float]:
    agent = copy.deepcopy(base)
    agent.bc_coef, agent.bc_coef_final, agent.bc_decay_steps = weight, weight, 0
    agent.bc_q_filter, agent.bc_joint = False, joint
    before = cloning_error(agent, batch)
    for _ in range(updates):
        agent.train(batch)
    after = cloning_error(agent, batch)
    return after, 1 - after / before


def seeds(text: str) -> list[int]:
    low, _, high = text.partition("-")
    return list(range(int(low), int(high or low) + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="0,0.01,0.1,0.4,2", help="cloning weights, comma-separated")
    parser.add_argument("--updates", type=int, default=300)
    parser.add_argument("--seeds", default="0-2", help="e.g. 0-2")
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    weights = [float(w) for w in args.weights.split(",")]
    home = Path(tempfile.mkdtemp(prefix="playerruns-bc-weight-"))
    os.environ["HOME"] = str(home)  # tmrl reads ~/TmrlData/config/config.json at import
    try:
        import torch

        from playerruns.builtin import tasks

        torch.set_num_threads(1)
        removed: dict[tuple[str, float], list[float]] = {}
        for seed in seeds(args.seeds):
            torch.manual_seed(seed)
            _, base, env = build_agents(home, tasks.BEST)
            env.reset(seed=seed)
            env.observation_space.seed(seed)
            env.action_space.seed(seed)
            batch = make_batch(env, args.batch, 0.25)
            base.bc_steps = base.actor_warmup_steps
            for way in ("separate", "joint"):
                for weight in weights:
                    _, share = removed_share(base, batch, weight=weight, joint=way == "joint", updates=args.updates)
                    removed.setdefault((way, weight), []).append(share)
        print(f"share of the cloning error removed in {args.updates} updates (median over seeds {args.seeds}, "
              f"[min, max]); a dial grows with the weight")
        for way in ("separate", "joint"):
            cells = []
            for weight in weights:
                values = removed[(way, weight)]
                cells.append(f"{weight:g}: {statistics.median(values):+.0%} [{min(values):+.0%}, {max(values):+.0%}]")
            print(f"{way:>8}: " + "  ".join(cells))
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
