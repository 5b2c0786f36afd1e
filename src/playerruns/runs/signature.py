"""Structural signatures of observations and actions: structure, shapes and dtypes, no values.

Two samples fit the same replay memory when their signatures are equal. Signatures are plain
tuples (cheap to compute and compare for every sample) and render as short readable strings
such as ``tuple(float32[1], float32[76], float32[3], float32[3])`` for messages and metadata.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Signature = tuple


def signature_of(value: Any) -> Signature:
    """The signature of an observation or action (arrays, numbers, nested tuples/lists)."""
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape)  # dtype.str: numpy computes dtype.name in Python, slowly
    if isinstance(value, (tuple, list)):
        return ("tuple", tuple(signature_of(v) for v in value))
    if isinstance(value, np.generic):
        return ("scalar", value.dtype.str)
    if value is None:
        return ("none",)
    return ("scalar", type(value).__name__)


def format_signature(sig: Signature) -> str:
    """Renders a signature for people: ``float32[4, 19]``, ``tuple(float32[1], ...)``."""
    kind = sig[0]
    if kind == "array":
        return f"{np.dtype(sig[1]).name}[{', '.join(str(d) for d in sig[2])}]"
    if kind == "tuple":
        return f"tuple({', '.join(format_signature(s) for s in sig[1])})"
    if kind == "scalar":
        return np.dtype(sig[1]).name if sig[1][:1] in "<>|=" else sig[1]
    return "None"


def describe(value: Any) -> str:
    """Shortcut: the readable signature of ``value``."""
    return format_signature(signature_of(value))
