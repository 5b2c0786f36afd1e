"""Importing run files into the replay dataset (``data.pkl``) that the tmrl trainer loads at startup.

The path a demo sample takes, end to end::

    run file --safe load--> raw samples --validate--> tag info (is_demo, player_run_id)
        --SAMPLE_COMPRESSOR--> configured MEMORY.append_buffer --> memory.data --atomic write--> data.pkl

Nothing is written until every file has been read and validated; the write happens under a file
lock (concurrent imports keep each other's samples) and is atomic (a crash leaves the old dataset).
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from tqdm import tqdm

from playerruns.errors import PlayerRunsError
from playerruns.runs.atomic_io import TEMP_SUFFIX, atomic_write_pickle
from playerruns.runs.demos import demo_samples, load_demo_run, run_id_of
from playerruns.runs.runfile import RunFile
from playerruns.runs.safe_pickle import safe_load
from playerruns.tmrl_bridge import TmrlSetup, append_samples, empty_memory, raw_sample_count

log = logging.getLogger(__name__)

DATASET_FILE = "data.pkl"
RUN_FILE_SUFFIX = ".pkl"


@dataclass
class ImportReport:
    """What an import did (or, for a dry run, would do)."""

    dataset_file: Path
    files: int = 0
    imported_runs: list[str] = field(default_factory=list)
    samples: int = 0
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (file, run id) already present
    trimmed: int = 0
    dataset_samples: int = 0
    dry_run: bool = False

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        head = "player runs dry run" if self.dry_run else "player runs import"
        tail = "; nothing written (dry run)" if self.dry_run else ""
        return (f"{head}: {self.files} file(s), {verb} {len(self.imported_runs)} run(s) / {self.samples} samples, "
                f"skipped {len(self.skipped)} run(s) already in the dataset, trimmed {self.trimmed} samples -> "
                f"{self.dataset_file} ({self.dataset_samples} samples){tail}")


def resolve_paths(entries: str | Sequence[str]) -> list[Path]:
    """Expands ``--player-runs-paths``: comma-separated files, folders (every ``*.pkl``) and globs.

    Raises PlayerRunsError for an empty list, a missing file or a pattern/folder matching nothing.
    """
    if isinstance(entries, str):
        entries = entries.split(",")
    items = [e.strip() for e in entries if e and e.strip()]
    if not items:
        raise PlayerRunsError("--player-runs-paths: no run file given (expected comma-separated .pkl files, "
                              "folders or glob patterns)")
    found: list[Path] = []
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            matches = sorted(p for p in path.glob(f"*{RUN_FILE_SUFFIX}") if p.is_file())
            if not matches:
                raise PlayerRunsError(f"--player-runs-paths: folder {path} holds no *{RUN_FILE_SUFFIX} file")
        elif glob.has_magic(item):
            matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(item)) if Path(p).is_file())
            if not matches:
                raise PlayerRunsError(f"--player-runs-paths: pattern {item!r} matches no file")
        elif path.is_file():
            matches = [path]
        else:
            raise PlayerRunsError(f"--player-runs-paths: {path}: no such file or folder")
        found.extend(matches)
    unique: dict[Path, Path] = {}
    for p in found:
        unique.setdefault(p.resolve(), p)
    return list(unique.values())


def load_runs(paths: Iterable[Path], setup: TmrlSetup, *, progress: bool = False) -> list[RunFile]:
    """Loads and validates every file (schema + current configuration); raises on the first bad one."""
    paths = list(paths)
    runs = []
    for path in tqdm(paths, desc="reading run files", unit="file", disable=not progress, leave=False):
        runs.append(load_demo_run(path, setup.compat))
    return runs


def import_runs(paths: str | Sequence[str], setup: TmrlSetup, *, overwrite: bool = False,
                max_samples: int | None = None, dry_run: bool = False, progress: bool = False) -> ImportReport:
    """Imports run files into ``setup.dataset_path/data.pkl``. See the module docstring."""
    if max_samples is not None and max_samples <= 0:
        raise PlayerRunsError(f"--player-runs-max-samples: must be a positive number of samples, got {max_samples}")
    files = resolve_paths(paths)
    runs = load_runs(files, setup, progress=progress)
    runs = _drop_duplicate_runs(runs)

    dataset_dir = setup.dataset_path
    report = ImportReport(dataset_file=dataset_dir / DATASET_FILE, files=len(files), dry_run=dry_run)
    if dry_run:
        existing = [] if overwrite else read_dataset(report.dataset_file)
        _merge(existing, runs, setup, report, max_samples)
        return report

    dataset_dir.mkdir(parents=True, exist_ok=True)
    with dataset_lock(dataset_dir):
        _remove_stale_temp_files(dataset_dir)
        existing = [] if overwrite else read_dataset(report.dataset_file)
        data = _merge(existing, runs, setup, report, max_samples)
        atomic_write_pickle(report.dataset_file, data)
    return report


def read_dataset(path: Path) -> list[list[Any]]:
    """The columns of an existing data.pkl (safely loaded), or [] when there is none."""
    if not path.exists():
        return []
    data = safe_load(path)
    if isinstance(data, tuple):
        data = list(data)
    if not isinstance(data, list) or not all(isinstance(c, list) for c in data) \
            or len({len(c) for c in data}) > 1:
        raise PlayerRunsError(f"{path}: not a tmrl replay dataset (expected a list of equally long columns); "
                              "use --player-runs-overwrite to replace it")
    return data


def dataset_run_ids(data: list[list[Any]]) -> set[str]:
    """Run ids of the demos already in a dataset (read from the info column)."""
    info_col = next((c for c in data if c and isinstance(c[0], dict)), None)
    if info_col is None:
        return set()
    return {run_id for run_id in map(run_id_of, info_col) if run_id is not None}


def _merge(existing: list[list[Any]], runs: list[RunFile], setup: TmrlSetup, report: ImportReport,
           max_samples: int | None) -> list[list[Any]]:
    present = dataset_run_ids(existing)
    new_samples: list[tuple] = []
    for run in runs:
        if run.run_id in present:
            log.info(f"Player run {run.run_id} ({run.source}) is already in the dataset: skipped "
                     "(use --player-runs-overwrite to replace the dataset)")
            report.skipped.append((run.source or Path("?"), run.run_id))
            continue
        new_samples.extend(demo_samples(run, setup.compress))
        report.imported_runs.append(run.run_id)
    report.samples = len(new_samples)

    memory = empty_memory(setup, setup.dataset_path)
    if existing and new_samples:
        _check_columns(existing, new_samples, setup)
    memory.data = existing
    before = raw_sample_count(existing)
    if new_samples:
        append_samples(memory, new_samples)
    data = memory.data
    if max_samples is not None and raw_sample_count(data) > max_samples:
        data = [column[-max_samples:] for column in data]
    report.dataset_samples = raw_sample_count(data)
    report.trimmed = before + len(new_samples) - report.dataset_samples
    return data


def _check_columns(existing: list[list[Any]], new_samples: list[tuple], setup: TmrlSetup) -> None:
    probe = empty_memory(setup, setup.dataset_path)
    append_samples(probe, new_samples[:2])
    if len(probe.data) != len(existing):
        raise PlayerRunsError(
            f"{setup.dataset_path / DATASET_FILE}: holds {len(existing)} columns but the configured memory "
            f"({type(probe).__name__}) writes {len(probe.data)}: it was made for another configuration; "
            "use --player-runs-overwrite to replace it")


def _drop_duplicate_runs(runs: list[RunFile]) -> list[RunFile]:
    seen: dict[str, RunFile] = {}
    for run in runs:
        if run.run_id in seen:
            log.warning(f"Player run {run.run_id} appears twice ({seen[run.run_id].source} and {run.source}): "
                        "imported once")
            continue
        seen[run.run_id] = run
    return list(seen.values())


@contextmanager
def dataset_lock(dataset_dir: Path) -> Iterator[None]:
    """The file lock serializing writers of one dataset folder, with a note when it has to wait."""
    lock = FileLock(str(dataset_dir / f"{DATASET_FILE}.lock"))
    try:
        lock.acquire(timeout=1.0)
    except Timeout:
        log.info(f"Waiting for another import holding {lock.lock_file} ...")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _remove_stale_temp_files(dataset_dir: Path) -> None:
    """Temporary files of a killed writer (only ever removed while holding the lock)."""
    for stale in dataset_dir.glob(f".{DATASET_FILE}.*{TEMP_SUFFIX}"):
        stale.unlink(missing_ok=True)
