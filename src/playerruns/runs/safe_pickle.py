"""Loading pickles that travel between people without ever running code from them.

Run files are pickles, and a pickle can name any importable callable (``os.system``...). The
restricted unpickler below admits only what run files and replay datasets are made of: numpy
arrays, numpy scalars and dtypes, and plain Python data. Anything else is refused before it is
imported, let alone called.

A damaged or hostile pickle must not exhaust memory either. CPython's C unpickler (up to 3.13, see
CPython gh-115952) keeps its memo in an array that a single PUT/LONG_BINPUT opcode resizes to twice
its index and fills: 9 bytes such as ``]replace.`` ask for tens of GB. A random flipped byte in a run
file can become such an opcode, so before unpickling, ``_check_memo_indices`` walks the opcodes (a
regular expression skips the ordinary ones at C speed) and refuses any memo index larger than the
file, which bounds the memo to 16 bytes per byte of input. The unpickler reads the file as one
buffer (``_WholeBuffer``), so it walks the opcodes exactly as the check did. The builtins that could
build something huge out of a few bytes (``set(range(10**10))``, ``bytearray(10**10)``) are admitted
only for the data a pickler gives them.

What the unpickler builds is then turned into plain data by ``playerruns.runs.content``: numpy's
globals stand for plans that are checked (no object dtypes, data exactly as long as the shape says)
before numpy builds anything, and the whole value is checked against an allow-list of plain types
with bounds on depth, element count and decoded size relative to the file's size.
"""

from __future__ import annotations

import functools
import pickle
import pickletools
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playerruns.runs.content import NUMPY_PLANS, RefusedContent, plain_data
from playerruns.runs.errors import RunFileError, one_line

# (module, name) pairs a run file may reference. Everything else is refused.
_NUMPY_GLOBALS: dict[tuple[str, str], str] = {
    # numpy arrays, scalars and dtypes, under numpy 1.x and 2.x module names: each stands for a plan
    # (see ``content``), never for numpy's own function
    **{(mod, name): name for mod in ("numpy.core.multiarray", "numpy._core.multiarray")
       for name in ("_reconstruct", "scalar")},
    **{(mod, "_frombuffer"): "_frombuffer" for mod in ("numpy.core.numeric", "numpy._core.numeric")},
    ("numpy", "ndarray"): "ndarray",
    ("numpy", "dtype"): "dtype",
}
_ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        *_NUMPY_GLOBALS,
        # plain builtins that have no opcode of their own (protocol 2 spells builtins "__builtin__")
        *((mod, name) for mod in ("builtins", "__builtin__")
          for name in ("set", "frozenset", "complex", "bytes", "bytearray")),
        ("_codecs", "encode"),  # how protocol 2 stores bytes: a pure function
        ("collections", "OrderedDict"),
    }
)


class ForbiddenObjectError(pickle.UnpicklingError):
    """The pickle references an object outside the allow-list."""

    def __init__(self, module: str, name: str) -> None:
        qualified = f"{module}.{name}"
        if len(qualified) > 100 or not qualified.isprintable():  # STACK_GLOBAL takes any strings
            qualified = repr(qualified[:100])[1:-1]
        super().__init__(qualified)
        self.qualified_name = qualified


def _set(items: Any = ()) -> set[Any]:
    return set(_pickled_items(items))


def _frozenset(items: Any = ()) -> frozenset[Any]:
    return frozenset(_pickled_items(items))


def _pickled_items(items: Any) -> Any:
    """What a pickler passes to set()/frozenset(): a list (never a range or another lazy iterable)."""
    if not isinstance(items, (list, tuple, set, frozenset)):
        raise pickle.UnpicklingError(f"set() of a {type(items).__name__}")
    return items


def _bytearray(*args: Any) -> bytearray:
    """bytearray(), bytearray(bytes) or bytearray(str, encoding), as picklers write it; never bytearray(size)."""
    return bytearray(*_pickled_bytes(args))


def _bytes(*args: Any) -> bytes:
    """bytes() (how protocols 0-2 write b""), bytes(bytes) or bytes(str, encoding); never bytes(size)."""
    return bytes(*_pickled_bytes(args))


def _pickled_bytes(args: tuple[Any, ...]) -> tuple[Any, ...]:
    if args and not isinstance(args[0], (bytes, bytearray, str)):
        raise pickle.UnpicklingError(f"bytes() of a {type(args[0]).__name__}")
    if len(args) > 1 and args[1] not in _PICKLED_ENCODINGS:
        raise pickle.UnpicklingError("bytes() of a text in an encoding picklers do not use")
    return args


