"""Warmup benchmark: the whole learning curve with player runs of two drivers and from scratch, over seeds, resumable.

Each (arm, seed) trains tmrl's SAC through the real Server, RolloutWorker and Trainer
(``playerruns.builtin.harness.run_arm``) on a built-in task to the whole budget (``Task.curve_budget``:
30,000 steps on MiniTrack), evaluated every 500 steps. Arms (``tasks.Arm``): ``scratch`` (every
lever off: stock tmrl); ``DRIVER-RUNS`` (the demo's levers, ``tasks.LEVERS[BEST]``, on that many runs
of a driver of ``tasks.DRIVERS``: ``practised-10``, ``less-practised-2``...); a lever setting
(``all-decayed``, ``all-averaged``...: on the practised driver's 10 runs); or ``LEVERS@DRIVER-RUNS``.
The worker waits while its trainer is behind, so every arm trains at the configured updates per
environment step whatever the machine's speed; each arm's achieved rate is reported.

Every finished (arm, seed) is saved at once under ``results/warmup-runs/<task>/``: the benchmark can
be run in parts (``--arms``, ``--seeds``) and resumed; a finished run is never run again (``--force``
reruns it). The report merges every saved run of the task's budget into ``results/warmup-<task>.json``
and ``warmup-<task>.png``: per arm and seed the figures of ``builtin.curves.CurveFigures`` (first lap,
laps kept after it, lowest after it, mean score over the budget, final score and lap, the player's
median lap), interquartile means with 95 % bootstrap intervals (scipy.stats), the IQM curve, the
``update_cost_ratio`` of ``results/update-cost.json`` and each of issue 21's targets, met or missed.
Last line: ``kept_after_first_median: <share>`` of the headline arm (``practised-10``).

    python benchmarks/warmup.py --task minitrack --seeds 0-4 --jobs 2
    python benchmarks/warmup.py --task minitrack --report-only
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playerruns.builtin.tasks import Arm

RESULTS = Path(__file__).resolve().parent / "results"

HEADLINES = {"pomdp-mountaincar": "recurrent+runs"}  # tasks whose player-runs arm is another one
DEFAULT_ARMS = "scratch,practised-10,practised-2,less-practised-10,less-practised-2"


def seed_range(text: str) -> list[int]:
    """'0-4' or '0,2,5' -> the seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        seeds.extend(range(int(low), int(high or low) + 1))
    return seeds


def run_file(out: Path, task: str, arm: str, seed: int) -> Path:
    return out / "warmup-runs" / task / f"{arm}-seed{seed}.json"


def arm_runs_folder(work: Path, recorded: Path, arm: Arm) -> Path:
    """The first ``arm.runs`` run files of the driver's recording (the same person, fewer runs)."""
    files = sorted(recorded.glob("*.pkl"))
    if len(files) < arm.runs:
        raise RuntimeError(f"{recorded}: {len(files)} run file(s) recorded, {arm.runs} needed")
    if len(files) == arm.runs:
        return recorded
    folder = work / f"runs-{arm.driver.name if arm.driver else 'none'}-{recorded.parents[1].name}-{arm.runs}"
    if not folder.exists():
        folder.mkdir(parents=True)
        for f in files[:arm.runs]:
            shutil.copy2(f, folder / f.name)
    return folder


