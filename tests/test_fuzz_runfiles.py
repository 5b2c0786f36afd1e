"""Fuzzing run files: whatever a run file holds, loading it ends either in a run fit for the replay
memory (schema, configuration and finite numbers checked) or in the project's own one-line error
naming the file; never in another exception, a traceback or a blown-up memory.

The starting points are real run files of two configurations: the session's TM20LIDAR (synthetic
runs through tmrl's observation path) and a gymnasium one (GYM:Pendulum-v1, recorded in a process of
its own since tmrl fixes its configuration at import). They are damaged byte-wise (bytes set, flipped,
cut out, spliced with NaN/inf bit patterns or pickle opcodes, the file truncated) and structurally
(fields replaced by values of other types and shapes, NaN/inf inserted, huge ints, deep or recursive
structures, object arrays). Each example goes through ``load_run`` and ``load_demo_run`` with the
configuration the file was made for. Examples are derandomized (no example database): every run
tries the same files.
"""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from playerruns.runs.demos import demo_samples, load_demo_run
from playerruns.runs.errors import PlayerRunsError
from playerruns.runs.runfile import RunFile, load_run, save_run
from playerruns.runs.validation import Compatibility
from playerruns.tools.synthetic import synthetic_run
from tests.helpers import make_home, subprocess_env

FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DAMAGED_EXAMPLES = 700  # per configuration
MALFORMED_EXAMPLES = 500  # per configuration
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(repr=False)
class Base:
    """A configuration's valid run file, the variants fuzzed, and what checks it."""

    name: str
    content: dict[str, Any]  # the run file's unpickled v1 dict (made here: trusted)
    variants: list[bytes]  # as save_run writes it, pickled with protocol 2, as a bare list of samples
    compat: Compatibility
    compress: Callable[[tuple], tuple] | None
    target: Path  # where each example is written

    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
        return f"<{self.name} run file>"


GYM_RUN = """
import pickle, sys
from playerruns.tools.synthetic import gym_run
from playerruns.runs.runfile import save_run
from playerruns.bridge.setup import load_setup
setup = load_setup()
save_run(sys.argv[1], gym_run(setup, episodes=2, max_steps=8, seed=3))
with open(sys.argv[2], "wb") as f:
    pickle.dump(setup.compat, f)
"""


def _base(content_file: Path, compat: Compatibility, compress: Callable[[tuple], tuple] | None) -> Base:
    data = content_file.read_bytes()
    content = pickle.loads(data)
    variants = [data, pickle.dumps(content, protocol=2), pickle.dumps(content["samples"], protocol=4)]
    return Base(content_file.stem, content, variants, compat, compress,
                content_file.with_name(f"fuzzed-{content_file.name}"))


@pytest.fixture(scope="module")
def bases(tmp_path_factory, lidar_setup) -> dict[str, Base]:
    folder = tmp_path_factory.mktemp("fuzz")
    lidar = save_run(folder / "lidar.pkl", synthetic_run(lidar_setup, episodes=2, steps=8,
                                                         rng=np.random.default_rng(11)))
    home = make_home(folder, interface="GYM:Pendulum-v1")
    result = subprocess.run([sys.executable, "-c", GYM_RUN, str(folder / "gym.pkl"), str(folder / "gym-compat.pkl")],
                            env=subprocess_env(home), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    gym_compat = pickle.loads((folder / "gym-compat.pkl").read_bytes())
    return {"lidar": _base(lidar, lidar_setup.compat, lidar_setup.compress),
            "gym": _base(folder / "gym.pkl", gym_compat, None)}


# -- what every example must satisfy ------------------------------------------------------------------

def _check(data: bytes, base: Base) -> None:
    """Loads ``data`` as a run file: refused with a proper message, or accepted and fit for the memory."""
    path = base.target
    path.write_bytes(data)
    try:
        load_run(path)
        run = load_demo_run(path, base.compat)
    except PlayerRunsError as err:
        message = str(err)
        assert str(path) in message, message
        assert "\n" not in message and "\r" not in message, message
        assert len(message) < 1000, message
        event(f"refused: {type(err).__name__}")  # see --hypothesis-show-statistics
        return
    event("accepted")
    _assert_fit_for_memory(run, base)


def _assert_fit_for_memory(run: RunFile, base: Base) -> None:
    """What validation let through goes into the replay memory as it is: finite numbers only."""
    demo_samples(run, base.compress)
    for act, obs, rew, *_ in run.samples:
        assert -FLOAT32_MAX <= rew <= FLOAT32_MAX, rew  # False for NaN too
        for leaf in _leaves(act) + _leaves(obs):
            assert np.isfinite(leaf).all(), leaf


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, (tuple, list)):
        return [leaf for v in value for leaf in _leaves(v)]
    if isinstance(value, np.ndarray) and value.dtype.kind in "fc" or isinstance(value, (float, complex, np.inexact)):
        return [value]
    return []


