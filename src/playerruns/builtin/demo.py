"""The main job on the built-in default: the whole workflow, no game and no existing TmrlData needed.

1. record a handful of player runs on the chosen task (MiniTrack by default; a scripted stand-in
   for a person drives, or the person with ``human``);
2. import them into the replay dataset of a fresh TmrlData;
3. train tmrl's stock SAC through the real Server, RolloutWorker and Trainer on 127.0.0.1, once
   from the player runs and once from scratch;
4. print a side-by-side table, save a plot of both learning curves and a JSON summary.
Everything goes into one folder the user can inspect. tmrl reads ``~/TmrlData``, so each part runs
with HOME pointing inside that folder.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

ARM_FOLDERS = ("with-player-runs", "from-scratch")


def run_demo(folder: Path, quick: bool = False, human: bool = False, seed: int = 0,
             task_name: str | None = None, budget_steps: int | None = None) -> int:
    if "tmrl" in sys.modules:
        raise RuntimeError("run_demo must run before tmrl is imported (tmrl reads HOME at import)")
    folder = folder.resolve()
    previous = [folder / name for name in ARM_FOLDERS if (folder / name).exists()]
    if previous:  # a trainer would resume from the last demo's checkpoint: start clean
        print(f"Replacing the previous demo's training folders in {folder}", flush=True)
        for path in previous:
            shutil.rmtree(path)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["HOME"] = str(folder / "evaluator")  # this process only evaluates policies
    from tqdm import tqdm

    from playerruns.bridge.setup import init_tmrl_data
    from playerruns.builtin import harness, report, tasks
    from playerruns.builtin.curves import PlayerLaps

    task = tasks.TASKS[task_name or tasks.DEFAULT_TASK]
    init_tmrl_data(folder / "evaluator", interface=f"GYM:{task.env_id}")
    plan = dict(task.quick if quick else task.full)
    if budget_steps is not None:  # --demo-steps: the same plan, trained longer or shorter
        plan["budget_steps"] = budget_steps
    budget = plan["budget_steps"]
    print(f"playerruns demo ({'quick' if quick else 'full'}): {task.env_id}, {budget} environment steps per arm, "
          f"goal: {task.goal}; everything in {folder}", flush=True)

    with_runs = harness.arm_home(folder / ARM_FOLDERS[0], task, levers=tasks.LEVERS[tasks.BEST])
    scratch = harness.arm_home(folder / ARM_FOLDERS[1], task, levers=None)
    print(f"[1/4] recording {plan['runs']} player runs "
          f"({'you drive' if human else 'a scripted stand-in for a person drives'}) ...", flush=True)
    runs_dir = harness.record_runs(with_runs, plan["runs"], seed, human=human)
    print(f"      run files: {runs_dir}", flush=True)
    print(f"[2/4] {harness.import_runs_cli(with_runs, runs_dir)}", flush=True)

    print(f"[3/4] training tmrl's SAC twice side by side (server, trainer and worker each, on 127.0.0.1): with "
          f"player runs ({', '.join(f'{k}={v}' for k, v in tasks.LEVERS[tasks.BEST].items())}) and from scratch, "
          f"{budget} steps each ...", flush=True)
    bars = {arm: tqdm(total=budget, desc=f"      {arm:<12}", unit="step", file=sys.stdout, dynamic_ncols=True,
                      position=i) for i, arm in enumerate(("player runs", "scratch"))}

    def progress(arm: str, steps: int, ret: float | None) -> None:
        bar = bars[arm]
        bar.update(min(steps, budget) - bar.n)
        bar.set_postfix_str(f"eval return {ret:.1f}" if ret is not None else "")

    # both arms train to the budget, so the plot shows whether the player-runs arm stays where it got
    arms = [dict(home=home, arm=arm, seed=seed, budget_steps=budget, eval_every=plan["eval_every"], demo_runs=demos,
                 on_progress=progress, stop_at_threshold=False)
            for arm, home, demos in (("player runs", with_runs, runs_dir), ("scratch", scratch, None))]
    try:
        results = harness.run_arms_side_by_side(arms, task)
    finally:
        for bar in bars.values():
            bar.close()
    print("[4/4] results")
    print()
    player = PlayerLaps.of_runs(runs_dir, task.threshold)
    who = ("you", "you, at the keyboard or a pad") if human else ("practised", tasks.DRIVERS["practised"].description)
    results[0].driver = player.describe(*who)
    results[0].runs = plan["runs"]
    print(report.table(results, task))
    summary = report.summarize(results, task)
    summary["runs"] = report.runs_record(results)
    plot = report.plot(results, task, folder / "learning_curves.png",
                       f"{task.env_id}: with player runs vs from scratch (seed {seed})")
    summary_file = report.write_json(folder / "summary.json", summary)
    print()
    for line in what_it_means(results, task, quick=quick, player_lap=player.median_lap_steps):
        print(line)
    print(f"\nplot:     {plot}\nsummary:  {summary_file}\nrun files: {runs_dir}\n"
          f"dataset:  {with_runs / 'TmrlData' / 'dataset' / 'data.pkl'}\nlogs:     {with_runs}/*.log, {scratch}/*.log")
    return 0


def what_it_means(results: list[Any], task: Any, *, quick: bool, player_lap: float | None) -> list[str]:
    """What a person wants to know after the run: when the agent first lapped, whether it kept lapping,
    its score over the whole budget against scratch's, and its lap against the player's."""
    from playerruns.builtin.curves import lap_sentence

    with_runs, scratch = (r.figures(task.threshold) for r in results)
    budget = results[0].budget_steps
    if with_runs.steps_to_threshold is None and scratch.steps_to_threshold is None:
        return [f"Neither arm reached {task.threshold:g} ({task.goal}) within {budget} steps"
                + (": the quick run only shows the path; run without --quick for the comparison." if quick else ".")]
    lines = []
    for name, f in (("with player runs", with_runs), ("from scratch", scratch)):
        if f.steps_to_threshold is None:
            lines.append(f"{name}: no lap in every evaluation episode within {budget} steps; "
                         f"mean score over the budget {f.mean_score:.0f}")
            continue
        kept = f.kept_after_first if f.kept_after_first is not None else 1.0
        lines.append(f"{name}: first lap at {f.steps_to_threshold} steps; {100 * kept:.0f} % of the evaluations "
                     f"after it still lapped (lowest score {f.lowest_after_first:.0f}); mean score over the budget "
                     f"{f.mean_score:.0f}")
    tolerance = results[0].levers.get("ROLLBACK_TOLERANCE")
    if tolerance is not None:
        times = results[0].rollbacks
        lines.append(f"with player runs, the trainer put its best policy back {times} time{'' if times == 1 else 's'} "
                     f"after an epoch that scored more than {100 * tolerance:g} % below it in its own evaluation "
                     f"(PLAYER_RUNS.ROLLBACK_TOLERANCE)")
    lines.append(f"{lap_sentence(with_runs.lap_steps_final, player_lap)} (the best evaluation's lap: "
                 f"{'-' if with_runs.lap_steps_best is None else f'{with_runs.lap_steps_best:.0f}'} steps)")
    arm = results[0]
    if arm.best_policy_score is not None:  # the trainer chose it on its own starts; scored here on the demo's
        lap = lap_sentence(arm.best_policy_lap_steps, player_lap, who="the kept policy", policy="it")
        lines.append(f"the best policy the trainer kept (TmrlData/weights/*_best.tmod, user guide 4.8) scores "
                     f"{arm.best_policy_score:.0f} on the demo's evaluation; {lap}")
    return lines
