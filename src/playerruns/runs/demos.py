"""The one path from a run file to demo samples, shared by the offline import and online injection.

``load_demo_run`` reads a run file safely and refuses anything a replay memory must not get (a bad
schema, samples that do not fit the current configuration, non-finite numbers, samples stored
compressed); ``demo_samples`` tags each sample's ``info`` as a demo of that run and compresses it as a
rollout worker would. Which sample is a demo lives in ``info`` only, so imported, injected and
shipped runs are weighted alike.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from playerruns.runs.errors import ValidationError
from playerruns.runs.runfile import RunFile, load_run, loads_run
from playerruns.runs.sample import Sample
from playerruns.runs.validation import Compatibility, check_samples

DEMO_FLAG = "is_demo"
RUN_ID_KEY = "player_run_id"
INTERVENTION_FLAG = "intervention"  # a step a person drove during training (playerruns.takeover), also a demo
TAKE_OVER_KEY = "take_over"  # on the first step of a take-over: where on the lap it began (a share, or None)

Compressor = Callable[[Sample], Sample]


def check_run(run: RunFile, compat: Compatibility | None, source: str) -> None:
    """Raises ValidationError unless ``run`` holds raw samples that fit ``compat``."""
    if run.metadata.get("raw") is False:
        raise ValidationError(f"{source}: its metadata says the samples are compressed; run files must hold "
                              "raw samples (before the sample compressor)")
    check_samples(run.samples, compat, source)


def load_demo_run(path: str | Path, compat: Compatibility | None) -> RunFile:
    """Loads and checks one run file (see ``check_run``). Raises RunFileError or ValidationError."""
    run = load_run(path)
    check_run(run, compat, str(path))
    return run


def read_demo_run(data: bytes, source: str, compat: Compatibility | None) -> RunFile:
    """Loads and checks a run file's bytes that arrived from elsewhere (the network), exactly as from disk."""
    run = loads_run(data, Path(source))
    check_run(run, compat, source)
    return run


def is_demo(info: Any) -> bool:
    """True for the ``info`` of a sample that came from a player run."""
    return isinstance(info, dict) and info.get(DEMO_FLAG) is True


def is_intervention(info: Any) -> bool:
    """True for the ``info`` of a step a person drove by taking over from the policy."""
    return isinstance(info, dict) and info.get(INTERVENTION_FLAG) is True


def demo_samples(run: RunFile, compress: Compressor | None = None) -> list[Sample]:
    """The run's samples as a rollout worker would send them, tagged as demos of this run."""
    tag = {DEMO_FLAG: True, RUN_ID_KEY: run.run_id}
    tagged = [(act, obs, rew, bool(terminated), bool(truncated), {**info, **tag})
              for act, obs, rew, terminated, truncated, info in run.samples]
    return tagged if compress is None else [compress(s) for s in tagged]


def run_id_of(info: Any) -> str | None:
    """The player run id recorded in a sample's ``info``, if it came from a player run."""
    return info.get(RUN_ID_KEY) if isinstance(info, dict) else None


