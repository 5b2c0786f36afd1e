"""Importing run files into the replay dataset (``data.pkl``) that the tmrl trainer loads at startup.

Each file goes the one demo path (``playerruns.bridge.demo_path``: safe load, validation, stale-reward
check, demo tags, SAMPLE_COMPRESSOR, detached views), then through the configured memory's
``append_buffer`` into ``memory.data``, which is written atomically to data.pkl.

Files are read one at a time: a file's raw samples are validated, tagged and compressed, then
dropped, so an import holds one file's raw samples plus the compressed samples of the files read
so far (the lidar compressor keeps only the newest scan: a fraction of a raw sample). Many hours of
driving therefore import in about the memory of the finished dataset, not of all the run files.

Nothing is written until every file has been read and validated; the write happens under a file
lock (concurrent imports keep each other's samples) and is atomic (a crash leaves the old dataset).
"""

from __future__ import annotations

import glob
import logging
import os
import pickle
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from filelock import FileLock, Timeout
from tqdm import tqdm

from playerruns.bridge.demo_path import DemoPath
from playerruns.bridge.setup import TmrlSetup, append_samples, empty_memory, raw_sample_count
from playerruns.runs.atomic_io import TEMP_SUFFIX, atomic_write
from playerruns.runs.demos import load_demo_run, run_id_of
from playerruns.runs.errors import PlayerRunsError
from playerruns.runs.safe_pickle import safe_load
from playerruns.runs.sample import Sample

log = logging.getLogger(__name__)

DATASET_FILE = "data.pkl"
RUN_FILE_SUFFIX = ".pkl"

# How data.pkl is written (see dump_dataset). Protocol 3 names memo slots explicitly (protocol 4
# numbers them implicitly), which is what lets independent pieces be chained in one pickle.
DATASET_PICKLE_PROTOCOL = 3
_PROTOCOL_HEAD = pickle.PROTO + bytes([DATASET_PICKLE_PROTOCOL])
_PIECE_HEAD = _PROTOCOL_HEAD + pickle.EMPTY_LIST + pickle.BINPUT + b"\x00"
# Items per piece: 32 keeps a piece's memo indices below 256 (one-byte BINPUT/BINGET: ~7 memo
# entries per numpy array), so the file stays about as small as a protocol 4 pickle. Columns of
# ints/bools/floats memoize nothing and go in larger pieces.
_PIECE_ITEMS = 32
_ATOM_PIECE_ITEMS = 4096
_ATOMS = (int, bool, float, type(None))


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


@dataclass
class ImportedRun:
    """One run file's samples, validated, tagged as demos of ``run_id`` and compressed (what a worker sends)."""

    run_id: str
    source: Path | None
    samples: list[Sample]


def read_demo_batches(paths: Iterable[Path], setup: TmrlSetup, *, progress: bool = False) -> list[ImportedRun]:
    """Reads every file one at a time into compressed demo samples; raises on the first bad file.

    Only one file's raw samples are alive at a time: each is loaded, validated (schema + current
    configuration), tagged and compressed, then dropped before the next file is read. A run id met
    twice is imported once (its later file is still validated).
    """
    paths = list(paths)
    batches: dict[str, ImportedRun] = {}
    path_of_demos = DemoPath(setup)
    for path in tqdm(paths, desc="reading run files", unit="file", disable=not progress, leave=False):
        run = load_demo_run(path, setup.compat)
        first = batches.get(run.run_id)
        if first is not None:
            log.warning(f"Player run {run.run_id} appears twice ({first.source} and {run.source}): imported once")
            continue
        samples = path_of_demos.memory_samples(run)
        batches[run.run_id] = ImportedRun(run.run_id, run.source, samples)
        del run  # the raw samples go now, before the next file is read
    path_of_demos.warn_if_step_limit_tight(f"{len(paths)} file(s) read")
    return list(batches.values())


