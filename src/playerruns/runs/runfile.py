"""Run files: standalone pickles holding one or more human-driven episodes.

Format v1 is a pickled dict::

    {"format": "tmrl_player_run_v1", "run_id": str, "recorded_at": ISO-8601 UTC,
     "metadata": dict, "samples": list}

Each sample is what a tmrl rollout worker produces BEFORE its sample compressor:
``(act, obs, rew, terminated, truncated, info)`` where ``act`` precedes ``obs`` and each episode
starts with a reset sample. Older tools wrote a bare pickled list of samples: it loads too, with a
run id derived from the file's content so that re-importing it is still detected.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import pickletools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from playerruns.runs.atomic_io import atomic_write_pickle
from playerruns.runs.errors import RunFileError
from playerruns.runs.safe_pickle import read_file, safe_loads
from playerruns.runs.sample import ACT, OBS, REW, TERMINATED, TRUNCATED, Sample, split_episodes
from playerruns.runs.signature import describe
from playerruns.version import __version__

FORMAT_V1 = "tmrl_player_run_v1"
_V1_KEYS = ("format", "run_id", "recorded_at", "metadata", "samples")

@dataclass
class RunFile:
    """One run file's content. ``source`` is the path it was loaded from, if any."""

    samples: list[Sample]
    run_id: str = field(default_factory=lambda: new_run_id())
    recorded_at: str = field(default_factory=lambda: utc_now_iso())
    metadata: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT_V1
    source: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """The pickled form, always in the current format (a run loaded from a bare list is upgraded)."""
        return {"format": FORMAT_V1, "run_id": self.run_id, "recorded_at": self.recorded_at,
                "metadata": self.metadata, "samples": self.samples}


