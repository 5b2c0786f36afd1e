"""Writing files so that a reader (or a crash) never sees them half-written.

Data goes to a temporary file in the destination's folder, is flushed and fsync'ed, then renamed
over the destination in one step. A temporary file left by a killed process carries the
TEMP_SUFFIX and is never mistaken for a run file or a dataset.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

TEMP_SUFFIX = ".partial"
PICKLE_PROTOCOL = 4  # readable by every Python tmrl supports


def atomic_write(path: str | Path, write_to: Callable[[BinaryIO], object]) -> None:
    """Atomically replaces ``path`` with what ``write_to(file)`` writes (streamed, never held whole)."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp makes 0600 files: give the usual permissions
        with os.fdopen(fd, "wb") as f:
            write_to(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Atomically replaces ``path`` with ``data``."""
    atomic_write(path, lambda f: f.write(data))


def atomic_write_pickle(path: str | Path, obj: Any) -> None:
    """Atomically replaces ``path`` with ``obj`` pickled straight to disk."""
    atomic_write(path, lambda f: pickle.dump(obj, f, protocol=PICKLE_PROTOCOL))


def free_name(path: Path) -> Path:
    """``path``, or ``path.1``, ``path.2``... whichever does not exist yet (nothing is overwritten)."""
    candidate, k = path, 0
    while candidate.exists():
        k += 1
        candidate = path.with_name(f"{path.name}.{k}")
    return candidate


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """Makes the rename itself durable (POSIX only; Windows has no directory handles)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
