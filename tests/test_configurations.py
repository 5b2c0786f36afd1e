"""Every stock configuration, end to end, each in processes of its own (tmrl fixes its config at import):
synthetic runs from the configured observation path -> CLI import -> the memory the trainer builds -> a batch."""

from __future__ import annotations

import pytest

from tests.helpers import make_home, program_json, run_cli, run_program

pytestmark = pytest.mark.slow  # starts tmrl in subprocesses

CONFIGS = {
    "TM20LIDAR": ("MemoryTMLidar", 3),
    "TM20LIDARPROGRESS": ("MemoryTMLidarProgress", 3),
    "TM20FULL": ("MemoryTMFull", 3),
    "GYM:Pendulum-v1": ("GenericTorchMemory", 1),
}


@pytest.mark.parametrize("interface", list(CONFIGS))
def test_import_then_sample_like_the_trainer(tmp_path, interface):
    memory_name, act_dim = CONFIGS[interface]
    home = make_home(tmp_path, interface=interface)
    runs = tmp_path / "runs"
    made = run_program(home, "make_runs.py", str(runs))
    assert made.returncode == 0, made.stderr

    result = run_cli(home, "--import-player-runs", "--player-runs-paths", str(runs))
    assert result.returncode == 0, result.stderr
    assert "player runs import: 3 file(s), imported 3 run(s) / 246 samples" in result.stdout
    assert (home / "TmrlData" / "dataset" / "data.pkl").is_file()

    out = program_json(run_program(home, "sample_as_trainer.py", str(runs)))
    assert out["memory"] == memory_name
    assert out["samples"] == out["demo_infos"] == 246
    assert out["rewards_from_demos"]
    batch = 32
    # the memory rebuilds exactly the preprocessed observation a worker's policy sees
    expected_obs = [[batch, *s] for s in out["raw_obs"]] if interface.startswith("TM") else [batch, *out["raw_obs"]]
    assert out["prev_obs"] == expected_obs and out["new_obs"] == expected_obs
    assert out["act"] == [batch, act_dim] and out["rew"] == [batch]
