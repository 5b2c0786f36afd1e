"""What a run file may hold once unpickled: plain data, checked, with numpy built only from checked plans.

The restricted unpickler (``playerruns.runs.safe_pickle``) admits numpy's pickling functions, but
never hands them the file's values: numpy's ``_reconstruct``, ``_frombuffer``, ``scalar`` and
``dtype`` stand for the plan classes below, which only note what the pickle asks for (including the
state a BUILD opcode passes). ``plain_data`` then walks the unpickled value and returns it as plain
data, refusing (``RefusedContent``):

- a type outside the allow-list: None, bool, int (at most ``MAX_INT_BITS`` bits), float, complex,
  str, bytes, bytearray, list, tuple, dict, OrderedDict, set, frozenset, and numpy arrays, scalars
  and dtypes of booleans, integers, floats, complex numbers and fixed-size text or bytes;
- an array whose dtype holds Python objects, has fields or sub-arrays, or whose data is not exactly
  as long as its shape and dtype say (numpy would otherwise read past its buffer and crash): numpy
  builds an array only from a plan that passed these checks;
- nesting deeper than ``MAX_DEPTH`` (a container that holds itself is infinitely deep);
- more elements than the file has bytes (plus a little): every element costs a pickle at least one
  byte, unless the pickle references one container many times, which is how a few bytes expand into
  an exponential tree;
- more array data than ``MAX_DECODED_RATIO`` times the file's size plus ``DECODED_SLACK``: a plan
  referenced many times is built once, but distinct arrays that share one memoized buffer would
  each copy it. (Texts and bytes are as long as the file says, and shared when referenced again.)

The value returned holds only those types, so the trainer's checkpoint, tmrl's memory and numpy get
nothing a file could have shaped to crash them. Shared references to one array stay shared; other
shared containers come back as copies.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from functools import partial
from typing import Any

import numpy as np

__all__ = ["MAX_DEPTH", "MAX_DECODED_RATIO", "DECODED_SLACK", "MAX_INT_BITS", "NUMPY_PLANS", "RefusedContent",
           "plain_data"]

MAX_DEPTH = 64
MAX_DECODED_RATIO = 2
DECODED_SLACK = 1 << 20
MAX_INT_BITS = 128
_ELEMENT_SLACK = 1024
_MAX_NDIM = 32
_MAX_SIZE = 1 << 40  # of one dimension (a zero elsewhere would make any other size take no data)

# dtype codes a plan may name: booleans, integers, floats, complex numbers, fixed-size text or bytes
_DTYPE_CODE = re.compile(r"[<>|=]?(?:b1|\?|[iu][1248]|f[248]|c(?:8|16)|[US][0-9]{1,7})")
_DTYPE_KINDS = frozenset("biufcUS")


_PLAIN = frozenset({type(None), bool, float, complex, str, bytes, bytearray})  # texts: as long as the file says
_empty = partial(np.empty, 0, np.uint8)


class RefusedContent(ValueError):
    """What a file holds breaks one of the rules of this module; the text says which, on one line."""


class _ArrayPlan:
    """``_reconstruct(ndarray, (0,), b"b")`` followed by BUILD: the state numpy would set, unchecked yet.
    (No ``__init__`` and no slots: one is made for every array of a file, and this is the cheapest.)"""

    state: Any = None
    built: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if self.state is not None:
            raise RefusedContent("an array's state is set twice")
        self.state = state


class _BufferPlan(_ArrayPlan):
    """``_frombuffer(buffer, dtype, shape, order)``: protocol 5's form of an array."""

    def __init__(self, *args: Any) -> None:
        if len(args) != 4:
            raise RefusedContent("an array of protocol 5 with the wrong arguments")
        self.state = ("buffer", *args)

    def __setstate__(self, state: Any) -> None:
        raise RefusedContent("a state given to a protocol 5 array")


class _DtypePlan:
    """``numpy.dtype(code, align, copy)`` followed by BUILD."""

    __slots__ = ("code", "state", "built")

    def __init__(self, code: Any, align: Any = False, copy: Any = True) -> None:
        if not isinstance(code, str) or _DTYPE_CODE.fullmatch(code) is None:
            raise RefusedContent(f"a numpy dtype other than numbers, booleans or fixed-size text "
                                 f"({_shown(code)}): arrays may hold only those")
        self.code = code
        self.state: Any = None
        self.built: np.dtype | None = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _ScalarPlan:
    """``numpy.core.multiarray.scalar(dtype, data)``: a numpy scalar."""

    __slots__ = ("dtype", "data")

    def __init__(self, dtype: Any = None, data: Any = None) -> None:
        self.dtype = dtype
        self.data = data


