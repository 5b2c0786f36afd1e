"""Loading pickles that travel between people without ever running code from them.

Run files are pickles, and a pickle can name any importable callable (``os.system``...). The
restricted unpickler below admits only what run files and replay datasets are made of: numpy
arrays, numpy scalars and dtypes, and plain Python data. Anything else is refused before it is
imported, let alone called.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from playerruns.errors import RunFileError

# (module, name) pairs a run file may reference. Everything else is refused.
_ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        # numpy arrays, scalars and dtypes, under numpy 1.x and 2.x module names
        *((mod, name) for mod in ("numpy.core.multiarray", "numpy._core.multiarray")
          for name in ("_reconstruct", "scalar")),
        *((mod, "_frombuffer") for mod in ("numpy.core.numeric", "numpy._core.numeric")),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        # plain builtins that have no opcode of their own (protocol 2 spells builtins "__builtin__")
        *((mod, name) for mod in ("builtins", "__builtin__")
          for name in ("set", "frozenset", "complex", "bytearray", "slice", "range")),
        ("_codecs", "encode"),  # how protocol 2 stores bytes: a pure function
        ("collections", "OrderedDict"),
    }
)


class ForbiddenObjectError(pickle.UnpicklingError):
    """The pickle references an object outside the allow-list."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.qualified_name = f"{module}.{name}"


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise ForbiddenObjectError(module, name)
        if module == "__builtin__":
            module = "builtins"
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed")


def safe_loads(data: bytes, source: str = "<bytes>") -> Any:
    """Unpickles ``data`` admitting only numpy and plain Python objects.

    Raises RunFileError naming ``source`` and, for a refused pickle, the forbidden object.
    """
    try:
        return _RestrictedUnpickler(io.BytesIO(data)).load()
    except ForbiddenObjectError as err:
        raise RunFileError(
            f"{source}: refused to load: it references the forbidden object '{err.qualified_name}' "
            "(run files may hold only numpy arrays, numpy scalars and plain Python data); nothing in it was run"
        ) from None
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError, MemoryError,
            AttributeError, ImportError, KeyError, OverflowError) as err:
        kind = "truncated" if isinstance(err, EOFError) else "not a valid pickle"
        raise RunFileError(f"{source}: cannot read: file is {kind} ({type(err).__name__}: {err})") from None


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
    if not data:
        raise RunFileError(f"{path}: cannot read: file is empty")
    return data


def safe_load(path: str | Path) -> Any:
    """Reads and safely unpickles the file at ``path`` (see safe_loads)."""
    path = Path(path)
    return safe_loads(read_file(path), source=str(path))
