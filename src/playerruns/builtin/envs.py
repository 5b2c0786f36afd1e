"""Gymnasium environments paced like a game, for the built-in default and its experiment.

TrackMania runs in real time: the world does not wait for the trainer, and tmrl's trainer trains
asynchronously on what the worker sends. A plain gymnasium task steps as fast as the CPU allows,
which would flood the replay memory and measure the CPU instead of learning. ``Paced`` steps the
wrapped task at a fixed rate, so a rollout worker behaves as it does against the game.

Made through gymnasium ids, e.g. ``GYM:playerruns.builtin.envs:PacedMountainCarContinuous-v0`` in
config.json (gymnasium imports this module to register them). The experiment also gives the
worker's environment keyword arguments (``python -m playerruns --worker -d '{...}'``, tmrl's rtgym
config modifiers, which the generic path passes to ``gymnasium.make``): a ``Hold`` on the trainer's
statistics channel and a ``count_file`` for its step count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium

from playerruns.builtin.progress import write_numbers
from playerruns.envs import minitrack
from playerruns.envs.position_only import POSITION_ONLY_ID
from playerruns.trainer.statistics import last_record


@dataclass(frozen=True)
class Hold:
    """Holds a worker to its trainer: the worker never gets more than ``slack`` steps ahead of
    ``updates_per_step`` updates per step, counted after ``after`` steps (the trainer's warm-up). The
    trainer's updates are read from its statistics file (``playerruns.trainer.statistics``)."""

    statistics: str  # the trainer's statistics file
    updates_per_step: float
    after: int = 0
    slack: int = 0

    @classmethod
    def from_kwargs(cls, value: dict[str, Any] | None) -> Hold | None:
        return None if not value else cls(statistics=str(value["statistics"]),
                                           updates_per_step=float(value["updates_per_step"]),
                                           after=int(value.get("after", 0)), slack=int(value.get("slack", 0)))

    def to_kwargs(self) -> dict[str, str | float | int]:
        return {"statistics": self.statistics, "updates_per_step": self.updates_per_step, "after": self.after,
                "slack": self.slack}

    def updates_needed(self, steps: int) -> float:
        return self.updates_per_step * (steps - self.after) - self.slack


class Paced(gymnasium.Wrapper):
    """Steps the wrapped environment at most every ``step_seconds``; optionally publishes its step
    count (and the seconds it waited) to ``count_file`` every 50 steps and waits for the trainer.

    A rollout worker sends its samples once per episode, so the trainer cannot keep exactly in step,
    but under a ``Hold`` the worker never runs more than its slack ahead. The world then waits for
    the learner, which the game never does; the experiment does it so that the figures it reports do
    not depend on how fast the machine trains.
    """

    def __init__(self, env: gymnasium.Env, step_seconds: float = 0.01, count_file: str | None = None,
                 hold: Hold | None = None) -> None:
        super().__init__(env)
        self.step_seconds = step_seconds
        self.steps = 0
        self.waited_seconds = 0.0
        self._next = 0.0
        self.count_file = Path(count_file) if count_file else None
        self.hold = hold
        self._trainer_updates = 0

    def _wait_for_trainer(self) -> None:
        """Blocks while the trainer is more than the hold's slack behind."""
        hold = self.hold
        if hold is None or hold.updates_per_step <= 0 or self.steps < hold.after:
            return
        needed = hold.updates_needed(self.steps)
        if self._trainer_updates >= needed:
            return
        started = time.monotonic()
        while True:
            record = last_record(hold.statistics)
            if record is not None:
                self._trainer_updates = max(self._trainer_updates, int(record.get("updates", 0)))
            if self._trainer_updates >= needed:
                break
            time.sleep(0.02)
        waited = time.monotonic() - started
        self.waited_seconds += waited
        self._next += waited  # the pause does not count against the pace

    def reset(self, **kwargs: Any) -> Any:
        self._next = time.monotonic()
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> Any:
        self._wait_for_trainer()
        self._next += self.step_seconds
        delay = self._next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            self._next = time.monotonic()
        result = self.env.step(action)
        self.steps += 1
        if self.count_file is not None and self.steps % 50 == 0:
            write_numbers(self.count_file, self.steps, round(self.waited_seconds, 1))
        return result


def make_paced(env_id: str, step_seconds: float = 0.01, count_file: str | None = None,
               hold: dict[str, Any] | None = None, **kwargs: Any) -> gymnasium.Env:
    return Paced(gymnasium.make(env_id, disable_env_checker=True, **kwargs), step_seconds=step_seconds,
                 count_file=count_file, hold=Hold.from_kwargs(hold))


for _task in ("MountainCarContinuous-v0", "Pendulum-v1", *minitrack.TRACK_IDS.values(), POSITION_ONLY_ID):
    _paced_id = f"Paced{_task}"
    if _paced_id not in gymnasium.registry:
        gymnasium.register(id=_paced_id, entry_point=make_paced,  # type: ignore[arg-type]  # any callable works
                           kwargs={"env_id": _task})