def _encode(text: Any, encoding: Any = "latin1") -> bytes:
    """``_codecs.encode`` as protocol 2 uses it: a text's code points as bytes, nothing else."""
    if not isinstance(text, str) or encoding not in _PICKLED_ENCODINGS:
        raise pickle.UnpicklingError("_codecs.encode() of something other than a latin-1 text")
    return text.encode("latin-1")


_PICKLED_ENCODINGS = ("latin1", "latin-1")
_WRAPPED_BUILTINS: dict[str, Any] = {"set": _set, "frozenset": _frozenset, "bytes": _bytes, "bytearray": _bytearray}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise ForbiddenObjectError(module, name)
        if module in ("builtins", "__builtin__"):
            return _WRAPPED_BUILTINS.get(name) or super().find_class("builtins", name)
        if module == "_codecs":
            return _encode
        numpy_name = _NUMPY_GLOBALS.get((module, name))
        if numpy_name is not None:
            return NUMPY_PLANS[numpy_name]
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed")


def safe_loads(data: bytes, source: str = "<bytes>") -> Any:
    """Unpickles ``data`` admitting only numpy and plain Python objects.

    Raises RunFileError naming ``source`` and, for a refused pickle, the forbidden object.
    """
    try:
        _check_memo_indices(data)
        with warnings.catch_warnings():  # numpy warns about some damaged dtypes: the error says it all
            warnings.simplefilter("ignore")
            loaded = _RestrictedUnpickler(_WholeBuffer(data)).load()
        return plain_data(loaded, len(data))
    except RefusedContent as err:
        raise RunFileError(f"{source}: refused to load: {err}") from None
    except ForbiddenObjectError as err:
        raise RunFileError(
            f"{source}: refused to load: it references the forbidden object '{err.qualified_name}' "
            "(run files may hold only numpy arrays, numpy scalars and plain Python data); nothing in it was run"
        ) from None
    except Exception as err:  # whatever a damaged pickle makes the unpickler or numpy raise
        text = one_line(err)
        kind = "truncated" if isinstance(err, EOFError) or "truncated" in text else "not a valid pickle"
        raise RunFileError(f"{source}: cannot read: file is {kind} ({type(err).__name__}: {text})") from None


class _WholeBuffer:
    """A file whose first read returns all the data: the C unpickler then parses one buffer, front to
    back, as ``pickle.loads`` does. (Read from a file object in pieces, it drops the rest of a frame
    when an opcode straddles the frame's end, and would not parse what ``_check_memo_indices`` did.)"""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, size: int = -1) -> bytes:
        data, self._data = self._data, b""
        return data

    readline = read

    def readinto(self, buffer: Any) -> int:
        return 0  # asked only once the buffer is used up: the data is truncated


# -- the memo check --------------------------------------------------------------------------------
# Opcodes by how their argument is found; a regular expression matches runs of the ordinary ones.
_LENGTH_PREFIX = {-2: (1, False), -3: (4, True), -4: (4, False), -5: (8, False)}  # pickletools' arg.n codes
_NO_ARG: list[bytes] = []
_FIXED_ARG: dict[int, list[bytes]] = {}
_ONE_LINE: list[bytes] = []
_TWO_LINES: list[bytes] = []
_SHORT_COUNTED: list[bytes] = []  # a 1-byte length, then that many bytes: matched by the expression too
_SLOW: dict[int, Any] = {}  # first byte -> "PUT" | "LONG_BINPUT" | "STOP" | (length size, signed)
for _op in pickletools.opcodes:
    _code = _op.code.encode("latin-1")
    _arg = _op.arg
    if _op.name in ("PUT", "LONG_BINPUT", "STOP"):
        _SLOW[_code[0]] = _op.name
    elif _arg is None:
        _NO_ARG.append(_code)
    elif _arg.n >= 0:
        _FIXED_ARG.setdefault(_arg.n, []).append(_code)
    elif _arg.n == pickletools.UP_TO_NEWLINE:
        (_TWO_LINES if _arg.name == "stringnl_noescape_pair" else _ONE_LINE).append(_code)
    else:
        _SLOW[_code[0]] = _LENGTH_PREFIX[_arg.n]
        if _arg.n == pickletools.TAKEN_FROM_ARGUMENT1:
            _SHORT_COUNTED.append(_code)
del _op, _code, _arg


