"""One seeding path: a seeded process draws the same demo-weighted batches every time."""

from __future__ import annotations

import pytest

from playerruns.bridge.seeding import seed_everything
from playerruns.bridge.setup import append_samples
from playerruns.cli import main
from playerruns.runs.demos import demo_samples
from playerruns.tools.synthetic import synthetic_run
from playerruns.trainer.memories import weighted_memory_cls
from playerruns.trainer.sampling import DemoSchedule


def _draws(setup, tmp_path, seed, rng_runs):
    """Indices of 5 weighted batches from a memory built after seeding with ``seed``."""
    seed_everything(seed)
    memory = weighted_memory_cls(setup.memory_cls, DemoSchedule(weight=4.0))(nb_steps=1, device="cpu",
                                                                            dataset_path=tmp_path / "none")
    append_samples(memory, rng_runs["demo"])
    append_samples(memory, rng_runs["other"])
    return [memory.sample_indices() for _ in range(5)]


@pytest.fixture
def samples(lidar_setup, rng):
    demo = demo_samples(synthetic_run(lidar_setup, episodes=3, steps=30, rng=rng), lidar_setup.compress)
    other = [lidar_setup.compress(s) for s in synthetic_run(lidar_setup, episodes=6, steps=30, rng=rng).samples]
    return {"demo": demo, "other": other}


def test_same_seed_same_batches_other_seed_other_batches(lidar_setup, tmp_path, samples):
    first = _draws(lidar_setup, tmp_path, 7, samples)
    assert _draws(lidar_setup, tmp_path, 7, samples) == first
    assert _draws(lidar_setup, tmp_path, 8, samples) != first


COMMANDS = [["--init-tmrl-data"], ["--import-player-runs", "--player-runs-paths", "x"],
            ["--inspect", "--player-runs-paths", "x"], ["--send-player-runs", "--player-runs-paths", "x"],
            ["--record-episode"], ["--plot", "--player-runs-paths", "x"]]


@pytest.mark.parametrize("command", COMMANDS)
def test_the_cli_reads_the_seed_before_each_command_starts(command, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("PLAYERRUNS_SEED", "seven")
    monkeypatch.chdir(tmp_path)  # nothing a command could start may write into the repository
    assert main(command) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["playerruns: error: PLAYERRUNS_SEED: expected a whole number, got 'seven'"]
    assert list(tmp_path.iterdir()) == []