# -- byte-wise damage ---------------------------------------------------------------------------------

SPLICES = [np.float32(v).tobytes() for v in (np.nan, np.inf, -np.inf)] + [
    np.float64(np.nan).tobytes(), np.float64(np.inf).tobytes(),
    b"r", b"p", b"q\xff", b"r\x00\x00\x00\x10", b"p99999999\n", b"\xff\xff\xff\x7f", b"\x00", b"(", b"]", b".",
    b"\x8a\x08" + b"\xff" * 8, b"\x95" + b"\xff" * 8, b"B\xff\xff\xff\x7f", b"\x8e" + b"\xff" * 8,
]
POSITION = st.integers(0, 2**31)
DAMAGE = st.one_of(
    st.tuples(st.just("set"), POSITION, st.integers(0, 255)),
    st.tuples(st.just("flip"), POSITION, st.integers(0, 7)),
    st.tuples(st.just("splice"), POSITION, st.sampled_from(SPLICES)),
    st.tuples(st.just("cut"), POSITION, st.integers(1, 64)),
    st.tuples(st.just("truncate"), POSITION, st.just(0)),
)


def _damage(data: bytes, operations: list[tuple[str, int, Any]]) -> bytes:
    buf = bytearray(data)
    for kind, position, arg in operations:
        if not buf:
            break
        at = position % len(buf)
        if kind == "set":
            buf[at] = arg
        elif kind == "flip":
            buf[at] ^= 1 << arg
        elif kind == "splice":
            buf[at:at + len(arg)] = arg
        elif kind == "cut":
            del buf[at:at + arg]
        else:
            del buf[at:]
    return bytes(buf)


@pytest.mark.parametrize("config", ["lidar", "gym"])
@settings(FUZZ, max_examples=DAMAGED_EXAMPLES)
@given(variant=st.integers(0, 2), operations=st.lists(DAMAGE, min_size=1, max_size=6))
def test_damaged_bytes(bases, config, variant, operations):
    base = bases[config]
    _check(_damage(base.variants[variant], operations), base)


# -- structural damage --------------------------------------------------------------------------------

NUMPY_SCALARS = [np.float32(np.nan), np.float64(-np.inf), np.float16(1.5), np.longdouble("1e4000"), np.int64(7),
                 np.uint64(2**64 - 1), np.bool_(True), np.complex64(1j), np.datetime64("2020-01-01"),
                 np.timedelta64(5, "s"), np.str_("x"), np.void(b"\x00\x01")]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.integers(10**300, 10**5000).map(lambda n: -n),
    st.integers(10**300, 10**5000), st.floats(), st.floats(width=32), st.complex_numbers(),
    st.text(max_size=8), st.binary(max_size=8), st.sampled_from(NUMPY_SCALARS),
)
DTYPES = st.sampled_from([np.float32, np.float64, np.float16, np.int8, np.int64, np.uint8, np.bool_, np.complex64,
                          "<U3", ">f4", ">f8", "M8[s]"])
