"""``--inspect``: what a folder of run files holds, one row per run, and whether each fits the config.

A listing of many runs reads only what the table needs: a run file written by playerruns keeps its
metadata (episode count, steps, returns, how each episode ended, signatures) before its samples,
and ``runfile.read_header`` reads it without unpickling a single sample. Files laid out otherwise
(bare lists, other writers, metadata without those keys) are read whole and their rows computed
from the samples, so every readable run gets an exact row.

"Fits" answers what an import would decide about the observations and actions (their signatures
against the current configuration's), whether the samples are raw and, for a file read by its header,
whether the file ends as a complete run file does (a copy cut short does not: ``RunHeader.ends_complete``);
a TrackMania run whose rewards came from another reward trajectory fits, with a note. The samples of a
file read by its header are not read: a sample damaged inside a complete file, or a non-finite value, is
only found by an import (or ``--import-player-runs --player-runs-dry-run``), and the summary line says
how many runs were read by their header only.

Steps and samples: a step is one action; each episode also starts with a reset sample, which an import
counts among its samples. The summary line gives both.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from playerruns.bridge.demo_path import reward_stamp, stale_rewards
from playerruns.bridge.setup import TmrlSetup
from playerruns.runs.demos import check_run
from playerruns.runs.errors import PlayerRunsError
from playerruns.runs.runfile import build_metadata, load_run, read_header
from playerruns.runs.signature import format_signature
from playerruns.runs.validation import check_samples

_NEEDED = ("interface", "obs_signature", "act_signature", "episode_count", "episode_returns", "episode_steps",
           "episode_ends")
_ENDED_BY = {"environment": "env", "limit": "step limit", "delete": "Del", "gamepad": "pad button",
             "interrupt": "Ctrl+C"}


@dataclass
class RunRow:
    """One run as the table and the JSON lines show it."""

    path: str
    run_id: str
    recorded_at: str
    interface: str
    episodes: int
    steps: int  # actions taken
    samples: int  # what an import counts: the steps and each episode's reset sample
    episode_returns: list[float]
    episode_ends: list[str]
    duration_s: float | None
    input_device: str
    ended_by: str | None
    fits: bool
    why: str | None = None  # why it does not fit, or a note on a run that fits (stale rewards)
    read: str = field(default="header")  # "header" or "whole file"

    @property
    def total_return(self) -> float:
        return float(sum(self.episode_returns))


def inspect_row(path: Path, setup: TmrlSetup, stamp: dict[str, Any] | None) -> RunRow:
    """The row of one run file. Raises RunFileError (or ValidationError) for a file it cannot read."""
    header = read_header(path)
    if header is not None and all(k in header.metadata for k in _NEEDED):
        meta, run_id, recorded_at, read = header.metadata, header.run_id, header.recorded_at, "header"
        fits, why = _fits_by_signature(meta, setup)
        if not header.ends_complete:
            fits, why = False, "the file is incomplete: it ends inside its samples (cut short, or still copying)"
    else:
        run = load_run(path)
        check_samples(run.samples, None, str(path))  # a row needs sound samples (schema, finite numbers)
        meta = {**run.metadata, **build_metadata(run.samples, interface=run.metadata.get("interface", "?"))}
        run_id, recorded_at, read = run.run_id, run.recorded_at, "whole file"
        try:
            check_run(run, setup.compat, str(path))
            fits, why = True, None
        except PlayerRunsError as err:
            fits, why = False, _short_reason(str(err))
    if fits:
        why = stale_rewards(meta, stamp)
    duration = meta.get("duration_s")
    episodes, steps = int(meta["episode_count"]), int(sum(meta["episode_steps"]))
    samples = steps + episodes if meta.get("reset_samples", True) else steps
    return RunRow(path=str(path), run_id=run_id, recorded_at=recorded_at, interface=str(meta.get("interface")),
                  episodes=episodes, steps=steps, samples=samples,
                  episode_returns=[float(r) for r in meta["episode_returns"]],
                  episode_ends=[str(e) for e in meta["episode_ends"]],
                  duration_s=float(duration) if isinstance(duration, (int, float)) else None,
                  input_device=str(meta.get("input_device") or meta.get("device") or "?"),
                  ended_by=meta.get("ended_by"), fits=fits, why=why, read=read)


def _fits_by_signature(meta: dict[str, Any], setup: TmrlSetup) -> tuple[bool, str | None]:
    """(fits, why not) from the signatures a run's metadata records, as the import would compare them."""
    if meta.get("raw") is False:
        return False, "samples stored compressed"
    expected_obs = format_signature(setup.compat.obs_signature)
    if meta["obs_signature"] != expected_obs:
        return False, f"observations {meta['obs_signature']}, config wants {expected_obs}"
    shape = ", ".join(str(d) for d in setup.compat.action_shape)
    act = meta["act_signature"]
    if act != "None" and act not in {f"float{bits}[{shape}]" for bits in (16, 32, 64)}:
        return False, f"actions {act}, config wants float[{shape}]"
    return True, None


