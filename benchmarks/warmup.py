"""Warmup benchmark: steps to the solved threshold with player runs vs from scratch, over seeds, resumable.

Each (arm, seed) trains tmrl's SAC through the real Server, RolloutWorker and Trainer
(``playerruns.builtin.harness.run_arm``) on a built-in task, until the evaluation return reaches the
task's threshold or the step budget runs out. Arms: ``scratch`` (every lever off: stock tmrl) and the
PLAYER_RUNS lever settings of ``tasks.LEVERS`` (``all`` is the player-runs arm of the headline;
``weight``, ``schedule``, ``retention`` and ``learning`` are the ablation). The worker waits while
its trainer is behind, so every arm trains at the configured updates per environment step whatever
the machine's speed; each arm's achieved rate is reported.

Every finished (arm, seed) is saved at once under ``results/warmup-runs/<task>/``: the benchmark can
be run in parts (``--arms``, ``--seeds``) and resumed; a finished run is never run again (``--force``
reruns it). The report merges every saved run of the task into ``results/warmup-<task>.json`` and
``warmup-<task>.png``: per arm the steps per seed, median, interquartile mean with a 95 % bootstrap
confidence interval (scipy.stats), worst seed and updates per step; the headline ratio scratch /
player runs (median, worst seed) and each ablation setting's median ratio.
Last line: ``warmup_ratio_median: <number>``.

    python benchmarks/warmup.py --task mountaincar --arms scratch,all --seeds 0-4 --jobs 2
    python benchmarks/warmup.py --task mountaincar --report-only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

HEADLINES = {"pomdp-mountaincar": "recurrent+runs"}  # tasks whose player-runs arm is another one


def seed_range(text: str) -> list[int]:
    """'0-4' or '0,2,5' -> the seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        seeds.extend(range(int(low), int(high or low) + 1))
    return seeds


def run_file(out: Path, task: str, arm: str, seed: int) -> Path:
    return out / "warmup-runs" / task / f"{arm}-seed{seed}.json"


def run_missing(args: argparse.Namespace, work: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from playerruns.builtin import harness, report, tasks

    task = tasks.TASKS[args.task]
    plan = task.full
    budget = args.budget or plan["budget_steps"]
    todo = [(arm, seed) for seed in args.seeds for arm in args.arms
            if args.force or not run_file(args.out, task.name, arm, seed).exists()]
    print(f"{task.env_id}: {len(todo)} run(s) to do, {args.jobs} at a time, budget {budget} steps", flush=True)
    recorded: dict[int, Path] = {}
    for seed in sorted({seed for arm, seed in todo if arm not in tasks.ARMS_WITHOUT_RUNS}):  # one set per seed
        home = harness.arm_home(work / f"recorder-seed{seed}", task, levers=None)
        recorded[seed] = harness.record_runs(home, plan["runs"], seed)

    def one(arm: str, seed: int) -> harness.ArmResult:
        home = harness.arm_home(work / f"{arm}-seed{seed}", task,
                               levers=None if arm == "scratch" else tasks.LEVERS[arm])

        def progress(label: str, steps: int, ret: float | None) -> None:
            print(f"  seed {seed} {label}: {steps} steps, eval return {ret:.1f}", flush=True)
        levers = None if arm == "scratch" else tasks.LEVERS[arm]
        return harness.run_arm(home, task, arm=arm, seed=seed, budget_steps=budget, eval_every=args.eval_every,
                              evaluator=harness.Evaluator(task, levers=levers),
                              demo_runs=None if arm in tasks.ARMS_WITHOUT_RUNS else recorded.get(seed),
                              on_progress=progress, stop_at_threshold=not args.keep_going)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:  # a finished run frees its slot at once
        futures = [pool.submit(one, arm, seed) for arm, seed in todo]
        for future in as_completed(futures):
            result = future.result()
            target = run_file(args.out, task.name, result.arm, result.seed)
            target.parent.mkdir(parents=True, exist_ok=True)
            report.write_json(target, {**result.__dict__, "date": date.today().isoformat(), "machine": machine()})
            print(f"seed {result.seed} {result.arm}: steps to threshold {result.steps_to_threshold}, "
                  f"updates/step {result.updates_per_step}, {result.wall_seconds:.0f}s -> {target}", flush=True)


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
            "processor": platform.processor() or platform.machine()}


