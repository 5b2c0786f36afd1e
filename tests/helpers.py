"""Helpers for tests that run playerruns and tmrl in subprocesses, each with a HOME of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from playerruns.tmrl_bridge import init_tmrl_data


def make_home(tmp_path: Path, interface: str = "TM20LIDAR", **overrides) -> Path:
    """A HOME holding a fresh TmrlData for subprocesses."""
    home = tmp_path / "home"
    init_tmrl_data(home, interface=interface, overrides={"MEMORY_SIZE": 5000, "BATCH_SIZE": 32, **overrides})
    return home


def run_cli(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m playerruns ARGS`` with HOME=home, as a user would run it."""
    env = {**os.environ, "HOME": str(home), "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "playerruns", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def run_python(home: Path, code: str, *args: str, timeout: float = 120,
               cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -c CODE ARGS`` with HOME=home."""
    env = {**os.environ, "HOME": str(home)}
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)
