"""The run file the trainer is handling, noted on disk, so that one that kills it cannot kill it again.

Before the trainer hands a run file's content to numpy or tmrl's memory (reading it, validating it,
appending its samples), ``HandlingNote.handling`` writes the file's path to a small note beside the
received runs (``RECEIVED_PATH/.handling-<RUN_NAME>.json``) and removes it once done. A trainer that
dies meanwhile (a crash in native code, the kernel's out-of-memory killer) leaves the note behind;
the restarted trainer finds it first thing and reads the file again, alone, in a child process
(``reads_alone``): a file the child reads, or refuses with an error, was not what killed the trainer
(a person's kill, the machine's shutdown) and is handled as usual, so that nothing a person drove is
lost to a kill at an unlucky moment; a file that kills the child too (a signal, or no end within
``CHILD_SECONDS``) is renamed ``.pkl.rejected`` with a ``.pkl.rejected.reason`` beside it, and the
trainer says so in one line and goes on. (Renamed, never deleted: a person can look at it.)
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from playerruns.runs.atomic_io import atomic_write_bytes, free_name

log = logging.getLogger(__name__)

__all__ = ["REJECTED_SUFFIX", "REASON_SUFFIX", "HandlingNote", "handling", "quarantine"]

REJECTED_SUFFIX = ".rejected"
REASON_SUFFIX = ".reason"
_MAX_NOTE_BYTES = 1 << 16
CHILD_SECONDS = 300.0  # a child reading a file this long is taken as hung on it
# the child reads the file as the trainer did (safe load, schema, finite values), with playerruns only
_READ_ALONE = "import sys; from playerruns.runs.demos import load_demo_run; load_demo_run(sys.argv[1], None)"


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
        """After a restart: rejects the file a dead trainer was handling if it kills a child reading it too;
        returns its new path, if renamed."""
        found = self.left_behind()
        if found is None:
            return None
        file, what = found
        if not file.exists():
            log.warning(f"Player runs: the trainer stopped while {what} {file} last time (the file is gone)")
            return None
        death = reads_alone(file)
        if death is None:
            log.warning(f"Player runs: the trainer stopped while {what} {file} last time; read alone, the file "
                        "does not stop a process, so it is handled as usual")
            return None
        reason = (f"the trainer stopped while {what} it, and a process reading it alone {death}: it was set aside "
                  "so that it cannot stop the trainer again")
        target = quarantine(file, reason)
        if target is not None:
            log.warning(f"Player runs: the trainer stopped while {what} {file} last time: renamed it "
                        f"{target.name} (rename it back to try it again)")
        return target


def handling(note: HandlingNote | None, file: Path, what: str) -> AbstractContextManager[None]:
    """``note.handling(file, what)``, or nothing to note when there is no note (a poller or desk used alone)."""
    return note.handling(file, what) if note is not None else nullcontext()


def reads_alone(file: Path, timeout: float = CHILD_SECONDS) -> str | None:
    """How a child process reading ``file`` as the trainer does died ("died of signal 11", "did not end within
    300 s"), or None when it ended by itself (having read the file, or refused it with an error)."""
    try:
        done = subprocess.run([sys.executable, "-c", _READ_ALONE, str(file)], capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"did not end within {timeout:g} s"
    except OSError as err:  # cannot start a process at all: take no risk
        return f"could not be started ({err.strerror or err})"
    return f"died of signal {-done.returncode}" if done.returncode < 0 else None


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
