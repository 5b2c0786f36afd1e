"""The run file the trainer is handling, noted on disk, so that one that kills it cannot kill it again.

Before the trainer hands a run file's content to numpy or tmrl's memory (reading it, validating it,
appending its samples), ``HandlingNote.handling`` writes the file's path to a small note beside the
received runs (``RECEIVED_PATH/.handling-<RUN_NAME>.json``) and removes it once done. A trainer that
dies meanwhile (a crash in native code, the kernel's out-of-memory killer) leaves the note behind;
the restarted trainer finds it first thing, renames the file ``.pkl.rejected`` with a
``.pkl.rejected.reason`` beside it, says so in one line, and goes on. (The file is renamed, never
deleted: a person can look at it, and rename it back if the death had another cause.)
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playerruns.runs.atomic_io import atomic_write_bytes, free_name

log = logging.getLogger(__name__)

__all__ = ["REJECTED_SUFFIX", "REASON_SUFFIX", "HandlingNote", "quarantine"]

REJECTED_SUFFIX = ".rejected"
REASON_SUFFIX = ".reason"
_MAX_NOTE_BYTES = 1 << 16


class HandlingNote:
    """The note of the file being handled, at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextmanager
    def handling(self, file: Path, what: str) -> Iterator[None]:
        """Notes ``file`` (``what`` says what is done with it) while the block runs."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.path, json.dumps({"file": str(file), "what": what}).encode("utf-8"))
        except OSError as err:  # training goes on; only the protection is lost
            log.warning(f"Player runs: could not write {self.path}: {err.strerror or err}")
        try:
            yield
        finally:
            try:
                self.path.unlink(missing_ok=True)
            except OSError:
                pass

    def left_behind(self) -> tuple[Path, str] | None:
        """The file (and what was done with it) of a note a dead trainer left, if any; the note is removed."""
        try:
            if self.path.stat().st_size > _MAX_NOTE_BYTES:
                raise ValueError("too large")
            note = json.loads(self.path.read_text(encoding="utf-8"))
            file, what = Path(note["file"]), str(note["what"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.warning(f"Player runs: ignored the unreadable note {self.path} ({type(err).__name__})")
            file = None
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass
        return None if file is None else (file, what)

    def quarantine_left_behind(self) -> Path | None:
        """After a restart: rejects the file a dead trainer was handling; returns its new path, if renamed."""
        found = self.left_behind()
        if found is None:
            return None
        file, what = found
        reason = f"the trainer stopped while {what} it, and it was set aside so that it cannot stop it again"
        if not file.exists():
            log.warning(f"Player runs: the trainer stopped while {what} {file} last time (the file is gone)")
            return None
        target = quarantine(file, reason)
        if target is not None:
            log.warning(f"Player runs: the trainer stopped while {what} {file} last time: renamed it "
                        f"{target.name} (rename it back to try it again)")
        return target


def quarantine(file: Path, reason: str) -> Path | None:
    """Renames ``file`` to ``<name>.rejected`` (or a free variant) with ``reason`` in a ``.reason`` file beside it."""
    target = free_name(file.with_name(file.name + REJECTED_SUFFIX))
    try:
        os.replace(file, target)
        target.with_name(target.name + REASON_SUFFIX).write_text(reason + "\n", encoding="utf-8")
    except OSError as err:
        log.warning(f"Player runs: could not set {file} aside: {err.strerror or err}")
        return None
    return target