ARRAYS = hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))


def _object_array(items: list[Any]) -> np.ndarray:
    arr = np.empty(len(items), dtype=object)
    for k, item in enumerate(items):
        arr[k] = item
    return arr


WEIRD = st.recursive(
    st.one_of(SCALARS, ARRAYS, st.lists(SCALARS, max_size=4).map(_object_array)),
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.lists(kids, max_size=4).map(tuple),
                           st.dictionaries(st.one_of(st.text(max_size=4), st.integers()), kids, max_size=3)),
    max_leaves=8,
)
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
TOP_KEYS = ["format", "run_id", "recorded_at", "metadata", "samples", "extra"]


def _deep(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value]
    return value


def _recursive(kind: int) -> Any:
    if kind == 0:
        loop: list[Any] = []
        loop.append(loop)
        return loop
    if kind == 1:
        inner: list[Any] = []
        outer = (inner, np.zeros(3, np.float32))
        inner.append(outer)
        return outer
    shared = (np.zeros(1, np.float32),)
    for _ in range(24):  # a DAG: 3**24 paths through a few dozen objects
        shared = (shared, shared, shared)
    return shared


def _with_array_element(array: np.ndarray, draw: st.DrawFn) -> np.ndarray:
    """A copy of ``array`` with one element set to NaN/inf, or to a weird object (then as an object array)."""
    if array.size == 0:
        return array
    flat = array.reshape(-1).copy()
    k = draw(st.integers(0, flat.size - 1))
    if draw(st.booleans()) and flat.dtype.kind in "fc":
        flat[k] = draw(NON_FINITE)
    else:
        flat = flat.astype(object)
        flat[k] = draw(WEIRD)
    return flat.reshape(array.shape)


def _mutate_sample(sample: Any, draw: st.DrawFn) -> Any:
    if not isinstance(sample, (tuple, list)) or not sample:
        return draw(WEIRD)
    fields = list(sample)
    how = draw(st.sampled_from(["field", "non-finite", "obs-leaf", "array-element", "length", "deep", "recursive",
                                "flag-type"]))
    j = draw(st.integers(0, len(fields) - 1))
    if how == "field":
        fields[j] = draw(WEIRD)
    elif how == "non-finite":
        j = draw(st.sampled_from([0, 1, 2][: len(fields)]))
        if j == 2:
            fields[j] = draw(st.one_of(NON_FINITE, st.just(1e39), st.integers(2**128, 2**200)))
        elif isinstance(fields[j], np.ndarray) and fields[j].dtype.kind == "f" and fields[j].size:
            fields[j] = fields[j].copy()
            fields[j].reshape(-1)[draw(st.integers(0, fields[j].size - 1))] = draw(NON_FINITE)
        elif isinstance(fields[j], (tuple, list)) and fields[j]:
            leaves = list(fields[j])
            k = draw(st.integers(0, len(leaves) - 1))
            if isinstance(leaves[k], np.ndarray) and leaves[k].dtype.kind == "f" and leaves[k].size:
                leaves[k] = leaves[k].copy()
                leaves[k].reshape(-1)[draw(st.integers(0, leaves[k].size - 1))] = draw(NON_FINITE)
            fields[j] = tuple(leaves)
    elif how == "obs-leaf" and len(fields) > 1 and isinstance(fields[1], (tuple, list)) and fields[1]:
        leaves = list(fields[1])
        k = draw(st.integers(0, len(leaves) - 1))
        shape = leaves[k].shape if isinstance(leaves[k], np.ndarray) else ()
        leaves[k] = draw(st.one_of(WEIRD, hnp.arrays(DTYPES, shape)))  # of the right shape, often
        fields[1] = tuple(leaves) if draw(st.booleans()) else leaves
    elif how == "array-element" and isinstance(fields[j], np.ndarray):
        fields[j] = _with_array_element(fields[j], draw)
    elif how == "length":
        fields = fields[:draw(st.integers(0, len(fields)))] + draw(st.lists(WEIRD, max_size=2))
    elif how == "deep":
        fields[j] = _deep(fields[j], draw(st.integers(1, 400)))
    elif how == "recursive":
        fields[j] = _recursive(draw(st.integers(0, 2)))
    elif how == "flag-type" and len(fields) == 6:
        fields[draw(st.sampled_from([3, 4]))] = draw(st.sampled_from([0, 1, np.int8(1), "True", None, np.array(True),
                                                                      np.array([True])]))
    return tuple(fields) if draw(st.integers(0, 4)) else fields


