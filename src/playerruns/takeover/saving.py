"""The person's take-overs saved as run files (``PLAYER_RUNS.TAKE_OVER_RUNS_PATH``), so they outlive the training run.

Only what the person drove is kept: importing a run file tags every one of its samples as a demo
(``playerruns.runs.demos.demo_samples``), so the agent's own steps must not be in it. Each take-over becomes one
episode of the run file: a reset sample made from the observation the person took the car at, then the
person's samples as the worker built them (raw, before tmrl's sample compressor, still tagged as interventions),
the last one ``truncated`` where the person let go (the episode goes on, so its value is bootstrapped) or ended as
the episode ended. One file per training episode in which the person drove, written atomically when the episode
ends; a folder that cannot be written sends it to the recorder's fallback folders, and the worker drives on.

The file is written by a thread of its own, so the worker's next episode is not held while it goes to disk (a
whole TM20FULL episode driven by the person is ~17 MB and took up to 0.3 s, ``benchmarks/take_over_save.py``);
``close`` (at the worker's exit) saves what is left and waits for every file. A worker killed outright (SIGKILL)
loses the file being written, as it loses the episode being driven.
"""

from __future__ import annotations

import logging
import pickle
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from playerruns.recording.recorder import fallback_folders
from playerruns.runs.demos import DEMO_FLAG, INTERVENTION_FLAG, TAKE_OVER_KEY
from playerruns.runs.runfile import RunFile, build_metadata, new_run_id, save_run
from playerruns.runs.sample import ACT, INFO, OBS, Sample, ends_episode

log = logging.getLogger(__name__)


class TakeOverRuns:
    """Collects the person-driven stretches of the current episode from the worker's raw samples and saves them.

    ``folder`` is where the files go; ``interface`` and ``metadata`` go into each file's metadata (as the recorder
    writes them), ``kind`` names the take-over (``take-over:<kind>`` is the file's input device).
    """

    def __init__(self, folder: Path, *, interface: str, kind: str, metadata: dict[str, Any] | None = None) -> None:
        self.folder = folder
        self.interface = interface
        self.kind = kind
        self.metadata = dict(metadata or {})
        self._samples: list[Sample] = []  # this episode's take-overs, each opened by a reset sample
        self._open = False  # the person is driving the stretch at the end of _samples
        self._previous: Sample | None = None  # the sample before this one: where a take-over starts from
        self.saved: list[Path] = []  # the files written so far, in order (by the writer thread)
        self._writer: ThreadPoolExecutor | None = None  # one thread: the files are written in order
        self._pending: list[Future[Path | None]] = []

    def add(self, sample: Sample, person: bool) -> None:
        """The worker's next raw sample; ``person``: the person drove it. A reset sample (``act`` None or the
        default action, at an episode's start) is never person-driven."""
        if person and self._previous is not None:
            if not self._open:
                act, obs, info = self._previous[ACT], self._previous[OBS], self._previous[INFO]
                plain = {k: v for k, v in info.items() if k not in (INTERVENTION_FLAG, TAKE_OVER_KEY, DEMO_FLAG)} \
                    if isinstance(info, dict) else {}
                self._samples.append((act, obs, 0.0, False, False, plain))
                self._open = True
            self._samples.append(sample)
        elif self._open:
            self._let_go()
        self._previous = sample
        if ends_episode(sample):
            self._open = False
            self.flush()

    def _let_go(self) -> None:
        act, obs, rew, terminated, _, info = self._samples[-1]
        self._samples[-1] = (act, obs, rew, terminated, True, info)
        self._open = False

    def episode_ended(self) -> None:
        """The worker starts a new episode: what the person drove in the last one is saved, even when tmrl cut it
        without an end flag."""
        if self._open:
            self._let_go()
        self._previous = None
        self.flush()

    def flush(self) -> None:
        """Hands the take-overs collected so far, as one run file, to the writer thread (``wait``: until written)."""
        samples, self._samples = self._samples, []
        if self._open and samples:  # only at exit: the stretch being driven ends here
            act, obs, rew, terminated, _, info = samples[-1]
            samples[-1] = (act, obs, rew, terminated, not terminated, info)
            self._open = False
        if not samples:
            return
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="take-over-writer")
        self._pending = [future for future in self._pending if not _finished(future)]  # a long run keeps none
        try:
            self._pending.append(self._writer.submit(self._save, samples))
        except RuntimeError:  # the interpreter is shutting down: no new thread, write it here
            self._save(samples)

    def wait(self) -> list[Path]:
        """Blocks until every file handed to the writer is written; returns the files saved so far."""
        pending, self._pending = self._pending, []
        futures.wait(pending)
        for future in pending:
            _finished(future)
        return self.saved

    def close(self) -> list[Path]:
        """Saves what the person drove in the episode under way, waits for every file, stops the writer thread."""
        self.flush()
        saved = self.wait()
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        return saved

    def _save(self, samples: list[Sample]) -> Path | None:
        """Writes one run file of ``samples`` (in the writer thread); returns its path (None: not saved)."""
        run = RunFile(samples=samples, run_id=new_run_id())
        run.metadata = build_metadata(samples, interface=self.interface, input_device=f"take-over:{self.kind}",
                                      ended_by="take-over", **self.metadata)
        steps = len(samples) - run.metadata["episode_count"]
        for folder in (self.folder, *fallback_folders()):
            try:
                folder.mkdir(parents=True, exist_ok=True)
                path = save_run(folder / f"{run.run_id}.pkl", run)
            except OSError as err:
                log.warning(f"Player runs take-over: could not save the person's {steps} step(s) in {folder} "
                            f"({err.strerror or err}); trying the next folder")
                continue
            except (pickle.PicklingError, TypeError, AttributeError) as err:  # the task's info holds an object
                log.error(f"Player runs take-over: the person's {steps} step(s) cannot be saved as a run file "
                          f"({err}); they still reached the trainer")
                return None
            if folder != self.folder:
                log.warning(f"Player runs take-over: the person's steps went to {path} instead of {self.folder}")
            self.saved.append(path)
            log.info(f"Player runs take-over: saved the person's {steps} step(s) "
                     f"({run.metadata['episode_count']} take-over(s)) as {path}")
            return path
        log.error(f"Player runs take-over: the person's {steps} step(s) of this episode could not be saved anywhere "
                  "(they still reached the trainer)")
        return None


def _finished(future: Future[Path | None]) -> bool:
    """True when the write is over. One that failed in a way ``_save`` does not handle is logged, not raised: the
    worker drives on, as it does when no folder can be written."""
    if not future.done():
        return False
    error = future.exception()
    if error is not None:
        log.error(f"Player runs take-over: a run file could not be written ({type(error).__name__}: {error}); the "
                  "person's steps still reached the trainer")
    return True
