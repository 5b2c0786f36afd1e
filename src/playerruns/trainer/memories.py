"""tmrl's four stock replay memories, plus demo-weighted sampling (``playerruns.trainer.sampling``).

With weight 1 they sample exactly as tmrl does. Defined at module level and holding no open resource:
tmrl checkpoints the whole training instance, memory included, with pickle.
"""

from __future__ import annotations

import logging
import math
import sys
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

import numpy as np
from tmrl.custom.custom_memories import GenericTorchMemory, MemoryTMFull, MemoryTMLidar, MemoryTMLidarProgress

from playerruns.bridge.seeding import generator
from playerruns.bridge.setup import append_safely, raw_sample_count
from playerruns.runs.demos import TAKE_OVER_KEY, is_demo, is_intervention, run_id_of
from playerruns.runs.sample import INFO, ends_episode
from playerruns.trainer.sampling import DemoIndex, DemoSchedule, demo_returns

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ColumnLayout:
    """Where a tmrl memory keeps the columns the demo index reads (positions in ``memory.data``)."""

    done: int  # episode-end flags (terminated or truncated)
    info: int  # the samples' info dicts, where the demo tag is
    reward: int  # the reward of the step that ends at the sample


# GenericTorchMemory: act, obs, rew, terminated, truncated, info, done
GENERIC_COLUMNS = ColumnLayout(done=6, info=5, reward=2)
# MemoryTMLidar / LidarProgress / Full: index, act, speed, lidar or images, eoe (done), rew, info, ...
TRACKMANIA_COLUMNS = ColumnLayout(done=4, info=6, reward=5)


def episodes_with_demos(demo: np.ndarray, done: np.ndarray) -> np.ndarray:
    """Per raw sample: True where the episode it belongs to (samples up to and including a done flag) holds a
    demo sample."""
    if len(demo) == 0:
        return np.zeros(0, dtype=bool)
    episode = np.concatenate([[0], np.cumsum(done[:-1], dtype=np.int64)])
    return (np.bincount(episode, weights=demo.astype(np.float64)) > 0)[episode]


class TakeOverCounts:
    """What the workers' samples say of the person taking over (``playerruns.takeover``): steps received from
    workers (injected runs are not counted), the steps a person drove, the take-overs, and where on the lap
    the latest take-overs began (for the trainer's epoch record, which drains them)."""

    MAX_PLACES = 1000  # the places kept between two epochs

    def __init__(self) -> None:
        self.worker_steps = 0
        self.person_steps = 0
        self.take_overs = 0
        self.places: list[float] = []
        self.reported = (0, 0, 0)  # the counts at the last report

    def count(self, samples: Any) -> None:
        for sample in samples:
            info = sample[INFO]
            if run_id_of(info) is not None:
                continue  # a player run's copy, injected or imported
            self.worker_steps += 1
            if not is_intervention(info):
                continue
            self.person_steps += 1
            if TAKE_OVER_KEY in info:
                self.take_overs += 1
                place = info[TAKE_OVER_KEY]
                if (isinstance(place, (int, float)) and not isinstance(place, bool) and 0.0 <= place < math.inf
                        and len(self.places) < self.MAX_PLACES):  # a lap's share, or metres along the track
                    self.places.append(round(float(place), 3))

    def report(self) -> dict[str, Any]:
        """The statistics channel's take-over figures since the last report (see ``trainer.statistics``)."""
        steps, person, take_overs = (now - then for now, then in zip(
            (self.worker_steps, self.person_steps, self.take_overs), self.reported, strict=True))
        self.reported = (self.worker_steps, self.person_steps, self.take_overs)
        places, self.places = self.places, []
        return {"intervention_rate": person / steps if steps else 0.0, "person_steps": person,
                "take_overs": take_overs, "take_over_at": places, "person_steps_total": self.person_steps,
                "worker_steps_total": self.worker_steps}


class DemoBatch(tuple):
    """tmrl's collated batch ``(obs, act, rew, next_obs, terminated, truncated)``, plus ``demo``: one
    flag per row, True where the transition comes from a player run, and ``demo_return``: the player's
    discounted return from each demo row on (NaN elsewhere; None when the memory does not compute it,
    see ``sampling.demo_returns``). Unpacks like tmrl's tuple, so stock agents train on it unchanged."""

    demo: np.ndarray
    demo_return: np.ndarray | None

    def __new__(cls, batch: Any, demo: np.ndarray, demo_return: np.ndarray | None = None) -> DemoBatch:
        obj = super().__new__(cls, batch)
        obj.demo = demo
        obj.demo_return = demo_return
        return obj