def import_runs(paths: str | Sequence[str], setup: TmrlSetup, *, overwrite: bool = False,
                max_samples: int | None = None, dry_run: bool = False, progress: bool = False) -> ImportReport:
    """Imports run files into ``setup.dataset_path/data.pkl``. See the module docstring.

    Every file is read and validated (one at a time, see read_demo_batches) before the dataset is
    even opened; runs already in the dataset are skipped under the lock, so two concurrent imports
    keep each other's samples.
    """
    if max_samples is not None and max_samples <= 0:
        raise PlayerRunsError(f"--player-runs-max-samples: must be a positive number of samples, got {max_samples}")
    files = resolve_paths(paths)
    batches = read_demo_batches(files, setup, progress=progress)

    dataset_dir = setup.dataset_path
    report = ImportReport(dataset_file=dataset_dir / DATASET_FILE, files=len(files), dry_run=dry_run)
    if dry_run:
        existing = [] if overwrite else read_dataset(report.dataset_file)
        _merge(existing, batches, setup, report, max_samples)
        return report

    dataset_dir.mkdir(parents=True, exist_ok=True)
    with dataset_lock(dataset_dir):
        _remove_stale_temp_files(dataset_dir)
        existing = [] if overwrite else read_dataset(report.dataset_file)
        data = _merge(existing, batches, setup, report, max_samples)
        del existing, batches  # the dataset's columns hold what is still needed
        try:
            write_dataset(report.dataset_file, data)
        except OSError as err:
            kept = "left as it was" if report.dataset_file.exists() else "not created"
            raise PlayerRunsError(f"{report.dataset_file}: cannot write the dataset: {err.strerror or err}; "
                                  f"it was {kept}") from None
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


def write_dataset(path: Path, data: list[list[Any]]) -> None:
    """Atomically replaces ``path`` with ``data``, streamed by dump_dataset (temporary file, fsync, rename)."""
    atomic_write(path, lambda f: dump_dataset(data, f))


def dump_dataset(data: list[list[Any]], file: BinaryIO) -> None:
    """Pickles ``data``, a list of columns, to ``file`` as ONE pickle that plain ``pickle.load`` (what
    tmrl's ``Memory.__init__`` does) and the restricted unpickler read back as the same list.

    Why not ``pickle.dump(data)``: a pickler memoizes every object it writes and keeps it alive until
    the end, including the temporaries numpy creates to pickle each array (argument and state
    tuples, a bytes copy of the data): for a replay of small arrays that is more memory than the
    dataset itself, and the slow part of the write. Here the columns are written in pieces of a few
    items, each pickled on its own with protocol 3 (explicit memo indices): a piece's memo dies with
    it, and as a piece reuses the unpickler's memo slots from 0, loading frees the previous
    piece's temporaries too (the unpickler replaces a slot put again; only ``pickletools.dis``, a
    strict analyser, reports it). The stream is assembled with pickle's own opcodes::

        PROTO 3, EMPTY_LIST                       the list of columns
          EMPTY_LIST                              a column
            <piece>, <piece>, ...                 each: MARK items APPENDS (or item APPEND)
          APPEND                                  the column into the list of columns
        STOP

    where a piece is ``pickle.dumps(items, protocol=3)`` less its head (PROTO, EMPTY_LIST, BINPUT 0:
    its own list, which nothing inside can reference) and its STOP, so its items extend the column.
    """
    file.write(_PROTOCOL_HEAD + pickle.EMPTY_LIST)
    for column in data:
        file.write(pickle.EMPTY_LIST)
        step = _ATOM_PIECE_ITEMS if column and type(column[0]) in _ATOMS else _PIECE_ITEMS
        for start in range(0, len(column), step):
            piece = pickle.dumps(column[start:start + step], protocol=DATASET_PICKLE_PROTOCOL)
            if not (piece.startswith(_PIECE_HEAD) and piece.endswith(pickle.STOP)):
                raise RuntimeError(f"unexpected pickle of a list: {piece[:8]!r}...{piece[-1:]!r}")
            file.write(memoryview(piece)[len(_PIECE_HEAD):-1])
        file.write(pickle.APPEND)
    file.write(pickle.STOP)


def _merge(existing: list[list[Any]], batches: list[ImportedRun], setup: TmrlSetup, report: ImportReport,
           max_samples: int | None) -> list[list[Any]]:
    present = dataset_run_ids(existing)
    new_samples: list[Sample] = []
    for batch in batches:
        if batch.run_id in present:
            log.info(f"Player run {batch.run_id} ({batch.source}) is already in the dataset: skipped "
                     "(use --player-runs-overwrite to replace the dataset)")
            report.skipped.append((batch.source or Path("?"), batch.run_id))
            continue
        new_samples.extend(batch.samples)
        report.imported_runs.append(batch.run_id)
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


def _check_columns(existing: list[list[Any]], new_samples: list[Sample], setup: TmrlSetup) -> None:
    probe = empty_memory(setup, setup.dataset_path)
    append_samples(probe, new_samples[:2])
    if len(probe.data) != len(existing):
        raise PlayerRunsError(
            f"{setup.dataset_path / DATASET_FILE}: holds {len(existing)} columns but the configured memory "
            f"({type(probe).__name__}) writes {len(probe.data)}: it was made for another configuration; "
            "use --player-runs-overwrite to replace it")


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
