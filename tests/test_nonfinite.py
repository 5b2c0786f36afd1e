"""NaN and infinities poison training: a run file holding one in a reward, an observation or an action
is refused where run files enter, by the CLI import and by online injection, with one line naming the
file, the sample and the field."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from playerruns.runs.runfile import RunFile, save_run
from playerruns.tools.synthetic import synthetic_run
from playerruns.trainer.injection import InjectionRecord, SourcePoller
from tests.helpers import home_with_import, one_line_error, run_cli

BAD = 5  # the poisoned sample
OBS_LEAF, OBS_ELEMENT = 1, 7  # in the TM20LIDAR observation: the lidar history, float32[76]
ACT_ELEMENT = 2


def _poisoned(run: RunFile, field: str, value: float) -> RunFile:
    """``run`` with ``value`` put into ``field`` of sample BAD (arrays are copied, not changed in place)."""
    act, obs, rew, terminated, truncated, info = run.samples[BAD]
    if field == "rew":
        rew = value
    elif field == "obs":
        leaf = obs[OBS_LEAF].copy()
        leaf[OBS_ELEMENT] = value
        obs = (*obs[:OBS_LEAF], leaf, *obs[OBS_LEAF + 1:])
    else:
        act = act.copy()
        act[ACT_ELEMENT] = value
    samples = list(run.samples)
    samples[BAD] = (act, obs, rew, terminated, truncated, info)
    return RunFile(samples=samples, metadata=run.metadata)


def _name(value: float) -> str:
    return "NaN" if math.isnan(value) else ("-inf" if value < 0 else "inf")


def _fragments(path, field: str, value: float) -> list[str]:
    return [str(path), f"sample {BAD}:", f"'{field}'", _name(value)]


CLI_CASES = [("rew", math.nan), ("obs", math.inf), ("act", -math.inf)]
ALL_CASES = [(field, value) for field in ("rew", "obs", "act") for value in (math.nan, math.inf, -math.inf)]


@pytest.fixture(scope="module")
def home_with_dataset(tmp_path_factory, lidar_setup):
    """A TM20LIDAR HOME whose data.pkl already holds one imported run, plus a good run file not imported."""
    folder = tmp_path_factory.mktemp("nonfinite-cli")
    rng = np.random.default_rng(21)
    home, dataset, _ = home_with_import(folder, lidar_setup, rng, steps=12)
    good = save_run(folder / "good.pkl", synthetic_run(lidar_setup, steps=12, rng=rng))
    return home, dataset, good, folder


@pytest.mark.parametrize("field, value", CLI_CASES, ids=[f"{f}-{_name(v)}" for f, v in CLI_CASES])
def test_cli_import_refuses_a_non_finite_value(home_with_dataset, lidar_setup, field, value):
    home, dataset, good, folder = home_with_dataset
    before = dataset.read_bytes()
    run = synthetic_run(lidar_setup, steps=12, rng=np.random.default_rng(23))
    bad = save_run(folder / f"bad-{field}.pkl", _poisoned(run, field, value))

    result = run_cli(home, "--import-player-runs", "--player-runs-paths", f"{good},{bad}")

    one_line_error(result, *_fragments(bad, field, value))
    assert dataset.read_bytes() == before  # not even the good file got in
    assert not list(dataset.parent.glob("*.partial"))


@pytest.mark.parametrize("field, value", ALL_CASES, ids=[f"{f}-{_name(v)}" for f, v in ALL_CASES])
def test_injection_never_returns_a_non_finite_run(tmp_path, lidar_setup, caplog, field, value):
    rng = np.random.default_rng(22)
    save_run(tmp_path / "good.pkl", synthetic_run(lidar_setup, steps=10, rng=rng))
    bad = save_run(tmp_path / "poisoned.pkl", _poisoned(synthetic_run(lidar_setup, steps=10, rng=rng), field, value))
    poller = SourcePoller(tmp_path, InjectionRecord(), lidar_setup.compat, consume=True, max_files=5,
                          reject_after=30.0)

    with caplog.at_level(logging.WARNING):
        runs = poller.poll(now=0.0)
        assert [r.source.name for r in runs if r.source is not None] == ["good.pkl"]
        for run in runs:
            poller.mark_injected(run, len(run.samples))
        assert poller.poll(now=10.0) == []  # still there, unchanged: not read again, not injected

    warnings = [r.getMessage() for r in caplog.records if "poisoned.pkl" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "\n" not in warnings[0]
    for fragment in _fragments(bad, field, value):
        assert fragment in warnings[0], warnings[0]
    # unchanged past the grace period: set aside with the reason, never injected
    assert poller.poll(now=40.0) == []
    reason = (tmp_path / "poisoned.pkl.rejected.reason").read_text()
    assert f"sample {BAD}:" in reason and f"'{field}'" in reason
