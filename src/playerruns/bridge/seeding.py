"""One seeding path for everything that draws: Python, numpy, torch, and playerruns' own generators.

A process is seeded once, from ``PLAYERRUNS_SEED`` (set by the demo and the benchmark for every role
they start) or by calling ``seed_everything``. Code that needs random numbers asks ``generator(name)``
for a numpy Generator: seeded processes get one derived from the seed and the name (so two streams
never share numbers and adding one does not shift another), unseeded ones get fresh entropy.
"""

from __future__ import annotations

import os
import random
import zlib

import numpy as np

SEED_ENV = "PLAYERRUNS_SEED"

_seed: int | None = None


def seed_from_environment() -> int | None:
    """Seeds everything from ``PLAYERRUNS_SEED`` when it is set; returns the seed (or None)."""
    text = os.environ.get(SEED_ENV, "").strip()
    if not text:
        return None
    try:
        seed = int(text)
    except ValueError:
        from playerruns.runs.errors import PlayerRunsError

        raise PlayerRunsError(f"{SEED_ENV}: expected a whole number, got {text!r}") from None
    seed_everything(seed)
    return seed


def seed_everything(seed: int) -> None:
    """Seeds Python's ``random``, numpy's global generator, torch (if imported or importable) and
    every generator handed out by ``generator`` from now on."""
    global _seed
    _seed = int(seed)
    random.seed(_seed)
    np.random.seed(_seed % 2**32)
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(_seed)


def generator(name: str) -> np.random.Generator:
    """A numpy Generator for the stream ``name``: derived from the process seed, or fresh when unseeded."""
    if _seed is None:
        return np.random.default_rng()
    return np.random.default_rng([_seed, zlib.crc32(name.encode())])