def run_missing(args: argparse.Namespace, work: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from playerruns.builtin import harness, report, tasks
    from playerruns.builtin.curves import PlayerLaps

    task = tasks.TASKS[args.task]
    budget = args.budget or task.curve_budget
    arms = {name: tasks.Arm.parse(name, task.full["runs"]) for name in args.arms}
    todo = [(arms[name], seed) for seed in args.seeds for name in args.arms
            if args.force or not run_file(args.out, task.name, name, seed).exists()]
    print(f"{task.env_id}: {len(todo)} run(s) to do, {args.jobs} at a time, budget {budget} steps", flush=True)
    recorded: dict[tuple[str, int], Path] = {}
    locks: dict[tuple[str, int], threading.Lock] = {(a.driver.name, s): threading.Lock() for a, s in todo if a.driver}

    def recording(driver: tasks.Driver, seed: int) -> Path:
        """The driver's runs of this seed, recorded by the first job that needs them (as many as its largest
        arm needs; paced like the worker's task, so recording overlaps other arms' training)."""
        with locks[(driver.name, seed)]:
            if (driver.name, seed) not in recorded:
                count = max(a.runs for a, s in todo if a.driver == driver and s == seed)
                home = harness.arm_home(work / f"recorder-{driver.name}-seed{seed}", task, levers=None)
                recorded[(driver.name, seed)] = harness.record_runs(home, count, seed, driver=driver.spec)
            return recorded[(driver.name, seed)]

    def one(arm: tasks.Arm, seed: int) -> harness.ArmResult:
        home = harness.arm_home(work / f"{arm.name}-seed{seed}", task, levers=arm.lever_values)

        def progress(label: str, steps: int, ret: float | None) -> None:
            print(f"  {label} seed {seed}: {steps} steps, eval score {ret:.1f}", flush=True)
        runs = None if arm.driver is None else arm_runs_folder(work, recording(arm.driver, seed), arm)
        result = harness.run_arm(home, task, arm=arm.name, seed=seed, budget_steps=budget, eval_every=args.eval_every,
                                 evaluator=harness.Evaluator(task, levers=arm.lever_values), demo_runs=runs,
                                 on_progress=progress, stop_at_threshold=False)
        if arm.driver is not None and runs is not None:
            result.driver = PlayerLaps.of_runs(runs, task.threshold).describe(arm.driver.name, arm.driver.description)
            result.runs = arm.runs
        return result

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:  # a finished run frees its slot at once
        futures = [pool.submit(one, arm, seed) for arm, seed in todo]
        for future in as_completed(futures):
            result = future.result()
            target = run_file(args.out, task.name, result.arm, result.seed)
            target.parent.mkdir(parents=True, exist_ok=True)
            report.write_json(target, {**result.__dict__, "date": date.today().isoformat(), "machine": machine()})
            f = result.figures(task.threshold)
            print(f"{result.arm} seed {result.seed}: first lap {f.steps_to_threshold}, kept {f.kept_after_first}, "
                  f"mean score {f.mean_score}, final {f.final_return}, lap {f.lap_steps_final}, "
                  f"{result.wall_seconds:.0f}s -> {target}", flush=True)


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
            "processor": platform.processor() or platform.machine()}


def iqm_interval(values: list[float]) -> dict[str, float]:
    """Interquartile mean over seeds (the mean of the middle 50 %, robust to one odd seed) with a 95 %
    percentile bootstrap confidence interval (scipy.stats)."""
    import numpy as np
    from scipy import stats

    def iqm(x: np.ndarray, axis: int = -1) -> np.ndarray:
        return stats.trim_mean(x, 0.25, axis=axis)

    data = np.asarray(values, dtype=float)
    if len(data) < 2 or np.ptp(data) == 0:
        low = high = float(iqm(data))
    else:
        ci = stats.bootstrap((data,), iqm, confidence_level=0.95, n_resamples=5000, method="percentile",
                             rng=np.random.default_rng(0)).confidence_interval
        low, high = float(ci.low), float(ci.high)
    return {"iqm": float(iqm(data)), "ci_low": low, "ci_high": high}


def load_results(folder: Path, budget: int | None) -> list[Any]:
    """The saved runs of a task (at ``budget`` steps, when given: runs of another budget are another benchmark)."""
    from playerruns.builtin import harness

    results = []
    for path in sorted(folder.glob("*-seed*.json")):
        d = json.loads(path.read_text())
        if budget is not None and d.get("budget_steps") != budget:
            continue
        fields = {k: v for k, v in d.items() if k in harness.ArmResult.__dataclass_fields__}
        result = harness.ArmResult(**fields)
        result.curve = [tuple(p) for p in result.curve]  # type: ignore[misc]
        results.append((result, d))
    return results


def median(values: list[float | None]) -> float:
    """The median of the values that exist (NaN if none: e.g. an arm with no evaluation yet)."""
    import numpy as np

    known = [v for v in values if v is not None]
    return float(np.median(known)) if known else math.nan


