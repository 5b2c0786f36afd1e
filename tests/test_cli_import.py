"""The import command as a user runs it: bad input gets one line, a non-zero exit, and loses nothing."""

from __future__ import annotations

import json
import math
import os
import pickle
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from playerruns.bridge.dataset import dataset_run_ids, read_dataset
from playerruns.runs.runfile import load_run, save_run
from playerruns.tools.synthetic import synthetic_run
from tests.helpers import home_with_import, make_home, one_line_error, run_cli, run_program, subprocess_env


@pytest.fixture
def home_with_dataset(tmp_path, lidar_setup, rng):
    """A TM20LIDAR HOME whose dataset already holds one imported run, plus a second good run file."""
    home, dataset, imported = home_with_import(tmp_path, lidar_setup, rng, steps=20, MEMORY_SIZE=100_000)
    second = save_run(tmp_path / "good1.pkl", synthetic_run(lidar_setup, steps=20, rng=rng))
    return home, dataset, [imported, second]


def _bad_files(tmp_path, lidar_setup, rng):
    """(name, path, fragments the message must name) for each kind of bad run file."""
    files = []

    def add(name, payload, *fragments, raw_bytes=None):
        path = tmp_path / f"{name}.pkl"
        path.write_bytes(raw_bytes if raw_bytes is not None else pickle.dumps(payload))
        files.append((name, path, (str(path), *fragments)))

    good = synthetic_run(lidar_setup, steps=6, rng=rng)
    add("unknown_format", {"format": "someone_elses_v9", "samples": []}, "unknown run file format")
    add("not_a_run", 42, "unknown run file format")
    data = pickle.dumps(good.to_dict())
    add("truncated", None, "truncated", raw_bytes=data[: len(data) // 3])
    add("text", None, "not a valid pickle", raw_bytes=b"hello, I am a text file\n")
    bad = list(good.samples)
    bad[2] = bad[2][:5]
    add("short_sample", bad, "sample 2", "expected a tuple (act, obs, rew, terminated, truncated, info)")
    bad = list(good.samples)
    a, o, r, _, tr, i = bad[3]
    bad[3] = (a, o, r, 0, tr, i)
    add("int_flag", bad, "sample 3", "'terminated' must be a bool")
    bad = list(good.samples)
    bad[1] = (*bad[1][:5], "info")
    add("info_not_dict", bad, "sample 1", "'info' must be a dict")
    bad = list(good.samples)
    a, o, *rest = bad[5]
    bad[5] = (a, (o[0], o[1].astype(np.float64), *o[2:]), *rest)
    add("wrong_dtype", bad, "sample 5", "expected tuple(float32[1], float32[76]", "found tuple(float32[1], float64[76]")
    bad = list(good.samples)
    bad[4] = (np.zeros(2, np.float32), *bad[4][1:])
    add("wrong_action", bad, "sample 4", "action", "shape [3]", "found float32[2]")
    compressed = [lidar_setup.compress(s) for s in good.samples]
    add("compressed", compressed, "sample 0", "sample compressor")
    add("unfinished", good.samples[:-1], "does not end")
    return files


def test_each_bad_file_is_refused_and_the_dataset_is_untouched(home_with_dataset, tmp_path, lidar_setup, rng):
    home, dataset, good = home_with_dataset
    before = dataset.read_bytes()
    (tmp_path / "bad").mkdir()
    for name, path, fragments in _bad_files(tmp_path / "bad", lidar_setup, rng):
        content_before = path.read_bytes()
        result = run_cli(home, "--import-player-runs", "--player-runs-paths", f"{good[1]},{path}")
        one_line_error(result, *fragments)
        assert dataset.read_bytes() == before, name
        assert path.read_bytes() == content_before, name
    assert not list(dataset.parent.glob("*.partial"))


def test_malicious_pickle_never_runs(home_with_dataset, tmp_path):
    home, dataset, good = home_with_dataset
    before = dataset.read_bytes()
    target = tmp_path / "created-by-payload"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {target}",))

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"format": "tmrl_player_run_v1", "run_id": "x", "recorded_at": "",
                                   "metadata": {}, "samples": [Evil()]}))
    result = run_cli(home, "--import-player-runs", "--player-runs-paths", str(evil))
    one_line_error(result, str(evil), "forbidden object", "system")
    assert not target.exists()
    assert dataset.read_bytes() == before


