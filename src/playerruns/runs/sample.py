"""The sample a tmrl rollout worker collects, with its fields named.

A sample stays a plain 6-tuple on disk and in memory (``(act, obs, rew, terminated, truncated,
info)``): that is what tmrl's memories and the restricted unpickler expect. The constants below
name its positions so code says ``sample[TERMINATED]`` rather than ``sample[3]``.
"""

from __future__ import annotations

from typing import Any

ACT, OBS, REW, TERMINATED, TRUNCATED, INFO = range(6)

Sample = tuple[Any, Any, Any, Any, Any, Any]  # (act, obs, rew, terminated, truncated, info)


def ends_episode(sample: Sample) -> bool:
    """True when the sample is the last of its episode (terminated or truncated)."""
    return bool(sample[TERMINATED]) or bool(sample[TRUNCATED])


def split_episodes(samples: list[Sample]) -> list[list[Sample]]:
    """Cuts samples into episodes after each terminated or truncated flag."""
    episodes: list[list[Sample]] = []
    current: list[Sample] = []
    for s in samples:
        current.append(s)
        if ends_episode(s):
            episodes.append(current)
            current = []
    if current:
        episodes.append(current)
    return episodes
