"""Episode-sequence replay for recurrent agents: windows of consecutive transitions of one episode.

A window is ``burn_in + length`` consecutive transitions (items as tmrl's memory indexes them). The
agent runs its recurrent state over the burn-in part without a loss (it only warms the hidden state
up), then learns on the training part. A window never crosses an episode end, and never the
memory's trimming point (items start at the oldest sample still held).

**Short episodes are padded and masked.** An episode shorter than a window gives one window, from
its first transition; the missing steps repeat its last transition and are masked out (``valid``
False, no loss, the hidden state not used past it). Nothing is skipped, so a short demo still counts.

**Which windows.** Every transition that can start a window is a *start*: any transition with a full
window ahead of it in its episode, plus the first transition of a shorter one. A start is a demo when
its episode is a player run. Starts are drawn by the same ``DemoSchedule`` as transitions in the
transition memories: with weight ``w`` the expected demo share of windows is
``w * n_demo_starts / (w * n_demo_starts + n_other_starts)``; with a fraction, exactly that share.
So imported, injected and shipped runs weigh in alike, and the weight decay and annealing apply.

The start index is derived from the per-sample episode-end flags the demo index already keeps
(``DemoIndex``), rebuilt lazily after each change of the memory: the memory holds nothing more than
the transition memory it extends, plus one int32 per window start while cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from tmrl.custom.custom_memories import GenericTorchMemory, MemoryTMLidar, MemoryTMLidarProgress

from playerruns.bridge.setup import raw_sample_count
from playerruns.runs.errors import PlayerRunsError
from playerruns.trainer.memories import (
    DemoWeightedGenericTorchMemory,
    DemoWeightedMemoryTMLidar,
    DemoWeightedMemoryTMLidarProgress,
    DemoWeightedSampling,
)
from playerruns.trainer.sampling import DemoSchedule
from playerruns.trainer.windows import WindowIndex, WindowShape


@dataclass
class WindowBatch:
    """A batch of windows, each tensor shaped ``[windows, steps, ...]`` (observations may be tuples of
    such tensors, as tmrl collates them). ``valid``: real steps (False on padding); ``train``: the
    steps that carry a loss (real steps after the burn-in); ``demo``: one flag per window; ``burn_in``:
    the first steps, there to warm the hidden state up."""

    obs: Any
    act: torch.Tensor
    rew: torch.Tensor
    next_obs: Any
    terminated: torch.Tensor
    truncated: torch.Tensor
    valid: torch.Tensor
    train: torch.Tensor
    demo: np.ndarray
    burn_in: int = 0


class EpisodeSequences(DemoWeightedSampling):
    """Mixin for a demo-weighted tmrl memory: ``sample()`` returns a ``WindowBatch`` of windows."""

    window = WindowShape()

    def __init__(self, *args: Any, window: WindowShape | None = None, **kwargs: Any) -> None:
        self.window = window or WindowShape()
        self._windows: tuple[Any, int, int, WindowIndex] | None = None
        super().__init__(*args, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_windows": None}  # a cache, rebuilt after loading

    @property
    def windows_per_batch(self) -> int:
        """BATCH_SIZE counts trained transitions: a batch holds BATCH_SIZE // length windows (at least 1)."""
        return max(1, self.batch_size // self.window.length)

    def window_index(self) -> WindowIndex:
        """The current window starts, rebuilt when the memory changed since the last call."""
        done, n_items, offset = self.demo_index.done, len(self), self.transition_offset  # type: ignore[arg-type]
        cached = self._windows
        if cached is None or cached[0] is not done or cached[1:3] != (n_items, offset):
            self._windows = (done, n_items, offset, WindowIndex.build(done, n_items, offset, self.window.size))
            cached = self._windows
        return cached[3]

    def sample(self) -> WindowBatch:  # type: ignore[override]  # windows, not tmrl's transition tuple
        index = self.window_index()
        if len(index.starts) == 0:
            raise ValueError("no episode in the replay memory to draw windows from")
        is_demo = self.demo_index.demo[index.starts + self.transition_offset]
        picks, demos = self.demo_schedule.draw(np.flatnonzero(is_demo), np.flatnonzero(~is_demo),
                                               self.windows_per_batch, self._rng,
                                               samples_in_memory=raw_sample_count(self.data),
                                               steps=self.sampled_batches)
        self.sampled_demos += demos
        self.sampled_total += len(picks)
        self.sampled_batches += 1
        chosen = np.asarray(picks, dtype=np.int64)
        return self.collate_windows(index.starts[chosen], index.real[chosen], is_demo[chosen])

    def collate_windows(self, starts: np.ndarray, real: np.ndarray, demo: np.ndarray) -> WindowBatch:
        """The windows at ``starts`` (``real`` steps each, the rest padded) through tmrl's ``__getitem__``
        and ``collate``, as tmrl builds a batch of transitions."""
        n, size = len(starts), self.window.size
        steps = np.arange(size)
        items = starts[:, None] + np.minimum(steps[None, :], real[:, None] - 1)  # padding repeats the last step
        rows = [self[i] for i in items.ravel().tolist()]  # type: ignore[index]  # tmrl's __getitem__
        obs, act, rew, next_obs, terminated, truncated = self.collate(rows, self.device)  # type: ignore[attr-defined]
        valid = steps[None, :] < real[:, None]
        train = valid & (steps[None, :] >= self.window.burn_in)
        device = act.device
        return WindowBatch(obs=_windows(obs, n, size), act=_windows(act, n, size), rew=_windows(rew, n, size),
                           next_obs=_windows(next_obs, n, size), terminated=_windows(terminated, n, size),
                           truncated=_windows(truncated, n, size),
                           valid=torch.as_tensor(valid, device=device), train=torch.as_tensor(train, device=device),
                           demo=np.asarray(demo, dtype=bool), burn_in=self.window.burn_in)


def _windows(x: Any, n: int, size: int) -> Any:
    """``[n * size, ...]`` tensors (or tuples of them) as ``[n, size, ...]``."""
    if isinstance(x, (tuple, list)):
        return type(x)(_windows(part, n, size) for part in x)
    return x.reshape(n, size, *x.shape[1:])


class SequenceGenericTorchMemory(EpisodeSequences, DemoWeightedGenericTorchMemory):
    pass


class SequenceMemoryTMLidar(EpisodeSequences, DemoWeightedMemoryTMLidar):
    pass


class SequenceMemoryTMLidarProgress(EpisodeSequences, DemoWeightedMemoryTMLidarProgress):
    pass


SEQUENCE_MEMORIES: dict[type, type] = {
    GenericTorchMemory: SequenceGenericTorchMemory,
    MemoryTMLidar: SequenceMemoryTMLidar,
    MemoryTMLidarProgress: SequenceMemoryTMLidarProgress,
}


def sequence_memory_cls(memory_partial: partial, schedule: DemoSchedule, keep_demos: bool,
                        window: WindowShape) -> partial:
    """The configured memory partial, as the episode-sequence memory of the same configuration."""
    base = memory_partial.func
    if base not in SEQUENCE_MEMORIES:
        raise PlayerRunsError(f"PLAYER_RUNS.RECURRENT serves the lidar TrackMania interfaces (TM20LIDAR, "
                              f"TM20LIDARPROGRESS) and gymnasium tasks, not the memory {base.__name__}")
    return partial(SEQUENCE_MEMORIES[base], *memory_partial.args, **memory_partial.keywords,
                   demo_schedule=schedule, keep_demos=keep_demos, window=window)
