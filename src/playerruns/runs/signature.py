"""Structural signatures of observations and actions: structure, shapes and dtypes, no values.

Two samples fit the same replay memory when their signatures are equal. A ``Signature`` is a small
frozen value (compared field by field, hashable) and renders as a short readable string such as
``tuple(float32[1], float32[76], float32[3], float32[3])`` for messages and metadata.

Values read from a run file can be hostile: nested thousands of levels deep, containing
themselves, or sharing sub-structures so that a walk visits them exponentially often. ``matcher``
(the per-sample check) never walks further than the expected signature, and ``describe`` (for
messages) stops after a bounded number of nodes, so neither can be made slow or recursive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class Signature:
    """The structure of a value without its values. ``kind`` says which other fields are used:

    - ``"array"``: a numpy array of ``dtype`` (numpy's ``dtype.str``, e.g. ``"<f4"``) and ``shape``;
    - ``"tuple"``: a tuple or list whose entries have the signatures ``children``;
    - ``"scalar"``: a number or other leaf, ``dtype`` being a numpy scalar's ``dtype.str`` or the
      Python type's name (``"float"``);
    - ``"none"``: ``None``;
    - ``"deep"``: nested deeper than was looked at;
    - ``"more"``: in a description only, ``count`` entries of a tuple left out.
    """

    kind: str
    dtype: str = ""
    shape: tuple[int, ...] = ()
    children: tuple[Signature, ...] = ()
    count: int = 0


_NONE = Signature("none")
_DEEP = Signature("deep")

MAX_DEPTH = 16  # signature_of does not look deeper: deeper structures get the signature of kind "deep"
_DESCRIBE_ITEMS = 8  # entries of a tuple shown in a description
_DESCRIBE_DEPTH = 4  # levels shown in a description
_DESCRIBE_NODES = 24  # nodes a description visits at most


def signature_of(value: Any, _depth: int = 0) -> Signature:
    """The signature of an observation or action (arrays, numbers, nested tuples/lists).

    Meant for trusted values (the configuration's own observations): it visits every node of a
    DAG-shaped value. To test untrusted values use ``matcher``, to describe them ``describe``.
    """
    if isinstance(value, np.ndarray):
        # dtype.str: numpy computes dtype.name in Python, slowly
        return Signature("array", dtype=value.dtype.str, shape=value.shape)
    if isinstance(value, (tuple, list)):
        if _depth >= MAX_DEPTH:
            return _DEEP
        return Signature("tuple", children=tuple([signature_of(v, _depth + 1) for v in value]))
    if isinstance(value, np.generic):
        return Signature("scalar", dtype=value.dtype.str)
    if value is None:
        return _NONE
    return Signature("scalar", dtype=type(value).__name__)


def matcher(sig: Signature) -> Callable[[Any], bool]:
    """A fast test equivalent to ``signature_of(value) == sig`` that stops at the first difference."""
    kind = sig.kind
    # dtypes are compared as objects (``dtype.str`` is computed on every access, 5x slower): equal
    # dtypes have equal ``str``; the reverse fails only for structured dtypes, never a configuration's
    if kind == "array":
        dtype, shape = np.dtype(sig.dtype), sig.shape

        def fits_array(value: Any) -> bool:
            return isinstance(value, np.ndarray) and value.shape == shape and value.dtype == dtype

        return fits_array
    if kind == "tuple":
        items = sig.children
        n = len(items)
        if all(s.kind == "array" for s in items):  # the common case (TrackMania): a flat tuple of arrays
            specs = tuple((s.shape, np.dtype(s.dtype)) for s in items)

            def fits_arrays(value: Any) -> bool:
                if not isinstance(value, (tuple, list)) or len(value) != n:
                    return False
                for v, (shape, dtype) in zip(value, specs, strict=True):
                    if not isinstance(v, np.ndarray) or v.shape != shape or v.dtype != dtype:
                        return False
                return True

            return fits_arrays
        subs = tuple(matcher(s) for s in items)

        def fits_tuple(value: Any) -> bool:
            return (isinstance(value, (tuple, list)) and len(value) == n
                    and all(f(v) for f, v in zip(subs, value, strict=True)))

        return fits_tuple
    if kind == "none":
        return lambda value: value is None
    if kind == "scalar":
        return lambda value: not isinstance(value, (tuple, list, np.ndarray)) and signature_of(value) == sig
    return lambda value: False


def format_signature(sig: Signature) -> str:
    """Renders a signature for people: ``float32[4, 19]``, ``tuple(float32[1], ...)``."""
    kind = sig.kind
    if kind == "array":
        return f"{_dtype_name(sig.dtype)}[{', '.join(str(d) for d in sig.shape)}]"
    if kind == "tuple":
        return f"tuple({', '.join(format_signature(s) for s in sig.children)})"
    if kind == "scalar":
        return _dtype_name(sig.dtype) if sig.dtype[:1] in "<>|=" else sig.dtype
    if kind == "more":
        return f"... {sig.count} more"
    if kind == "deep":
        return "..."
    return "None"


def _dtype_name(dtype_str: str) -> str:
    try:
        dtype = np.dtype(dtype_str)
    except (TypeError, ValueError):
        return dtype_str
    if dtype.isnative:
        return dtype.name
    return f"{dtype.name} ({'big' if dtype.byteorder == '>' else 'little'}-endian)"


def describe(value: Any) -> str:
    """The readable signature of ``value``, abridged (``...``) past a few entries, levels and nodes."""
    return format_signature(_bounded_signature(value, 0, [_DESCRIBE_NODES]))


def _bounded_signature(value: Any, depth: int, budget: list[int]) -> Signature:
    budget[0] -= 1
    if isinstance(value, (tuple, list)):
        if depth >= _DESCRIBE_DEPTH or budget[0] <= 0:
            return _DEEP
        items: list[Signature] = []
        for v in value[:_DESCRIBE_ITEMS]:
            if budget[0] <= 0:
                break
            items.append(_bounded_signature(v, depth + 1, budget))
        if len(value) > len(items):
            items.append(Signature("more", count=len(value) - len(items)))
        return Signature("tuple", children=tuple(items))
    return signature_of(value)
