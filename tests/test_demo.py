"""The main job's quick path, end to end as a user runs it: record, import, train both arms, report.

It asserts what the quick path guarantees by design, whatever the machine's speed: every stage runs,
the trainer of the player-runs arm starts from the imported demos and the scratch one from nothing,
and the table, plot and summary agree with each other. How far training gets in 3,000 steps depends
on the machine, so the learning itself is checked by the benchmark, not here.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import pytest

from tests.helpers import kept_best_policy, subprocess_env, trainer_statistics

pytestmark = pytest.mark.slow


BUDGET = 2000  # --demo-steps: shorter than --quick's 3,000, so the flag is what sets the budget


def test_quick_demo(tmp_path):
    folder = tmp_path / "demo"
    env = subprocess_env(tmp_path / "untouched-home")
    result = subprocess.run([sys.executable, "-m", "playerruns", "--demo", "--quick", "--demo-steps", f"{BUDGET:,}",
                             "--demo-dir", str(folder)],
                            env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert f"{BUDGET} environment steps per arm" in out
    for stage in ("[1/4] recording 3 player runs", "[3/4] training tmrl's SAC twice side by side",
                  "[4/4] results"):
        assert stage in out
    imported = re.search(r"\[2/4\] player runs import: 3 file\(s\), imported 3 run\(s\) / (\d+) samples", out)
    assert imported, out
    n_demo = int(imported.group(1))
    runs = list((folder / "with-player-runs" / "TmrlData" / "player_runs").glob("*.pkl"))
    assert len(runs) == 3
    assert (folder / "with-player-runs" / "TmrlData" / "dataset" / "data.pkl").is_file()
    assert not (folder / "from-scratch" / "TmrlData" / "dataset" / "data.pkl").exists()

    # each trainer was built before its worker stepped: one from the imported demos, one from nothing
    with_home, scratch_home = folder / "with-player-runs", folder / "from-scratch"
    from playerruns.builtin.tasks import BEST, LEVERS

    levers = LEVERS[BEST]
    [pretrained] = trainer_statistics(with_home, "pretrain")
    assert pretrained["steps"] == levers["DEMO_PRETRAIN_STEPS"] and pretrained["updates"] == 0
    [started] = trainer_statistics(with_home, "start")
    assert (started["demo_samples"], started["memory_samples"]) == (n_demo, n_demo)
    assert started["schedule"] == f"DEMO_SAMPLING_FRACTION={levers['DEMO_SAMPLING_FRACTION']:g} -> " \
        f"{levers['DEMO_SAMPLING_FRACTION_FINAL']:g} over {levers['DEMO_SAMPLING_ANNEAL_STEPS']} steps, now " \
        f"{levers['DEMO_SAMPLING_FRACTION']:.3f}"
    [scratch_start] = trainer_statistics(scratch_home, "start")
    assert (scratch_start["demo_samples"], scratch_start["memory_samples"]) == (0, 0)
    assert scratch_start["schedule"] == "DEMO_SAMPLING_WEIGHT=1"
    assert trainer_statistics(scratch_home, "pretrain") == []  # every lever off: stock tmrl
    for home_folder in (with_home, scratch_home):
        assert "Traceback" not in (home_folder / "trainer.log").read_text()

    summary = json.loads((folder / "summary.json").read_text())
    assert summary["env"] == "playerruns.envs.minitrack:MiniTrack-v0" and summary["budget_steps"] == BUDGET
    assert set(summary["arms"]) == {"player runs", "scratch"}
    threshold = summary["threshold"]
    player_laps = summary["arms"]["player runs"]["player_lap_steps"][0]
    assert player_laps is not None and 0 < player_laps < 1000  # the stand-in finishes its laps
    for run in summary["runs"]:
        points = run["curve"]
        assert all(0 < steps and math.isfinite(ret) for steps, ret, _ in points)
        assert all((lap is not None) == (ret >= threshold) for _, ret, lap in points)  # a lap time only with a lap
        reached = [steps for steps, ret, _ in points if ret >= threshold]
        # the summary's steps to the first lap are the first evaluation that reached it, or never
        assert summary["arms"][run["arm"]]["steps_to_threshold"] == [reached[0] if reached else None]
        assert summary["arms"][run["arm"]]["mean_score"] == [pytest.approx(sum(r for _, r, _ in points) / len(points))]
        fraction = run["demo_fraction_sampled"]
        if run["arm"] == "player runs" and fraction is not None:  # a trainer epoch ended within the budget
            assert fraction > 0
        if run["arm"] == "scratch":
            assert fraction in (None, 0.0)

    # what the demo prints is what its summary says
    firsts = [summary["arms"][a]["steps_to_threshold"][0] for a in ("player runs", "scratch")]
    if any(s is not None for s in firsts):
        if firsts[0] is not None:
            assert f"with player runs: first lap at {firsts[0]} steps" in out
        assert f"your median lap {player_laps:.0f} steps" in out
        assert "Neither arm reached" not in out
        # the rollbacks it reports are the trainer's own epoch records that say so
        epochs = trainer_statistics(with_home, "epoch")
        rolled = sum(1 for r in epochs if r.get("rolled_back") is True)
        assert summary["runs"][0]["rollbacks"] == rolled
        assert summary["runs"][0]["rollbacks_given_up"] == sum(1 for r in epochs if r.get("rollback_given_up") is True)
        assert (f"the trainer put its best policy back {rolled} time{'' if rolled == 1 else 's'} after an epoch that "
                f"scored more than {100 * levers['ROLLBACK_TOLERANCE']:g} % below it") in out
        kept = summary["runs"][0]["best_policy_score"]  # None: no epoch ended within the quick budget
        assert (kept is not None) == (f"the best policy the trainer kept (TmrlData/weights/*_best.tmod, user guide "
                                      f"4.8) scores {kept or 0:.0f} on the demo's evaluation" in out)
    else:
        assert f"Neither arm reached 399 (finish a lap in every evaluation episode) within {BUDGET} steps: the quick " \
               "run only shows the path" in out
    # the kept best policy's figures are its weights file driven on the demo's own starts (3 episodes, lowest)
    _scores_the_kept_policy(with_home, summary["runs"][0])
    for arm in ("player runs", "scratch"):
        assert re.search(rf"^{arm}\s+0\s", out, re.M), out  # one table row per arm
    assert (folder / "learning_curves.png").read_bytes().startswith(b"\x89PNG")
    assert not (tmp_path / "untouched-home" / "TmrlData").exists()


def _scores_the_kept_policy(home, run) -> None:
    from playerruns.trainer.evaluation import drive_episodes

    weights, env, actor = kept_best_policy(home, "playerruns.envs.minitrack:MiniTrack-v0")
    epochs = trainer_statistics(home, "epoch")
    assert weights.is_file() == any(r.get("best_policy") for r in epochs)  # kept after its first evaluated epoch
    if actor is None:
        assert run["best_policy_score"] is None and run["best_policy_lap_steps"] is None
        return
    assert json.loads(weights.with_suffix(".json").read_text())["by"] == "evaluation"
    driven = drive_episodes(actor, env, 3)
    assert run["best_policy_score"] == pytest.approx(min(driven.returns), abs=1e-3)
    lapped = min(driven.returns) >= 399
    assert (run["best_policy_lap_steps"] is not None) == lapped
