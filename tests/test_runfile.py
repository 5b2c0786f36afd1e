"""Run files keep their format: a run read from an older bare-list file is written back in the current one."""

from __future__ import annotations

import pickle

from playerruns.bridge.dataset import import_runs
from playerruns.runs.runfile import FORMAT_V1, load_run, save_run
from playerruns.tools.synthetic import synthetic_run


def test_bare_list_loaded_then_saved_is_written_in_the_current_format(lidar_setup, clean_dataset, tmp_path, rng):
    run = synthetic_run(lidar_setup, episodes=1, steps=12, rng=rng)
    legacy = tmp_path / "legacy.pkl"
    legacy.write_bytes(pickle.dumps(run.samples))  # what older tools wrote
    loaded = load_run(legacy)
    assert loaded.format == "bare_list" and loaded.run_id.startswith("bare-")

    saved = save_run(tmp_path / "saved.pkl", loaded)
    assert pickle.loads(saved.read_bytes())["format"] == FORMAT_V1
    again = load_run(saved)  # loading refused the old 'bare_list' format string
    assert again.format == FORMAT_V1 and again.run_id == loaded.run_id
    assert len(again.samples) == len(run.samples)
    report = import_runs([str(saved)], lidar_setup)
    assert report.imported_runs == [loaded.run_id]
