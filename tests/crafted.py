"""A corpus of hostile run files, written by hand from pickle opcodes (issue 20).

Each entry of ``CORPUS`` builds the bytes of an otherwise valid ``tmrl_player_run_v1`` file whose one
hostile value (the *payload*) sits where the caller asks (``WHERES``): in a sample's ``info`` dict,
in the ``metadata`` dict, or as a sample's observation. The payloads are what the structure of
pickles allows with nothing but the globals a run file may name (numpy's array, scalar and dtype
makers and a few builtins): arrays of Python objects (numpy reads their data as pointers), nesting
deep enough to exhaust a recursive walker, cycles, tiny files that decode into gigabytes (one
buffer shared by many arrays, an exponential DAG of memo references, huge shapes and itemsizes),
values of types outside the allow-list made by allowed callables, huge integers, numpy scalars
shorter than their dtype and damaged dtype states.

Some payloads crash numpy itself (a segmentation fault) before the fix of issue 20: never load the
kinds in ``SUBPROCESS_ONLY`` in a test process, only in a child process.

How a file is made: the template run (``lidar_template``: a TM20LIDAR run whose samples fit the test
configuration) holds a placeholder string where the payload goes; it is pickled without a memo
(``Pickler.fast``: no memo opcodes at all, so the payload's own memo indices start at 0) and without
frames (FRAME opcodes are optional; a spliced payload would break their lengths), and the
placeholder's opcode is replaced by the payload's, which pushes exactly one object.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

# -- an assembler of pickle opcodes: each function returns opcodes that push one object ------------

NP_MULTIARRAY = "numpy._core.multiarray"  # numpy 2.x (1.x: numpy.core.multiarray; both are admitted)
NP_MULTIARRAY_1X = "numpy.core.multiarray"
NP_NUMERIC = "numpy._core.numeric"


def op_int(n: int) -> bytes:
    """An int, with the smallest opcode a pickler would use."""
    if 0 <= n < 256:
        return pickle.BININT1 + bytes([n])
    if 0 <= n < 65536:
        return pickle.BININT2 + struct.pack("<H", n)
    if -(1 << 31) <= n < (1 << 31):
        return pickle.BININT + struct.pack("<i", n)
    data = pickle.encode_long(n)
    if len(data) < 256:
        return pickle.LONG1 + bytes([len(data)]) + data
    return pickle.LONG4 + struct.pack("<i", len(data)) + data


def op_str(text: str) -> bytes:
    data = text.encode("utf-8", "surrogatepass")
    if len(data) < 256:
        return pickle.SHORT_BINUNICODE + bytes([len(data)]) + data
    return pickle.BINUNICODE + struct.pack("<I", len(data)) + data


def op_bytes(data: bytes) -> bytes:
    if len(data) < 256:
        return pickle.SHORT_BINBYTES + bytes([len(data)]) + data
    return pickle.BINBYTES + struct.pack("<I", len(data)) + data


def op_global(module: str, name: str) -> bytes:
    return op_str(module) + op_str(name) + pickle.STACK_GLOBAL


def op_tuple(*items: bytes) -> bytes:
    if not items:
        return pickle.EMPTY_TUPLE
    if len(items) <= 3:
        return b"".join(items) + (pickle.TUPLE1, pickle.TUPLE2, pickle.TUPLE3)[len(items) - 1]
    return pickle.MARK + b"".join(items) + pickle.TUPLE


def op_list(*items: bytes) -> bytes:
    return pickle.EMPTY_LIST + (pickle.MARK + b"".join(items) + pickle.APPENDS if items else b"")


def op_dict(*pairs: tuple[bytes, bytes]) -> bytes:
    return pickle.EMPTY_DICT + (pickle.MARK + b"".join(k + v for k, v in pairs) + pickle.SETITEMS if pairs else b"")


def op_call(func: bytes, *args: bytes) -> bytes:
    """``func(*args)`` through REDUCE."""
    return func + op_tuple(*args) + pickle.REDUCE


def op_build(obj: bytes, state: bytes) -> bytes:
    return obj + state + pickle.BUILD


def op_memoize(obj: bytes) -> bytes:
    """``obj``, kept in the memo (at the next index: the envelope uses none)."""
    return obj + pickle.MEMOIZE


def op_get(index: int) -> bytes:
    return pickle.BINGET + bytes([index]) if index < 256 else pickle.LONG_BINGET + struct.pack("<I", index)


NONE, TRUE, FALSE = pickle.NONE, pickle.NEWTRUE, pickle.NEWFALSE


def op_float(x: float) -> bytes:
    return pickle.BINFLOAT + struct.pack(">d", x)


def dtype_state(byteorder: str = "<", *, names: bytes = NONE, fields: bytes = NONE, elsize: int = -1,
                alignment: int = -1, flags: int = 0, version: int = 3) -> bytes:
    """The state numpy's dtype BUILD takes: (version, byteorder, subarray, names, fields, itemsize,
    alignment, flags)."""
    return op_tuple(op_int(version), op_str(byteorder), NONE, names, fields, op_int(elsize), op_int(alignment),
                    op_int(flags))


def op_dtype(spec: str, state: bytes | None = None) -> bytes:
    """``numpy.dtype(spec, False, True)`` as numpy pickles it, then BUILD with ``state`` (default:
    the state of a plain little-endian dtype; b"" for none at all)."""
    made = op_call(op_global("numpy", "dtype"), op_str(spec), FALSE, TRUE)
    if state is None:
        state = dtype_state("|" if spec[:1] in "bOSUV" or spec in ("i1", "u1") else "<",
                            flags=63 if spec.startswith("O") else 0)
    return op_build(made, state) if state else made


def op_array(shape: tuple[int, ...], dtype: bytes, data: bytes, *, fortran: bool = False,
             module: str = NP_MULTIARRAY) -> bytes:
    """An array as numpy pickles it: ``_reconstruct(ndarray, (0,), b"b")`` then BUILD with the state
    (1, shape, dtype, is_fortran, data); ``data`` is the opcodes of the raw bytes (or a list)."""
    empty = op_call(op_global(module, "_reconstruct"), op_global("numpy", "ndarray"), op_tuple(op_int(0)),
                    op_bytes(b"b"))
    state = op_tuple(op_int(1), op_tuple(*(op_int(n) for n in shape)), dtype, TRUE if fortran else FALSE, data)
    return op_build(empty, state)


def op_scalar(dtype: bytes, data: bytes) -> bytes:
    """``numpy.core.multiarray.scalar(dtype, data)``, how numpy pickles a numpy scalar."""
    return op_call(op_global(NP_MULTIARRAY, "scalar"), dtype, data)


F8 = op_dtype("f8")
OBJECT = op_dtype("O8")

# -- the payloads ------------------------------------------------------------------------------------


def object_array_short_data() -> bytes:
    """(a) An object array of 1,000 elements whose BUILD state lists 2 objects: numpy (2.4) reads
    past the list and crashes (SIGSEGV). Spelled with numpy 1.x's module name, which is admitted."""
    return op_array((1000,), op_dtype("O8"), op_list(op_int(1), op_int(2)), module=NP_MULTIARRAY_1X)


