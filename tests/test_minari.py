"""Minari export and import as a user runs them (``--export-minari`` / ``--import-minari``), on MiniTrack.

Every test points Minari at a folder of its own (MINARI_DATASETS_PATH) and the CLI at a HOME of its
own: nothing reads or writes the real ~/.minari or ~/TmrlData. Datasets the tests build themselves
use Minari's own API (``create_dataset_from_buffers``; its DataCollector needs jax, which
``minari[hdf5]`` does not install), laid out as the DataCollector lays them out.
"""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest

from playerruns.bridge.dataset import read_dataset
from playerruns.runs.demos import DEMO_FLAG, RUN_ID_KEY
from playerruns.runs.runfile import load_run
from playerruns.runs.sample import split_episodes
from tests.helpers import file_digests, make_home, one_line_error, run_cli, run_program

minari = pytest.importorskip("minari")

MINITRACK = "GYM:playerruns.envs.minitrack:MiniTrack-v0"


@pytest.fixture(scope="module")
def gym_home(tmp_path_factory):
    """A MiniTrack HOME and a folder of 3 run files made by a random driver (2 episodes of <= 40 steps each)."""
    base = tmp_path_factory.mktemp("minari")
    home = make_home(base, interface=MINITRACK)
    runs = base / "runs"
    made = run_program(home, "make_runs.py", str(runs), "3")
    assert made.returncode == 0, made.stderr
    return home, runs


@pytest.fixture
def minari_root(tmp_path, monkeypatch):
    """Minari's local datasets folder for this test, for the test process and its CLI calls alike."""
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def _make_dataset(dataset_id: str, env_id: str, lengths: list[int], *, seed: int = 0,
                  obs_dtype: type | None = None, cut_last: bool = False):
    """A Minari dataset of random episodes of ``env_id`` laid out as Minari's DataCollector records them
    (n + 1 observations and infos, n actions); episodes stopped at their length are truncated, except
    the last one when ``cut_last`` (no flag at all: a dataset cut short). Returns the dataset and, per
    episode, (observations, actions, rewards, infos) as the environment gave them."""
    import playerruns.envs.minitrack  # noqa: F401  # registers MiniTrack-v0

    env = gymnasium.make(env_id)
    env.action_space.seed(seed)
    buffers, raw = [], []
    for k, length in enumerate(lengths):
        obs, info = env.reset(seed=seed + k)
        observations, infos, actions, rewards, terms, truncs = [obs], [info], [], [], [], []
        for _ in range(length):
            act = env.action_space.sample()
            obs, rew, terminated, truncated, info = env.step(act)
            observations.append(obs)
            infos.append(info)
            actions.append(act)
            rewards.append(float(rew))
            terms.append(bool(terminated))
            truncs.append(bool(truncated))
            if terminated or truncated:
                break
        if not (terms[-1] or truncs[-1]) and not (cut_last and k == len(lengths) - 1):
            truncs[-1] = True  # as the DataCollector does on the next reset
        keys = [key for key in infos[0] if all(key in i for i in infos)]
        buffers.append(minari.data_collector.EpisodeBuffer(
            observations=np.stack(observations).astype(obs_dtype or observations[0].dtype),
            actions=np.stack(actions), rewards=rewards, terminations=terms, truncations=truncs,
            infos={key: np.array([i[key] for i in infos]) for key in keys} or None))
        raw.append((observations, actions, rewards, terms, truncs, infos))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Minari's advice about author, code link...
        dataset = minari.create_dataset_from_buffers(dataset_id, buffers, env=env, algorithm_name="random")
    env.close()
    return dataset, raw


def _numeric_infos(info: dict) -> dict:
    return {k: v for k, v in info.items() if isinstance(v, (bool, int, float, np.bool_, np.number))}