def new_run_id() -> str:
    """A run id that sorts by time (to the microsecond) and never collides: ``20261124T101500.123456Z-1a2b3c4d``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S.%f}Z-{uuid.uuid4().hex[:8]}"


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def build_metadata(samples: list[Sample], *, interface: str, raw: bool = True,
                   reset_samples: bool = True, **extra: Any) -> dict[str, Any]:
    """The metadata a run file carries: interface, signatures, raw flag, episode stats, versions.

    ``reset_samples`` says whether each episode starts with a reset sample (it should), which is
    not a step: an episode of n samples then has n - 1 steps.
    """
    episodes = split_episodes(samples)
    first_act = next((s[ACT] for s in samples if s[ACT] is not None), None)
    meta: dict[str, Any] = {
        "interface": interface,
        "obs_signature": describe(samples[0][OBS]) if samples else None,
        "act_signature": describe(first_act),
        "raw": raw,
        "episode_count": len(episodes),
        "episode_returns": episode_returns(episodes),
        "episode_steps": [len(ep) - 1 if reset_samples else len(ep) for ep in episodes],
        "episode_ends": [episode_end(ep) for ep in episodes],
        "reset_samples": reset_samples,
        "playerruns_version": __version__,
    }
    meta.update(extra)
    return meta


def episode_returns(episodes: list[list[Sample]]) -> list[float]:
    """The sum of rewards of each episode (the reset sample's reward is 0)."""
    return [float(sum(float(s[REW]) for s in ep)) for ep in episodes]


def episode_end(episode: list[Sample]) -> str:
    """How an episode ended, from its last sample: "terminated", "truncated" or "open" (no flag)."""
    last = episode[-1]
    return "terminated" if last[TERMINATED] else "truncated" if last[TRUNCATED] else "open"


def save_run(path: str | Path, run: RunFile) -> Path:
    """Writes ``run`` atomically to ``path`` in the current format (a reader never sees a half-written file)."""
    path = Path(path)
    atomic_write_pickle(path, run.to_dict())
    run.source = path
    run.format = FORMAT_V1
    return path


def load_run(path: str | Path) -> RunFile:
    """Loads a run file without running any code from it. Raises RunFileError."""
    path = Path(path)
    return loads_run(read_file(path), path)


def loads_run(data: bytes, path: Path) -> RunFile:
    """A run file's content from its bytes (``path`` names it in errors). Raises RunFileError."""
    return parse_run(safe_loads(data, source=str(path)), path, data)


@dataclass
class RunHeader:
    """A run file's envelope without its samples: what a listing of many runs needs."""

    run_id: str
    recorded_at: str
    metadata: dict[str, Any]
    source: Path
    ends_complete: bool  # the file ends as a whole run file does (see ``read_header``)


_COMPLETE_END = pickle.SETITEMS + pickle.STOP  # the last bytes of every file save_run writes


def read_header(path: str | Path) -> RunHeader | None:
    """The run id, date and metadata of a v1 run file, read without unpickling its samples.

    A v1 file written by ``save_run`` pickles its keys in order, the samples last, so the bytes
    before the top-level ``samples`` key hold everything else: they are cut there, closed into a
    dict and unpickled (as safely as a whole file). Returns None when the file is laid out otherwise
    (a bare list, another writer's key order) or cannot be read that way: the caller then loads it
    whole, which also reports any damage properly.

    ``ends_complete`` says whether the file's last bytes are the ones every file of ``save_run`` ends with
    (the top-level dict's SETITEMS and the pickle's STOP): a copy cut short ends inside a sample instead,
    and ends with those two bytes by chance once in 65,536. Its samples are not read: an import checks them.
    """
    path = Path(path)
    size = _HEADER_READ
    while True:
        with open(path, "rb") as f:
            data = f.read(size)
            f.seek(0, io.SEEK_END)
            length = f.tell()
            f.seek(max(0, length - len(_COMPLETE_END)))
            ending = f.read()
        cut = _before_samples(data)
        if cut is not None or len(data) < size or size >= _HEADER_MAX:
            break
        size *= 16  # a large metadata (many episodes): read further once
    if cut is None:
        return None
    try:
        content = safe_loads(cut + pickle.SETITEMS + pickle.STOP, source=str(path))
    except RunFileError:
        return None
    if not isinstance(content, dict) or content.get("format") != FORMAT_V1:
        return None
    try:
        run = parse_run({**content, "samples": []}, path, b"")
    except RunFileError:
        return None
    if not run.metadata:  # maybe a cut inside a one-item metadata {"samples": ...} (see _before_samples)
        return None
    return RunHeader(run_id=run.run_id, recorded_at=run.recorded_at, metadata=run.metadata, source=path,
                     ends_complete=ending == _COMPLETE_END)


_HEADER_READ = 1 << 16  # bytes read first for a header: a run's metadata is far smaller
_HEADER_MAX = 1 << 20  # beyond this the file is read whole
_STRING_OPS = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"})


def _before_samples(data: bytes) -> bytes | None:
    """The pickle opcodes of ``data`` up to the top-level ``samples`` key, frames removed (None if not found).

    The unpickler's stack is followed by its shape only (``pickletools`` gives each opcode's stack
    effect): the top-level dict's keys are pushed right above its one MARK, at an even count of
    items. A ``samples`` string met inside the metadata looks the same only when every container
    around it is built without a MARK, which a pickler does for one-item containers only: the
    metadata dict is then still empty at the cut, and ``read_header`` refuses an empty metadata.
    """
    stack: list[bool] = []  # True for a MARK
    kept: list[bytes] = []
    start = 0
    try:
        for op, arg, at in pickletools.genops(io.BytesIO(data)):
            pos = int(at or 0)  # genops gives positions for a seekable stream
            if op.name == "FRAME":  # frames are optional framing: dropped, as the cut ends inside one
                kept.append(data[start:pos])
                start = pos + 9
                continue
            if (op.name in _STRING_OPS and arg == "samples" and len(stack) >= 2 and stack[1]
                    and stack.count(True) == 1 and len(stack) % 2 == 0):
                kept.append(data[start:pos])
                return b"".join(kept)
            if op.name == "STOP":
                return None
            before = op.stack_before
            if pickletools.markobject in before:  # pops everything down to the last MARK, then what lies below
                while stack and not stack.pop():
                    pass
                del stack[len(stack) - before.index(pickletools.markobject):]
            else:
                del stack[len(stack) - len(before):]
            stack.extend(item is pickletools.markobject for item in op.stack_after)
    except ValueError:  # the data read so far ends inside an opcode
        return None
    return None


def parse_run(content: Any, path: Path, raw_bytes: bytes) -> RunFile:
    """Turns unpickled content into a RunFile (v1 dict or bare sample list). Raises RunFileError.

    Only the envelope is checked here (the samples are checked by ``validation.check_samples``); a
    value of the wrong type is named by its type, never printed (it may be huge or nested deep).
    """
    if isinstance(content, list):
        digest = hashlib.sha256(raw_bytes).hexdigest()[:16]
        try:
            recorded_at = _iso_utc(path.stat().st_mtime)
        except OSError:  # gone since it was read (a poller's file renamed meanwhile)
            recorded_at = utc_now_iso()
        return RunFile(samples=content, run_id=f"bare-{digest}", recorded_at=recorded_at,
                       metadata={"legacy_bare_list": True}, format="bare_list", source=path)
    if isinstance(content, dict):
        fmt = content.get("format")
        if fmt != FORMAT_V1:
            shown = _short(fmt) if fmt is None or isinstance(fmt, str) else f"({_short(fmt)})"
            raise RunFileError(f"{path}: unknown run file format {shown}, expected '{FORMAT_V1}' "
                               "or a bare list of samples")
        missing = [k for k in _V1_KEYS if k not in content]
        if missing:
            raise RunFileError(f"{path}: '{FORMAT_V1}' file lacks the key(s) {', '.join(missing)}")
        run_id = content["run_id"]
        if not isinstance(run_id, str) or not run_id:
            raise RunFileError(f"{path}: 'run_id' must be a non-empty string, found {_short(run_id)}")
        if len(run_id) > _MAX_RUN_ID or not run_id.isprintable():
            raise RunFileError(f"{path}: 'run_id' must be one printable line of at most {_MAX_RUN_ID} "
                               f"characters, found {_short(run_id)}")
        if not isinstance(content["metadata"], dict):
            raise RunFileError(f"{path}: 'metadata' must be a dict, found {_short(content['metadata'])}")
        samples = content["samples"]
        if not isinstance(samples, (list, tuple)):
            raise RunFileError(f"{path}: 'samples' must be a list, found {_short(samples)}")
        return RunFile(samples=samples if isinstance(samples, list) else list(samples), run_id=run_id,
                       recorded_at=_recorded_at(content["recorded_at"], path), metadata=content["metadata"],
                       format=FORMAT_V1, source=path)
    raise RunFileError(f"{path}: unknown run file format: a {type(content).__name__}, expected a "
                       f"'{FORMAT_V1}' dict or a list of samples")


_MAX_RUN_ID = 256


def _recorded_at(value: Any, path: Path) -> str:
    """'recorded_at' as a string: an ISO-8601 text as written, or a POSIX timestamp converted."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        try:
            return _iso_utc(float(value))
        except (OverflowError, ValueError, OSError):
            pass
    raise RunFileError(f"{path}: 'recorded_at' must be an ISO-8601 date string (or a POSIX timestamp), "
                       f"found {_short(value)}")


def _iso_utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _short(value: Any) -> str:
    """A value for a one-line message: a short string quoted, anything else by its type."""
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return repr(text)
    if value is None or isinstance(value, bool):
        return repr(value)
    return f"a value of type {type(value).__name__}"
