"""Checking run samples before anything is written, in two layers.

1. The spec's schema: each sample is ``(act, obs, rew, terminated, truncated, info)`` with boolean
   flags and a dict info; episodes end with a terminated or truncated flag.
2. Compatibility with the CURRENT tmrl configuration: every observation has the signature the
   configured interface + observation preprocessor produce, every action the action space's shape.

A failure raises ValidationError naming the file, the sample index, what was expected and found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from playerruns.errors import ValidationError
from playerruns.runs.signature import Signature, describe, format_signature, signature_of

_BOOL_TYPES = (bool, np.bool_)


@dataclass(frozen=True)
class Compatibility:
    """What the current tmrl configuration expects of a RAW sample (before the sample compressor)."""

    interface: str  # e.g. "TM20LIDAR" or "gym:Pendulum-v1"
    obs_signature: Signature
    action_shape: tuple[int, ...]
    compressed_obs_signature: Signature | None = None  # to explain a file stored compressed

    def describe_obs(self) -> str:
        return format_signature(self.obs_signature)


def check_samples(samples: Sequence[Any], compat: Compatibility | None, source: str) -> None:
    """Validates ``samples`` against the schema and, if ``compat`` is given, the configuration."""
    if not isinstance(samples, (list, tuple)):
        raise ValidationError(f"{source}: 'samples' must be a list, found {type(samples).__name__}")
    if len(samples) == 0:
        raise ValidationError(f"{source}: holds no samples")
    episode_start = True
    for i, sample in enumerate(samples):
        _check_schema(sample, i, source, episode_start)
        if compat is not None:
            _check_compat(sample, i, source, compat)
        episode_start = bool(sample[3]) or bool(sample[4])
    if not episode_start:
        raise ValidationError(
            f"{source}: sample {len(samples) - 1}: the last episode does not end "
            "(neither terminated nor truncated is True on the last sample)"
        )


def _check_schema(sample: Any, i: int, source: str, episode_start: bool) -> None:
    where = f"{source}: sample {i}"
    if not isinstance(sample, (tuple, list)) or len(sample) != 6:
        found = f"{type(sample).__name__} of length {len(sample)}" if isinstance(sample, (tuple, list)) \
            else type(sample).__name__
        raise ValidationError(f"{where}: expected a tuple (act, obs, rew, terminated, truncated, info), found {found}")
    act, _obs, rew, terminated, truncated, info = sample
    if not isinstance(terminated, _BOOL_TYPES):
        raise ValidationError(f"{where}: 'terminated' must be a bool, found {type(terminated).__name__}")
    if not isinstance(truncated, _BOOL_TYPES):
        raise ValidationError(f"{where}: 'truncated' must be a bool, found {type(truncated).__name__}")
    if not isinstance(info, dict):
        raise ValidationError(f"{where}: 'info' must be a dict, found {type(info).__name__}")
    if isinstance(rew, _BOOL_TYPES) or not isinstance(rew, (Real, np.number)):
        raise ValidationError(f"{where}: 'rew' must be a number, found {type(rew).__name__}")
    if act is None and not episode_start:
        raise ValidationError(f"{where}: action is None outside an episode's reset sample")


def _check_compat(sample: Any, i: int, source: str, compat: Compatibility) -> None:
    act, obs = sample[0], sample[1]
    sig = signature_of(obs)
    if sig != compat.obs_signature:
        hint = ""
        if compat.compressed_obs_signature is not None and sig == compat.compressed_obs_signature:
            hint = (" (this looks like a sample already passed through the sample compressor: "
                    "run files must hold raw samples)")
        raise ValidationError(
            f"{source}: sample {i}: observation does not fit the current tmrl configuration "
            f"({compat.interface}): expected {compat.describe_obs()}, found {format_signature(sig)}{hint}"
        )
    if act is None:
        return
    if not isinstance(act, np.ndarray) or act.shape != compat.action_shape or act.dtype.kind != "f":
        expected = f"a float array of shape {list(compat.action_shape)}"
        raise ValidationError(
            f"{source}: sample {i}: action does not fit the current tmrl configuration ({compat.interface}): "
            f"expected {expected}, found {describe(act)}"
        )