def targets(summary: dict[str, Any], headline: str) -> list[tuple[str, bool | None, str]]:
    """The issue's targets, each with whether it is met (None: not measured) and the figures it stands on."""
    import numpy as np

    arms = summary["arms"]
    out: list[tuple[str, bool | None, str]] = []

    def first(arm: str) -> list[int | None]:
        return arms[arm]["steps_to_threshold"]

    if headline in arms:
        steps = first(headline)
        kept = [k if k is not None else 0.0 for k in arms[headline]["kept_after_first"]]
        faster = arms[headline]["faster_than_player_final"]
        out.append((f"{headline}: first lap at <= 1,000 steps in every seed",
                    all(s is not None and s <= 1000 for s in steps), f"{steps}"))
        out.append((f"{headline}: >= 95 % of evaluations after it still lap (median seed), >= 85 % (worst)",
                    float(np.median(kept)) >= 0.95 and min(kept) >= 0.85, f"{[round(k, 3) for k in kept]}"))
        values = [f if f is not None else -1.0 for f in faster]
        out.append((f"{headline}: final lap >= 10 % faster than the player's median lap (median seed)",
                    float(np.median(values)) >= 0.10, f"{[None if f is None else round(f, 3) for f in faster]}"))
    less = next((a for a in arms if a.startswith("less-practised-") and a.endswith("-10")), None)
    if less:
        steps_budget = [s if s is not None else math.inf for s in first(less)]
        faster = arms[less]["faster_than_player_final"]
        out.append((f"{less}: first lap at <= 5,000 steps (median seed)", float(np.median(steps_budget)) <= 5000,
                    f"{first(less)}"))
        out.append((f"{less}: final lap faster than the driver's median lap in every seed",
                    all(f is not None and f > 0 for f in faster),
                    f"{[None if f is None else round(f, 3) for f in faster]}"))
    if "scratch" in arms:
        scratch_mean = median(arms["scratch"]["mean_score"])
        for arm, entry in arms.items():
            if arm == "scratch" or entry["driver"] is None:
                continue
            mine = median(entry["mean_score"])
            out.append((f"{arm}: mean score over the budget >= 2x scratch's (median over seeds)",
                        mine >= 2 * scratch_mean if math.isfinite(mine + scratch_mean) else None,
                        f"{mine:.1f} vs scratch {scratch_mean:.1f}"))
            theirs = dict(arms["scratch"]["iqm_curve"])
            pairs = [(at, v, theirs[at]) for at, v in entry["iqm_curve"] if at in theirs]
            below = [(at, round(v, 1), round(s, 1)) for at, v, s in pairs if v < s]
            out.append((f"{arm}: IQM curve at or above scratch's at every evaluation",
                        not below if pairs else None,
                        f"below at {below[:4]}{' ...' if len(below) > 4 else ''}" if below
                        else f"never below, {len(pairs)} evaluation points" if pairs else "no common evaluation point"))
    return out


