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
    return subprocess.run([sys.executable, "-m", "playerruns", *args], env=subprocess_env(home),
                          capture_output=True, text=True, timeout=timeout)


REPO = Path(__file__).resolve().parents[1]
PROGRAMS = Path(__file__).resolve().parent / "programs"


def subprocess_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a child process: HOME=home, the repository importable (``tests.*`` modules),
    and no display, so that nothing depends on whether the machine running the tests has one."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    path = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return {**env, "HOME": str(home), "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **extra}


def run_program(home: Path, name: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python tests/programs/NAME ARGS`` with HOME=home."""
    return subprocess.run([sys.executable, str(PROGRAMS / name), *args], env=subprocess_env(home),
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)
