"""tmrl's four stock replay memories, plus demo-weighted sampling (``playerruns.trainer.sampling``).

With weight 1 they sample exactly as tmrl does. Defined at module level and holding no open resource:
tmrl checkpoints the whole training instance, memory included, with pickle.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

import numpy as np
from tmrl.custom.custom_memories import GenericTorchMemory, MemoryTMFull, MemoryTMLidar, MemoryTMLidarProgress

from playerruns.runs.demos import is_demo
from playerruns.runs.sample import INFO, ends_episode
from playerruns.seeding import generator
from playerruns.tmrl_bridge import append_safely, raw_sample_count
from playerruns.trainer.sampling import DemoIndex, draw_weighted


@dataclass(frozen=True)
class ColumnLayout:
    """Where a tmrl memory keeps the columns the demo index reads (positions in ``memory.data``)."""

    done: int  # episode-end flags (terminated or truncated)
    info: int  # the samples' info dicts, where the demo tag is


# GenericTorchMemory: act, obs, rew, terminated, truncated, info, done
GENERIC_COLUMNS = ColumnLayout(done=6, info=5)
# MemoryTMLidar / LidarProgress / Full: index, act, speed, lidar or images, eoe (done), rew, info, ...
TRACKMANIA_COLUMNS = ColumnLayout(done=4, info=6)


class DemoWeightedSampling:
    """Mixin for a tmrl memory: demo transitions are drawn ``demo_weight`` times as often."""

    columns: ClassVar[ColumnLayout]
    data: list[list[Any]]
    batch_size: int

    def __init__(self, *args: Any, demo_weight: float = 1.0, **kwargs: Any) -> None:
        self.init_demo_state(demo_weight)
        super().__init__(*args, **kwargs)
        self.rebuild_demo_index()

    def init_demo_state(self, demo_weight: float) -> None:
        """The mixin's own state (also given to a stock memory upgraded in place from a checkpoint)."""
        self.demo_weight = float(demo_weight)
        self.demo_index = DemoIndex()
        self.sampled_demos = 0
        self.sampled_total = 0
        self._rng = generator("demo-weighted sampling")

    @property
    def transition_offset(self) -> int:
        """Transition ``i`` ends at raw sample ``i + transition_offset``."""
        return 1

    def rebuild_demo_index(self) -> None:
        data = self.data
        if not data:
            self.demo_index.reset(np.zeros(0, bool), np.zeros(0, bool))
            return
        demo = np.fromiter((is_demo(i) for i in data[self.columns.info]), dtype=bool, count=len(data[0]))
        done = np.fromiter((bool(d) for d in data[self.columns.done]), dtype=bool, count=len(data[0]))
        self.demo_index.reset(demo, done)

    def append_buffer(self, buffer: Any) -> None:
        before = raw_sample_count(self.data)
        append_safely(self, buffer, super().append_buffer)  # type: ignore[misc, arg-type]  # mixed into a tmrl memory
        trimmed = before + len(buffer.memory) - raw_sample_count(self.data)
        self.demo_index.extend(np.fromiter((is_demo(s[INFO]) for s in buffer.memory), bool, len(buffer.memory)),
                               np.fromiter((ends_episode(s) for s in buffer.memory), bool, len(buffer.memory)),
                               trimmed)

    def sample_indices(self) -> Any:
        offset = self.transition_offset
        if self.demo_weight == 1.0:
            indices = list(super().sample_indices())  # type: ignore[misc]  # exactly tmrl's uniform sampler
            demos = self.demo_index.count_demos(indices, offset)
        else:
            demo_items, other_items = self.demo_index.groups(len(self), offset)  # type: ignore[arg-type]
            indices, demos = draw_weighted(demo_items, other_items, self.demo_weight, self.batch_size, self._rng)
        self.sampled_demos += demos
        self.sampled_total += len(indices)
        return indices


class DemoWeightedGenericTorchMemory(DemoWeightedSampling, GenericTorchMemory):
    columns = GENERIC_COLUMNS


class _DemoWeightedTM(DemoWeightedSampling):
    columns = TRACKMANIA_COLUMNS
    min_samples: int

    @property
    def transition_offset(self) -> int:
        return self.min_samples


class DemoWeightedMemoryTMLidar(_DemoWeightedTM, MemoryTMLidar):
    pass


class DemoWeightedMemoryTMLidarProgress(_DemoWeightedTM, MemoryTMLidarProgress):
    pass


class DemoWeightedMemoryTMFull(_DemoWeightedTM, MemoryTMFull):
    pass


WEIGHTED_MEMORIES: dict[type, type] = {
    GenericTorchMemory: DemoWeightedGenericTorchMemory,
    MemoryTMLidar: DemoWeightedMemoryTMLidar,
    MemoryTMLidarProgress: DemoWeightedMemoryTMLidarProgress,
    MemoryTMFull: DemoWeightedMemoryTMFull,
}


def weighted_memory_cls(memory_partial: partial, weight: float) -> partial:
    """The configured memory partial, with its class swapped for the demo-weighted one."""
    base = memory_partial.func
    if base not in WEIGHTED_MEMORIES:
        raise TypeError(f"demo-weighted sampling supports tmrl's stock memories, not {base.__name__}")
    return partial(WEIGHTED_MEMORIES[base], *memory_partial.args, **memory_partial.keywords, demo_weight=weight)