def write_report(args: argparse.Namespace) -> None:
    import numpy as np

    from playerruns.builtin import report, tasks

    task = tasks.TASKS[args.task]
    budget = args.budget or task.curve_budget
    folder = args.out / "warmup-runs" / task.name
    loaded = load_results(folder, budget)
    if not loaded:
        raise SystemExit(f"no saved run of {budget} steps under {folder}: run some arms first")
    results = [r for r, _ in loaded]
    headline = HEADLINES.get(task.name, f"{tasks.DEFAULT_DRIVER}-{task.full['runs']}")
    summary = report.summarize(results, task, best=headline)
    for arm, entry in summary["arms"].items():
        mine = [r for r in results if r.arm == arm]
        entry["mean_score_iqm"] = iqm_interval([m if m is not None else math.nan for m in entry["mean_score"]])
        entry["steps_to_threshold_iqm"] = iqm_interval([s if s is not None else budget
                                                        for s in entry["steps_to_threshold"]])
        entry["iqm_curve"] = report.iqm_curve(mine, args.eval_every, budget)
    cost_file = args.out / "update-cost.json"
    cost = json.loads(cost_file.read_text()) if cost_file.exists() else {}
    summary["update_cost_ratio"] = cost.get("update_cost_ratio")
    saved = [d for _, d in loaded]
    summary["machine"] = {**saved[0]["machine"], "dates": sorted({d["date"] for d in saved}),
                          "wall_minutes": round(sum(d["wall_seconds"] for d in saved) / 60, 1)}
    checks = targets(summary, headline)
    summary["targets"] = [{"target": t, "met": met, "figures": why} for t, met, why in checks]
    out_json = report.write_json(args.out / f"warmup-{task.name}.json", summary)
    seeds = len(summary["arms"].get(headline, summary["arms"][next(iter(summary["arms"]))])["seeds"])
    # the demo's levers (plain DRIVER-RUNS names) before other settings (LEVERS@...), 10-run arms before 2-run ones
    ranked = sorted(summary["arms"], key=lambda a: ("@" in a, a.endswith("-2"), a))
    if args.plot_arms:
        unknown = [a for a in args.plot_arms if a not in summary["arms"]]
        if unknown:
            raise SystemExit(f"--plot-arms: no saved runs for {', '.join(unknown)} under {folder}")
        shown = args.plot_arms
    else:  # scratch and the demo's levers on every driver's runs: other settings (LEVERS@...) are in the table
        # only, as is an arm measured on fewer seeds than the headline
        shown = [a for a in ("scratch", headline, *ranked) if a in summary["arms"] and "@" not in a
                 and len(summary["arms"][a]["seeds"]) >= seeds]
        shown = list(dict.fromkeys(shown))[:5]
    out_png = report.plot([r for r in results if r.arm in shown], task, args.out / f"warmup-{task.name}.png",
                          f"{task.name}: the whole curve, {budget} steps, "
                          + (f"{seeds} seeds" if seeds > 1 else "1 seed")
                          + ("" if args.plot_arms else "; player runs: the demo's levers"))

    print()
    print(f"{'arm':<22} {'seeds':>5} {'lapped':>6} {'first lap (median)':>18} {'kept (median/worst)':>20} "
          f"{'mean score IQM [95% CI]':>24} {'final lap':>10} {'player':>7}")
    for arm, e in summary["arms"].items():
        steps = [s if s is not None else budget for s in e["steps_to_threshold"]]
        reached = sum(s is not None for s in e["steps_to_threshold"])
        kept = [k if k is not None else 0.0 for k in e["kept_after_first"]]
        laps = [x for x in e["lap_steps_final"] if x is not None]
        players = [x for x in e["player_lap_steps"] if x is not None]
        iqm = e["mean_score_iqm"]
        first = (">" if reached < len(steps) / 2 else "") + f"{np.median(steps):.0f}"
        kept_text = f"{100 * np.median(kept):.0f} % / {100 * min(kept):.0f} %" if reached else "-"
        mean_text = f"{iqm['iqm']:.0f} [{iqm['ci_low']:.0f}, {iqm['ci_high']:.0f}]"
        lap_text = f"{np.median(laps):.0f}" if laps else "-"
        player_text = f"{np.median(players):.0f}" if players else "-"
        print(f"{arm:<22} {len(steps):>5} {reached:>6} {first:>18} {kept_text:>20} {mean_text:>24} "
              f"{lap_text:>10} {player_text:>7}")
    print("(first lap: steps to the first evaluation where every episode finishes a lap; an arm that never "
          "gets there counts its budget, shown '>': such figures are bounds)")
    for text, met, why in checks:
        print(f"target {'MET    ' if met else 'MISSED ' if met is not None else '?      '} {text}: {why}")
    kept_best = {a: e for a, e in summary["arms"].items() if any(v is not None for v in e["best_policy_score"])}
    for arm, e in kept_best.items():  # what a user who takes the kept policy at the end drives
        print(f"{arm}: the best policy kept at the budget, per seed: score "
              f"{', '.join('-' if v is None else f'{v:.0f}' for v in e['best_policy_score'])}; lap "
              f"{', '.join('no lap' if v is None else f'{v:.0f}' for v in e['best_policy_lap_steps'])}")
    if args.markdown:
        print()
        for arm in ranked:
            print(markdown_row(arm, summary["arms"][arm]))
    print(f"results: {out_json}, plot: {out_png}")
    head = summary["arms"].get(headline)
    if head:
        print(f"kept_after_first_median: {float(np.median([k or 0.0 for k in head['kept_after_first']])):.3f}")