class _NdarrayClass:
    """What the name ``numpy.ndarray`` stands for: only ever ``_reconstruct``'s first argument."""

    __slots__ = ()


_NDARRAY = _NdarrayClass()


def _reconstruct(cls: Any, shape: Any = None, placeholder: Any = None) -> _ArrayPlan:
    if cls is not _NDARRAY:
        raise RefusedContent("an array of a class other than numpy.ndarray")
    return _ArrayPlan()


NUMPY_PLANS: dict[str, Any] = {"_reconstruct": _reconstruct, "_frombuffer": _BufferPlan, "scalar": _ScalarPlan,
                               "dtype": _DtypePlan, "ndarray": _NDARRAY}


def plain_data(value: Any, file_size: int) -> Any:
    """``value`` (what the restricted unpickler returned for ``file_size`` bytes) as checked plain data."""
    walk = _Walk(file_size)
    walk.count(1)
    return walk.value(value, 0)


class _Walk:
    def __init__(self, file_size: int) -> None:
        self.file_size = file_size
        self.elements_left = file_size + _ELEMENT_SLACK
        self.decoded_left = MAX_DECODED_RATIO * file_size + DECODED_SLACK

    def value(self, obj: Any, depth: int) -> Any:
        """``obj`` as plain data (itself when it already is). Its elements are counted by its container."""
        kind = type(obj)
        if kind in _PLAIN:
            return obj
        if kind is _ArrayPlan:
            return obj.built if obj.built is not None else self.array(obj, depth)
        if kind is int:
            if obj.bit_length() > MAX_INT_BITS:
                raise RefusedContent(f"an integer of {obj.bit_length()} bits (at most {MAX_INT_BITS})")
            return obj
        if depth >= MAX_DEPTH:
            raise RefusedContent(f"it is nested more than {MAX_DEPTH} levels deep (or holds itself)")
        depth += 1
        if kind is tuple:
            self.count(len(obj))
            out = None
            for i, item in enumerate(obj):
                kind = type(item)
                if kind in _PLAIN:
                    continue
                if kind is _ArrayPlan:  # the most frequent element of a run's samples: no call of value()
                    plain = item.built if item.built is not None else self.array(item, depth)
                else:
                    plain = self.value(item, depth)
                if plain is not item:
                    if out is None:
                        out = list(obj)
                    out[i] = plain
            return obj if out is None else tuple(out)
        if kind is list:
            self.count(len(obj))
            for i, item in enumerate(obj):
                kind = type(item)
                if kind in _PLAIN:
                    continue
                if kind is _ArrayPlan:
                    plain = item.built if item.built is not None else self.array(item, depth)
                else:
                    plain = self.value(item, depth)
                if plain is not item:
                    obj[i] = plain
            return obj
        if kind is dict or kind is OrderedDict:
            self.count(2 * len(obj))
            changed = kind is not dict
            pairs = []
            for k, v in obj.items():
                k2 = k if type(k) in _PLAIN else self.key(k, depth)
                v2 = v if type(v) in _PLAIN else self.value(v, depth)
                changed = changed or k2 is not k or v2 is not v
                pairs.append((k2, v2))
            return kind(pairs) if changed else obj
        if kind is set or kind is frozenset:
            self.count(len(obj))
            return kind(self.key(item, depth) for item in obj)
        if kind is _BufferPlan:
            return self.array(obj, depth)
        if kind is _DtypePlan:
            return self.dtype(obj, depth)
        if kind is _ScalarPlan:
            return self.scalar(obj, depth)
        raise RefusedContent(f"it holds a value of type {_type_name(obj)}, not plain data")

    def count(self, elements: int) -> None:
        self.elements_left -= elements
        if self.elements_left < 0:
            raise RefusedContent(f"it holds more elements than its {self.file_size} bytes can (a value referenced "
                                 "over and over)")

    def key(self, obj: Any, depth: int) -> Any:
        plain = self.value(obj, depth)
        try:
            hash(plain)
        except TypeError:
            raise RefusedContent(f"a dict key or set item of type {_type_name(plain)}") from None
        return plain

    def decode(self, size: int) -> None:
        self.decoded_left -= size
        if self.decoded_left < 0:
            limit = MAX_DECODED_RATIO * self.file_size + DECODED_SLACK
            raise RefusedContent(f"it decodes to more than {limit / 1e6:.1f} MB from {self.file_size} bytes")

    def dtype(self, plan: _DtypePlan, depth: int) -> np.dtype:
        if plan.built is not None:
            return plan.built
        dtype = np.dtype(plan.code)
        state = self.value(plan.state, depth)
        if isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">") and dtype.byteorder != "|":
            dtype = dtype.newbyteorder(state[1])
        if state is not None and (type(state) is not tuple or any(type(x) not in (int, str, type(None)) for x in state)
                                  or state != dtype.__reduce__()[2]):
            raise RefusedContent(f"a numpy dtype {plan.code!r} with a state numpy would not write")
        if dtype.kind not in _DTYPE_KINDS or dtype.hasobject or dtype.fields is not None or dtype.subdtype \
                or dtype.itemsize == 0:
            raise RefusedContent(f"a numpy dtype of kind {dtype.kind!r}: arrays may hold only numbers, booleans "
                                 "or fixed-size text")
        plan.built = dtype
        return dtype

    def array(self, plan: _ArrayPlan, depth: int) -> np.ndarray:
        if plan.built is not None:
            return plan.built
        state = plan.state
        if type(state) is not tuple or len(state) != 5:
            raise RefusedContent("an array without its data, or with a state numpy would not write")
        version, shape, dtype_plan, fortran, buffer = state
        if version == "buffer":  # _frombuffer(buffer, dtype, shape, order): see _BufferPlan
            _, buffer, dtype_plan, shape, order = state
            if order not in ("C", "F"):
                raise RefusedContent("an array of protocol 5 with an unknown order")
            fortran = order == "F"
        elif version != 1 or type(fortran) is not bool:
            raise RefusedContent("an array with a state numpy would not write")
        if type(dtype_plan) is not _DtypePlan:
            raise RefusedContent(f"an array whose dtype is a {_type_name(dtype_plan)}")
        dtype = dtype_plan.built if dtype_plan.built is not None else self.dtype(dtype_plan, depth)
        if type(shape) is not tuple or len(shape) > _MAX_NDIM:
            raise RefusedContent(f"an array whose shape is not a tuple of at most {_MAX_NDIM} sizes")
        expected = dtype.itemsize
        for n in shape:
            if type(n) is not int or not 0 <= n < _MAX_SIZE:
                raise RefusedContent(f"an array whose shape is not a tuple of at most {_MAX_NDIM} sizes")
            expected *= n
        if type(buffer) is not bytes and type(buffer) is not bytearray:
            raise RefusedContent(f"an array whose data is a {_type_name(buffer)}, not bytes")
        if len(buffer) != expected:
            raise RefusedContent(f"an array of shape {shape} and dtype {dtype} holding {len(buffer)} bytes of "
                                 f"data instead of {expected}")
        self.decoded_left -= expected
        if self.decoded_left < 0:
            self.decode(0)
        built: np.ndarray
        if version == "buffer":
            built = np.frombuffer(buffer, dtype=dtype).reshape(shape, order="F" if fortran else "C")
        else:
            built = _empty()
            built.__setstate__((1, shape, dtype, fortran, buffer))  # type: ignore[arg-type]  # bytearray too
        plan.built = built
        return built

    def scalar(self, plan: _ScalarPlan, depth: int) -> Any:
        if type(plan.dtype) is not _DtypePlan:
            raise RefusedContent(f"a numpy scalar whose dtype is a {_type_name(plan.dtype)}")
        dtype = self.dtype(plan.dtype, depth)
        if type(plan.data) is not bytes or len(plan.data) != dtype.itemsize:
            raise RefusedContent(f"a numpy scalar of dtype {dtype} whose data is not {dtype.itemsize} bytes")
        return np.frombuffer(plan.data, dtype=dtype)[0]


def _type_name(obj: Any) -> str:
    kind = type(obj)
    if kind in (_ArrayPlan, _BufferPlan):
        return "numpy array"
    if kind is _DtypePlan:
        return "numpy dtype"
    if kind is _ScalarPlan:
        return "numpy scalar"
    if kind is _NdarrayClass:
        return "class numpy.ndarray"
    return kind.__name__


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return repr(value[:20] + ("..." if len(value) > 20 else ""))
    return f"a {_type_name(value)}"
