"""One demo path: the offline import and online injection refuse and tag runs the same way."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from playerruns.bridge.dataset import import_runs
from playerruns.runs.demos import DEMO_FLAG, RUN_ID_KEY, demo_samples
from playerruns.runs.errors import ValidationError
from playerruns.runs.runfile import save_run
from playerruns.tools.synthetic import synthetic_run
from playerruns.trainer.injection import InjectionRecord, SourcePoller


def test_a_run_marked_compressed_is_refused_by_import_and_by_injection(lidar_setup, clean_dataset, tmp_path, rng,
                                                                      caplog):
    run = synthetic_run(lidar_setup, steps=8, rng=rng)
    run.metadata["raw"] = False  # a tool that stored compressed samples says so
    path = save_run(tmp_path / "compressed.pkl", run)
    with pytest.raises(ValidationError, match="metadata says the samples are compressed"):
        import_runs([str(path)], lidar_setup)
    assert not (clean_dataset / "data.pkl").exists()

    poller = SourcePoller(tmp_path, InjectionRecord(), lidar_setup.compat)
    with caplog.at_level(logging.WARNING):
        assert poller.poll() == []
    assert "compressed.pkl" in caplog.text and "metadata says the samples are compressed" in caplog.text


def test_demo_samples_are_tagged_and_compressed_like_a_worker_sends_them(lidar_setup, rng):
    run = synthetic_run(lidar_setup, episodes=2, steps=6, rng=rng)
    samples = demo_samples(run, lidar_setup.compress)
    assert len(samples) == len(run.samples)
    for (act, obs, rew, terminated, truncated, info), raw in zip(samples, run.samples, strict=True):
        assert info[DEMO_FLAG] is True and info[RUN_ID_KEY] == run.run_id
        for ours, workers in zip(obs, lidar_setup.compress(raw)[1], strict=True):
            np.testing.assert_array_equal(ours, workers)
        np.testing.assert_array_equal(act, raw[0])
        assert rew == raw[2]
        assert (terminated, truncated) == (bool(raw[3]), bool(raw[4]))
    assert all(DEMO_FLAG not in s[5] for s in run.samples)  # the run itself is left untouched
