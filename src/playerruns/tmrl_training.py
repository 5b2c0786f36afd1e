"""The trainer side inside tmrl: a training class and replay memories that extend tmrl's own.

- ``DemoWeighted*`` memories are the four stock tmrl memories plus demo-weighted sampling
  (``playerruns.sampling``); with weight 1 they sample exactly as tmrl does.
- ``PlayerRunsTraining`` is tmrl's ``TorchTrainingOffline`` plus online injection on every buffer
  update and a per-epoch log of the demo fraction of sampled batches.
Everything here is defined at module level and holds no open resource: tmrl checkpoints the whole
training instance with pickle and resumes from it.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import numpy as np
from tmrl.custom.custom_memories import GenericTorchMemory, MemoryTMFull, MemoryTMLidar, MemoryTMLidarProgress
from tmrl.training_offline import TorchTrainingOffline

from playerruns.config import PlayerRunsConfig
from playerruns.dataset import DEMO_FLAG, demo_samples
from playerruns.injection import InjectionRecord, SourcePoller
from playerruns.sampling import DemoIndex, draw_weighted
from playerruns.tmrl_bridge import SampleBatch, TmrlSetup, append_safely, load_setup, raw_sample_count

log = logging.getLogger(__name__)


def _is_demo(info: Any) -> bool:
    return isinstance(info, dict) and info.get(DEMO_FLAG) is True


class DemoWeightedSampling:
    """Mixin for a tmrl memory: demo transitions are drawn ``demo_weight`` times as often."""

    _done_column: int  # the memory's column of episode-end flags (terminated or truncated)
    _info_column: int

    def __init__(self, *args: Any, demo_weight: float = 1.0, **kwargs: Any) -> None:
        self.demo_weight = float(demo_weight)
        self.demo_index = DemoIndex()
        self.sampled_demos = 0
        self.sampled_total = 0
        self._rng = np.random.default_rng()
        super().__init__(*args, **kwargs)
        self.rebuild_demo_index()

    @property
    def transition_offset(self) -> int:
        """Transition ``i`` ends at raw sample ``i + transition_offset``."""
        return 1

    def rebuild_demo_index(self) -> None:
        data = self.data
        if not data:
            self.demo_index.reset(np.zeros(0, bool), np.zeros(0, bool))
            return
        demo = np.fromiter((_is_demo(i) for i in data[self._info_column]), dtype=bool, count=len(data[0]))
        done = np.fromiter((bool(d) for d in data[self._done_column]), dtype=bool, count=len(data[0]))
        self.demo_index.reset(demo, done)

    def append_buffer(self, buffer: Any) -> None:
        before = raw_sample_count(self.data)
        append_safely(self, buffer, super().append_buffer)
        trimmed = before + len(buffer.memory) - raw_sample_count(self.data)
        self.demo_index.extend(np.fromiter((_is_demo(s[5]) for s in buffer.memory), bool, len(buffer.memory)),
                               np.fromiter((bool(s[3] or s[4]) for s in buffer.memory), bool, len(buffer.memory)),
                               trimmed)

    def sample_indices(self) -> Any:
        offset = self.transition_offset
        if self.demo_weight == 1.0:
            indices = list(super().sample_indices())  # exactly tmrl's uniform sampler
            demos = self.demo_index.count_demos(indices, offset)
        else:
            demo_items, other_items = self.demo_index.groups(len(self), offset)
            indices, demos = draw_weighted(demo_items, other_items, self.demo_weight, self.batch_size, self._rng)
        self.sampled_demos += demos
        self.sampled_total += len(indices)
        return indices


class DemoWeightedGenericTorchMemory(DemoWeightedSampling, GenericTorchMemory):
    _done_column = 6
    _info_column = 5


class _DemoWeightedTM(DemoWeightedSampling):
    _done_column = 4
    _info_column = 6

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


class PlayerRunsTraining(TorchTrainingOffline):
    """tmrl's training loop plus online injection of player runs and demo-fraction logging."""

    def __init__(self, *args: Any, player_runs: PlayerRunsConfig | None = None, **kwargs: Any) -> None:
        self.player_runs = player_runs or PlayerRunsConfig()
        self.injection_record = InjectionRecord()
        super().__init__(*args, **kwargs)

    # transient helpers are rebuilt after a checkpoint is loaded
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_poller", None)
        state.pop("_setup", None)
        return state

    def _tmrl_setup(self) -> TmrlSetup:
        if getattr(self, "_setup", None) is None:
            self._setup = load_setup()
        return self._setup

    def _source_poller(self) -> SourcePoller:
        if getattr(self, "_poller", None) is None:
            cfg = self.player_runs
            self._poller = SourcePoller(cfg.source_path, self.injection_record, self._tmrl_setup().compat,
                                        consume=cfg.CONSUME_ON_READ, max_files=cfg.MAX_FILES_PER_UPDATE,
                                        reject_after=cfg.REJECT_AFTER_SECONDS)
        return self._poller

    def update_buffer(self, interface: Any) -> None:
        super().update_buffer(interface)
        if self.player_runs.ONLINE_INJECTION:
            self.inject_player_runs()

    def inject_player_runs(self) -> int:
        """Polls SOURCE_PATH once and injects what is new; returns the samples appended."""
        poller = self._source_poller()
        runs = poller.poll()
        repeat = self.player_runs.DEMO_INJECTION_REPEAT
        appended = 0
        for run in runs:
            samples = demo_samples(run, self._tmrl_setup())
            append_safely(self.memory, SampleBatch(samples * repeat))  # one append: tmrl trims once
            appended += len(samples) * repeat
            poller.mark_injected(run, len(samples) * repeat)
        if runs:
            self.total_samples += appended
            log.info(f"Player runs injected {len(runs)} file(s): {appended // repeat} samples x{repeat} repeat = "
                     f"{appended} samples (run ids: {', '.join(r.run_id for r in runs)})")
        return appended

    def run_epoch(self, interface: Any) -> list[Any]:
        memory = self.memory
        before = (getattr(memory, "sampled_demos", 0), getattr(memory, "sampled_total", 0))
        stats = super().run_epoch(interface)
        if isinstance(memory, DemoWeightedSampling):
            demos = memory.sampled_demos - before[0]
            total = memory.sampled_total - before[1]
            fraction = demos / total if total else 0.0
            in_memory = memory.demo_index.n_demo_samples
            raw = raw_sample_count(memory.data)
            log.info(f"Player runs: demo fraction of sampled batches this epoch: {fraction:.3f} "
                     f"(DEMO_SAMPLING_WEIGHT={memory.demo_weight:g}; {in_memory} of {raw} samples in memory are demos)")
            for s in stats:  # tmrl sends these to wandb with the round's other statistics
                s["demo_fraction_sampled"] = fraction
                s["demo_fraction_memory"] = in_memory / raw if raw else 0.0
        return stats


