"""Import through the API, in-process, with the session's TM20LIDAR configuration."""

from __future__ import annotations

import io
import pickle
import weakref

import numpy as np
import pytest

from playerruns.bridge import dataset as dataset_module
from playerruns.bridge.dataset import dataset_run_ids, dump_dataset, import_runs, read_dataset
from playerruns.runs.demos import DEMO_FLAG
from playerruns.runs.errors import PlayerRunsError, ValidationError
from playerruns.runs.runfile import FORMAT_V1, load_run, save_run
from playerruns.runs.safe_pickle import safe_loads
from playerruns.tools.synthetic import synthetic_run


def _save_runs(setup, folder, rng, count=2, episodes=1, steps=30):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for _ in range(count):
        run = synthetic_run(setup, episodes=episodes, steps=steps, rng=rng)
        paths.append(save_run(folder / f"{run.run_id}.pkl", run))
    return paths


def test_run_file_round_trip_and_metadata(lidar_setup, tmp_path, rng):
    run = synthetic_run(lidar_setup, episodes=2, steps=10, rng=rng)
    path = save_run(tmp_path / "r.pkl", run)
    raw = pickle.loads(path.read_bytes())
    assert raw["format"] == FORMAT_V1 and set(raw) == {"format", "run_id", "recorded_at", "metadata", "samples"}
    loaded = load_run(path)
    assert loaded.run_id == run.run_id and loaded.recorded_at.endswith("Z")
    meta = loaded.metadata
    assert meta["interface"] == "TM20LIDAR" and meta["raw"] is True
    assert meta["episode_count"] == 2 and meta["episode_steps"] == [10, 10]
    assert meta["obs_signature"] == "tuple(float32[1], float32[76], float32[3], float32[3])"
    assert meta["act_signature"] == "float32[3]" and "playerruns_version" in meta
    assert len(meta["episode_returns"]) == 2
    assert not list(tmp_path.glob("*.partial"))


def test_import_tags_compresses_and_appends(lidar_setup, clean_dataset, tmp_path, rng):
    paths = _save_runs(lidar_setup, tmp_path / "runs", rng, count=2, steps=30)
    report = import_runs([str(p) for p in paths], lidar_setup)
    assert report.samples == 62 and report.dataset_samples == 62 and len(report.imported_runs) == 2
    data = read_dataset(clean_dataset / "data.pkl")
    assert len(data) == 9  # MemoryTMLidar's columns
    lidar = data[3]
    assert all(x.shape == (19,) for x in lidar)  # compressed: newest lidar scan only
    infos = data[6]
    assert all(info[DEMO_FLAG] is True for info in infos)
    assert dataset_run_ids(data) == {load_run(p).run_id for p in paths}
    # the first imported sample is the reset sample of the first run: default action, newest lidar
    first = load_run(paths[0]).samples[0]
    np.testing.assert_array_equal(data[1][0], first[0])
    np.testing.assert_array_equal(data[3][0], first[1][1][-19:])

    # a second import appends, and re-importing a run already present is skipped
    more = _save_runs(lidar_setup, tmp_path / "more", rng, count=1, steps=20)
    report = import_runs([str(paths[0]), str(more[0])], lidar_setup)
    assert [r for _, r in report.skipped] == [load_run(paths[0]).run_id]
    assert report.samples == 21 and report.dataset_samples == 83
    data = read_dataset(clean_dataset / "data.pkl")
    assert data[0] == list(range(83))  # tmrl's running index continues across imports


def test_trainer_memory_loads_and_samples_the_demos(lidar_setup, clean_dataset, tmp_path, rng):
    paths = _save_runs(lidar_setup, tmp_path / "runs", rng, count=3, steps=40)
    import_runs([str(p) for p in paths], lidar_setup)
    import tmrl.config.config_objects as cfg_obj

    memory = cfg_obj.MEMORY(nb_steps=1, device="cpu")  # as the trainer builds it
    assert len(memory) == 3 * 41 - memory.min_samples - 1
    prev_obs, act, rew, new_obs, terminated, truncated = memory.sample()
    assert [tuple(t.shape) for t in prev_obs] == [(32, 1), (32, 76), (32, 3), (32, 3)]
    assert [tuple(t.shape) for t in new_obs] == [(32, 1), (32, 76), (32, 3), (32, 3)]
    assert tuple(act.shape) == (32, 3) and tuple(rew.shape) == (32,) and tuple(terminated.shape) == (32,)
    demo_rewards = {np.float32(s[2]) for p in paths for s in load_run(p).samples}
    assert {np.float32(r) for r in rew.numpy()} <= demo_rewards