def test_export_then_import_round_trips_every_sample(gym_home, minari_root, tmp_path):
    home, runs = gym_home
    paths = sorted(runs.glob("*.pkl"))
    before = file_digests(runs)

    exported = run_cli(home, "--export-minari", "minitrack/players-v0", "--player-runs-paths", str(runs))
    assert exported.returncode == 0, exported.stderr
    originals = [(load_run(p), k, ep) for p in paths for k, ep in enumerate(split_episodes(load_run(p).samples))]
    steps = sum(len(ep) - 1 for _, _, ep in originals)
    assert f"'minitrack/players-v0': {len(originals)} episode(s), {steps} steps" in exported.stdout
    assert str(minari_root / "minitrack" / "players-v0") in exported.stdout

    dataset = minari.load_dataset("minitrack/players-v0")  # what an offline-RL user gets
    assert dataset.spec.env_spec.id == "MiniTrack-v0" and dataset.total_episodes == len(originals)
    assert dataset.total_steps == steps and "playerruns" in dataset.storage.metadata["algorithm_name"]
    episode_meta = list(dataset.storage.get_episode_metadata(range(len(originals))))
    assert [(m["playerruns_run_id"], int(m["playerruns_run_episode"])) for m in episode_meta] == \
        [(run.run_id, k) for run, k, _ in originals]

    out = tmp_path / "imported"
    imported = run_cli(home, "--import-minari", "minitrack/players-v0", "--output-dir", str(out))
    assert imported.returncode == 0, imported.stderr
    assert f"{len(originals)} episode(s), {steps} steps" in imported.stdout and str(out) in imported.stdout

    assert file_digests(runs) == before  # inputs untouched
    news = sorted((load_run(p) for p in out.glob("*.pkl")), key=lambda r: r.metadata["minari_episode"])
    assert [r.metadata["minari_episode"] for r in news] == list(range(len(originals)))
    for (run, _, old), new in zip(originals, news, strict=True):
        assert new.metadata["minari_dataset"] == "minitrack/players-v0"
        assert new.metadata["minari_source_run_id"] == run.run_id
        assert new.metadata["input_device"] == "minari:minitrack/players-v0"
        assert len(new.samples) == len(old)
        for i, (a, b) in enumerate(zip(old, new.samples, strict=True)):
            if i == 0:
                assert a[0] is None and b[0] is None  # the reset sample of a gymnasium task
            else:
                assert b[0].dtype == a[0].dtype == np.float32 and np.array_equal(b[0], a[0])
            assert b[1].dtype == a[1].dtype == np.float32 and np.array_equal(b[1], a[1])
            assert type(b[2]) is float and b[2] == a[2]
            assert (b[3], b[4]) == (a[3], a[4])
            assert b[5] == _numeric_infos(a[5]) and b[5]  # MiniTrack's infos are all kept


def test_minari_made_dataset_imports_and_trains_as_demos(gym_home, minari_root):
    home, _ = gym_home
    lengths = [12, 15, 9]
    # float64 observations: the import must give the float32 the configuration expects
    _, raw = _make_dataset("minitrack/random-v0", "MiniTrack-v0", lengths, seed=3, obs_dtype=np.float64,
                           cut_last=True)

    imported = run_cli(home, "--import-minari", "minitrack/random-v0")  # default output folder
    assert imported.returncode == 0, imported.stderr
    folder = home / "TmrlData" / "player_runs" / "minari" / "minitrack_random-v0"
    assert str(folder) in imported.stdout
    runs = sorted((load_run(p) for p in folder.glob("*.pkl")), key=lambda r: r.metadata["minari_episode"])
    assert len(runs) == len(lengths)
    for run, (observations, actions, rewards, terms, truncs, infos) in zip(runs, raw, strict=True):
        samples = run.samples
        assert len(samples) == len(actions) + 1
        assert samples[0][0] is None and samples[0][2] == 0.0 and not samples[0][3] and not samples[0][4]
        assert samples[0][5] == infos[0]
        for t, sample in enumerate(samples):
            assert sample[1].dtype == np.float32 and np.array_equal(sample[1], observations[t])
        for t, sample in enumerate(samples[1:]):
            assert sample[0].dtype == np.float32 and sample[0].shape == (3,)
            assert np.array_equal(sample[0], actions[t]) and sample[2] == rewards[t]
            last = t == len(actions) - 1
            assert sample[3] is terms[t] and sample[4] is (truncs[t] or (last and not terms[t]))
            assert sample[5] == infos[t + 1]
    assert not raw[-1][3][-1] and not raw[-1][4][-1] and runs[-1].samples[-1][4] is True  # cut: truncated added

    into_dataset = run_cli(home, "--import-player-runs", "--player-runs-paths", str(folder))
    assert into_dataset.returncode == 0, into_dataset.stderr
    data = read_dataset(home / "TmrlData" / "dataset" / "data.pkl")
    infos = next(column for column in data if column and isinstance(column[0], dict))
    assert len(infos) == sum(len(r.samples) for r in runs)
    assert all(info[DEMO_FLAG] is True for info in infos)
    assert {info[RUN_ID_KEY] for info in infos} == {r.run_id for r in runs}

    # the same dataset imported again: the same run ids, so its runs are not put into data.pkl twice
    again = run_cli(home, "--import-minari", "minitrack/random-v0")
    assert again.returncode == 0 and f"({len(runs)} already there from an earlier import" in again.stdout
    elsewhere = home / "elsewhere"
    again = run_cli(home, "--import-minari", "minitrack/random-v0", "--output-dir", str(elsewhere))
    assert again.returncode == 0 and "already there" not in again.stdout
    assert sorted(load_run(p).run_id for p in elsewhere.glob("*.pkl")) == sorted(r.run_id for r in runs)
    before = (home / "TmrlData" / "dataset" / "data.pkl").read_bytes()
    twice = run_cli(home, "--import-player-runs", "--player-runs-paths", str(elsewhere))
    assert twice.returncode == 0, twice.stderr
    assert twice.stdout.count("is already in the dataset: skipped") == len(runs)
    assert (home / "TmrlData" / "dataset" / "data.pkl").read_bytes() == before
    # another dataset of the same task: other ids
    _make_dataset("minitrack/random-v1", "MiniTrack-v0", lengths, seed=4)
    other = run_cli(home, "--import-minari", "minitrack/random-v1", "--output-dir", str(home / "other"))
    assert other.returncode == 0, other.stderr
    assert not {load_run(p).run_id for p in (home / "other").glob("*.pkl")} & {r.run_id for r in runs}


