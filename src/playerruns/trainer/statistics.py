"""The trainer's statistics channel: what training did, as data, one JSON object per line.

The playerruns trainer appends records to ``PLAYER_RUNS.STATISTICS_PATH/<RUN_NAME>.jsonl`` (by
default ``~/TmrlData/statistics/``). Every record has ``event``, ``time`` (Unix seconds),
``epoch``, ``updates`` (training steps so far) and ``env_steps`` (samples received so far); then:

- ``start`` / ``resume``: the replay memory (``memory_samples``, ``demo_samples``, ``schedule``) and
  ``pretrain_steps``.
- ``pretrain``: demo-only pretraining done, before ``start`` (``steps``, ``seconds``, ``loss_bc``, ``q_demo``).
- ``progress``: written on buffer updates while training, at most once a second.
- ``injection``: runs appended (``origin``, ``run_ids``, ``samples`` per copy, ``repeat``, ``appended``).
- ``epoch``: after each epoch: ``demo_fraction_sampled``, ``demo_fraction_memory``, ``demo_samples``,
  ``memory_samples``, ``schedule``; with the demo agent ``bc_coef``, ``bc_rows``, ``q_demo``,
  ``q_other`` (and ``bc_floor`` with ``DEMO_BC_FLOOR_RAISE``); ``rolled_back`` when the best policy was put
  back; and ``tmrl``: the mean over the epoch's rounds of each number tmrl reports
  (``return_train``, ``loss_critic``, ...); with ``EVALUATION_EPISODES``, after an evaluation,
  ``evaluation_mean``, ``evaluation_lowest``, ``evaluation_steps`` (median episode length) and
  ``evaluation_episodes``; once a person has taken the wheel from a worker (``PLAYER_RUNS.TAKE_OVER``),
  ``intervention_rate`` (the share of the epoch's worker steps the person drove), ``person_steps``,
  ``take_overs`` (both in the epoch), ``take_over_at`` (where on the lap each began, a share, when the
  task says), ``person_steps_total`` and ``worker_steps_total``.

The same records go to TensorBoard and wandb when asked (``playerruns.trainer.sinks``).

Numbers that are not finite are written as null. A line is written with one append, so a reader
sees whole records, and at worst a last line still being written, which ``read_statistics`` skips.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SUFFIX = ".jsonl"
PROGRESS_SECONDS = 1.0  # at most one progress record per this many seconds
EVENTS = ("start", "resume", "pretrain", "progress", "injection", "epoch")


def statistics_file(folder: Path, run_name: str) -> Path:
    """Where the trainer of ``run_name`` writes its statistics."""
    return folder / f"{run_name}{SUFFIX}"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy and torch scalars
        return _finite(value.item())
    return value


class StatisticsLog:
    """Appends records to one statistics file. Holds only its path and a time: it is pickled with the
    training instance, and opens the file for each record."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.last_progress = 0.0
        self.failed = False
        self.listener: Callable[[dict[str, Any]], None] | None = None  # the sinks (transient, not pickled)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "listener"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.listener = None

    def write(self, event: str, **fields: Any) -> None:
        """Appends one record; a file that cannot be written is warned about once, never fatal to training."""
        if event not in EVENTS:
            raise ValueError(f"unknown statistics event {event!r}")
        record = _finite({"event": event, "time": round(time.time(), 3), **fields})
        line = json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
            self.failed = False
        except OSError as error:
            if not self.failed:
                log.warning(f"Player runs: cannot write the statistics file {self.path} ({error}); training goes on")
            self.failed = True
        if self.listener is not None:
            self.listener(record)

    def progress_due(self) -> bool:
        """True when a progress record may be written now (then counts it as written)."""
        now = time.monotonic()
        if now - self.last_progress < PROGRESS_SECONDS:
            return False
        self.last_progress = now
        return True


def iter_statistics(path: str | Path) -> Iterator[dict[str, Any]]:
    """The records of a statistics file in order; an unfinished last line and lines that are not JSON
    objects are skipped. A missing file has no records."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.endswith("\n"):
                    return  # the trainer is writing it right now
                record = _record(line)
                if record is not None:
                    yield record
    except FileNotFoundError:
        return


def read_statistics(path: str | Path, event: str | None = None) -> list[dict[str, Any]]:
    """All records of ``path`` (only those of ``event`` when given)."""
    return [r for r in iter_statistics(path) if event is None or r.get("event") == event]


def last_record(path: str | Path, tail_bytes: int = 65536) -> dict[str, Any] | None:
    """The newest whole record of ``path``, reading only its end (cheap to poll); None if there is none."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - tail_bytes))
            tail = f.read()
    except FileNotFoundError:
        return None
    for line in reversed(tail.split(b"\n")[:-1]):  # the part after the last newline is unfinished
        record = _record(line)
        if record is not None:
            return record
    return None


def _record(line: str | bytes) -> dict[str, Any] | None:
    """One line's record; None for a line that is not a JSON object (or nests too deep to read)."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None
