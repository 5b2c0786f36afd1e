"""The main job's quick path, end to end as a user runs it: record, import, train both arms, report."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_quick_demo(tmp_path):
    folder = tmp_path / "demo"
    env = {**os.environ, "HOME": str(tmp_path / "untouched-home")}
    result = subprocess.run([sys.executable, "-m", "playerruns", "--demo", "--quick", "--demo-dir", str(folder)],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for stage in ("[1/4] recording", "[2/4] player runs import: 3 file(s), imported 3 run(s)",
                  "[3/4] training with tmrl's SAC: player runs", "[4/4] training with tmrl's SAC: scratch"):
        assert stage in out
    assert "arm" in out and "steps to 90" in out and "final return" in out
    assert "Neither arm reached 90" in out or "steps to reach 90: scratch / player runs" in out
    runs = list((folder / "with-player-runs" / "TmrlData" / "player_runs").glob("*.pkl"))
    assert len(runs) == 3
    assert (folder / "with-player-runs" / "TmrlData" / "dataset" / "data.pkl").is_file()
    assert not (folder / "from-scratch" / "TmrlData" / "dataset" / "data.pkl").exists()
    png = (folder / "learning_curves.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    summary = json.loads((folder / "summary.json").read_text())
    for key in ("env", "threshold", "budget_steps", "seeds", "steps_to_threshold", "ratio_median", "curves"):
        assert key in summary
    assert summary["env"] == "MountainCarContinuous-v0" and summary["budget_steps"] == 3000
    assert set(summary["steps_to_threshold"]) == {"player runs", "scratch"}
    curves = summary["curves"]
    assert all(len(points) >= 2 for points in curves.values())  # evaluated during training, not only at the end
    assert summary["demo_fraction_sampled"][0] > 0  # the trainer sampled the imported demos
    for arm in ("with-player-runs", "from-scratch"):
        log = (folder / arm / "trainer.log").read_text()
        assert "Traceback" not in log and "starting training" in log
    assert not (tmp_path / "untouched-home" / "TmrlData").exists()