def markdown_row(arm: str, e: dict[str, Any]) -> str:
    """The README's and docs/warmup.md's table row of an arm (their columns, in their order)."""
    def listed(values: list[Any], show: Any, none: str) -> str:
        return ", ".join(none if v is None else show(v) for v in values)

    driver = e["driver"]
    if driver is None:
        who = "-"
    elif e["runs"] == 2:
        who = f"{driver['name'].replace('-', ' ')}, its first 2 runs"
    else:
        who = f"{driver['name'].replace('-', ' ')}: {driver['laps_finished_of_10']:g}, {driver['median_lap_steps']:g}"
    seeds = e["seeds"]
    span = f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else ", ".join(map(str, seeds))
    iqm = e["mean_score_iqm"]
    players = listed(e["player_lap_steps"], lambda v: f"{v:g}", "-")
    return (f"| `{arm}` | {who} | {span} | {listed(e['steps_to_threshold'], str, 'never')} | "
            f"{listed(e['kept_after_first'], lambda v: f'{100 * v:.0f}%', '-')} | "
            f"{listed(e['lowest_after_first'], lambda v: f'{v:.0f}', '-')} | "
            f"{listed(e['mean_score'], lambda v: f'{v:.0f}', '-')}; "
            f"{iqm['iqm']:.0f} [{iqm['ci_low']:.0f}, {iqm['ci_high']:.0f}] | "
            f"{listed(e['lap_steps_final'], lambda v: f'{v:.0f}', 'no lap')} ({players}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("minitrack", "mountaincar", "pomdp-mountaincar"), default="minitrack")
    parser.add_argument("--arms", default=DEFAULT_ARMS, help="comma-separated: scratch; DRIVER-RUNS (practised-10, "
                        "less-practised-2: the headline levers on that driver's runs); a lever setting (weight, "
                        "schedule, retention, learning, all, recurrent, recurrent+runs: on the practised driver's "
                        "10 runs); or LEVERS@DRIVER-RUNS")
    parser.add_argument("--seeds", type=seed_range, default=seed_range("0-4"), help="e.g. 0-4 or 0,3")
    parser.add_argument("--budget", type=int, help="environment steps per run (default: the task's plan)")
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=2, help="runs side by side (each uses about one core)")
    parser.add_argument("--force", action="store_true", help="rerun runs that are already saved")
    parser.add_argument("--report-only", action="store_true", help="only merge the saved runs into the report")
    parser.add_argument("--markdown", action="store_true", help="also print each arm's row of the README's table")
    parser.add_argument("--plot-arms", default="", help="comma-separated arms the plot shows (default: scratch and "
                        "the demo's levers on each driver's runs)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    args.plot_arms = [a.strip() for a in args.plot_arms.split(",") if a.strip()]

    from playerruns.builtin import tasks

    for name in args.arms:
        try:
            tasks.Arm.parse(name, tasks.TASKS[args.task].full["runs"])
        except ValueError as err:
            parser.error(f"--arms: {err}")
    in_workspace("playerruns-warmup-", tasks.TASKS[args.task].env_id, args, run_missing, write_report)


def in_workspace(prefix: str, env_id: str, args: argparse.Namespace,
                 run_missing: Any, write_report: Any) -> None:
    """A benchmark's missing runs (unless ``--report-only``), then its report, in a temporary folder removed at
    the end; the evaluator in this process gets a TmrlData of its own there (tmrl reads HOME at import)."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["HOME"] = str(work / "evaluator")
    from playerruns.bridge.setup import init_tmrl_data

    init_tmrl_data(work / "evaluator", interface=f"GYM:{env_id}")
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
