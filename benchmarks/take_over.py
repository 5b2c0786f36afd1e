"""Take-over benchmark: the same human effort, spent two ways (up-front runs, interventions) and half and half.

On MiniTrack's hardest track (hairpins: the practised line follower's slowest lap per metre, 1.15 steps/m
against 1.04 on the circuit and 0.89 on the oval, ``benchmarks/driving_task.py``) and with the less practised
driver (``envs.drivers.LESS_PRACTISED``), each arm trains tmrl's SAC with a lever setting (``--levers``,
default ``all``: ``tasks.LEVERS["all"]``, the demo's levers when the committed results were measured) through
the real Server, RolloutWorker and Trainer (``builtin.harness.run_arm``) to
the whole budget, evaluated every 500 steps. Per seed, the person's effort ``P`` is the steps of the driver's
first two recorded runs (or, with ``--person-steps N``, ``N`` steps: a person who drives part of a lap from the
start, ``--record-episode-max-samples``); the arms spend it:

- ``upfront``: both runs (with ``--person-steps``: the run of ``N`` steps) imported into data.pkl before training
  (today's workflow);
- ``interventions``: no run; the worker's stand-in person (``PLAYER_RUNS.TAKE_OVER "stand-in"``, the same
  skill) takes over where the agent is about to fail, for at most ``P`` steps in all (``TAKE_OVER_BUDGET``);
- ``half``: the first run imported (with ``--person-steps``: a run of ``N / 2`` steps), and the stand-in for the
  rest of ``P``;
- ``unbounded``: no run, and a stand-in without a budget (``TAKE_OVER_BUDGET`` null): a person who is always
  there and steps in wherever the agent is about to fail. Its person steps are not ``P``: it measures whether
  the intervention rate falls on its own as the agent learns, and what that costs the person.

Every finished (arm, seed) is saved under ``results/take-over-runs/`` (resumable, as ``warmup.py``); the report
merges them into ``results/take-over.json`` and ``take-over.png``: per arm and seed the steps to the first lap
in every evaluation episode, the laps kept after it, the mean score over the budget, the final lap, the person
steps actually used (and in minutes at 20 Hz) and the intervention rate in the last quarter of the budget.

    python benchmarks/take_over.py --seeds 0-4 --jobs 2
    python benchmarks/take_over.py --report-only
    python benchmarks/take_over.py --levers all-averaged-rollback   # another setting: its own run files and report
    python benchmarks/take_over.py --levers all-averaged-rollback --person-steps 400   # 20 s of a person, not 2 laps
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from warmup import (  # the sibling benchmark (this script's folder)
    in_workspace,
    iqm_interval,
    machine,
    median,
    seed_range,
)

RESULTS = Path(__file__).resolve().parent / "results"
ARMS = ("upfront", "interventions", "half", "unbounded")
TRACK = "hairpins"
RUNS = 2  # the person's effort: the steps of this many of the driver's runs
STEPS_PER_MINUTE = 20 * 60  # a person drives at tmrl's 20 Hz
SKILL = 0.4  # the less practised driver's skill (envs.drivers.LESS_PRACTISED), for the stand-in too


def task() -> Any:
    from playerruns.builtin.tasks import TASKS

    return replace(TASKS["minitrack"], name=f"minitrack-{TRACK}",
                   env_id="playerruns.envs.minitrack:MiniTrackHairpins-v0",
                   worker_env="playerruns.builtin.envs:PacedMiniTrackHairpins-v0")


DEFAULT_LEVERS = "all"


def setting(levers: str = DEFAULT_LEVERS, person_steps: int | None = None) -> str:
    """The name part of a lever setting and a person's effort other than the committed ones ('' for those)."""
    return ("" if levers == DEFAULT_LEVERS else f"@{levers}") + (f"+p{person_steps}" if person_steps else "")


def run_file(out: Path, arm: str, seed: int, levers: str = DEFAULT_LEVERS, person_steps: int | None = None) -> Path:
    """Where an (arm, seed) is saved: a setting other than the default one has its own files."""
    return out / "take-over-runs" / f"{arm}{setting(levers, person_steps)}-seed{seed}.json"


