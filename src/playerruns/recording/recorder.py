"""Recording episodes driven by a person into run files.

The samples are exactly what a tmrl rollout worker would collect for the same driving: a reset
sample first (default action, first observation, reward 0), then for each step the action the
person applied (fed to the environment, so the action buffer of a real-time environment holds it)
and the preprocessed observation it led to, ``truncated`` set on the last allowed step or when the
person ends the episode early. Samples are stored raw (before the sample compressor).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playerruns.recording.input_sources import InputSource
from playerruns.runs.errors import PlayerRunsError
from playerruns.runs.runfile import RunFile, build_metadata, new_run_id, save_run
from playerruns.runs.sample import Sample, ends_episode

if TYPE_CHECKING:
    import numpy as np


@dataclass
class EpisodeOutcome:
    run: RunFile
    steps: int
    episode_return: float
    duration: float
    ended_by: str  # "environment", "limit", "delete", "gamepad", "interrupt"


class Recorder:
    """Drives one environment with one input source and turns each episode into a RunFile."""

    def __init__(self, env: Any, source: InputSource, *, interface: str, max_samples: int,
                 obs_preprocessor: Callable[[Any], Any] | None = None, default_action: np.ndarray | None = None,
                 step_seconds: float = 0.0, stop_requested: Callable[[], bool] | None = None,
                 on_start: Callable[[], None] | None = None, metadata: dict[str, Any] | None = None,
                 on_step: Callable[[int, dict[str, Any]], None] | None = None) -> None:
        if max_samples < 1:
            raise PlayerRunsError(f"--record-episode-max-samples: must be at least 1, got {max_samples}")
        self.env = env
        self.source = source
        self.interface = interface
        self.max_samples = max_samples
        self.obs_preprocessor = obs_preprocessor
        self.default_action = default_action
        self.step_seconds = step_seconds
        self.stop_requested = stop_requested or (lambda: False)
        self.on_start = on_start or (lambda: None)  # called once the episode listens for Del
        self.metadata = metadata or {}
        self.on_step = on_step  # (steps so far, the step's info): what a window shows while the person drives

    def _pre(self, obs: Any) -> Any:
        return self.obs_preprocessor(obs) if self.obs_preprocessor is not None else obs

    def record_episode(self) -> EpisodeOutcome:
        """Records one episode. Ctrl+C ends it as truncated (ended_by "interrupt"), keeping every sample."""
        started = time.monotonic()
        samples: list[Sample] = []
        ended_by = "limit"
        ret = 0.0
        try:
            obs, info = self.env.reset()
            obs = self._pre(obs)
            samples.append((self.default_action, obs, 0.0, False, False, dict(info)))
            self.stop_requested()  # forget a Del pressed before the episode started
            self.source.start_episode()
            self.on_start()
            next_tick = time.monotonic()
            for t in range(self.max_samples):
                act = self.source.action(obs)
                obs, rew, terminated, truncated, info = self.env.step(act)
                obs = self._pre(obs)
                terminated, truncated = bool(terminated), bool(truncated)
                if self.stop_requested():
                    ended_by = "delete"
                elif self.source.end_requested():
                    ended_by = self.source.end_label
                elif terminated or truncated:
                    ended_by = "environment"
                last = t == self.max_samples - 1 or ended_by in ("delete", "gamepad")
                if last and not terminated:
                    truncated = True
                samples.append((act, obs, rew, terminated, truncated, dict(info)))
                ret += float(rew)
                if self.on_step is not None:
                    self.on_step(t + 1, info)
                if terminated or truncated:
                    break
                if self.step_seconds > 0:
                    next_tick += self.step_seconds
                    delay = next_tick - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    else:
                        next_tick = time.monotonic()
        except KeyboardInterrupt:
            ended_by = "interrupt"
            if samples and not ends_episode(samples[-1]):
                act, obs, rew, terminated, _, info = samples[-1]
                samples[-1] = (act, obs, rew, terminated, True, info)
        duration = time.monotonic() - started
        run = RunFile(samples=samples, run_id=new_run_id())
        run.metadata = build_metadata(samples, interface=self.interface, input_device=self.source.name,
                                      ended_by=ended_by, duration_s=round(duration, 3), **self.metadata)
        return EpisodeOutcome(run=run, steps=max(len(samples) - 1, 0), episode_return=ret,
                              duration=duration, ended_by=ended_by)


PROMPT = "Folder to save it to (Enter: retry the same folder, 'discard': drop it): "
PROMPT_TRIES = 3  # answers to the prompt before the episode goes to a fallback folder
UNSAVED_FOLDER = "playerruns-unsaved"


class EpisodeLost(PlayerRunsError):
    """No folder at all could be written: the episode's samples are gone when the process ends."""