def interval_estimates(steps_by_arm: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Interquartile mean of steps to the threshold per arm (the mean of the middle 50 % of seeds, robust to
    one odd seed), with a 95 % percentile bootstrap confidence interval over seeds (scipy.stats)."""
    import numpy as np
    from scipy import stats

    def iqm(x: np.ndarray, axis: int = -1) -> np.ndarray:
        return stats.trim_mean(x, 0.25, axis=axis)

    out = {}
    for arm, steps in steps_by_arm.items():
        data = np.asarray(steps, dtype=float)
        if len(data) < 2 or np.ptp(data) == 0:
            low = high = float(iqm(data))
        else:
            ci = stats.bootstrap((data,), iqm, confidence_level=0.95, n_resamples=5000, method="percentile",
                                 rng=np.random.default_rng(0)).confidence_interval
            low, high = float(ci.low), float(ci.high)
        out[arm] = {"iqm": float(iqm(data)), "ci_low": low, "ci_high": high}
    return out


def write_report(args: argparse.Namespace) -> None:
    import numpy as np

    from playerruns.builtin import harness, report, tasks

    task = tasks.TASKS[args.task]
    folder = args.out / "warmup-runs" / task.name
    saved = [json.loads(p.read_text()) for p in sorted(folder.glob("*-seed*.json"))]
    if not saved:
        raise SystemExit(f"no saved run under {folder}: run some arms first")
    results = []
    for d in saved:
        fields = {k: v for k, v in d.items() if k in harness.ArmResult.__dataclass_fields__}
        result = harness.ArmResult(**fields)
        result.curve = [tuple(p) for p in result.curve]  # type: ignore[misc]
        results.append(result)
    headline = HEADLINES.get(task.name, tasks.BEST)
    summary = report.summarize(results, task, best=headline)
    by_arm = {a: sorted((r for r in results if r.arm == a), key=lambda r: r.seed) for a in summary["seeds"]}
    steps = {a: [float(r.steps_or_budget()) for r in v] for a, v in by_arm.items()}
    summary["steps_iqm"] = interval_estimates(steps)
    summary["steps_median"] = {a: float(np.median(v)) for a, v in steps.items()}
    summary["steps_worst"] = {a: float(np.max(v)) for a, v in steps.items()}
    summary["headline_arm"] = headline
    summary["machine"] = {**saved[0]["machine"], "dates": sorted({d["date"] for d in saved}),
                          "wall_minutes": round(sum(d["wall_seconds"] for d in saved) / 60, 1)}
    out_json = report.write_json(args.out / f"warmup-{task.name}.json", summary)
    shown = ("scratch", headline, *(("recurrent",) if headline == "recurrent+runs" else ()))
    out_png = report.plot([r for r in results if r.arm in shown], task,
                          args.out / f"warmup-{task.name}.png",
                          f"{task.name}: {headline} vs {' and '.join(a for a in shown if a != headline)}, "
                          f"{len(by_arm.get(headline, []))} seeds")

    print()
    print(f"{'arm':<14} {'seeds':>5} {'reached':>7} {'steps median':>12} {'IQM [95% CI]':>26} {'worst':>7} "
          f"{'updates/step':>14}")
    for arm, runs in by_arm.items():
        iqm = summary["steps_iqm"][arm]
        ups = [r.updates_per_step for r in runs if r.updates_per_step is not None]
        reached = sum(r.steps_to_threshold is not None for r in runs)
        ups_text = f"{min(ups):.2f}-{max(ups):.2f}" if ups else "-"
        print(f"{arm:<14} {len(runs):>5} {reached:>7} {summary['steps_median'][arm]:>12.0f} "
              f"{iqm['iqm']:>8.0f} [{iqm['ci_low']:>6.0f}, {iqm['ci_high']:>6.0f}] "
              f"{summary['steps_worst'][arm]:>7.0f} {ups_text:>14}")
    print("(an arm that never reached the threshold counts its budget: such steps and ratios are bounds)")
    for arm, row in summary["ablation"].items():
        print(f"ablation {arm:<10}: median ratio {row['ratio_median']:.1f}x, worst {row['ratio_worst']:.1f}x "
              f"(seeds {row['seeds']}, reached {row['reached']})")
    if "ratio_median" not in summary:
        raise SystemExit(f"no seed has both scratch and {headline} yet")
    bound = (" (lower bound: scratch did not reach the threshold in every seed)"
             if summary["ratio_is_lower_bound"] else "")
    print(f"ratio scratch / player runs: median {summary['ratio_median']:.1f}x, worst seed "
          f"{summary['ratio_worst']:.1f}x{bound}")
    print(f"results: {out_json}, plot: {out_png}")
    print(f"warmup_ratio_median: {summary['ratio_median']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("minitrack", "mountaincar", "pomdp-mountaincar"), default="minitrack")
    parser.add_argument("--arms", default="scratch,all", help="comma-separated: scratch and lever settings "
                        "(weight, schedule, retention, learning, all, recurrent, recurrent+runs)")
    parser.add_argument("--seeds", type=seed_range, default=seed_range("0-4"), help="e.g. 0-4 or 0,3")
    parser.add_argument("--budget", type=int, help="environment steps per run (default: the task's plan)")
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=2, help="runs side by side (each uses about one core)")
    parser.add_argument("--force", action="store_true", help="rerun runs that are already saved")
    parser.add_argument("--keep-going", action="store_true", help="train to the budget even after the threshold "
                        "(to see whether an arm stays there)")
    parser.add_argument("--report-only", action="store_true", help="only merge the saved runs into the report")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.arms = [a.strip() for a in args.arms.split(",") if a.strip()]

    work = Path(tempfile.mkdtemp(prefix="playerruns-warmup-"))
    os.environ["HOME"] = str(work / "evaluator")  # tmrl reads HOME at import: the evaluator's own TmrlData
    from playerruns.bridge.setup import init_tmrl_data
    from playerruns.builtin import tasks

    unknown = [a for a in args.arms if a != "scratch" and a not in tasks.LEVERS]
    if unknown:
        parser.error(f"--arms: unknown arm(s) {', '.join(unknown)}; known: scratch, {', '.join(tasks.LEVERS)}")
    init_tmrl_data(work / "evaluator", interface=f"GYM:{tasks.TASKS[args.task].env_id}")
    started = time.monotonic()
    try:
        if not args.report_only:
            run_missing(args, work)
            print(f"runs done in {(time.monotonic() - started) / 60:.1f} min", flush=True)
        write_report(args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