def _short_reason(message: str) -> str:
    """The part of a validation message after the file name and sample index: a few words for the table."""
    reason = message.split(": ", 1)[-1]
    if reason.startswith("sample "):
        reason = reason.split(": ", 1)[-1]
    return reason if len(reason) <= 100 else reason[:97] + "..."


def _ended(row: RunRow) -> str:
    if len(row.episode_ends) == 1:
        how = row.episode_ends[0]
        by = _ENDED_BY.get(row.ended_by or "", row.ended_by)
        return f"{how} ({by})" if by and by != "env" else how
    counts: dict[str, int] = {}
    for end in row.episode_ends:
        counts[end] = counts.get(end, 0) + 1
    return ", ".join(f"{n} {end}" for end, n in counts.items())


def _fits(row: RunRow) -> str:
    if not row.fits:
        return f"no: {row.why}"
    return f"yes ({row.why})" if row.why else "yes"


COLUMNS = ("run id", "recorded", "interface", "episodes", "steps", "return", "duration", "input", "ended", "fits")


def table_cells(row: RunRow) -> tuple[str, ...]:
    duration = f"{row.duration_s:.1f}s" if row.duration_s is not None else "-"
    return (row.run_id, row.recorded_at.replace("T", " ").rstrip("Z"), _last_part(row.interface), str(row.episodes),
            str(row.steps), f"{row.total_return:.2f}", duration, _short_device(row.input_device), _ended(row),
            _fits(row))


def _last_part(name: str) -> str:
    """``GYM:package.module:Env-v0`` -> ``Env-v0``: the table is read by people; JSON keeps it whole."""
    return name.rsplit(":", 1)[-1] if ":" in name else name


def _short_device(device: str) -> str:
    """``scripted:package.module:driver`` -> ``scripted:driver``."""
    kind, _, rest = device.partition(":")
    return f"{kind}:{_last_part(rest)}" if rest else kind


def format_table(rows: list[RunRow]) -> str:
    """A plain-text table, columns as wide as their widest cell (numbers right-aligned)."""
    cells = [COLUMNS, *(table_cells(r) for r in rows)]
    widths = [max(len(c[k]) for c in cells) for k in range(len(COLUMNS))]
    right = {3, 4, 5, 6}
    lines = ["  ".join(c.rjust(w) if k in right else c.ljust(w) for k, (c, w) in enumerate(zip(line, widths,
                                                                                               strict=True))).rstrip()
             for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def json_line(row: RunRow) -> str:
    data = asdict(row)
    data["return"] = row.total_return
    return json.dumps(data)


def inspect_runs(paths: list[Path], setup: TmrlSetup, *, as_json: bool, say: Callable[[str], None]) -> int:
    """``--inspect``: prints the table (or JSON lines); a file it cannot read gets one line on stderr and
    the exit code 1, after the other runs are listed."""
    stamp = reward_stamp(setup)
    rows: list[RunRow] = []
    failed = 0
    for path in paths:
        try:
            rows.append(inspect_row(path, setup, stamp))
        except PlayerRunsError as err:
            failed += 1
            print(f"playerruns: error: {err}", file=sys.stderr)
    if as_json:
        for row in rows:
            say(json_line(row))
    else:
        if rows:
            say(format_table(rows))
        fit = sum(r.fits for r in rows)
        steps, samples = sum(r.steps for r in rows), sum(r.samples for r in rows)
        say(f"{len(rows)} run(s), {sum(r.episodes for r in rows)} episode(s), {steps} steps ({samples} samples with "
            f"each episode's reset sample, as an import counts them); {fit} fit the current config "
            f"({setup.interface})" + (f"; {failed} file(s) unreadable" if failed else ""))
        by_header = sum(r.read == "header" for r in rows)
        if by_header:
            say(f"{by_header} run(s) read by their header: the file's end checked, not its samples (an import "
                "checks every sample; --import-player-runs --player-runs-dry-run does without writing)")
    return 1 if failed else 0