def test_overwrite_max_samples_and_dry_run(lidar_setup, clean_dataset, tmp_path, rng):
    paths = _save_runs(lidar_setup, tmp_path / "runs", rng, count=3, steps=30)
    import_runs([str(paths[0])], lidar_setup)
    dataset = clean_dataset / "data.pkl"
    before = dataset.read_bytes()

    report = import_runs([str(p) for p in paths], lidar_setup, dry_run=True)
    assert report.dry_run and report.samples == 62 and len(report.skipped) == 1
    assert dataset.read_bytes() == before

    report = import_runs([str(paths[1])], lidar_setup, overwrite=True)
    assert dataset_run_ids(read_dataset(dataset)) == {load_run(paths[1]).run_id}

    report = import_runs([str(paths[0]), str(paths[2])], lidar_setup, max_samples=50)
    data = read_dataset(dataset)
    assert report.dataset_samples == 50 and report.trimmed == 31 + 62 - 50
    assert all(len(col) == 50 for col in data)
    last = load_run(paths[2]).samples[-1]
    np.testing.assert_array_equal(data[1][-1], last[0])  # the newest samples are kept
    with pytest.raises(PlayerRunsError, match="positive"):
        import_runs([str(paths[0])], lidar_setup, max_samples=0)


def test_memory_size_trimming_is_tmrls(lidar_setup, clean_dataset, tmp_path, rng):
    paths = _save_runs(lidar_setup, tmp_path / "runs", rng, count=3, steps=999, episodes=2)  # 6000 samples
    report = import_runs([str(p) for p in paths], lidar_setup)
    # MEMORY_SIZE 5000 counts transitions: tmrl keeps memory_size + min_samples + 1 raw samples
    assert report.dataset_samples == 5000 + 4 + 1 and report.trimmed == 6000 - 5005


def test_folders_globs_bare_lists_and_dedup(lidar_setup, clean_dataset, tmp_path, rng):
    folder = tmp_path / "runs"
    paths = _save_runs(lidar_setup, folder, rng, count=2, steps=10)
    bare = folder / "old_tool.pkl"
    bare.write_bytes(pickle.dumps(synthetic_run(lidar_setup, steps=10, rng=rng).samples))
    (folder / "ignored.pkl.imported").write_bytes(paths[0].read_bytes())
    report = import_runs(f"{folder},{folder}/*.pkl,{paths[0]}", lidar_setup)
    assert report.files == 3 and len(report.imported_runs) == 3 and report.samples == 33
    assert any(r.startswith("bare-") for r in report.imported_runs)
    again = import_runs(str(bare), lidar_setup)
    assert len(again.skipped) == 1 and again.samples == 0


def test_any_bad_file_rejects_the_whole_batch(lidar_setup, clean_dataset, tmp_path, rng):
    paths = _save_runs(lidar_setup, tmp_path / "runs", rng, count=2, steps=10)
    import_runs([str(paths[0])], lidar_setup)
    before = (clean_dataset / "data.pkl").read_bytes()
    bad_run = synthetic_run(lidar_setup, steps=10, rng=rng)
    act, obs, rew, term, trunc, info = bad_run.samples[4]
    bad_run.samples[4] = (act, (obs[0], obs[1][:40], *obs[2:]), rew, term, trunc, info)
    bad = save_run(tmp_path / "bad.pkl", bad_run)
    with pytest.raises(ValidationError) as err:
        import_runs([str(paths[1]), str(bad)], lidar_setup)
    message = str(err.value)
    assert str(bad) in message and "sample 4" in message
    assert "expected tuple(float32[1], float32[76], float32[3], float32[3])" in message
    assert "found tuple(float32[1], float32[40], float32[3], float32[3])" in message
    assert (clean_dataset / "data.pkl").read_bytes() == before


