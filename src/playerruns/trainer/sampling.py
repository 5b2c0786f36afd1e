"""Demo-weighted replay sampling, as plain numpy over per-sample flags.

Two ways to say how often demos are drawn (``DemoSchedule``):
- a weight ``w``: every demo transition is ``w`` times as likely to be drawn as any other, so a
  batch's expected demo fraction is ``w * n_demo / (w * n_demo + n_other)``; optionally decaying
  linearly to 1 as the memory fills (``DEMO_WEIGHT_DECAY_SAMPLES``);
- a fraction ``f``: an exact share of every batch, optionally annealed linearly to a floor over a
  number of training steps (``DEMO_SAMPLING_FRACTION``), whatever the memory holds.
A draw picks the number of demos in the batch, then draws uniformly inside each group: O(batch)
work per batch whatever the memory size. Transitions whose previous sample ends an episode are never drawn
(tmrl's memories would re-draw or shift them, silently diluting the weighting).

The index works per transition; the episode-sequence memory (``playerruns.trainer.sequences``) draws
window starts through the same schedule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class DemoIndex:
    """Demo and episode-end flags, one per raw sample, kept in step with a replay memory."""

    def __init__(self) -> None:
        self.demo = np.zeros(0, dtype=bool)
        self.done = np.zeros(0, dtype=bool)
        self.version = 0  # changes whenever the flags do (caches of the memory key on it)
        self._groups: tuple[int, int, np.ndarray, np.ndarray] | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_groups": None}  # a cache: not worth its megabytes in tmrl's checkpoints

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("version", 0)  # checkpoints of earlier versions

    def reset(self, demo: np.ndarray, done: np.ndarray) -> None:
        self.demo = np.asarray(demo, dtype=bool)
        self.done = np.asarray(done, dtype=bool)
        self.version += 1
        self._groups = None

    def extend(self, demo: np.ndarray, done: np.ndarray, trimmed: int) -> None:
        """Appends flags for new samples, then drops the ``trimmed`` oldest (as the memory did)."""
        self.demo = np.concatenate([self.demo, np.asarray(demo, dtype=bool)])[trimmed:]
        self.done = np.concatenate([self.done, np.asarray(done, dtype=bool)])[trimmed:]
        self.version += 1
        self._groups = None

    def groups(self, n_items: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
        """(demo items, other items) among valid transition indices ``0..n_items-1``.

        Transition ``i`` ends at raw sample ``i + offset`` and starts at ``i + offset - 1``; it is
        valid when that start does not end an episode.
        """
        if self._groups is None or self._groups[:2] != (n_items, offset):
            now = np.arange(n_items) + offset
            valid = ~self.done[now - 1] if n_items else np.zeros(0, dtype=bool)
            is_demo = self.demo[now] if n_items else np.zeros(0, dtype=bool)
            demo_items = np.flatnonzero(valid & is_demo)
            other_items = np.flatnonzero(valid & ~is_demo)
            self._groups = (n_items, offset, demo_items, other_items)
        return self._groups[2], self._groups[3]

    def count_demos(self, items: list[int], offset: int) -> int:
        return int(self.demo[np.asarray(items, dtype=np.int64) + offset].sum()) if items else 0

    @property
    def n_demo_samples(self) -> int:
        return int(self.demo.sum())


def demo_returns(rewards: np.ndarray, demo: np.ndarray, done: np.ndarray, gamma: float) -> np.ndarray:
    """Per raw sample, the player's discounted return from there to the end of its demo episode
    (``g[j] = r[j] + gamma * g[j + 1]`` within the episode), NaN where the sample is not a demo.

    An episode cut by the step limit or by the end of the memory counts nothing after its last
    sample: with rewards that are never negative (progress), that is a lower bound of what the
    player's action was worth."""
    out = np.full(len(demo), np.nan, dtype=np.float32)
    following = 0.0
    for j in np.flatnonzero(demo)[::-1]:  # backwards: each return needs the one after it
        nxt = j + 1
        continues = nxt < len(demo) and demo[nxt] and not done[j]
        following = float(rewards[j]) + gamma * (following if continues else 0.0)
        out[j] = following
    return out


