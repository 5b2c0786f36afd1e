"""Warmup benchmark: training with player runs vs from scratch, same hyper-parameters, several seeds.

For each seed, each arm trains tmrl's stock SAC through the real Server, RolloutWorker and Trainer
(``playerruns.builtin.warmup``) on the built-in default task up to a fixed budget of environment steps.
Reported per arm: environment steps until the evaluation return first reaches the task's solved
threshold (the budget when never), the return after the budget, and the ratio of steps-to-threshold
scratch / player runs with its spread; plus the demo fraction of the replay and of sampled batches.
Writes ``benchmarks/results/warmup-<task>.json`` and ``warmup-<task>.png``. A full run takes about
seeds x 2 x (budget / 100 steps/s) plus start-up: run it by hand, not in CI.
Last line: ``warmup_ratio_median: <number>``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("minitrack", "mountaincar"), default="minitrack")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, help="environment steps per training run (default: the task's full demo)")
    parser.add_argument("--eval-every", type=int, default=2500)
    parser.add_argument("--runs", type=int, default=10, help="player runs recorded per seed")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="playerruns-warmup-"))
    os.environ["HOME"] = str(work / "evaluator")  # tmrl reads HOME at import: the evaluator's own TmrlData
    from playerruns.builtin import warmup
    from playerruns.tmrl_bridge import init_tmrl_data

    task = warmup.TASKS[args.task]
    budget = args.budget or task.full["budget_steps"]
    init_tmrl_data(work / "evaluator", interface=f"GYM:{task.env_id}")
    evaluator = warmup.Evaluator(task)
    results = []
    started = time.monotonic()
    for seed in range(args.seeds):
        with_runs = warmup.arm_home(work / f"seed{seed}-with-player-runs", task, player_runs=True)
        scratch = warmup.arm_home(work / f"seed{seed}-scratch", task, player_runs=False)
        runs_dir = warmup.record_runs(with_runs, args.runs, seed)
        for arm, home, demos in (("player runs", with_runs, runs_dir), ("scratch", scratch, None)):
            def progress(arm: str, steps: int, ret: float | None, seed: int = seed) -> None:
                print(f"  seed {seed} {arm}: {steps} steps, eval return {ret:.1f}", flush=True)
            result = warmup.run_arm(home, task, arm=arm, seed=seed, budget_steps=budget, eval_every=args.eval_every,
                                    evaluator=evaluator, demo_runs=demos, on_progress=progress)
            results.append(result)
            print(f"seed {seed} {arm}: steps to threshold {result.steps_to_threshold}, final {result.final_return}, "
                  f"{result.wall_seconds:.0f}s", flush=True)

    summary = warmup.summarize(results, task)
    summary["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
                          "wall_minutes": round((time.monotonic() - started) / 60, 1)}
    args.out.mkdir(parents=True, exist_ok=True)
    warmup.write_json(args.out / f"warmup-{task.name}.json", summary)
    warmup.plot(results, task, args.out / f"warmup-{task.name}.png",
                f"{task.env_id}: player runs vs scratch, {args.seeds} seeds")
    shutil.rmtree(work, ignore_errors=True)

    print()
    print(warmup.table(results, task))
    for arm, steps in summary["steps_to_threshold"].items():
        print(f"{arm}: steps to {task.threshold:g} per seed {steps}")
    frac_m = [f for f in summary["demo_fraction_memory"] if f is not None]
    frac_s = [f for f in summary["demo_fraction_sampled"] if f is not None]
    if frac_m:
        print(f"demos at the end: {100 * min(frac_m):.1f}-{100 * max(frac_m):.1f}% of the replay, "
              f"{100 * min(frac_s):.1f}-{100 * max(frac_s):.1f}% of sampled batches")
    bound = " (lower bound: scratch did not reach the threshold in every seed)" if summary.get(
        "ratio_is_lower_bound") else ""
    print(f"ratio scratch / player runs: median {summary['ratio_median']:.2f}, min {summary['ratio_min']:.2f}, "
          f"max {summary['ratio_max']:.2f}{bound}; target >= 5")
    print(f"results: {args.out / f'warmup-{task.name}.json'}, plot: {args.out / f'warmup-{task.name}.png'}")
    print(f"warmup_ratio_median: {summary['ratio_median']:.2f}")


if __name__ == "__main__":
    main()
