"""The one path from a run file to the samples a replay memory appends, for the import, online
injection from SOURCE_PATH and runs shipped through the server alike::

    run file --safe load, validate (runs.demos)--> RunFile --stale-reward check--> warning if stale
        --tag info (is_demo, player_run_id)--> --SAMPLE_COMPRESSOR--> --detach views--> memory samples

A run's rewards were computed from the reward file and REWARD_CONFIG of the machine that recorded
it; recordings stamp that in their metadata (``reward_stamp``), and this path warns when the
current configuration would compute other rewards (the rewards are used as recorded). It also warns
when the player's episodes nearly fill the episode step limit (``step_limit_warning``).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from playerruns.bridge.setup import TmrlSetup
from playerruns.runs.demos import demo_samples
from playerruns.runs.runfile import RunFile, episode_end
from playerruns.runs.sample import OBS, Sample, split_episodes

log = logging.getLogger(__name__)

STAMP_KEY = "reward_stamp"
# An agent that has just cloned the player drives slower than them at first: on MiniTrack its laps at the first
# evaluations took up to 19 % more steps than the player's median lap (docs/warmup.md). With a step limit less than
# this much above the player's typical episode, such an agent runs out of steps before it reaches the end.
STEP_LIMIT_ROOM = 1.2


def reward_stamp(setup: TmrlSetup) -> dict[str, Any] | None:
    """What the current configuration's rewards are computed from: a digest of the reward file (or
    ``"none"``: tmrl then uses a dummy trajectory) and REWARD_CONFIG. None outside TrackMania."""
    if setup.reward_path is None:
        return None
    try:
        digest = hashlib.sha256(setup.reward_path.read_bytes()).hexdigest()[:16]
    except FileNotFoundError:
        digest = "none"
    return {"trajectory": digest, "config": dict(setup.reward_config or {})}


def stale_rewards(metadata: dict[str, Any], current: dict[str, Any] | None) -> str | None:
    """Why a run's rewards differ from what the current configuration would compute, in a few words;
    None when they match or the run carries no stamp (recorded before stamps, or not TrackMania)."""
    recorded = metadata.get(STAMP_KEY)
    if current is None or not isinstance(recorded, dict):
        return None
    if recorded.get("trajectory") != current["trajectory"]:
        return "rewards from another reward trajectory"
    if recorded.get("config") != current["config"]:
        return "rewards from another REWARD_CONFIG"
    return None


def warn_if_stale(run: RunFile, current: dict[str, Any] | None) -> None:
    """Logs a warning for a run whose rewards the current reward would not give."""
    why = stale_rewards(run.metadata, current)
    if why is not None:
        log.warning(f"Player run {run.run_id} ({run.source or 'sent'}): {why} than the current one; its rewards "
                    "are used as recorded (python -m playerruns --relabel-rewards recomputes them)")


def step_limit_warning(episodes: Sequence[tuple[int, bool]], limit: int) -> str | None:
    """Why the step limit is too tight for an agent that drives like the player, in words; None when the
    player's median episode to an end (``(steps, terminated)`` pairs: the ones terminated), ``STEP_LIMIT_ROOM``
    times over, still fits in ``limit``. A task whose episodes all run to the limit (no end to reach) is quiet."""
    ended = sorted(steps for steps, terminated in episodes if terminated)
    if not ended or limit <= 0:
        return None
    median = float(ended[len(ended) // 2])
    if median * STEP_LIMIT_ROOM <= limit:
        return None
    at_limit = sum(not terminated and steps >= limit for steps, terminated in episodes)
    return (f"the player's median episode to the end lasts {median:.0f} of the {limit} steps an episode may last "
            f"({at_limit} of {len(episodes)} ran out of steps): an agent that drives like them, only a little slower, "
            f"runs out of steps before the end; give episodes at least {math.ceil(median * STEP_LIMIT_ROOM)} steps "
            "(RW_MAX_SAMPLES_PER_EPISODE, and the environment's own limit)")


class DemoPath:
    """Turns checked run files into the samples the configured memory appends. Built once per import
    or per trainer update (it reads the reward stamp once)."""

    def __init__(self, setup: TmrlSetup) -> None:
        self.setup = setup
        self.stamp = reward_stamp(setup)
        self.episodes: list[tuple[int, bool]] = []  # (steps, terminated) of the runs since warn_if_step_limit_tight

    def memory_samples(self, run: RunFile) -> list[Sample]:
        """``run``'s samples tagged as its demos, compressed as a worker would, views detached."""
        warn_if_stale(run, self.stamp)
        self.episodes.extend((max(len(episode) - 1, 0), episode_end(episode) == "terminated")  # less its reset
                             for episode in split_episodes(run.samples))
        return detach_views(demo_samples(run, self.setup.compress))

    def warn_if_step_limit_tight(self, what: str) -> None:
        """Logs ``step_limit_warning`` for the episodes of the runs read since the last call (``what`` names
        them), once; then starts counting afresh."""
        why = step_limit_warning(self.episodes, self.setup.episode_step_limit)
        self.episodes = []
        if why is not None:
            log.warning(f"Player runs ({what}): {why}")


def detach_views(samples: list[Sample]) -> list[Sample]:
    """``samples`` with each observation array that is a view of a larger array replaced by a copy.

    A compressor may slice the raw observation (the lidar ones keep ``obs[1][-19:]``, the newest of
    4 scans): the slice is a view that keeps the whole raw array alive, in the import's memory and
    in the trainer's replay alike. A copy holds the same values and pickles to the same bytes (numpy
    pickles only a view's own elements). Which observation entries are views is read from the first
    sample: every sample of a run has the same structure (validated) and goes through the same
    compressor. Actions are passed through by the compressors, unsliced.
    """
    if not samples:
        return samples
    first = samples[0][OBS]
    if isinstance(first, np.ndarray):
        if first.base is None:
            return samples
        return [(a, o.copy(), r, te, tr, i) for a, o, r, te, tr, i in samples]
    if not isinstance(first, tuple):
        return samples
    views = [k for k, o in enumerate(first) if isinstance(o, np.ndarray) and o.base is not None]
    if not views:
        return samples

    def detach(obs: tuple) -> tuple:
        leaves = list(obs)
        for k in views:
            leaves[k] = leaves[k].copy()
        return tuple(leaves)

    return [(a, detach(o), r, te, tr, i) for a, o, r, te, tr, i in samples]
