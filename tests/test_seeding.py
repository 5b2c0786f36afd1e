"""One seeding path: a seeded process draws the same demo-weighted batches every time; the CLI reads
PLAYERRUNS_SEED before any of its commands starts, and a seeded command draws the seeded streams."""

from __future__ import annotations

import numpy as np
import pytest

from playerruns.bridge.seeding import SEED_ENV, seed_everything
from playerruns.bridge.setup import append_samples
from playerruns.cli import COMMANDS
from playerruns.runs.demos import demo_samples
from playerruns.runs.runfile import load_run
from playerruns.tools.synthetic import synthetic_run
from playerruns.trainer.memories import weighted_memory_cls
from playerruns.trainer.sampling import DemoSchedule
from tests.helpers import make_home, one_line_error, run_cli, seeded_stream_actions


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


# one command line per command of the CLI; a command missing here fails its test (KeyError)
ARGV = {
    "server": ["--server"], "trainer": ["--trainer"], "worker": ["--worker"], "expert": ["--expert"],
    "test": ["--test"], "benchmark": ["--benchmark"],
    "import_player_runs": ["--import-player-runs", "--player-runs-paths", "x.pkl"],
    "send_player_runs": ["--send-player-runs", "--player-runs-paths", "x.pkl"],
    "record_episode": ["--record-episode"],
    "inspect": ["--inspect", "--player-runs-paths", "x.pkl"], "plot": ["--plot", "--player-runs-paths", "x.pkl"],
    "plot_training": ["--plot-training", "x.jsonl"],
    "reward_from_run": ["--reward-from-run", "x.pkl"],
    "relabel_rewards": ["--relabel-rewards", "--player-runs-paths", "x.pkl"],
    "export_minari": ["--export-minari", "a/b-v0", "--player-runs-paths", "x.pkl"],
    "import_minari": ["--import-minari", "a/b-v0"],
    "init_tmrl_data": ["--init-tmrl-data"], "demo": ["--demo"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_reads_the_seed_before_it_starts(command, monkeypatch, tmp_path):
    """``python -m playerruns`` with a malformed PLAYERRUNS_SEED: each command is refused with one line
    before it does anything (the seed is read before any command runs, so each one runs seeded)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(tmp_path)  # nothing a command could start may write into the repository
    monkeypatch.setenv(SEED_ENV, "seven")
    result = run_cli(home, *ARGV[command], timeout=60)
    assert one_line_error(result) == "playerruns: error: PLAYERRUNS_SEED: expected a whole number, got 'seven'"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"] and list(home.iterdir()) == []


def test_a_seeded_command_draws_the_seeded_streams(tmp_path, monkeypatch):
    """A scripted recording under PLAYERRUNS_SEED=7 records the actions playerruns' stream gives when
    seeded with 7: the seed reaches what the command draws."""
    home = make_home(tmp_path, interface="GYM:Pendulum-v1")
    out = tmp_path / "runs"
    monkeypatch.setenv(SEED_ENV, " 7 ")
    result = run_cli(home, "--record-episode", "--record-input", "scripted", "--record-driver",
                     "tests.helpers:seeded_stream_driver", "--record-auto-start", "--record-episode-max-samples",
                     "20", "--record-step-seconds", "0", "--record-episode-output-dir", str(out))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (path,) = out.glob("*.pkl")
    recorded = np.array([s[0] for s in load_run(path).samples[1:]])
    np.testing.assert_array_equal(recorded, seeded_stream_actions(7, (1,), 20))
    assert not np.array_equal(recorded, seeded_stream_actions(8, (1,), 20))
