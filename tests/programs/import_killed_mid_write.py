"""Runs ``python -m playerruns --import-player-runs --player-runs-paths argv[1]`` and kills itself with
SIGKILL at the moment the new data.pkl has been written to its temporary file and is being flushed to
disk, before it replaces the old one: a crash in the middle of the write, at the same point every time."""

import os
import signal
import sys

import playerruns.runs.atomic_io as atomic_io
from playerruns.cli import main


def die_while_flushing(fd: int) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


atomic_io.os.fsync = die_while_flushing  # type: ignore[attr-defined]  # this process only
sys.exit(main(["--import-player-runs", "--player-runs-paths", sys.argv[1]]))