def object_array_plain() -> bytes:
    """An object array, well formed (the data list as long as the shape): object dtypes are refused."""
    return op_array((2,), OBJECT, op_list(op_int(1), op_str("x")))


def object_array_from_bytes() -> bytes:
    """An object array whose data is raw bytes: numpy would read them as pointers."""
    return op_array((2,), OBJECT, op_bytes(b"\x41" * 16))


def frombuffer_object() -> bytes:
    """``_frombuffer(bytes, dtype('O'), shape, 'C')``: pointers forged from bytes, protocol 5's way."""
    return op_call(op_global(NP_NUMERIC, "_frombuffer"), op_bytes(b"\x41" * 16), OBJECT, op_tuple(op_int(2)),
                   op_str("C"))


def array_rebuilt_as_object() -> bytes:
    """A float array BUILT a second time with an object state shorter than its shape: a check that
    looks at the first BUILD only would let the second one through."""
    first = op_array((2,), F8, op_bytes(bytes(16)))
    second = op_tuple(op_int(1), op_tuple(op_int(1000)), OBJECT, FALSE, op_list(op_int(1)))
    return op_build(first, second)


def deep_lists() -> bytes:
    """(b) Lists nested 100,000 deep (about 200 KB): a recursive walker would overflow its stack."""
    depth = 100_000
    return pickle.EMPTY_LIST * depth + pickle.APPEND * (depth - 1)