@pytest.mark.parametrize("args, fragments", [
    (["--player-runs-paths", "/nonexistent/run.pkl"], ["/nonexistent/run.pkl", "no such file"]),
    (["--player-runs-paths", ""], ["--player-runs-paths", "no run file"]),
    (["--player-runs-paths", " , "], ["--player-runs-paths", "no run file"]),
    ([], ["--player-runs-paths"]),
    (["--player-runs-paths", "{good}", "--player-runs-max-samples", "0"], ["--player-runs-max-samples", "positive"]),
    (["--player-runs-paths", "{good}", "--player-runs-max-samples", "-5"], ["--player-runs-max-samples"]),
    (["--player-runs-paths", "{good}", "--player-runs-max-samples", "lots"], ["--player-runs-max-samples"]),
    (["--player-runs-paths", "/nonexistent/*.pkl"], ["matches no file"]),
])
def test_bad_flags(home_with_dataset, args, fragments):
    home, dataset, good = home_with_dataset
    before = dataset.read_bytes()
    args = [a.replace("{good}", str(good[1])) for a in args]
    result = run_cli(home, "--import-player-runs", *args)
    one_line_error(result, *fragments)
    assert dataset.read_bytes() == before


def test_missing_or_broken_tmrl_config(tmp_path, lidar_setup, rng):
    run = save_run(tmp_path / "run.pkl", synthetic_run(lidar_setup, steps=5, rng=rng))
    empty_home = tmp_path / "empty-home"
    empty_home.mkdir()
    started = time.monotonic()
    result = run_cli(empty_home, "--import-player-runs", "--player-runs-paths", str(run))
    one_line_error(result, "TmrlData folder not found", "--init-tmrl-data")
    assert time.monotonic() - started < 60  # failed at once, no download attempt
    assert not (empty_home / "TmrlData").exists()

    home = make_home(tmp_path / "broken")
    config = home / "TmrlData" / "config" / "config.json"
    config.write_text("{ not json")
    one_line_error(run_cli(home, "--import-player-runs", "--player-runs-paths", str(run)),
                   str(config), "not valid JSON")
    content = json.loads(json.dumps({"RUN_NAME": "x", "__VERSION__": "0.6.0"}))
    config.write_text(json.dumps(content))
    one_line_error(run_cli(home, "--import-player-runs", "--player-runs-paths", str(run)),
                   str(config), "missing key")
    config.unlink()
    one_line_error(run_cli(home, "--import-player-runs", "--player-runs-paths", str(run)),
                   "config file not found")


def test_dataset_of_another_configuration_is_not_mixed(home_with_dataset, tmp_path):
    home, dataset, good = home_with_dataset
    dataset.write_bytes(pickle.dumps([[1, 2], [3, 4]]))
    before = dataset.read_bytes()
    result = run_cli(home, "--import-player-runs", "--player-runs-paths", str(good[1]))
    one_line_error(result, "columns", "--player-runs-overwrite")
    assert dataset.read_bytes() == before
    result = run_cli(home, "--import-player-runs", "--player-runs-paths", str(good[1]), "--player-runs-overwrite")
    assert result.returncode == 0, result.stderr


def test_skip_message_dry_run_and_help(home_with_dataset):
    home, dataset, good = home_with_dataset
    before = dataset.read_bytes()
    result = run_cli(home, "--import-player-runs", "--player-runs-paths", f"{good[0]},{good[1]}",
                     "--player-runs-dry-run")
    assert result.returncode == 0, result.stderr
    skipped = next(line for line in result.stdout.splitlines() if "already in the dataset: skipped" in line)
    assert skipped.startswith("Player run ")  # a sentence, not INFO:playerruns.bridge.dataset:...
    assert "INFO:" not in result.stdout
    assert "would import 1 run(s) / 21 samples" in result.stdout and "nothing written" in result.stdout
    assert dataset.read_bytes() == before
    helptext = run_cli(home, "--help").stdout
    for flag in ("--import-player-runs", "--player-runs-paths", "--player-runs-overwrite",
                 "--player-runs-max-samples", "--player-runs-dry-run"):
        assert flag in helptext


def _big_run_files(folder, lidar_setup, rng, count):
    run = synthetic_run(lidar_setup, episodes=4, steps=999, rng=rng)
    paths = []
    for k in range(count):
        run.run_id = f"{folder.name}-{k}"
        paths.append(save_run(folder / f"{run.run_id}.pkl", run))
    return paths


