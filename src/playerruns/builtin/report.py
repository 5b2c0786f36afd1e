"""The experiment's figures: a summary of arms over seeds, a table, a plot of the learning curves."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from playerruns.builtin.harness import ArmResult
from playerruns.builtin.tasks import STEP_SECONDS, Task, hyperparameters


def ratio(scratch: ArmResult, other: ArmResult) -> float:
    """Steps to the threshold, scratch / other; an arm that never reached it counts its budget (a bound)."""
    return scratch.steps_or_budget() / max(other.steps_or_budget(), 1)


def summarize(results: list[ArmResult], task: Task, best: str = "player runs") -> dict[str, Any]:
    """The figures the warmup benchmark and the demo report: per arm and seed, and ratios against scratch.

    ``best`` names the player-runs arm of the headline ratio; every other non-scratch arm is an
    ablation setting, reported by its median ratio over the seeds it shares with scratch.
    """
    arms = sorted({r.arm for r in results})
    by_arm = {a: sorted((r for r in results if r.arm == a), key=lambda r: r.seed) for a in arms}
    summary: dict[str, Any] = {
        "task": task.name, "env": task.env_id, "threshold": task.threshold, "goal": task.goal,
        "budget_steps": max(r.budget_steps for r in results),
        "seeds": {a: len(v) for a, v in by_arm.items()},
        "steps_to_threshold": {a: [r.steps_to_threshold for r in v] for a, v in by_arm.items()},  # null: never
        "reached_threshold": {a: [r.steps_to_threshold is not None for r in v] for a, v in by_arm.items()},
        "final_return": {a: [r.final_return for r in v] for a, v in by_arm.items()},
        "updates_per_step": {a: [r.updates_per_step for r in v] for a, v in by_arm.items()},
        "pretrain_steps": {a: [r.pretrain_steps for r in v] for a, v in by_arm.items()},
        "demo_fraction_memory": {a: [r.demo_fraction_memory for r in v] for a, v in by_arm.items() if a != "scratch"},
        "demo_fraction_sampled": {a: [r.demo_fraction_sampled for r in v] for a, v in by_arm.items()
                                  if a != "scratch"},
        "levers": by_arm[best][0].levers if best in by_arm else None,
        "hyperparameters": {**hyperparameters(task), "STEP_SECONDS": STEP_SECONDS},
    }
    scratch = {r.seed: r for r in by_arm.get("scratch", [])}
    ablation = {}
    for arm, runs in by_arm.items():
        pairs = [(scratch[r.seed], r) for r in runs if r.seed in scratch]
        if arm == "scratch" or not pairs:
            continue
        ratios = [ratio(s, r) for s, r in pairs]
        ablation[arm] = {"ratio_median": float(np.median(ratios)), "ratio_worst": float(np.min(ratios)),
                         "seeds": [r.seed for _, r in pairs], "levers": runs[0].levers,
                         "reached": sum(r.steps_to_threshold is not None for _, r in pairs)}
        if arm == best:
            summary["ratios"] = ratios
            summary["ratio_median"] = float(np.median(ratios))
            summary["ratio_worst"] = float(np.min(ratios))
            summary["ratio_max"] = float(np.max(ratios))
            summary["ratio_is_lower_bound"] = any(s.steps_to_threshold is None for s, _ in pairs)
    summary["ablation"] = {a: v for a, v in ablation.items() if a != best}
    summary["curves"] = {f"{r.arm} seed {r.seed}": r.curve for r in results}
    summary["runs"] = [asdict(r) for r in results]
    return summary


def table(results: list[ArmResult], task: Task) -> str:
    lines = [f"{'arm':<12} {'seed':>4} {'steps to ' + f'{task.threshold:g}':>14} {'final return':>13} "
             f"{'demo % memory':>14} {'demo % batches':>15} {'updates/step':>13}"]
    for r in results:
        reached = str(r.steps_to_threshold) if r.steps_to_threshold is not None else f">{r.budget_steps}"
        final = f"{r.final_return:.1f}" if r.final_return is not None else "-"
        dm = f"{100 * r.demo_fraction_memory:.1f}" if r.demo_fraction_memory is not None else "-"
        ds = f"{100 * r.demo_fraction_sampled:.1f}" if r.demo_fraction_sampled is not None else "-"
        ups = f"{r.updates_per_step:.2f}" if r.updates_per_step is not None else "-"
        lines.append(f"{r.arm:<12} {r.seed:>4} {reached:>14} {final:>13} {dm:>14} {ds:>15} {ups:>13}")
    return "\n".join(lines)


def plot(results: list[ArmResult], task: Task, path: Path, title: str) -> Path:
    import logging

    import matplotlib

    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # no font-cache chatter in the demo's output
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    colors = {"player runs": "tab:green", "all": "tab:green", "recurrent+runs": "tab:green", "recurrent": "tab:blue",
              "scratch": "tab:gray"}
    seeds = {arm: sorted(r.seed for r in results if r.arm == arm) for arm in {r.arm for r in results}}
    labelled: set[str] = set()
    for r in results:
        if r.curve:
            xs, ys = zip(*r.curve, strict=True)
            many = len(seeds[r.arm]) > 1
            label = None if r.arm in labelled else (f"{r.arm} ({len(seeds[r.arm])} seeds)" if many
                                                    else f"{r.arm} (seed {r.seed})")
            labelled.add(r.arm)
            ax.plot(xs, ys, color=colors.get(r.arm, None), alpha=0.8 if not many else 0.5, marker=".", label=label)
    ax.axhline(task.threshold, color="tab:red", linestyle="--", linewidth=1, label=f"solved ({task.threshold:g})")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("evaluation return")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_json(path: Path, data: dict[str, Any]) -> Path:
    from playerruns.runs.atomic_io import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())
    return path