@st.composite
def malformed(draw: st.DrawFn, content: dict[str, Any]) -> bytes:
    content = dict(content)
    content["samples"] = list(content["samples"])
    for _ in range(draw(st.integers(1, 3))):
        samples = content.get("samples")
        how = draw(st.sampled_from(["sample", "sample", "sample", "sample", "top", "drop-key", "samples",
                                    "recursive-samples"]))
        if how == "sample" and isinstance(samples, list) and samples:
            i = draw(st.integers(0, len(samples) - 1))
            samples[i] = _mutate_sample(samples[i], draw)
        elif how == "top":
            content[draw(st.sampled_from(TOP_KEYS))] = draw(st.one_of(WEIRD, st.just(content.get("samples"))))
        elif how == "drop-key":
            content.pop(draw(st.sampled_from(TOP_KEYS)), None)
        elif how == "samples" and isinstance(samples, list):
            start = draw(st.integers(0, len(samples)))
            stop = draw(st.integers(start, len(samples)))
            content["samples"] = samples[:start] + draw(st.lists(WEIRD, max_size=2)) + samples[stop:]
        elif how == "recursive-samples" and isinstance(samples, list):
            samples.append(samples)
    payload: Any = content if draw(st.integers(0, 5)) else content.get("samples")
    return pickle.dumps(payload, protocol=draw(st.sampled_from([2, 4, 5])))


@pytest.mark.parametrize("config", ["lidar", "gym"])
@settings(FUZZ, max_examples=MALFORMED_EXAMPLES)
@given(data=st.data())
def test_malformed_content(bases, config, data):
    base = bases[config]
    _check(data.draw(malformed(base.content)), base)


# -- hostile pickles: small files that would cost a lot ----------------------------------------------

def test_hostile_pickles_are_refused_quickly(bases):
    lidar = bases["lidar"]
    hostile = {
        "memo index from 9 bytes": b"]replace.",
        "LONG_BINPUT 2**28": b"\x80\x02]r\x00\x00\x00\x10.",
        "PUT 300000000": b"(lp300000000\n.",
        "BINBYTES8 of 2**40": b"\x80\x05\x8e" + (2**40).to_bytes(8, "little") + b"xx.",
        "set(range(10**12))": b"\x80\x02c__builtin__\nset\nc__builtin__\nrange\nK\x00\x8a\x06\x00\x10\xa5\xd4\xe8\x00"
                              b"\x86R\x85R.",
        "bytearray(2**34)": b"\x80\x02c__builtin__\nbytearray\n\x8a\x05\x00\x00\x00\x00\x04\x85R.",
        "unknown codec": b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x0c\x00\x00\x00no-such-codec\x86R.",
        "deep nesting": b"\x80\x02" + b"]" * 200_000 + b"a" * 199_999 + b".",
        "a global named across lines": b"\x80\x04\x8c\x05os\nxx\x94\x8c\x06system\x94\x93\x94.",
    }
    for name, data in hostile.items():
        started = time.monotonic()
        lidar.target.write_bytes(data)
        with pytest.raises(PlayerRunsError) as err:
            load_demo_run(lidar.target, lidar.compat)
        assert str(lidar.target) in str(err.value) and "\n" not in str(err.value), name
        assert time.monotonic() - started < 5.0, name