def test_export_from_a_paced_task_records_the_task_it_paces(gym_home, minari_root, tmp_path):
    _, runs = gym_home
    home = make_home(tmp_path, interface="GYM:playerruns.builtin.envs:PacedMiniTrack-v0")  # as the docs train
    exported = run_cli(home, "--export-minari", "minitrack/paced-v0", "--player-runs-paths", str(runs))
    assert exported.returncode == 0, exported.stderr
    assert "steps of MiniTrack-v0 (the task playerruns.builtin.envs:PacedMiniTrack-v0 wraps)" in exported.stdout
    dataset = minari.load_dataset("minitrack/paced-v0")
    assert dataset.spec.env_spec.id == "MiniTrack-v0" and dataset.total_episodes == 6
    env = dataset.recover_environment()  # what an offline-RL user evaluates on: the task without pacing
    assert env.spec.id == "MiniTrack-v0"
    env.close()


def test_export_of_a_task_minari_cannot_record_is_refused_and_leaves_nothing(gym_home, minari_root, tmp_path):
    _, runs = gym_home
    home = make_home(tmp_path, interface="GYM:tests.throttled_env:ThrottledPendulum-v0")  # a class as entry point
    result = run_cli(home, "--export-minari", "pendulum/players-v0", "--player-runs-paths", str(runs))
    one_line_error(result, "Minari can record a task only when gymnasium registered it with a 'module:Class' "
                   "entry point", "ThrottledPendulum-v0", "ENV.RTGYM_INTERFACE")
    assert not minari_root.exists()  # no namespace folder, no empty namespace_metadata.json


def test_import_of_an_unknown_dataset_is_refused(gym_home, minari_root, tmp_path):
    home, _ = gym_home
    out = tmp_path / "out"
    line = one_line_error(run_cli(home, "--import-minari", "nowhere/missing-v0", "--output-dir", str(out)),
                          "'nowhere/missing-v0'", "minari list local", "MINARI_DATASETS_PATH")
    assert "never downloads" in line
    assert not out.exists()
    assert not (home / "TmrlData" / "player_runs" / "minari" / "nowhere_missing-v0").exists()


def test_export_never_overwrites_a_dataset(gym_home, minari_root):
    home, runs = gym_home
    _make_dataset("minitrack/taken-v0", "MiniTrack-v0", [5, 6])
    before = file_digests(minari_root)
    result = run_cli(home, "--export-minari", "minitrack/taken-v0", "--player-runs-paths", str(runs))
    one_line_error(result, "'minitrack/taken-v0'", "already exists")
    assert file_digests(minari_root) == before
    assert minari.load_dataset("minitrack/taken-v0").total_episodes == 2


def test_export_is_refused_under_a_trackmania_config(gym_home, minari_root, tmp_path):
    _, runs = gym_home
    home = make_home(tmp_path)  # TM20LIDAR
    result = run_cli(home, "--export-minari", "tm/players-v0", "--player-runs-paths", str(runs))
    one_line_error(result, "Minari export serves gymnasium tasks", "TM20LIDAR")
    assert not (minari_root / "tm").exists()


def test_import_of_a_dataset_of_another_shape_writes_nothing(gym_home, minari_root, tmp_path):
    home, _ = gym_home
    _make_dataset("pendulum/random-v0", "Pendulum-v1", [8, 8])
    out = tmp_path / "out"
    result = run_cli(home, "--import-minari", "pendulum/random-v0", "--output-dir", str(out))
    one_line_error(result, "pendulum/random-v0 episode 0", "observation", "float32[26]", "float32[3]")
    assert not out.exists()
