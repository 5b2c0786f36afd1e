"""Online injection: finding new run files in SOURCE_PATH while the trainer runs.

The trainer polls on every buffer update. A poll considers only complete ``*.pkl`` files (never
temporary ``.partial`` files, never ``*.pkl.imported``), oldest first, skips files it has handled
before without re-reading them, and returns at most MAX_FILES_PER_UPDATE validated runs. A bad
file never stops training: it is warned about and retried while it changes (it may still be
copying); once bad and unchanged for REJECT_AFTER_SECONDS it is renamed ``.pkl.rejected`` with a
``.pkl.rejected.reason`` text beside it. No file is ever deleted. A run already in the replay memory
(injected before, or imported into the ``data.pkl`` the trainer started from) is never injected again.
Each file is read under the trainer's ``HandlingNote`` (``playerruns.trainer.handling``).

An idle poll costs one ``stat`` of the folder, however many files it holds. The folder is listed
(a full scan) only when one of these says something may have changed since the last full scan:

- the folder's modification time, size, inode or device differ (adding, removing or renaming an
  entry changes a folder's modification time; the inode/device catch a replaced or remounted folder);
- the last scan left work: more candidates than MAX_FILES_PER_UPDATE, or runs returned to the trainer
  (their files are settled by ``mark_injected``, checked by the next scan);
- a bad file awaiting rejection changed (a copy still growing: changing a file's content does not
  touch its folder) or reached REJECT_AFTER_SECONDS; only those few files are ``stat``-ed on each poll;
- FULL_SCAN_SECONDS passed since the last full scan. Some shared file systems (WSL's view of Windows
  drives, network shares) may not update a folder's modification time for every change, or only
  late: such a file is still found within FULL_SCAN_SECONDS.

A folder modification time is trusted only when it is older than the scan's start by more than
MTIME_GRANULARITY_SECONDS: a file created in the same clock tick as the change before it (file
systems stamp times coarsely: a few ms on ext4, 2 s on FAT) would leave the time unchanged. A
recently changed folder is therefore listed on every poll until it has been quiet that long (a
time in the future, e.g. stamped by a server whose clock is ahead, is never trusted); after that a
new file changes the time and is found by the very next poll.

What was injected (``InjectionRecord``) belongs to the trainer's checkpointed state; the poller
itself is transient and rebuilt after a restart (its first poll is a full scan).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from playerruns.runs.atomic_io import free_name
from playerruns.runs.demos import load_demo_run
from playerruns.runs.errors import PlayerRunsError
from playerruns.runs.runfile import RunFile, new_run_id
from playerruns.runs.validation import Compatibility
from playerruns.trainer.handling import REJECTED_SUFFIX, HandlingNote, handling, quarantine

log = logging.getLogger(__name__)

RUN_SUFFIX = ".pkl"
CONSUMED_SUFFIX = ".imported"
FULL_SCAN_SECONDS = 5.0  # the folder is listed at least this often, changed or not (see the module docstring)
MTIME_GRANULARITY_SECONDS = 2.0  # a folder time this close to a scan's start is not trusted (FAT: 2 s)

_FolderStamp = tuple[int, int, int, int]  # a folder's (st_mtime_ns, st_size, st_ino, st_dev)


@dataclass
class InjectionRecord:
    """What a training run's replay memory holds of player runs: checkpointed with the trainer, so a
    resumed trainer does not inject the same runs twice while a fresh one starts over."""

    run_ids: set[str] = field(default_factory=set)  # injected, received, or in the data.pkl it started from
    training_id: str = field(default_factory=new_run_id)  # named the folder of received runs before RUN_NAME did
    file_names: set[str] = field(default_factory=set)  # handled files, skipped without re-reading
    files: int = 0
    samples: int = 0  # samples appended, repeats included


@dataclass
class _BadFile:
    size: int
    mtime_ns: int
    unchanged_since: float
    reason: str


class SourcePoller:
    """Scans one folder for run files to inject (see the module docstring)."""

    def __init__(self, source: Path, record: InjectionRecord, compat: Compatibility | None, *,
                 consume: bool = True, max_files: int = 1, reject_after: float = 60.0,
                 note: HandlingNote | None = None) -> None:
        self.source = Path(source)
        self.note = note
        self.record = record
        self.compat = compat
        self.consume = consume
        self.max_files = max_files
        self.reject_after = reject_after
        self._bad: dict[str, _BadFile] = {}
        self._missing_logged = False
        self._stamp: _FolderStamp | None = None  # the folder when last listed, if trustworthy
        self._scanned_at: float | None = None  # ``now`` of the last full scan
        self._rescan = True  # the last scan left work for the next poll

    def poll(self, now: float | None = None) -> list[RunFile]:
        """Validated runs to inject now, oldest first, at most ``max_files``.

        ``now`` (default ``time.monotonic()``) is the clock of the rejection grace and of the periodic
        full scan. Lists the folder only when needed (see the module docstring).
        """
        now = time.monotonic() if now is None else now
        if not self._must_scan(now):
            return []
        return self._scan(now)

    def _must_scan(self, now: float) -> bool:
        """False when nothing can have changed since the last full scan: the idle poll's whole cost."""
        if self._rescan or self._stamp is None or self._scanned_at is None:
            return True
        if not 0.0 <= now - self._scanned_at < FULL_SCAN_SECONDS:
            return True
        if self._bad and self._bad_file_due(now):
            return True
        try:
            return _stamp_of(os.stat(self.source)) != self._stamp
        except OSError:
            return True

    def _bad_file_due(self, now: float) -> bool:
        """True when a bad file changed (to be read again) or its grace ran out (to be rejected)."""
        for name, bad in self._bad.items():
            if now - bad.unchanged_since >= self.reject_after:
                return True
            try:
                st = os.stat(self.source / name)
            except OSError:
                return True
            if (st.st_size, st.st_mtime_ns) != (bad.size, bad.mtime_ns):
                return True
        return False

    def _scan(self, now: float) -> list[RunFile]:
        """Lists the folder and reads what is new; notes the folder's stamp (when it can be trusted) and
        whether the next poll must list the folder again whatever the stamp says."""
        self._rescan = True  # until this scan completes (a read may raise)
        self._scanned_at = now
        started_ns = time.time_ns()
        try:
            folder = os.stat(self.source)
        except OSError:
            folder = None
        candidates = self._unseen_files()  # listed after the stat: a change in between shows next poll
        trusted = folder is not None and folder.st_mtime_ns < started_ns - int(MTIME_GRANULARITY_SECONDS * 1e9)
        self._stamp = _stamp_of(folder) if folder is not None and trusted else None
        listed = {name for _mtime, name, _size, _mtime_ns in candidates}
        for gone in [name for name in self._bad if name not in listed]:  # renamed, deleted or handled
            del self._bad[gone]
        runs: list[RunFile] = []
        leftover = False
        reads = 0
        for _mtime, name, size, mtime_ns in sorted(candidates):
            bad = self._bad.get(name)
            if bad is not None and (bad.size, bad.mtime_ns) == (size, mtime_ns):
                if now - bad.unchanged_since >= self.reject_after:
                    self._reject(name, bad.reason)
                continue
            if reads >= self.max_files:
                leftover = True
                break
            reads += 1
            run = self._read(name, size, mtime_ns, now)
            if run is None:
                continue
            if run.run_id in self.record.run_ids:
                log.info(f"Player runs: {name} holds run {run.run_id}, already in the replay memory: skipped")
                self._handled(name)
                continue
            runs.append(run)
        self._rescan = leftover or bool(runs)
        return runs

    def mark_injected(self, run: RunFile, samples: int, *, consume: bool = True) -> None:
        """Records an injected run and, with CONSUME_ON_READ (unless ``consume`` is False), renames its file
        to ``.pkl.imported``."""
        assert run.source is not None
        self.record.run_ids.add(run.run_id)
        self.record.files += 1
        self.record.samples += samples
        self._handled(run.source.name, consume=consume)

    def _unseen_files(self) -> list[tuple[int, str, int, int]]:
        try:
            entries = os.scandir(self.source)
        except (FileNotFoundError, NotADirectoryError):
            if not self._missing_logged:
                log.warning("Player runs SOURCE_PATH does not exist")
                self._missing_logged = True
            return []
        if self._missing_logged:
            log.info(f"Player runs SOURCE_PATH now exists: {self.source}")
            self._missing_logged = False
        seen = self.record.file_names
        found = []
        with entries:
            for entry in entries:
                name = entry.name
                if not name.endswith(RUN_SUFFIX) or name.startswith(".") or name in seen:
                    continue
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue
                if entry.is_file():
                    found.append((st.st_mtime_ns, name, st.st_size, st.st_mtime_ns))
        return found

    def _read(self, name: str, size: int, mtime_ns: int, now: float) -> RunFile | None:
        path = self.source / name
        try:
            with handling(self.note, path, "reading"):
                run = load_demo_run(path, self.compat)
        except PlayerRunsError as err:
            if name not in self._bad:
                log.warning(f"Player runs: cannot inject {name} yet: {err} (retried while the file changes; "
                            f"renamed {name}{REJECTED_SUFFIX} after {self.reject_after:g}s unchanged)")
            self._bad[name] = _BadFile(size, mtime_ns, now, str(err))
            return None
        self._bad.pop(name, None)
        return run

    def _handled(self, name: str, *, consume: bool = True) -> None:
        if self.consume and consume:
            target = free_name(self.source / (name + CONSUMED_SUFFIX))
            try:
                os.replace(self.source / name, target)
                return
            except OSError as err:
                log.warning(f"Player runs: could not rename {name} to {target.name}: {err}")
        self.record.file_names.add(name)

    def _reject(self, name: str, reason: str) -> None:
        target = quarantine(self.source / name, reason)
        if target is None:
            self.record.file_names.add(name)  # never retried in this training run
        else:
            log.warning(f"Player runs: rejected {name} (renamed {target.name}): {reason}")
        self._bad.pop(name, None)


def _stamp_of(st: os.stat_result) -> _FolderStamp:
    return st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev
