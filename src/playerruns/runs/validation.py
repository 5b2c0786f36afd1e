"""Checking run samples before anything is written, in three layers.

1. The spec's schema: each sample is ``(act, obs, rew, terminated, truncated, info)`` with boolean
   flags, a real reward and a dict info; episodes end with a terminated or truncated flag.
2. Compatibility with the CURRENT tmrl configuration: every observation has the signature the
   configured interface + observation preprocessor produce, every action the action space's shape.
3. Finite numbers of a sane size: a NaN or an infinity in a reward, an observation or an action would
   poison training, and so would a value of 1e30 (a flipped byte in an exponent): its square is
   infinite in float32, and the networks' outputs turn NaN. None is let through: observation and
   action values must stay within ``Compatibility.value_limit`` (``DEFAULT_VALUE_LIMIT``, or ten times
   the largest finite bound of the configured spaces if that is larger). Rewards are checked one by
   one; the float arrays of observations and actions are gathered over many samples and checked
   with one vectorized numpy call (a per-array call would cost more than all the other checks
   together); only when that call finds something are the samples searched one by one to name the
   culprit.

A failure raises ValidationError naming the file, the sample index, the field, what was expected and
found. Problems are reported in file order: the first bad sample is the one named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from playerruns.runs.errors import ValidationError
from playerruns.runs.sample import ACT, OBS, TERMINATED, TRUNCATED
from playerruns.runs.signature import MAX_DEPTH, Signature, describe, format_signature, matcher

_BOOL_TYPES = (bool, np.bool_)
_REAL_TYPES = (int, float, np.integer, np.floating)
_FLOAT_SCALARS = (float, complex, np.floating, np.complexfloating)
# tmrl stores rewards as float32: a finite reward beyond this range would still become inf
_REWARD_LIMIT = float(np.finfo(np.float32).max)
# float elements gathered before one vectorized finiteness check (bounds the temporary copy: a few MB)
_CHECK_ELEMENTS = 1 << 18
_MAX_NODES = 100_000  # nodes of one observation/action walked without a configuration to compare with
DEFAULT_VALUE_LIMIT = 1e6  # no sensor of a driving task reads more; a corrupted float32 exponent does


@dataclass(frozen=True)
class Compatibility:
    """What the current tmrl configuration expects of a RAW sample (before the sample compressor)."""

    interface: str  # e.g. "TM20LIDAR" or "gym:Pendulum-v1"
    obs_signature: Signature
    action_shape: tuple[int, ...]
    compressed_obs_signature: Signature | None = None  # to explain a file stored compressed
    value_limit: float = DEFAULT_VALUE_LIMIT  # the largest magnitude of an observation or action value

    def describe_obs(self) -> str:
        return format_signature(self.obs_signature)


def check_samples(samples: Sequence[Any], compat: Compatibility | None, source: str) -> None:
    """Validates ``samples`` against the schema, finiteness and, if ``compat`` is given, the configuration."""
    if not isinstance(samples, (list, tuple)):
        raise ValidationError(f"{source}: 'samples' must be a list, found {type(samples).__name__}")
    if len(samples) == 0:
        raise ValidationError(f"{source}: holds no samples")
    finite = _FiniteCheck(samples, compat, source)
    episode_start = True
    i = 0
    fits_obs = matcher(compat.obs_signature) if compat is not None else _anything
    fits_act = _action_matcher(compat.action_shape) if compat is not None else _anything
    try:
        if compat is not None and finite.how is not _FloatLeaves.WALK:  # the common case, kept tight (per sample)
            arrays, how, positions = finite.arrays, finite.how, finite.positions
            per_sample, elements = finite.per_sample, 0
            # decided once, not per sample: a local bool is tested ten times faster than an enum member
            gather_all, gather_self, gather_some = (how is _FloatLeaves.ALL, how is _FloatLeaves.SELF,
                                                    how is _FloatLeaves.SOME)
            for i, sample in enumerate(samples):
                _check_schema(sample, i, source, episode_start)
                act, obs = sample[ACT], sample[OBS]
                if not fits_obs(obs) or (act is not None and not fits_act(act)):
                    _raise_incompatible(act, obs, i, source, compat)
                if act is not None:
                    arrays.append(act)
                if gather_all:
                    arrays.extend(obs)
                elif gather_self:
                    arrays.append(obs)
                elif gather_some:
                    arrays.extend([obs[k] for k in positions])
                elements += per_sample
                if elements >= _CHECK_ELEMENTS:
                    finite.flush(i + 1)
                    arrays, elements = finite.arrays, 0
                episode_start = bool(sample[TERMINATED]) or bool(sample[TRUNCATED])
        else:
            for i, sample in enumerate(samples):
                _check_schema(sample, i, source, episode_start)
                act, obs = sample[ACT], sample[OBS]
                if compat is not None and (not fits_obs(obs) or (act is not None and not fits_act(act))):
                    _raise_incompatible(act, obs, i, source, compat)
                finite.add(sample, i)
                episode_start = bool(sample[TERMINATED]) or bool(sample[TRUNCATED])
    except ValidationError:
        finite.flush(i)  # a non-finite value in an earlier sample is the first problem: reported instead
        raise
    finite.flush(len(samples))
    if not episode_start:
        raise ValidationError(
            f"{source}: sample {len(samples) - 1}: the last episode does not end "
            "(neither terminated nor truncated is True on the last sample)"
        )


def _check_schema(sample: Any, i: int, source: str, episode_start: bool) -> None:
    if not isinstance(sample, (tuple, list)) or len(sample) != 6:
        found = f"{type(sample).__name__} of length {len(sample)}" if isinstance(sample, (tuple, list)) \
            else type(sample).__name__
        raise ValidationError(f"{source}: sample {i}: expected a tuple (act, obs, rew, terminated, truncated, "
                              f"info), found {found}")
    act, _obs, rew, terminated, truncated, info = sample
    if not isinstance(terminated, _BOOL_TYPES):
        raise ValidationError(f"{source}: sample {i}: 'terminated' must be a bool, found {type(terminated).__name__}")
    if not isinstance(truncated, _BOOL_TYPES):
        raise ValidationError(f"{source}: sample {i}: 'truncated' must be a bool, found {type(truncated).__name__}")
    if not isinstance(info, dict):
        raise ValidationError(f"{source}: sample {i}: 'info' must be a dict, found {type(info).__name__}")
    if isinstance(rew, _BOOL_TYPES) or not isinstance(rew, _REAL_TYPES) or isinstance(rew, np.timedelta64):
        raise ValidationError(f"{source}: sample {i}: 'rew' must be a real number, found {type(rew).__name__}")
    if not -_REWARD_LIMIT <= rew <= _REWARD_LIMIT:  # False for NaN too
        raise ValidationError(f"{source}: sample {i}: 'rew' {_reward_problem(rew)}")
    if act is None and not episode_start:
        raise ValidationError(f"{source}: sample {i}: action is None outside an episode's reset sample")


def _reward_problem(rew: Any) -> str:
    if isinstance(rew, (float, np.floating)):
        if np.isnan(rew):
            return "is NaN (not a number)"
        if np.isinf(rew):
            return f"is {'-' if rew < 0 else ''}inf"
        size = np.format_float_scientific(rew, precision=3)
    else:
        size = f"an integer of about {int(int(rew).bit_length() * 0.30103) + 1} digits"
    return (f"is {size}: beyond the float32 range tmrl stores rewards in, where it would be inf "
            "(a non-finite value)")


def _anything(value: Any) -> bool:
    return True


def _action_matcher(shape: tuple[int, ...]) -> Callable[[Any], bool]:
    """An action that fits: a float array of ``shape`` in native byte order, at most float64 (torch reads it)."""
    def fits(act: Any) -> bool:
        return isinstance(act, np.ndarray) and act.shape == shape and act.dtype in _ACTION_DTYPES

    return fits


_ACTION_DTYPES = frozenset(np.dtype(t) for t in (np.float16, np.float32, np.float64))


def _raise_incompatible(act: Any, obs: Any, i: int, source: str, compat: Compatibility) -> None:
    if not matcher(compat.obs_signature)(obs):
        hint = ""
        if compat.compressed_obs_signature is not None and matcher(compat.compressed_obs_signature)(obs):
            hint = (" (this looks like a sample already passed through the sample compressor: "
                    "run files must hold raw samples)")
        raise ValidationError(
            f"{source}: sample {i}: observation does not fit the current tmrl configuration "
            f"({compat.interface}): expected {compat.describe_obs()}, found {describe(obs)}{hint}"
        )
    raise ValidationError(
        f"{source}: sample {i}: action does not fit the current tmrl configuration ({compat.interface}): "
        f"expected a float array of shape {list(compat.action_shape)}, found {describe(act)}"
    )


# -- finiteness ---------------------------------------------------------------------------------------


class _FloatLeaves(Enum):
    """Where the float arrays of an observation are, known from the configuration's signature."""

    SELF = "the observation is one float array"
    ALL = "the observation is a tuple of float arrays"
    SOME = "the observation is a tuple of arrays, the float ones at known positions"
    NONE = "the observation holds no float array"
    WALK = "unknown: each observation is walked leaf by leaf"


def _obs_plan(sig: Signature) -> tuple[_FloatLeaves, tuple[int, ...], int]:
    """(how, which tuple positions, float elements per observation) for observations matching ``sig``."""
    if sig.kind == "array":
        is_float = np.dtype(sig.dtype).kind in "fc"
        return (_FloatLeaves.SELF if is_float else _FloatLeaves.NONE), (), (int(np.prod(sig.shape)) if is_float else 0)
    if sig.kind == "tuple" and all(s.kind == "array" for s in sig.children):
        floats = tuple(k for k, s in enumerate(sig.children) if np.dtype(s.dtype).kind in "fc")
        elements = sum(int(np.prod(sig.children[k].shape)) for k in floats)
        if not floats:
            return _FloatLeaves.NONE, (), 0
        return (_FloatLeaves.ALL if len(floats) == len(sig.children) else _FloatLeaves.SOME), floats, elements
    return _FloatLeaves.WALK, (), 0


class _FiniteCheck:
    """Gathers the float arrays of samples and checks them in vectorized batches (see the module doc)."""

    def __init__(self, samples: Sequence[Any], compat: Compatibility | None, source: str) -> None:
        self.samples = samples
        self.source = source
        self.compat = compat
        self.limit = compat.value_limit if compat is not None else DEFAULT_VALUE_LIMIT
        self.arrays: list[np.ndarray] = []
        self.scalars: list[Any] = []
        self.elements = 0
        self.start = 0  # first sample not checked yet
        self.how: _FloatLeaves
        self.positions: tuple[int, ...]
        self.per_sample: int
        if compat is None:
            self.how, self.positions, self.per_sample = _FloatLeaves.WALK, (), 0
        else:
            self.how, self.positions, self.per_sample = _obs_plan(compat.obs_signature)
            self.per_sample += int(np.prod(compat.action_shape))

    def add(self, sample: Any, i: int) -> None:
        """Gathers the sample's float leaves (schema and configuration already checked)."""
        act, obs = sample[ACT], sample[OBS]
        how, arrays = self.how, self.arrays
        if self.compat is not None and act is not None:
            arrays.append(act)  # a float array (checked against the configuration)
        elif act is not None:
            self.elements += self._walk(act, i, "act")
        if how is _FloatLeaves.ALL:
            arrays.extend(obs)
        elif how is _FloatLeaves.SELF:
            arrays.append(obs)
        elif how is _FloatLeaves.SOME:
            arrays.extend([obs[k] for k in self.positions])
        elif how is _FloatLeaves.WALK:
            self.elements += self._walk(obs, i, "obs")
        self.elements += self.per_sample
        if self.elements >= _CHECK_ELEMENTS:
            self.flush(i + 1)

    def _walk(self, value: Any, i: int, field: str) -> int:
        """Gathers the float leaves of an unconfigured (or nested) value; returns their element count."""
        elements = 0
        for _, leaf in _leaves(value, f"{self.source}: sample {i}: '{field}'"):
            if isinstance(leaf, np.ndarray):
                if leaf.dtype.kind in "fc":
                    self.arrays.append(leaf)
                    elements += leaf.size
                elif leaf.dtype.kind == "O":
                    raise ValidationError(f"{self.source}: sample {i}: '{field}' holds an array of Python objects "
                                          f"({describe(leaf)}); expected numbers")
            elif isinstance(leaf, _FLOAT_SCALARS):
                self.scalars.append(leaf)
        return elements

    def flush(self, end: int) -> None:
        """Checks what was gathered for samples start..end-1; names the first non-finite value, if any."""
        finite = True  # and within the limit (False for NaN too)
        if self.arrays:
            finite = bool((np.abs(np.concatenate(self.arrays, axis=None)) <= self.limit).all())
        if finite and self.scalars:
            finite = bool((np.abs(np.array(self.scalars)) <= self.limit).all())
        start = self.start
        self.arrays, self.scalars, self.elements, self.start = [], [], 0, end
        if not finite:
            for j in range(start, end):
                _raise_if_not_finite(self.samples[j], j, self.source, self.limit)


def _leaves(value: Any, where: str) -> Iterator[tuple[int, Any]]:
    """(index, leaf) of a nested tuple/list structure, depth first; refuses a too deep or too big one."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    index = visited = 0
    while stack:
        node, depth = stack.pop()
        visited += 1
        if isinstance(node, (tuple, list)):
            if depth >= MAX_DEPTH:
                raise ValidationError(f"{where} is nested more than {MAX_DEPTH} levels deep (or contains itself)")
            if visited + len(stack) + len(node) > _MAX_NODES:
                raise ValidationError(f"{where} holds more than {_MAX_NODES} entries")
            stack.extend((v, depth + 1) for v in reversed(node))
            continue
        yield index, node
        index += 1


def _raise_if_not_finite(sample: Any, i: int, source: str, limit: float) -> None:
    for field, value in (("act", sample[ACT]), ("obs", sample[OBS])):
        nested = isinstance(value, (tuple, list))
        for leaf_index, leaf in _leaves(value, f"{source}: sample {i}: '{field}'"):
            if isinstance(leaf, np.ndarray):
                if leaf.dtype.kind not in "fc":
                    continue
                ok = np.abs(leaf) <= limit
                if ok.all():
                    continue
                flat = int(np.argmin(ok.reshape(-1)))
                bad = leaf.reshape(-1)[flat]
                element = [int(k) for k in np.unravel_index(flat, leaf.shape)]
                position = f"element {element if len(element) != 1 else element[0]} of {describe(leaf)}"
                if nested:
                    position = f"leaf {leaf_index}, {position}"
            elif isinstance(leaf, _FLOAT_SCALARS):
                if bool(np.abs(leaf) <= limit):
                    continue
                bad = leaf
                position = f"leaf {leaf_index} ({type(leaf).__name__})" if nested else ""
            else:
                continue
            at = f" at {position}" if position else ""
            if np.isfinite(bad):
                raise ValidationError(f"{source}: sample {i}: '{field}' holds a value beyond {limit:.3g} "
                                      f"({np.format_float_scientific(abs(bad), precision=3)}, a damaged file?){at}")
            raise ValidationError(f"{source}: sample {i}: '{field}' holds a non-finite value "
                                  f"({_non_finite_name(bad)}){at}")


def _non_finite_name(value: Any) -> str:
    if np.iscomplexobj(value):
        return "NaN" if np.isnan(value.real) or np.isnan(value.imag) else "inf"
    if np.isnan(value):
        return "NaN"
    return "-inf" if value < 0 else "inf"