def _one_of(codes: list[bytes]) -> bytes:
    return b"[" + b"".join(re.escape(c) for c in codes) + b"]"


def _ordinary_opcodes(long_binput: bytes) -> re.Pattern[bytes]:
    """Runs of opcodes that cannot grow the memo much (plus LONG_BINPUT with a small index).

    Each repetition takes one opcode with an argument and the argument-less ones after it, those with
    a 1-byte argument (the most frequent: BINGET, BININT1) in a loop of their own: the expression
    engine's cost is per repetition."""
    no_argument = _one_of(_NO_ARG) + b"*+"
    one_byte = b"(?:" + _one_of(_FIXED_ARG[1]) + b"." + no_argument + b")++"
    with_argument = [
        *(_one_of(codes) + b".{%d}" % n for n, codes in sorted(_FIXED_ARG.items()) if n != 1),
        _one_of(_SHORT_COUNTED) + b"(?:" + b"|".join(re.escape(bytes([k])) + b".{%d}" % k for k in range(256)) + b")",
        *([long_binput] if long_binput else []),
        _one_of(_ONE_LINE) + b"[^\n]*\n",
        _one_of(_TWO_LINES) + b"[^\n]*\n[^\n]*\n",
    ]
    return re.compile(no_argument + b"(?:" + one_byte + b"|(?:" + b"|".join(with_argument) + b")" + no_argument
                      + b")*+", re.DOTALL)


# by the size of the data: LONG_BINPUT indices below 2**24, 2**16, 2**8 can be skipped at C speed
_SMALL_LONG_BINPUT = ((1 << 24, rb"r...\x00"), (1 << 16, rb"r..\x00\x00"), (1 << 8, rb"r.\x00\x00\x00"), (0, b""))


@functools.cache
def _ordinary_for(long_binput: bytes) -> Callable[[bytes, int], re.Match[bytes] | None]:
    return _ordinary_opcodes(long_binput).match  # compiled on first use (some 10 ms each)


def _check_memo_indices(data: bytes) -> None:
    """Refuses a PUT/LONG_BINPUT whose memo index exceeds the data's size (see the module docstring),
    and a length that runs past the end of the data (the unpickler would allocate it before failing).

    Follows the opcodes the unpickler would run, up to STOP or an unknown opcode (where it stops too).
    """
    size = len(data)
    ordinary = _ordinary_for(next(pattern for limit, pattern in _SMALL_LONG_BINPUT if size >= limit))
    slow = _SLOW
    pos = 0
    while True:
        pos = ordinary(data, pos).end()  # type: ignore[union-attr]  # a possessive * always matches
        if pos >= size:
            return
        kind = slow.get(data[pos])
        if kind is None or kind == "STOP":
            return
        if kind.__class__ is tuple:
            width, signed = kind
            start = pos + 1 + width
            length = int.from_bytes(data[pos + 1:start], "little", signed=signed)
            if length < 0 or start + length > size:
                # the unpickler would fail here too, after allocating ``length`` bytes (some GB maybe)
                raise pickle.UnpicklingError(f"pickle data was truncated: {length} bytes announced at byte {pos}, "
                                             f"{max(size - start, 0)} left")
            pos = start + length
            continue
        if kind == "LONG_BINPUT":
            index = int.from_bytes(data[pos + 1:pos + 5], "little")
            end = pos + 5
        else:  # PUT: a decimal line
            end = data.find(b"\n", pos)
            if end < 0:
                return
            try:
                index = int(data[pos + 1:end])
            except ValueError:
                raise pickle.UnpicklingError(f"unreadable memo index at byte {pos}") from None
            end += 1
        if index > size:
            raise pickle.UnpicklingError(f"memo index {index} at byte {pos} is beyond the data's "
                                         f"{size} bytes (a damaged file)")
        pos = end


def read_file(path: Path) -> bytes:
    """The bytes of a file to unpickle, or a RunFileError saying why there are none."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RunFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise RunFileError(f"{path}: is a directory, expected a .pkl file") from None
    except OSError as err:
        raise RunFileError(f"{path}: cannot read: {err.strerror or err}") from None
    except MemoryError:
        raise RunFileError(f"{path}: cannot read: file too large to load into memory") from None
    if not data:
        raise RunFileError(f"{path}: cannot read: file is empty")
    return data


def safe_load(path: str | Path) -> Any:
    """Reads and safely unpickles the file at ``path`` (see safe_loads)."""
    path = Path(path)
    return safe_loads(read_file(path), source=str(path))
