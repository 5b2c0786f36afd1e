"""Windows of an episode-sequence memory, as plain numpy over the per-sample episode-end flags: what a
window is (``WindowShape``) and where windows can start (``WindowIndex``). See
``playerruns.trainer.sequences`` for the memory that draws them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WindowShape:
    """Steps of a window: ``burn_in`` to warm the hidden state up, then ``length`` to learn on."""

    burn_in: int = 10
    length: int = 30

    @property
    def size(self) -> int:
        return self.burn_in + self.length


@dataclass
class WindowIndex:
    """The window starts of a memory (transition items, ascending) and the real steps of each window."""

    starts: np.ndarray  # int32 items
    real: np.ndarray  # real (unpadded) steps of the window starting there, 1..size

    @classmethod
    def build(cls, done: np.ndarray, n_items: int, offset: int, size: int) -> WindowIndex:
        """Transition ``i`` goes from raw sample ``i + offset - 1`` to ``i + offset``; it is real unless
        its first sample ends an episode (then it would join two episodes)."""
        if n_items <= 0:
            return cls(np.zeros(0, np.int32), np.zeros(0, np.int32))
        valid = ~np.asarray(done[offset - 1:offset - 1 + n_items], dtype=bool)
        items = np.arange(n_items)
        breaks = np.flatnonzero(~valid)
        following = np.searchsorted(breaks, items)  # the first break at or after each item
        next_break = np.append(breaks, n_items)[following]
        run = next_break - items  # consecutive real transitions from each item on (0 where it is a break)
        first = valid & np.concatenate(([True], ~valid[:-1]))
        starts = np.flatnonzero(valid & ((run >= size) | first))
        return cls(starts.astype(np.int32), np.minimum(run[starts], size).astype(np.int32))