def deep_tuples() -> bytes:
    """Tuples nested 100,000 deep (about 100 KB)."""
    return pickle.NONE + pickle.TUPLE1 * 100_000


def deep_dicts() -> bytes:
    """Dicts nested 50,000 deep (about 200 KB), each ``{"k": inner}``."""
    depth = 50_000
    return (pickle.EMPTY_DICT + op_str("k")) * depth + pickle.NONE + pickle.SETITEM * depth


def cycle_list() -> bytes:
    """(c) A list that contains itself."""
    return op_memoize(pickle.EMPTY_LIST) + op_get(0) + pickle.APPEND


def cycle_dict() -> bytes:
    """A dict that holds itself under the key "self"."""
    return op_memoize(pickle.EMPTY_DICT) + op_str("self") + op_get(0) + pickle.SETITEM


def cycle_through_tuple() -> bytes:
    """A list holding a tuple that holds the list."""
    return op_memoize(pickle.EMPTY_LIST) + op_get(0) + pickle.TUPLE1 + pickle.APPEND


def ndarray_reduce_huge() -> bytes:
    """(d) ``numpy.ndarray((10**8,), 'f8')`` through REDUCE: 800 MB from a few bytes."""
    return op_call(op_global("numpy", "ndarray"), op_tuple(op_int(10**8)), op_str("f8"))


def ndarray_newobj_huge() -> bytes:
    """``ndarray.__new__(ndarray, (10**8,), 'f8')`` through NEWOBJ: the same without REDUCE."""
    return op_global("numpy", "ndarray") + op_tuple(op_tuple(op_int(10**8)), op_str("f8")) + pickle.NEWOBJ


def huge_itemsize_array() -> bytes:
    """An array of 1,000 elements of ``V300000000`` (300 MB each) whose data is empty."""
    return op_array((1000,), op_dtype("V300000000", dtype_state("|")), op_bytes(b""))


def huge_shape_no_data() -> bytes:
    """An array of shape (10**9,) float64 whose data is 0 bytes."""
    return op_array((10**9,), F8, op_bytes(b""))


def zero_itemsize_huge_shape() -> bytes:
    """An array of 10**18 elements of a dtype of itemsize 0 (``np.dtype([])``): 0 bytes of data, but
    anything iterating over its elements never ends."""
    empty_struct = op_dtype("V0", dtype_state("|", names=pickle.EMPTY_TUPLE, fields=pickle.EMPTY_DICT, elsize=0,
                                              alignment=1, flags=16))
    return op_array((10**18,), empty_struct, op_bytes(b""))


def frombuffer_huge_itemsize() -> bytes:
    """``_frombuffer(b"", dtype('V300000000'), (1000,), 'C')``."""
    return op_call(op_global(NP_NUMERIC, "_frombuffer"), op_bytes(b""), op_dtype("V300000000", dtype_state("|")),
                   op_tuple(op_int(1000)), op_str("C"))


SHARED_BUFFER = 1 << 20  # bytes
SHARED_ARRAYS = 1000