def full_path(folder: Path) -> Path:
    """``folder`` with ``~`` expanded, absolute (a relative folder is taken from the current directory)."""
    try:
        return folder.expanduser().resolve()
    except (OSError, RuntimeError):  # an unknown ~user, a loop of symbolic links
        return Path(os.path.abspath(folder))


def check_output_dir(folder: Path) -> Path:
    """Creates the output folder if missing and checks that it is writable, before anyone drives.

    Returns the folder's full path."""
    folder = full_path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".playerruns-write-test-{new_run_id()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise PlayerRunsError(f"--record-episode-output-dir: {folder}: cannot write there "
                              f"({err.strerror or err})") from None
    return folder


def fallback_folders() -> list[Path]:
    """Where an episode goes when no folder given can be written, or nobody can answer the prompt: a
    ``playerruns-unsaved`` folder in the home folder (kept across restarts), else in the system's
    temporary folder (often on another disk), else in the current directory."""
    places: list[Path] = []
    for base in (Path.home, lambda: Path(tempfile.gettempdir()), Path.cwd):
        try:
            place = full_path(base() / UNSAVED_FOLDER)
        except (OSError, RuntimeError):  # no home folder; the current directory was removed
            continue
        if place not in places:
            places.append(place)
    return places


def save_episode(outcome: EpisodeOutcome, folder: Path, ask: Callable[[str], str], say: Callable[[str], None], *,
                 fallbacks: Sequence[Path] | None = None, tries: int = PROMPT_TRIES) -> Path | None:
    """Saves the episode atomically as ``<run id>.pkl`` in ``folder``; returns the file's full path.

    When that fails, the samples stay in memory and ``ask`` is asked for another folder (Enter: the
    same one again; 'discard': drop the episode, and None is returned) up to ``tries`` times. When
    ``ask`` raises EOFError (the end of input) or no folder given works, the episode goes to the first
    of ``fallbacks`` (default ``fallback_folders()``) that can be written, and the output names it.
    Raises EpisodeLost, naming every folder tried, when none can be written.
    """
    target = full_path(folder)
    tried = [target]
    path = _save_in(outcome, target, say)
    if path is not None:
        return path
    for _ in range(tries):
        try:
            answer = ask(PROMPT).strip()
        except EOFError as no_answer:
            say(f"No folder given ({no_answer or 'end of input'}).")
            break
        if answer.lower() == "discard":
            say("Episode discarded.")
            return None
        if answer:
            target = full_path(Path(answer))
            say(f"Saving to {target}")
        if target not in tried:
            tried.append(target)
        path = _save_in(outcome, target, say)
        if path is not None:
            return path
    else:
        say(f"No folder given could be written ({tries} tries).")
    for place in fallbacks if fallbacks is not None else fallback_folders():
        if place in tried:
            continue
        tried.append(place)
        path = _save_in(outcome, place, say)
        if path is not None:
            say(f"The episode was saved to the fallback folder {place}: move it to where you keep your runs.")
            return path
    raise EpisodeLost(f"episode lost: its {len(outcome.run.samples)} samples (run {outcome.run.run_id}) could not "
                      f"be written to any folder (tried {', '.join(str(p) for p in tried)})")


def _save_in(outcome: EpisodeOutcome, folder: Path, say: Callable[[str], None]) -> Path | None:
    """Saves into ``folder`` (created if missing); None, having said why, if that fails."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        say(f"Cannot create {folder}: {err.strerror or err}. The episode's {len(outcome.run.samples)} samples "
            "are kept in memory.")
        return None
    try:
        return save_run(folder / f"{outcome.run.run_id}.pkl", outcome.run)
    except OSError as err:
        say(f"Could not save the episode to {folder}: {err.strerror or err}. Its "
            f"{len(outcome.run.samples)} samples are kept in memory.")
        return None
