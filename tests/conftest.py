"""Test set-up: tmrl reads ~/TmrlData at import, so HOME points at a temporary TmrlData first.

The in-process tests share one TM20LIDAR configuration (tmrl's config is fixed once imported);
tests of other configurations and of the CLI run subprocesses with a HOME of their own.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="playerruns-tests-home-"))
os.environ["HOME"] = str(_SESSION_HOME)  # before anything imports tmrl
# one thread per torch, as every role runs (playerruns.builtin.harness): on 2 busy cores, two threads per process
# spin against each other (a tiny agent's update took 0.63 s with two threads beside a benchmark, 0.06 s with one);
# inherited by the programs and roles the tests start
os.environ["OMP_NUM_THREADS"] = "1"

from playerruns.bridge.setup import init_tmrl_data  # noqa: E402

init_tmrl_data(_SESSION_HOME, interface="TM20LIDAR", overrides={"MEMORY_SIZE": 5000, "BATCH_SIZE": 32})


@pytest.fixture(scope="session")
def lidar_setup():
    """The TM20LIDAR configuration of the test session's HOME."""
    from playerruns.bridge.setup import load_setup

    return load_setup()


@pytest.fixture
def clean_dataset(lidar_setup):
    """The session dataset folder, emptied before and after the test."""
    folder = lidar_setup.dataset_path
    for f in folder.iterdir():
        f.unlink()
    yield folder
    for f in folder.iterdir():
        f.unlink()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def pytest_sessionfinish(session, exitstatus):
    import shutil

    shutil.rmtree(_SESSION_HOME, ignore_errors=True)