def shared_buffer_arrays() -> bytes:
    """One 1 MiB bytes object, memoized, is the data of 1,000 distinct arrays: 1 GiB of arrays from a
    file of about 1 MB (numpy keeps a reference to the bytes, a copy of any array costs 1 MiB)."""
    buffer = op_memoize(op_bytes(bytes(SHARED_BUFFER)))
    shape = (SHARED_BUFFER // 8,)
    arrays = [op_array(shape, F8, op_get(0)) for _ in range(SHARED_ARRAYS)]
    return pickle.MARK + buffer + pickle.POP_MARK + op_list(*arrays)  # the buffer is memoized, then popped


DAG_LEVELS = 6
DAG_WIDTH = 1000


def exponential_dag() -> bytes:
    """A list of 1,000 references to a list of 1,000 references to ... (6 levels): 10**18 leaves
    from about 12 KB, as deep as it is wide for anything that walks it as a tree."""
    level = op_memoize(op_list(*([NONE] * DAG_WIDTH)))
    for k in range(1, DAG_LEVELS):
        level = pickle.MARK + level + pickle.POP_MARK + op_memoize(op_list(*([op_get(k - 1)] * DAG_WIDTH)))
    return level


def shared_array_refs() -> bytes:
    """A list of 256 references to ONE array of 65,536 float64 (512 KiB). Not in CORPUS: the rules
    of issue 20 admit it (shared references to one array are one array, counted once), and
    data.pkl pickles a sample's info in one piece, so the references stay shared there too."""
    array = op_memoize(op_array((1 << 16,), F8, op_bytes(bytes(1 << 19))))
    return pickle.MARK + array + pickle.POP_MARK + op_list(*([op_get(0)] * 256))


def structured_object_dtype() -> bytes:
    """(e) A structured dtype with an object field (as a value of its own)."""
    return _structured(flags=27)


def _structured(flags: int) -> bytes:
    fields = op_dict((op_str("a"), op_tuple(op_dtype("f4"), op_int(0))),
                     (op_str("b"), op_tuple(OBJECT, op_int(4))))
    return op_dtype("V12", dtype_state("|", names=op_tuple(op_str("a"), op_str("b")), fields=fields, elsize=12,
                                       alignment=1, flags=flags))


def structured_object_array() -> bytes:
    """An array of a structured dtype with an object field, its data raw bytes (forged pointers)."""
    return op_array((2,), _structured(flags=27), op_bytes(b"\x41" * 24))


def structured_object_lying_flags() -> bytes:
    """The same with the dtype's flags saying it holds no object (so numpy may take bytes for it)."""
    return op_array((2,), _structured(flags=0), op_bytes(b"\x41" * 24))


def structured_object_array_list() -> bytes:
    """A structured array with an object field, its data a list of 1 record for 1,000."""
    return op_array((1000,), _structured(flags=27), op_list(op_tuple(op_float(1.0), op_int(1))))


def range_huge() -> bytes:
    """(f) ``range(10**12)``: a type outside the allow-list, huge if anything iterates over it."""
    return op_call(op_global("builtins", "range"), op_int(10**12))


def slice_object() -> bytes:
    """``slice(0, 10**12, 1)``."""
    return op_call(op_global("builtins", "slice"), op_int(0), op_int(10**12), op_int(1))


def bytes_of_size() -> bytes:
    """``bytes(10**10)``: 10 GB of zeros from a few bytes."""
    return op_call(op_global("builtins", "bytes"), op_int(10**10))


def bytearray_of_size() -> bytes:
    """``bytearray(10**10)`` (protocol 2's spelling ``__builtin__``)."""
    return op_call(op_global("__builtin__", "bytearray"), op_int(10**10))


def set_of_range() -> bytes:
    """``set(range(10**10))``."""
    return op_call(op_global("builtins", "set"), range_huge())


def codecs_rot13() -> bytes:
    """``_codecs.encode("text", "rot13")``: a str, not bytes, and a codec looked up by name."""
    return op_call(op_global("_codecs", "encode"), op_str("hello"), op_str("rot13"))


def codecs_zlib() -> bytes:
    """``_codecs.encode(b"...", "zlib")``: a bytes-to-bytes codec (protocol 2 uses latin1 only)."""
    return op_call(op_global("_codecs", "encode"), op_bytes(b"x" * 64), op_str("zlib"))


def codecs_unicode_escape() -> bytes:
    """``_codecs.encode("\\U0010ffff" * 2000, "unicode_escape")``: each 4-byte character becomes 10."""
    return op_call(op_global("_codecs", "encode"), op_str("\U0010ffff" * 2000), op_str("unicode_escape"))


def bytes_with_codec() -> bytes:
    """``bytes("...", "utf-32")``: bytes() of a text in an encoding no pickler uses."""
    return op_call(op_global("builtins", "bytes"), op_str("x" * 100), op_str("utf-32"))


def huge_int() -> bytes:
    """(g) An int of 100 KB (800,000 bits) through LONG4."""
    data = b"\xff" * 100_000 + b"\x7f"
    return pickle.LONG4 + struct.pack("<i", len(data)) + data


def huge_int_decimal() -> bytes:
    """An int of 100,000 decimal digits through protocol 0's LONG opcode (quadratic to parse)."""
    return pickle.LONG + b"9" * 100_000 + b"L\n"


def scalar_short_bytes() -> bytes:
    """(h) A float64 numpy scalar whose data is 2 bytes: numpy would read 6 bytes past it."""
    return op_scalar(F8, op_bytes(b"\x00\x01"))


def scalar_huge_void() -> bytes:
    """A ``V300000000`` scalar whose data is empty."""
    return op_scalar(op_dtype("V300000000", dtype_state("|")), op_bytes(b""))


def scalar_unicode_short() -> bytes:
    """A ``U100000`` scalar whose data is 4 bytes (400,000 expected)."""
    return op_scalar(op_dtype("U100000", dtype_state("<", elsize=400_000, alignment=4, flags=8)), op_bytes(b"a\0\0\0"))


def scalar_object_dtype() -> bytes:
    """``scalar(dtype('O'), [...])``: an object scalar (numpy hands back the object itself)."""
    return op_scalar(OBJECT, op_list(op_int(1)))


def dtype_state_fields_on_float() -> bytes:
    """(i) A float64 dtype whose BUILD state gives it fields and an itemsize of 10**9."""
    fields = op_dict((op_str("a"), op_tuple(op_dtype("f4"), op_int(0))))
    return op_dtype("f8", dtype_state("<", names=op_tuple(op_str("a")), fields=fields, elsize=10**9, alignment=1))


def dtype_state_negative_itemsize() -> bytes:
    """A void dtype whose state says its itemsize is -5 and its fields overlap past its end."""
    fields = op_dict((op_str("a"), op_tuple(op_dtype("f8"), op_int(1 << 40))))
    return op_dtype("V8", dtype_state("|", names=op_tuple(op_str("a")), fields=fields, elsize=-5, alignment=1))


def dtype_state_garbage() -> bytes:
    """A dtype BUILT with a state of the wrong shape (a string, then a version numpy does not know)."""
    return op_build(op_dtype("f8", dtype_state("<", version=99)), op_str("garbage"))


def dtype_object_value() -> bytes:
    """``numpy.dtype('O')`` as a value: a dtype of a kind outside the plain ones."""
    return OBJECT


def array_of_huge_dtype_in_good_array_state() -> bytes:
    """A float array whose BUILD state's dtype is a V8 with a float32 field at offset 2**40."""
    fields = op_dict((op_str("a"), op_tuple(op_dtype("f4"), op_int(1 << 40))))
    bad = op_dtype("V8", dtype_state("|", names=op_tuple(op_str("a")), fields=fields, elsize=8, alignment=1,
                                     flags=16))
    return op_array((2,), bad, op_bytes(bytes(16)))


def datetime_array() -> bytes:
    """A datetime64 array (not a plain number, text or bytes dtype)."""
    meta = op_tuple(op_bytes(b"s"), op_int(1), op_int(1), op_int(1))
    state = op_tuple(op_int(4), op_str("<"), NONE, NONE, NONE, op_int(-1), op_int(-1), op_int(0),
                     op_tuple(NONE, meta))
    return op_array((2,), op_dtype("M8", state), op_bytes(bytes(16)))


def ordered_dict_hidden_state() -> bytes:
    """An OrderedDict (allowed) BUILT with an instance dict that hides a cycle and a range from a
    walker that looks at the items only."""
    made = op_call(op_global("collections", "OrderedDict"))
    hidden = op_dict((op_str("cycle"), cycle_list()), (op_str("range"), range_huge()))
    return op_build(made, hidden)


def set_built_with_state() -> bytes:
    """A frozenset BUILT with a state: BUILD on an object with no __dict__ (an error, not a crash)."""
    return op_build(op_call(op_global("builtins", "frozenset"), op_list(op_int(1))), op_dict((op_str("x"), NONE)))


def memo_index_huge() -> bytes:
    """A LONG_BINPUT at index 2**31: CPython's C unpickler would resize its memo to 2**32 entries."""
    return pickle.EMPTY_LIST + pickle.LONG_BINPUT + struct.pack("<I", 1 << 31)


def length_lie() -> bytes:
    """A BINBYTES8 announcing 2**40 bytes where a few follow."""
    return pickle.BINBYTES8 + struct.pack("<Q", 1 << 40) + b"abc"


def persistent_id() -> bytes:
    """A persistent id (BINPERSID): refused, never resolved."""
    return op_str("some-id") + pickle.BINPERSID


def extension_code() -> bytes:
    """An extension-registry reference (EXT4): a global named by a number."""
    return pickle.EXT4 + struct.pack("<i", 0x7FFFFFFF)


Payload = Callable[[], bytes]

PAYLOADS: dict[str, Payload] = {
    # (a) object arrays
    "object_array_short_data": object_array_short_data,
    "object_array_plain": object_array_plain,
    "object_array_from_bytes": object_array_from_bytes,
    "frombuffer_object": frombuffer_object,
    "array_rebuilt_as_object": array_rebuilt_as_object,
    # (b) depth
    "deep_lists": deep_lists,
    "deep_tuples": deep_tuples,
    "deep_dicts": deep_dicts,
    # (c) cycles
    "cycle_list": cycle_list,
    "cycle_dict": cycle_dict,
    "cycle_through_tuple": cycle_through_tuple,
    # (d) size amplification
    "ndarray_reduce_huge": ndarray_reduce_huge,
    "ndarray_newobj_huge": ndarray_newobj_huge,
    "huge_itemsize_array": huge_itemsize_array,
    "huge_shape_no_data": huge_shape_no_data,
    "zero_itemsize_huge_shape": zero_itemsize_huge_shape,
    "frombuffer_huge_itemsize": frombuffer_huge_itemsize,
    "shared_buffer_arrays": shared_buffer_arrays,
    "exponential_dag": exponential_dag,
    # (e) structured dtypes with an object field
    "structured_object_dtype": structured_object_dtype,
    "structured_object_array": structured_object_array,
    "structured_object_lying_flags": structured_object_lying_flags,
    "structured_object_array_list": structured_object_array_list,
    # (f) forbidden types through allowed callables
    "range_huge": range_huge,
    "slice_object": slice_object,
    "bytes_of_size": bytes_of_size,
    "bytearray_of_size": bytearray_of_size,
    "set_of_range": set_of_range,
    "codecs_rot13": codecs_rot13,
    "codecs_zlib": codecs_zlib,
    "codecs_unicode_escape": codecs_unicode_escape,
    "bytes_with_codec": bytes_with_codec,
    "ordered_dict_hidden_state": ordered_dict_hidden_state,
    "set_built_with_state": set_built_with_state,
    # (g) huge ints
    "huge_int": huge_int,
    "huge_int_decimal": huge_int_decimal,
    # (h) numpy scalars shorter than their dtype
    "scalar_short_bytes": scalar_short_bytes,
    "scalar_huge_void": scalar_huge_void,
    "scalar_unicode_short": scalar_unicode_short,
    "scalar_object_dtype": scalar_object_dtype,
    # (i) damaged dtype states and dtypes outside the plain kinds
    "dtype_state_fields_on_float": dtype_state_fields_on_float,
    "dtype_state_negative_itemsize": dtype_state_negative_itemsize,
    "dtype_state_garbage": dtype_state_garbage,
    "dtype_object_value": dtype_object_value,
    "array_of_huge_dtype_in_good_array_state": array_of_huge_dtype_in_good_array_state,
    "datetime_array": datetime_array,
    # the structure of pickles itself
    "memo_index_huge": memo_index_huge,
    "length_lie": length_lie,
    "persistent_id": persistent_id,
    "extension_code": extension_code,
}

# kinds whose bytes are not a well-formed opcode sequence for pickletools either (on purpose)
MALFORMED: frozenset[str] = frozenset({"length_lie", "huge_int_decimal"})
# kinds bigger than a few KB (the deep ones, the shared buffer, the huge ints)
LARGE: frozenset[str] = frozenset({"deep_lists", "deep_tuples", "deep_dicts", "shared_buffer_arrays",
                                   "huge_int", "huge_int_decimal", "exponential_dag",
                                   "codecs_unicode_escape"})

# kinds that may crash numpy (SIGSEGV) or reserve gigabytes when loaded by the unfixed loader: children only
SUBPROCESS_ONLY: frozenset[str] = frozenset({
    "object_array_short_data", "object_array_from_bytes", "frombuffer_object", "array_rebuilt_as_object",
    "structured_object_array", "structured_object_lying_flags", "structured_object_array_list",
    "scalar_short_bytes", "scalar_huge_void", "scalar_unicode_short", "huge_itemsize_array",
    "zero_itemsize_huge_shape", "frombuffer_huge_itemsize", "array_of_huge_dtype_in_good_array_state",
    "shared_buffer_arrays", "ndarray_reduce_huge", "ndarray_newobj_huge", "dtype_state_fields_on_float",
    "dtype_state_negative_itemsize", "dtype_state_garbage", "structured_object_dtype", "bytes_of_size",
    "bytearray_of_size", "set_of_range",
})

# -- the run file around a payload ------------------------------------------------------------------

WHERES = ("info", "metadata", "obs")
PLACEHOLDER = "\x00playerruns crafted payload\x00"
_PLACEHOLDER_OP = op_str(PLACEHOLDER)


def lidar_template(steps: int = 3, seed: int = 7, run_id: str | None = None) -> dict[str, Any]:
    """A valid TM20LIDAR run (tmrl's default configuration: obs tuple(float32[1], float32[76],
    float32[3], float32[3]), act float32[3]), made without tmrl: a reset sample, ``steps`` steps, the
    last one truncated; its metadata as the recorder writes it."""
    rng = np.random.default_rng(seed)
    zero = np.zeros(3, np.float32)
    prev, last = zero, zero
    samples: list[tuple[Any, ...]] = []
    for t in range(steps + 1):
        act = zero if t == 0 else rng.uniform(-1, 1, 3).astype(np.float32)
        if t:
            prev, last = last, act
        obs = (rng.uniform(0, 300, 1).astype(np.float32), rng.uniform(0, 1000, 76).astype(np.float32),
               prev.copy(), last.copy())
        samples.append((act, obs, 0.0 if t == 0 else float(rng.normal()), False, t == steps, {}))
    meta = {"interface": "TM20LIDAR", "obs_signature": "tuple(float32[1], float32[76], float32[3], float32[3])",
            "act_signature": "float32[3]", "raw": True, "episode_count": 1,
            "episode_returns": [float(sum(s[2] for s in samples))], "episode_steps": [steps],
            "episode_ends": ["truncated"], "reset_samples": True, "playerruns_version": "0.1.0",
            "device": "crafted"}
    return {"format": "tmrl_player_run_v1", "run_id": run_id or f"crafted-{seed}",
            "recorded_at": "2026-01-01T00:00:00Z", "metadata": meta, "samples": samples}


def with_placeholder(template: dict[str, Any], where: str) -> dict[str, Any]:
    """A copy of ``template`` holding PLACEHOLDER where the payload goes (sample 1, or the metadata)."""
    content = {**template, "metadata": dict(template["metadata"]), "samples": list(template["samples"])}
    act, obs, rew, terminated, truncated, info = content["samples"][1]
    if where == "info":
        content["samples"][1] = (act, obs, rew, terminated, truncated, {**info, "payload": PLACEHOLDER})
    elif where == "metadata":
        content["metadata"]["payload"] = PLACEHOLDER
    elif where == "obs":
        content["samples"][1] = (act, PLACEHOLDER, rew, terminated, truncated, info)
    else:
        raise ValueError(f"where must be one of {WHERES}, not {where!r}")
    return content


def envelope(content: Any) -> bytes:
    """``content`` pickled with protocol 4, without memo opcodes and without frames."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=4)
    pickler.fast = True  # no memo: nothing in a run file is shared or recursive
    pickler.dump(content)
    data = out.getvalue()
    kept, start = [], 0
    for op, _arg, pos in pickletools.genops(data):
        assert op.name not in ("MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"), op.name
        if op.name == "FRAME":
            assert pos is not None
            kept.append(data[start:pos])
            start = pos + 9
    kept.append(data[start:])
    return b"".join(kept)


def wrap(payload: bytes, where: str, template: dict[str, Any] | None = None) -> bytes:
    """A run file (bytes) that is ``template`` (default ``lidar_template()``) with ``payload`` (opcodes
    that push one object) at ``where``."""
    data = envelope(with_placeholder(template or lidar_template(), where))
    assert data.count(_PLACEHOLDER_OP) == 1
    return data.replace(_PLACEHOLDER_OP, payload)


def _builder(payload: Payload) -> Callable[..., bytes]:
    def build(where: str = "info", template: dict[str, Any] | None = None) -> bytes:
        return wrap(payload(), where, template)

    build.__doc__ = payload.__doc__
    return build


# name -> build(where="info", template=None) -> the bytes of a run file
CORPUS: dict[str, Callable[..., bytes]] = {name: _builder(payload) for name, payload in PAYLOADS.items()}


def opcodes_ok(data: bytes) -> bool:
    """True when ``data`` is a well-formed sequence of pickle opcodes up to its STOP (checked by
    pickletools, which builds nothing)."""
    try:
        for op, _arg, _pos in pickletools.genops(data):
            if op.name == "STOP":
                return True
    except ValueError:
        return False
    return False