def test_tiny_existing_dataset_is_extended_not_corrupted(lidar_setup, clean_dataset, tmp_path, rng):
    # tmrl's memories count as empty below min_samples + 2 samples: a naive append would add new columns
    tiny = synthetic_run(lidar_setup, steps=2, rng=rng)  # 3 samples
    import_runs([str(save_run(tmp_path / "tiny.pkl", tiny))], lidar_setup)
    import_runs([str(save_run(tmp_path / "next.pkl", synthetic_run(lidar_setup, steps=20, rng=rng)))], lidar_setup)
    data = read_dataset(clean_dataset / "data.pkl")
    assert len(data) == 9 and all(len(c) == 24 for c in data) and data[0] == list(range(24))


def _same(a, b):
    """Deep equality that also compares types, dtypes and shapes (== on arrays is elementwise)."""
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return type(b) is dict and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def test_dataset_file_is_one_plain_pickle_of_the_columns(lidar_setup, clean_dataset, tmp_path, rng):
    paths = _save_runs(lidar_setup, tmp_path / "runs", rng, count=3, episodes=2, steps=40)
    import_runs([str(p) for p in paths], lidar_setup)
    raw = (clean_dataset / "data.pkl").read_bytes()
    with open(clean_dataset / "data.pkl", "rb") as f:  # as tmrl's Memory.__init__ reads it
        plain = pickle.load(f)
        assert f.read() == b""  # one pickle, nothing after it
    assert _same(plain, read_dataset(clean_dataset / "data.pkl"))  # the restricted unpickler agrees
    assert _same(plain, pickle._loads(raw))  # and so does pickle's pure-Python unpickler
    # the columns hold exactly what a worker would have sent: the compressed, tagged samples
    expected = [lidar_setup.compress((*s[:5], {DEMO_FLAG: True, "player_run_id": load_run(p).run_id}))
                for p in paths for s in load_run(p).samples]
    assert len(plain) == 9 and all(len(c) == len(expected) for c in plain)
    assert _same(plain[1], [s[0] for s in expected])  # actions
    assert _same(plain[3], [s[1][1].copy() for s in expected])  # newest lidar scans, as owned arrays
    assert _same(plain[5], [s[2] for s in expected]) and _same(plain[6], [s[5] for s in expected])


@pytest.mark.parametrize("length", [0, 1, 2, 31, 32, 33, 100, 4097])
def test_dump_dataset_round_trips_any_column_length(length, rng):
    arrays = [rng.normal(size=19).astype(np.float32) for _ in range(length)]
    shared = np.zeros(3, np.float32)
    data = [list(range(length)), arrays, [shared] * length, [{"is_demo": True, "k": i} for i in range(length)],
            [bool(i % 2) for i in range(length)], [np.float32(i) for i in range(length)], []]
    buffer = io.BytesIO()
    dump_dataset(data, buffer)
    assert _same(pickle.loads(buffer.getvalue()), data)
    assert _same(safe_loads(buffer.getvalue()), data)


def test_import_holds_one_run_files_raw_samples_at_a_time(lidar_setup, clean_dataset, tmp_path, rng, monkeypatch):
    """The raw lidar histories of a file (4 scans per sample; compressing keeps the newest) are freed
    before the next file is read, and none is kept by the dataset (no view into them survives)."""
    paths = _save_runs(lidar_setup, tmp_path / "runs", rng, count=4, steps=30)
    alive: list[list[weakref.ref]] = []
    real_load = dataset_module.load_demo_run

    def load_and_watch(path, compat):
        earlier = [ref for refs in alive for ref in refs if ref() is not None]
        assert not earlier, f"{len(earlier)} raw lidar arrays of earlier files still alive when reading {path}"
        run = real_load(path, compat)
        alive.append([weakref.ref(sample[1][1]) for sample in run.samples])
        return run

    monkeypatch.setattr(dataset_module, "load_demo_run", load_and_watch)
    report = import_runs([str(p) for p in paths], lidar_setup)
    assert len(alive) == 4 and report.samples == 4 * 31
    assert all(ref() is None for refs in alive for ref in refs)