def report_file(out: Path, levers: str, suffix: str, person_steps: int | None = None) -> Path:
    return out / f"take-over{setting(levers, person_steps)}{suffix}"


def run_steps(path: Path) -> int:
    from playerruns.runs.runfile import load_run

    return len(load_run(path).samples) - 1  # the first sample is the reset's: nobody drove it


def take_over_figures(stats_file: Path) -> dict[str, Any]:
    """From the trainer's epoch records: person steps used, the intervention rate over worker steps, and
    its value over the last quarter of the worker's steps."""
    from playerruns.trainer.statistics import read_statistics

    points = [(int(r.get("worker_steps_total", 0)), int(r.get("person_steps_total", 0)),
               float(r.get("intervention_rate", 0.0))) for r in read_statistics(stats_file, "epoch")
              if "worker_steps_total" in r]
    if not points:
        return {"person_steps_taken": 0, "intervention_rate_last_quarter": 0.0, "intervention_curve": []}
    workers, person, _ = points[-1]
    quarter = next(((w, p) for w, p, _ in reversed(points) if w <= 0.75 * workers), (0, 0))
    rate = (person - quarter[1]) / (workers - quarter[0]) if workers > quarter[0] else 0.0
    return {"person_steps_taken": person, "intervention_rate_last_quarter": rate,
            "intervention_curve": [(w, round(r, 4)) for w, _, r in points]}


