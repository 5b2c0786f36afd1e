"""The paced worker's step count, as a line of numbers in a file (``<steps> <seconds waited>``).

The writer replaces the file in one rename, so a reader sees a whole line or the previous one; a
missing or unreadable file reads as zeros. No fsync: a hint refreshed many times a second.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_numbers(path: str | Path, *values: float) -> None:
    """Replaces ``path`` with ``values`` on one line, in one rename."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(" ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values), encoding="utf-8")
    os.replace(tmp, path)


def read_numbers(path: str | Path, n: int) -> list[float]:
    """The first ``n`` numbers of ``path`` (zeros where the file is missing, short or being replaced)."""
    try:
        values = [float(v) for v in Path(path).read_text(encoding="utf-8").split()[:n]]
    except (FileNotFoundError, ValueError):
        values = []
    return values + [0.0] * (n - len(values))