@dataclass(frozen=True)
class DemoSchedule:
    """How large a share of each batch demos get, as training goes on (see the module docstring)."""

    weight: float = 1.0
    weight_decay_samples: int = 0  # 0: the weight stays as it is
    fraction: float | None = None  # None: weighting, not a fixed share
    fraction_final: float | None = None  # the floor the fraction anneals to (None: no annealing)
    anneal_steps: int = 0  # training steps over which the fraction goes down to its floor

    @property
    def is_uniform(self) -> bool:
        """True when demos are drawn like any other sample (tmrl's own sampler can serve)."""
        return self.fraction is None and self.weight == 1.0

    def weight_at(self, samples_in_memory: int) -> float:
        if self.weight_decay_samples <= 0:
            return self.weight
        left = max(0.0, 1.0 - samples_in_memory / self.weight_decay_samples)
        return 1.0 + (self.weight - 1.0) * left

    def fraction_at(self, steps: int) -> float | None:
        if self.fraction is None:
            return None
        if self.fraction_final is None or self.anneal_steps <= 0:
            return self.fraction
        done = min(1.0, steps / self.anneal_steps)
        return self.fraction + (self.fraction_final - self.fraction) * done

    def describe(self, samples_in_memory: int, steps: int) -> str:
        """The settings in the words of the config keys, with the values in force right now."""
        fraction = self.fraction_at(steps)
        if fraction is not None:
            text = f"DEMO_SAMPLING_FRACTION={self.fraction:g}"
            if self.fraction_final is not None and self.anneal_steps > 0:
                text += f" -> {self.fraction_final:g} over {self.anneal_steps} steps, now {fraction:.3f}"
            return text
        text = f"DEMO_SAMPLING_WEIGHT={self.weight:g}"
        if self.weight_decay_samples > 0:
            text += f" decaying over {self.weight_decay_samples} samples, now {self.weight_at(samples_in_memory):.3g}"
        return text

    def draw(self, demo_items: np.ndarray, other_items: np.ndarray, batch_size: int, rng: np.random.Generator,
             *, samples_in_memory: int, steps: int) -> tuple[list[int], int]:
        """A batch of transition indices under this schedule; returns (indices, demo count)."""
        fraction = self.fraction_at(steps)
        if fraction is None:
            return draw_weighted(demo_items, other_items, self.weight_at(samples_in_memory), batch_size, rng)
        return draw_share(demo_items, other_items, fraction, batch_size, rng)


def expected_demo_fraction(weight: float, n_demo: int, n_other: int) -> float:
    total = weight * n_demo + n_other
    return weight * n_demo / total if total > 0 else 0.0


def draw_weighted(demo_items: np.ndarray, other_items: np.ndarray, weight: float, batch_size: int,
                  rng: np.random.Generator) -> tuple[list[int], int]:
    """``batch_size`` transition indices with demos weighted by ``weight``; returns (indices, demo count)."""
    n_demo, n_other = len(demo_items), len(other_items)
    p_demo = expected_demo_fraction(weight, n_demo, n_other)
    if n_demo + n_other == 0:
        raise ValueError("no valid transition to sample")
    if weight * n_demo + n_other == 0:  # weight 0 and nothing but demos: nothing else to train on
        p_demo = 1.0
    k = int(rng.binomial(batch_size, p_demo)) if 0.0 < p_demo < 1.0 else (batch_size if p_demo >= 1.0 else 0)
    return _draw_groups(demo_items, other_items, k, batch_size, rng)


def draw_share(demo_items: np.ndarray, other_items: np.ndarray, fraction: float, batch_size: int,
               rng: np.random.Generator) -> tuple[list[int], int]:
    """``batch_size`` transition indices of which a share ``fraction`` are demos (all of one group when
    the other is empty); a fractional count is rounded up or down at random so the mean is exact."""
    n_demo, n_other = len(demo_items), len(other_items)
    if n_demo + n_other == 0:
        raise ValueError("no valid transition to sample")
    exact = fraction * batch_size
    k = int(exact) + int(rng.random() < exact - int(exact))
    if n_demo == 0:
        k = 0
    elif n_other == 0:
        k = batch_size
    return _draw_groups(demo_items, other_items, k, batch_size, rng)


def _draw_groups(demo_items: np.ndarray, other_items: np.ndarray, k: int, batch_size: int,
                 rng: np.random.Generator) -> tuple[list[int], int]:
    """``k`` demo items and ``batch_size - k`` others, uniformly within each group, shuffled together."""
    picks = []
    if k:
        picks.append(demo_items[rng.integers(0, len(demo_items), k)])
    if batch_size - k:
        picks.append(other_items[rng.integers(0, len(other_items), batch_size - k)])
    indices = np.concatenate(picks) if len(picks) > 1 else picks[0]
    rng.shuffle(indices)
    return indices.tolist(), k