def run_missing(args: argparse.Namespace, work: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from playerruns.builtin import harness, report
    from playerruns.builtin.curves import PlayerLaps
    from playerruns.builtin.tasks import DRIVERS, HYPERPARAMETERS, LEVERS
    from playerruns.envs.drivers import LESS_PRACTISED, Skill

    assert Skill.at(SKILL) == LESS_PRACTISED  # the stand-in drives as the driver of the runs
    from playerruns.trainer.statistics import statistics_file

    the_task = task()
    driver = DRIVERS["less-practised"]
    todo = [(arm, seed) for seed in args.seeds for arm in args.arms
            if args.force or not run_file(args.out, arm, seed, args.levers, args.person_steps).exists()]
    print(f"{the_task.worker_env}: {len(todo)} run(s) to do, {args.jobs} at a time, budget {args.budget} steps",
          flush=True)
    recorded: dict[int, list[Path]] = {}  # the person's runs of each seed: what the up-front arm imports
    halves: dict[int, list[Path]] = {}  # ... and what the half arm imports

    def record(name: str, seed: int, count: int, max_samples: int | None) -> list[Path]:
        home = harness.arm_home(work / f"{name}-seed{seed}", the_task, levers=None)
        return sorted(harness.record_runs(home, count, seed, driver=driver.spec, max_samples=max_samples).glob("*.pkl"))

    for seed in sorted({s for _, s in todo}):  # the person's runs of each seed, first (about a minute each)
        if args.person_steps is None:
            recorded[seed] = record("recorder", seed, RUNS, None)
            halves[seed] = recorded[seed][:1]
        else:  # the recorder's max samples count the driven steps (the reset's sample comes on top)
            recorded[seed] = record("recorder", seed, 1, args.person_steps)
            halves[seed] = record("recorder-half", seed, 1, args.person_steps // 2)

    def one(arm: str, seed: int) -> dict[str, Any]:
        runs = recorded[seed]
        given = sum(run_steps(r) for r in runs)
        imported = runs if arm == "upfront" else halves[seed] if arm == "half" else []
        budget_left = given - sum(run_steps(r) for r in imported)
        levers = dict(LEVERS[args.levers])
        if arm != "upfront":
            levers.update(TAKE_OVER="stand-in", TAKE_OVER_SKILL=SKILL,
                          TAKE_OVER_BUDGET=None if arm == "unbounded" else budget_left)
        home = harness.arm_home(work / f"{arm}-seed{seed}", the_task, levers=levers)
        folder = None
        if imported:
            folder = work / f"runs-{arm}-seed{seed}"
            folder.mkdir(parents=True, exist_ok=True)
            for r in imported:
                shutil.copy2(r, folder / r.name)

        def progress(label: str, steps: int, ret: float | None) -> None:
            print(f"  {label} seed {seed}: {steps} steps, eval score {ret:.1f}", flush=True)
        result = harness.run_arm(home, the_task, arm=arm, seed=seed, budget_steps=args.budget,
                                 eval_every=args.eval_every, evaluator=harness.Evaluator(the_task, levers=levers),
                                 demo_runs=folder, on_progress=progress, stop_at_threshold=False)
        result.driver = PlayerLaps.of_runs(recorded[seed][0].parent, the_task.threshold).describe(
            driver.name, driver.description)
        result.runs = len(imported)
        taken = take_over_figures(statistics_file(home / "TmrlData" / "statistics", HYPERPARAMETERS["RUN_NAME"]))
        imported_steps = given - budget_left
        return {**result.__dict__, "levers_setting": args.levers, "person_steps_setting": args.person_steps,
                "person_steps_given": given,
                "person_steps_imported": imported_steps,
                **taken, "person_steps_used": imported_steps + taken["person_steps_taken"]}

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(one, arm, seed) for arm, seed in todo]
        for future in as_completed(futures):
            saved = future.result()
            target = run_file(args.out, saved["arm"], saved["seed"], args.levers, args.person_steps)
            target.parent.mkdir(parents=True, exist_ok=True)
            report.write_json(target, {**saved, "date": date.today().isoformat(), "machine": machine()})
            print(f"{saved['arm']} seed {saved['seed']}: person steps {saved['person_steps_used']} of "
                  f"{saved['person_steps_given']}, last-quarter rate {saved['intervention_rate_last_quarter']:.3f}, "
                  f"{saved['wall_seconds']:.0f}s -> {target}", flush=True)


def write_report(args: argparse.Namespace) -> None:
    import numpy as np

    from playerruns.builtin import harness, report

    the_task = task()
    loaded = []
    for path in sorted((args.out / "take-over-runs").glob("*-seed*.json")):
        d = json.loads(path.read_text())
        if (d.get("budget_steps") == args.budget and d.get("levers_setting", DEFAULT_LEVERS) == args.levers
                and d.get("person_steps_setting") == args.person_steps):
            loaded.append(d)
    if not loaded:
        raise SystemExit(f"no saved run of {args.budget} steps with the levers {args.levers!r}"
                         + (f" and {args.person_steps} person steps" if args.person_steps else "")
                         + f" under {args.out / 'take-over-runs'}")
    arms: dict[str, Any] = {}
    results = []
    for arm in ARMS:
        mine = sorted((d for d in loaded if d["arm"] == arm), key=lambda d: d["seed"])
        if not mine:
            continue
        entry: dict[str, Any] = {k: [] for k in (
            "seeds", "steps_to_threshold", "kept_after_first", "lowest_after_first", "mean_score", "final_return",
            "lap_steps_final", "player_lap_steps", "person_steps_given", "person_steps_used", "person_minutes_used",
            "intervention_rate_last_quarter", "intervention_curve", "budget_spent_by_steps")}
        for d in mine:
            fields = {k: v for k, v in d.items() if k in harness.ArmResult.__dataclass_fields__}
            result = harness.ArmResult(**fields)
            result.curve = [tuple(p) for p in result.curve]  # type: ignore[misc]
            results.append(result)
            f = result.figures(the_task.threshold)
            entry["seeds"].append(d["seed"])
            for key in ("steps_to_threshold", "kept_after_first", "lowest_after_first", "mean_score", "final_return",
                        "lap_steps_final"):
                entry[key].append(getattr(f, key))
            entry["player_lap_steps"].append((d.get("driver") or {}).get("median_lap_steps"))
            entry["person_steps_given"].append(d["person_steps_given"])
            entry["person_steps_used"].append(d["person_steps_used"])
            entry["person_minutes_used"].append(round(d["person_steps_used"] / STEPS_PER_MINUTE, 2))
            entry["intervention_rate_last_quarter"].append(0.0 if arm == "upfront"
                                                           else round(d["intervention_rate_last_quarter"], 4))
            entry["intervention_curve"].append(d["intervention_curve"])
            entry["budget_spent_by_steps"].append(spent_by(d))
        entry["mean_score_iqm"] = iqm_interval([m if m is not None else math.nan for m in entry["mean_score"]])
        entry["iqm_curve"] = report.iqm_curve([r for r in results if r.arm == arm], args.eval_every, args.budget)
        arms[arm] = entry
    given = [g for e in arms.values() for g in e["person_steps_given"]]
    summary: dict[str, Any] = {
        "track": TRACK, "env_id": the_task.env_id, "budget_steps": args.budget,
        "person_steps": int(np.median(given)),
        "person_runs": RUNS if args.person_steps is None else f"one run cut at {args.person_steps} steps (half: at "
                                                               f"{args.person_steps // 2})",
        "driver": "less-practised (envs.drivers.LESS_PRACTISED), for the runs and the stand-in alike",
        "levers": f"tasks.LEVERS[{args.levers!r}]", "arms": arms,
        "unbounded": "the unbounded arm's stand-in had no budget: its person_steps_given is P for reference only, "
                     "person_steps_used is what it drove",
        "machine": {**loaded[0]["machine"], "dates": sorted({d["date"] for d in loaded}),
                    "wall_minutes": round(sum(d["wall_seconds"] for d in loaded) / 60, 1)},
    }
    summary["targets"] = targets(arms, args.budget, args.eval_every)
    out_json = report.write_json(report_file(args.out, args.levers, ".json", args.person_steps), summary)
    out_png = plot(results, arms, the_task, report_file(args.out, args.levers, ".png", args.person_steps), args.budget)
    print(f"{'arm':<14} {'seeds':>5} {'first lap (median)':>18} {'kept (median)':>13} {'mean score IQM':>15} "
          f"{'final lap':>9} {'person steps used':>17} {'last-quarter rate':>17}")
    for arm, e in arms.items():
        steps = [s if s is not None else args.budget for s in e["steps_to_threshold"]]
        kept = [k if k is not None else 0.0 for k in e["kept_after_first"]]
        laps = [x for x in e["lap_steps_final"] if x is not None]
        print(f"{arm:<14} {len(steps):>5} {np.median(steps):>18.0f} {100 * np.median(kept):>12.0f}% "
              f"{e['mean_score_iqm']['iqm']:>15.0f} {np.median(laps) if laps else float('nan'):>9.0f} "
              f"{np.median(e['person_steps_used']):>17.0f} {np.median(e['intervention_rate_last_quarter']):>17.3f}")
    for t in summary["targets"]:
        print(f"target {'MET    ' if t['met'] else 'MISSED ' if t['met'] is not None else '?      '} {t['target']}: "
              f"{t['figures']}")
    print(f"results: {out_json}, plot: {out_png}")


def spent_by(saved: dict[str, Any]) -> int | None:
    """The worker step by which the stand-in had driven (98 % of) its budget, from the epoch rates: after it, a
    rate of 0 says the budget ran out, not that the agent needs no help (None: never, or no stand-in)."""
    if saved["arm"] == "unbounded":
        return None
    budget = saved["person_steps_given"] - saved["person_steps_imported"]
    driven, previous = 0.0, 0
    for steps, rate in saved["intervention_curve"]:
        driven += rate * (steps - previous)
        previous = steps
        if budget and driven >= 0.98 * budget:
            return int(steps)
    return None


def targets(arms: dict[str, Any], budget: int, eval_every: int) -> list[dict[str, Any]]:
    out = []
    if "interventions" in arms and "upfront" in arms:
        mine = median([s if s is not None else budget for s in arms["interventions"]["steps_to_threshold"]])
        theirs = median([s if s is not None else budget for s in arms["upfront"]["steps_to_threshold"]])
        out.append({"target": "interventions: first lap in at most half the steps up-front runs need (median seed)",
                    "met": mine <= 0.5 * theirs, "figures": f"{mine:.0f} vs {theirs:.0f}" + (
                        f" (half of it comes before the first evaluation, at {eval_every} steps: no arm can show it)"
                        if 0.5 * theirs < eval_every else "")})
    if "interventions" in arms:
        rate = median(arms["interventions"]["intervention_rate_last_quarter"])
        spent = arms["interventions"]["budget_spent_by_steps"]
        ran_out = [s is not None and s < 0.75 * budget for s in spent]
        # a stand-in whose budget ran out before the last quarter says nothing of the agent there: not a result
        known = None if median([float(r) for r in ran_out]) >= 0.5 else rate < 0.05
        out.append({"target": "interventions: intervention rate below 5 % in the last quarter (median seed)",
                    "met": known, "figures": f"{arms['interventions']['intervention_rate_last_quarter']}; the "
                    f"stand-in had spent its budget by {spent} steps: a bound of the budget, not of the agent"})
    if "unbounded" in arms:
        rates = arms["unbounded"]["intervention_rate_last_quarter"]
        out.append({"target": "unbounded stand-in: intervention rate below 5 % in the last quarter (median seed)",
                    "met": median(rates) < 0.05, "figures": f"{rates}; person steps used "
                    f"{arms['unbounded']['person_steps_used']}"})
    return out


def plot(results: list[Any], arms: dict[str, Any], the_task: Any, path: Path, budget: int) -> Path:
    """The evaluation scores of every seed (top) and the intervention rate over the worker's steps (bottom)."""
    from playerruns.tools.plotting import pyplot, save_png

    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True, height_ratios=(3, 2))
    colors = {"upfront": "tab:gray", "interventions": "tab:orange", "half": "tab:green", "unbounded": "tab:purple"}
    for arm, entry in arms.items():
        runs = [r for r in results if r.arm == arm]
        for k, r in enumerate(runs):
            points = r.evaluations()
            top.plot([p.steps for p in points], [p.score for p in points], color=colors[arm], alpha=0.5, marker=".",
                     label=f"{arm} ({len(runs)} seeds)" if k == 0 else None)
        for k, curve in enumerate(entry["intervention_curve"]):
            if curve and arm != "upfront":
                bottom.plot([w for w, _ in curve], [100 * r for _, r in curve], color=colors[arm], alpha=0.6,
                            label=arm if k == 0 else None)
    top.axhline(the_task.threshold, color="tab:red", linestyle="--", linewidth=1, label="a lap")
    top.set_ylabel("evaluation score")
    top.set_title(f"MiniTrack {TRACK}: the same person steps, up front or as take-overs ({budget} steps)")
    top.legend(fontsize=8, loc="lower right")
    top.grid(alpha=0.3)
    bottom.axhline(5, color="tab:red", linestyle="--", linewidth=1, label="5 %")
    bottom.set_xlabel("environment steps (the worker's)")
    bottom.set_ylabel("person-driven share of steps, %")
    bottom.legend(fontsize=8, loc="upper right")
    bottom.grid(alpha=0.3)
    return save_png(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated, of " + ", ".join(ARMS))
    parser.add_argument("--seeds", type=seed_range, default=seed_range("0-4"), help="e.g. 0-4 or 0,3")
    parser.add_argument("--budget", type=int, default=20_000, help="environment steps per run")
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--person-steps", type=int, default=None, metavar="N",
                        help=f"the person's effort in steps: one run of N steps from the start (default: the driver's "
                             f"first {RUNS} whole runs)")
    parser.add_argument("--levers", default=DEFAULT_LEVERS,
                        help="the PLAYER_RUNS lever setting every arm trains with (playerruns.builtin.tasks.LEVERS; "
                             f"default {DEFAULT_LEVERS!r}, the committed results')")
    args = parser.parse_args()
    args.arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    if args.person_steps is not None and args.person_steps < 2:
        parser.error(f"--person-steps: expected a whole number of at least 2, got {args.person_steps}")
    unknown = [a for a in args.arms if a not in ARMS]
    if unknown:
        parser.error(f"--arms: unknown {', '.join(unknown)}; known {', '.join(ARMS)}")
    from playerruns.builtin.tasks import LEVERS

    if args.levers not in LEVERS or LEVERS[args.levers].get("RECURRENT"):
        parser.error(f"--levers: unknown or recurrent setting {args.levers!r}; known "
                     f"{', '.join(k for k, v in LEVERS.items() if not v.get('RECURRENT'))}")
    in_workspace("playerruns-take-over-", task().env_id, args, run_missing, write_report)

if __name__ == "__main__":
    main()