def update_training_instance(run_instance: Any, training_cls: partial, tmrl_updater: Any = None) -> Any:
    """Runs tmrl's checkpoint updater, then brings a resumed instance up to the current PLAYER_RUNS config.

    A checkpoint made by a stock tmrl trainer is upgraded in place (its memory and record kept).
    """
    previous = run_instance
    if tmrl_updater is not None:
        run_instance = tmrl_updater(run_instance, training_cls)
    config = training_cls.keywords.get("player_runs") or PlayerRunsConfig()
    if not isinstance(run_instance, PlayerRunsTraining):
        run_instance.__class__ = PlayerRunsTraining
        run_instance.injection_record = InjectionRecord()
    if run_instance is not previous and isinstance(previous, PlayerRunsTraining):
        run_instance.injection_record = previous.injection_record  # RESET_TRAINING keeps the memory, so the record
    run_instance.player_runs = config
    memory = run_instance.memory
    if not isinstance(memory, DemoWeightedSampling) and type(memory) in WEIGHTED_MEMORIES:
        memory.__class__ = WEIGHTED_MEMORIES[type(memory)]
        memory.demo_index, memory.sampled_demos, memory.sampled_total = DemoIndex(), 0, 0
        memory._rng = np.random.default_rng()
        memory.rebuild_demo_index()
    if isinstance(memory, DemoWeightedSampling):
        memory.demo_weight = config.DEMO_SAMPLING_WEIGHT
    return run_instance