def test_kill_during_write_keeps_the_old_dataset(home_with_dataset, tmp_path, lidar_setup, rng):
    home, dataset, good = home_with_dataset
    before = dataset.read_bytes()
    folder = tmp_path / "big"
    folder.mkdir()
    _big_run_files(folder, lidar_setup, rng, 2)
    result = run_program(home, "import_killed_mid_write.py", str(folder))
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert list(dataset.parent.glob(".data.pkl.*.partial")), "the import died before its write started"
    assert dataset.read_bytes() == before
    assert len(read_dataset(dataset)[0]) == 21
    # the next import cleans the leftover temporary file and succeeds
    result = run_cli(home, "--import-player-runs", "--player-runs-paths", str(good[1]))
    assert result.returncode == 0, result.stderr
    assert not list(dataset.parent.glob("*.partial"))


def test_two_concurrent_imports_keep_both(home_with_dataset, tmp_path, lidar_setup, rng):
    home, dataset, good = home_with_dataset
    env = subprocess_env(home)
    folders = []
    for name in ("alice", "bob"):
        folder = tmp_path / name
        folder.mkdir()
        _big_run_files(folder, lidar_setup, rng, 2)
        folders.append(folder)
    procs = [subprocess.Popen([sys.executable, "-m", "playerruns", "--import-player-runs", "--player-runs-paths",
                               str(f)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for f in folders]
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    ids = dataset_run_ids(read_dataset(dataset))
    assert ids == {load_run(good[0]).run_id, "alice-0", "alice-1", "bob-0", "bob-1"}
    assert len(read_dataset(dataset)[0]) == 21 + 4 * 4000


@pytest.mark.parametrize(("interface", "limit_keys", "steps", "limit"), [
    ("TM20LIDAR", {"RW_MAX_SAMPLES_PER_EPISODE": 45}, 40, 45),  # the worker's own cap
    ("GYM:Pendulum-v1", {"RW_MAX_SAMPLES_PER_EPISODE": 1000}, 190, 200),  # the environment's TimeLimit is lower
])
def test_import_warns_when_the_players_episodes_nearly_fill_the_step_limit(tmp_path, interface, limit_keys, steps,
                                                                           limit):
    """An agent that drives like the player but a little slower would run out of steps: the import says so
    once, with the room to give, and still imports."""
    home = make_home(tmp_path, interface=interface, **limit_keys)
    runs = tmp_path / "runs"
    made = run_program(home, "make_runs.py", str(runs), "3", str(steps))
    assert made.returncode == 0, made.stderr
    for path in runs.glob("*.pkl"):  # the player reached the end (finish line, flag) on the last step of each
        run = load_run(path)
        run.samples = [(*s[:3], True, False, s[5]) if s[3] or s[4] else s for s in run.samples]
        save_run(path, run)

    result = run_cli(home, "--import-player-runs", "--player-runs-paths", str(runs))
    assert result.returncode == 0, result.stderr
    assert "imported 3 run(s)" in result.stdout
    warnings = [line for line in result.stdout.splitlines() if "steps an episode may last" in line]
    assert len(warnings) == 1, result.stdout
    assert (f"warning: Player runs (3 file(s) read): the player's median episode to the end lasts {steps} of the "
            f"{limit} steps an episode may last (0 of 6 ran out of steps)") in warnings[0]
    assert f"give episodes at least {math.ceil(steps * 1.2)} steps" in warnings[0]


@pytest.mark.parametrize(("interface", "limit_keys", "steps"), [
    ("TM20LIDAR", {"RW_MAX_SAMPLES_PER_EPISODE": 48}, 40),  # 48 steps is 1.2 times the player's 40
    ("GYM:Pendulum-v1", {}, 200),  # Pendulum has no end: every episode runs to its 200 steps
])
def test_import_is_quiet_when_the_step_limit_has_room_or_there_is_no_end(tmp_path, interface, limit_keys, steps):
    home = make_home(tmp_path, interface=interface, **limit_keys)
    runs = tmp_path / "runs"
    assert run_program(home, "make_runs.py", str(runs), "2", str(steps)).returncode == 0
    result = run_cli(home, "--import-player-runs", "--player-runs-paths", str(runs))
    assert result.returncode == 0, result.stderr
    assert "imported 2 run(s)" in result.stdout
    assert "steps an episode may last" not in result.stdout + result.stderr
