"""Helpers for tests that run playerruns and tmrl in subprocesses, each with a HOME of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from playerruns.bridge.setup import init_tmrl_data
from playerruns.trainer.statistics import read_statistics, statistics_file


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


class Roles:
    """``python -m playerruns`` processes of one HOME (server, trainer, worker, senders), each logging to
    a file of its own; ``stop_all`` kills whatever is left (each runs in a session of its own)."""

    def __init__(self, home: Path, logs: Path) -> None:
        self.home = home
        self.logs = logs
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *args: str, home: Path | None = None) -> subprocess.Popen:
        log = self.logs / f"{name}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "playerruns", *args], env=subprocess_env(home or self.home),
                                    cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
        proc.wait()

    def wait_for(self, predicate, timeout: float, what: str, watch: tuple[str, ...] = ()) -> None:
        """Polls ``predicate`` until true; fails naming ``what`` on timeout or when a watched role exits."""
        import pytest

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            for name in watch:
                assert self.procs[name].poll() is None, f"{name} exited early:\n{self.log(name)[-3000:]}"
            time.sleep(0.3)
        pytest.fail(f"timed out waiting for {what}")

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.kill(name)


def trainer_statistics(home: Path, event: str | None = None) -> list[dict]:
    """The records the trainer of ``home`` wrote to its statistics channel (default STATISTICS_PATH)."""
    config = json.loads((home / "TmrlData" / "config" / "config.json").read_text(encoding="utf-8"))
    return read_statistics(statistics_file(home / "TmrlData" / "statistics", config["RUN_NAME"]), event)