class DemoWeightedSampling:
    """Mixin for a tmrl memory: demo transitions drawn by a ``DemoSchedule``, optionally kept through trimming."""

    columns: ClassVar[ColumnLayout]
    data: list[list[Any]]
    batch_size: int
    memory_size: int
    device: Any

    def __init__(self, *args: Any, demo_schedule: DemoSchedule | None = None, keep_demos: bool = False,
                 return_gamma: float | None = None, **kwargs: Any) -> None:
        self.init_demo_state(demo_schedule or DemoSchedule(), keep_demos, return_gamma)
        super().__init__(*args, **kwargs)
        self.rebuild_demo_index()

    def init_demo_state(self, demo_schedule: DemoSchedule, keep_demos: bool = False,
                        return_gamma: float | None = None) -> None:
        """The mixin's own state (also given to a stock memory upgraded in place from a checkpoint)."""
        self.demo_schedule = demo_schedule
        self.keep_demos = keep_demos
        self.demo_rows_needed = False  # set by the trainer when its agent reads DemoBatch.demo
        self.demo_index = DemoIndex()
        self.sampled_demos = 0
        self.sampled_total = 0
        self.sampled_batches = 0  # the training steps the schedule counts
        self._rng = generator("demo-weighted sampling")
        self.warned_demo_overflow = False
        self.return_gamma = return_gamma  # DEMO_RETURN_BOUND: batches carry the player's returns, discounted by it
        self._returns: tuple[int, np.ndarray] | None = None  # (demo index version, returns per raw sample)
        self.takeovers = TakeOverCounts()

    @classmethod
    def from_memory(cls, stock: Any, demo_schedule: DemoSchedule, keep_demos: bool = False) -> Any:
        """A demo-weighted memory holding a stock tmrl memory's data and settings (a stock trainer's
        checkpoint resumed by playerruns), its demo index built from that data."""
        memory = cls.__new__(cls)
        memory.__dict__.update(stock.__dict__)
        memory.init_demo_state(demo_schedule, keep_demos)
        memory.rebuild_demo_index()
        return memory

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("sampled_batches", 0)  # checkpoints of earlier versions
        self.__dict__.setdefault("return_gamma", None)
        self.__dict__.setdefault("takeovers", TakeOverCounts())
        self._returns = None  # a cache
        legacy = self.__dict__.pop("_warned_demo_overflow", False)  # the name in earlier checkpoints
        self.__dict__.setdefault("warned_demo_overflow", legacy)

    @property
    def demo_weight(self) -> float:
        """The demo weight in force now (1 under a fixed share)."""
        return self.demo_schedule.weight_at(raw_sample_count(self.data))

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
        limit = self.memory_size
        if self.keep_demos:
            self.memory_size = sys.maxsize  # tmrl must not trim: the demos are taken out of the cut first
        try:
            append_safely(self, buffer, super().append_buffer)  # type: ignore[misc, arg-type]  # mixed into a tmrl memory
        finally:
            self.memory_size = limit
        trimmed = before + len(buffer.memory) - raw_sample_count(self.data)
        self.demo_index.extend(np.fromiter((is_demo(s[INFO]) for s in buffer.memory), bool, len(buffer.memory)),
                               np.fromiter((ends_episode(s) for s in buffer.memory), bool, len(buffer.memory)),
                               trimmed)
        self.takeovers.count(buffer.memory)
        if self.keep_demos:
            self.trim_keeping_demos()

    def trim_keeping_demos(self) -> None:
        """Trims to ``memory_size`` as tmrl does, oldest first, but evicts only episodes without a demo sample:
        the episodes holding demos (a player run's, or a worker's episode where a person took over) met in the
        cut move, whole and in order, to the front of the memory (still counted in ``memory_size``), so every
        transition still pairs the samples it paired. When those alone overflow the memory, the oldest go too."""
        excess = len(self) - self.memory_size  # type: ignore[arg-type]  # tmrl's own trimming rule
        if excess <= 0:
            return
        demo, done = self.demo_index.demo, self.demo_index.done
        kept = episodes_with_demos(demo, done)
        others = np.flatnonzero(~kept)
        if len(others) <= excess:
            if not self.warned_demo_overflow:
                log.warning(f"Player runs: demos alone fill MEMORY_SIZE ({self.memory_size}); the oldest demos are "
                            f"trimmed too")
                self.warned_demo_overflow = True
            moved, cut = np.zeros(0, dtype=np.int64), excess
        else:
            cut = int(others[excess - 1]) + 1  # a kept episode is contiguous, so none straddles the cut
            moved = np.flatnonzero(kept[:cut])
        head = moved.tolist()
        for c, column in enumerate(self.data):  # a few moved demos, then one slice, as tmrl's own trim
            self.data[c] = [column[i] for i in head] + column[cut:]
        keep = np.concatenate([moved, np.arange(cut, len(demo))])
        self.demo_index.reset(demo[keep], done[keep])

    def sample(self) -> DemoBatch:
        """tmrl's ``Memory.sample``, plus the demo flag of each row."""
        indices = self.sample_indices()
        demo = self.demo_index.demo[np.asarray(indices, dtype=np.int64) + self.transition_offset]
        return self._collate(indices, demo)

    def sample_demos_only(self) -> DemoBatch:
        """A batch of demo transitions only (the agent's pretraining phase)."""
        demo_items, _ = self.demo_index.groups(len(self), self.transition_offset)  # type: ignore[arg-type]
        if len(demo_items) == 0:
            raise ValueError("no demo transition in the replay memory")
        indices = demo_items[self._rng.integers(0, len(demo_items), self.batch_size)].tolist()
        return self._collate(indices, np.ones(len(indices), dtype=bool))

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_returns": None}  # a cache: rebuilt on the next batch

    def _collate(self, indices: list[int], demo: np.ndarray) -> DemoBatch:
        """The transitions ``indices`` through tmrl's ``__getitem__`` and ``collate``, with their demo flags
        (and the player's returns from them, when asked for)."""
        rows = [self[i] for i in indices]  # type: ignore[index]  # tmrl's __getitem__
        returns = None
        if self.return_gamma is not None:
            returns = self.demo_returns()[np.asarray(indices, dtype=np.int64) + self.transition_offset]
        return DemoBatch(self.collate(rows, self.device), demo, returns)  # type: ignore[attr-defined]

    def demo_returns(self) -> np.ndarray:
        """``sampling.demo_returns`` of the memory's raw samples, recomputed when the demo index changes."""
        index = self.demo_index
        if self._returns is None or self._returns[0] != index.version:
            rewards = np.fromiter((float(r) for r in self.data[self.columns.reward]), dtype=np.float64,
                                  count=len(index.demo)) if self.data else np.zeros(0)
            gamma = float(self.return_gamma or 0.0)
            self._returns = (index.version, demo_returns(rewards, index.demo, index.done, gamma))
        return self._returns[1]

    def sample_indices(self) -> Any:
        offset = self.transition_offset
        schedule = self.demo_schedule
        if schedule.is_uniform and not self.demo_rows_needed:
            indices = list(super().sample_indices())  # type: ignore[misc]  # exactly tmrl's uniform sampler
            demos = self.demo_index.count_demos(indices, offset)
        else:
            demo_items, other_items = self.demo_index.groups(len(self), offset)  # type: ignore[arg-type]
            indices, demos = schedule.draw(demo_items, other_items, self.batch_size, self._rng,
                                           samples_in_memory=raw_sample_count(self.data), steps=self.sampled_batches)
        self.sampled_demos += demos
        self.sampled_total += len(indices)
        self.sampled_batches += 1
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


WEIGHTED_MEMORIES: dict[type, type[DemoWeightedSampling]] = {
    GenericTorchMemory: DemoWeightedGenericTorchMemory,
    MemoryTMLidar: DemoWeightedMemoryTMLidar,
    MemoryTMLidarProgress: DemoWeightedMemoryTMLidarProgress,
    MemoryTMFull: DemoWeightedMemoryTMFull,
}


def weighted_memory_cls(memory_partial: partial, schedule: DemoSchedule, keep_demos: bool = False,
                        return_gamma: float | None = None) -> partial:
    """The configured memory partial, with its class swapped for the demo-weighted one (whose batches carry
    the player's returns, discounted by ``return_gamma``, when it is given)."""
    base = memory_partial.func
    if base not in WEIGHTED_MEMORIES:
        raise TypeError(f"demo-weighted sampling supports tmrl's stock memories, not {base.__name__}")
    extra = {} if return_gamma is None else {"return_gamma": return_gamma}
    return partial(WEIGHTED_MEMORIES[base], *memory_partial.args, **memory_partial.keywords,
                   demo_schedule=schedule, keep_demos=keep_demos, **extra)
