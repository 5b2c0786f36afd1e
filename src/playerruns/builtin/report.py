"""The experiment's figures: per arm and seed, the whole learning curve (``curves.CurveFigures``), a table
a person reads, a plot of the score and of the lap time against the player's."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from playerruns.builtin.curves import faster_by
from playerruns.builtin.harness import ArmResult
from playerruns.builtin.tasks import STEP_SECONDS, Task, hyperparameters

FIGURES = ("steps_to_threshold", "kept_after_first", "lowest_after_first", "mean_score", "final_return",
           "lap_steps_final", "lap_steps_best")


def summarize(results: list[ArmResult], task: Task, best: str = "player runs") -> dict[str, Any]:
    """Per arm: every figure of ``CurveFigures`` as a list, one value per seed in seed order, with the
    driver, the runs and the player's median lap; ``best`` names the headline player-runs arm."""
    arms = sorted({r.arm for r in results})
    by_arm = {a: sorted((r for r in results if r.arm == a), key=lambda r: r.seed) for a in arms}
    entries: dict[str, Any] = {}
    for arm, runs in by_arm.items():
        figures = [r.figures(task.threshold) for r in runs]
        entry: dict[str, Any] = {
            "driver": runs[0].driver, "runs": runs[0].runs, "levers": runs[0].levers,
            "seeds": [r.seed for r in runs],
            **{name: [getattr(f, name) for f in figures] for name in FIGURES},
            "player_lap_steps": [(r.driver or {}).get("median_lap_steps") for r in runs],
            "updates_per_step": [r.updates_per_step for r in runs],
            "pretrain_steps": [r.pretrain_steps for r in runs],
            "demo_fraction_sampled": [r.demo_fraction_sampled for r in runs],
            "rollbacks": [r.rollbacks for r in runs],
            "rollbacks_given_up": [r.rollbacks_given_up for r in runs],
            "catch_ups": [r.catch_ups for r in runs],
            # the trainer's kept best policy at the budget, on the same evaluation (None: not measured or not kept)
            "best_policy_score": [r.best_policy_score for r in runs],
            "best_policy_lap_steps": [r.best_policy_lap_steps for r in runs],
        }
        entry["faster_than_player_final"] = [faster_by(f.lap_steps_final, p)
                                             for f, p in zip(figures, entry["player_lap_steps"], strict=True)]
        entries[arm] = entry
    return {
        "task": task.name, "env": task.env_id, "threshold": task.threshold, "goal": task.goal,
        "budget_steps": max(r.budget_steps for r in results), "headline_arm": best,
        "arms": entries,
        "hyperparameters": {**hyperparameters(task), "STEP_SECONDS": STEP_SECONDS},
        "curves": {f"{r.arm} seed {r.seed}": r.curve for r in results},
    }


def runs_record(results: list[ArmResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]


def _cell(value: float | None, fmt: str, none: str = "-") -> str:
    return none if value is None else format(value, fmt)


def table(results: list[ArmResult], task: Task) -> str:
    """One line per arm and seed: what a person wants to know of a training run."""
    lines = [f"{'arm':<20} {'seed':>4} {'first lap':>9} {'laps kept':>9} {'lowest':>7} {'mean':>6} {'final':>6} "
             f"{'lap':>5} {'player':>6} {'updates/step':>12}"]
    for r in results:
        f = r.figures(task.threshold)
        player = (r.driver or {}).get("median_lap_steps")
        first = str(f.steps_to_threshold) if f.steps_to_threshold is not None else f">{r.budget_steps}"
        kept = _cell(None if f.kept_after_first is None else 100 * f.kept_after_first, ".0f")
        lines.append(f"{r.arm:<20} {r.seed:>4} {first:>9} {kept + (' %' if kept != '-' else ''):>9} "
                     f"{_cell(f.lowest_after_first, '.0f'):>7} {_cell(f.mean_score, '.0f'):>6} "
                     f"{_cell(f.final_return, '.0f'):>6} {_cell(f.lap_steps_final, '.0f'):>5} "
                     f"{_cell(player, '.0f'):>6} {_cell(r.updates_per_step, '.2f'):>12}")
    return "\n".join(lines)


def plot(results: list[ArmResult], task: Task, path: Path, title: str) -> Path:
    """Two panels over environment steps: the evaluation score, and the lap of every evaluation that lapped
    with the player's median lap as a line (lower is faster)."""
    import logging

    import matplotlib

    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # no font-cache chatter in the demo's output
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True, height_ratios=(3, 2))
    palette = iter(("tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:cyan", "tab:olive"))
    arms = sorted({r.arm for r in results}, key=lambda a: (a == "scratch", a))
    colors = {a: "tab:gray" if a == "scratch" else next(palette, "tab:blue") for a in arms}
    players: dict[str, list[float]] = {}  # per arm: the player's median lap of each seed's runs
    for arm in arms:
        runs = [r for r in results if r.arm == arm]
        label = f"{arm} ({len(runs)} seeds)" if len(runs) > 1 else f"{arm} (seed {runs[0].seed})"
        for k, r in enumerate(runs):
            points = r.evaluations()
            if not points:
                continue
            alpha = 0.85 if len(runs) == 1 else 0.5
            top.plot([p.steps for p in points], [p.score for p in points], color=colors[arm], alpha=alpha,
                     marker=".", label=label if k == 0 else None)
            laps = [p for p in points if p.lap_steps is not None and p.score >= task.threshold]
            if laps:
                bottom.plot([p.steps for p in laps], [p.lap_steps for p in laps], color=colors[arm], alpha=alpha,
                            marker=".", linestyle="none" if len(laps) < 2 else "-")
            player = (r.driver or {}).get("median_lap_steps")
            if player is not None:
                players.setdefault(arm, []).append(float(player))
    top.axhline(task.threshold, color="tab:red", linestyle="--", linewidth=1, label=f"a lap ({task.threshold:g})")
    for arm, player_laps in players.items():
        lap = float(np.median(player_laps))
        bottom.axhline(lap, color=colors[arm], linestyle="--", linewidth=1,
                       label=f"{arm}: the player's median lap ({lap:.0f})")
    top.set_ylabel("evaluation score")
    top.set_title(title)
    top.legend(fontsize=8, loc="lower right")
    top.grid(alpha=0.3)
    bottom.set_xlabel("environment steps")
    bottom.set_ylabel("steps per lap (lower: faster)")
    if players:
        bottom.legend(fontsize=8, loc="upper right")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def iqm_curve(results: list[ArmResult], every: int, budget: int) -> list[tuple[int, float]]:
    """The interquartile mean over seeds of the score at each point of the evaluation grid (every ``every``
    steps up to ``budget``): each seed contributes its last evaluation taken by then."""
    from scipy import stats

    out = []
    for at in range(every, budget + 1, every):
        scores = []
        for r in results:
            taken = [e.score for e in r.evaluations() if e.steps <= at + every // 2]
            if taken:
                scores.append(taken[-1])
        if len(scores) == len(results) and scores:
            out.append((at, float(stats.trim_mean(np.asarray(scores), 0.25))))
    return out


def write_json(path: Path, data: dict[str, Any]) -> Path:
    from playerruns.runs.atomic_io import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())
    return path
