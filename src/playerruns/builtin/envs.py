"""Gymnasium environments paced like a game, for the built-in default.

TrackMania runs in real time: the world does not wait for the trainer, and tmrl's trainer trains
asynchronously on what the worker sends. A plain gymnasium task steps as fast as the CPU allows,
which would flood the replay memory and measure the CPU instead of learning. ``Paced`` steps the
wrapped task at a fixed rate, so a rollout worker behaves as it does against the game.

Made through gymnasium ids, e.g. ``GYM:playerruns.builtin.envs:PacedMountainCarContinuous-v0`` in
config.json (gymnasium imports this module to register them).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

from playerruns.builtin import driving  # registers the MiniTrack ids
from playerruns.progress import TRAINER_PROGRESS_FILE_ENV, read_numbers, write_numbers

STEP_COUNT_FILE_ENV = "PLAYERRUNS_STEP_COUNT_FILE"  # where a paced env publishes its step count (opt-in)
# Holding the worker to the trainer (opt-in, set by the built-in experiment for its worker):
UPDATES_PER_STEP_ENV = "PLAYERRUNS_UPDATES_PER_STEP"  # the updates per environment step to hold
HOLD_AFTER_ENV = "PLAYERRUNS_HOLD_AFTER_STEPS"  # steps before the hold starts (the trainer's warm-up)
HOLD_SLACK_ENV = "PLAYERRUNS_HOLD_SLACK_STEPS"  # how far behind the trainer may fall (> one worker episode)


class Paced(gymnasium.Wrapper):
    """Steps the wrapped environment at most every ``step_seconds``, and can publish its step count.

    It can also wait for the trainer (the ``PLAYERRUNS_*`` variables above): a rollout worker sends
    its samples once per episode, so the trainer cannot keep exactly in step, but the worker never
    gets more than ``slack`` steps ahead of ``updates_per_step`` updates per step. The world waits
    for the learner, which the game never does; the built-in experiment does it so that the figures
    it reports do not depend on how fast the machine trains (see ``playerruns.builtin.warmup``).
    """

    def __init__(self, env: gymnasium.Env, step_seconds: float = 0.01, count_file: str | None = None) -> None:
        super().__init__(env)
        self.step_seconds = step_seconds
        self.steps = 0
        self.waited_seconds = 0.0
        self._next = 0.0
        count_file = count_file or os.environ.get(STEP_COUNT_FILE_ENV)
        self.count_file = Path(count_file) if count_file else None
        progress = os.environ.get(TRAINER_PROGRESS_FILE_ENV)
        self.progress_file = Path(progress) if progress else None
        self.updates_per_step = float(os.environ.get(UPDATES_PER_STEP_ENV, "0") or 0)
        self.hold_after = int(os.environ.get(HOLD_AFTER_ENV, "0") or 0)
        self.slack = int(os.environ.get(HOLD_SLACK_ENV, "0") or 0)
        self._trainer_updates = 0

    def _wait_for_trainer(self) -> None:
        """Blocks while the trainer is more than ``slack`` steps' worth of updates behind."""
        if self.progress_file is None or self.updates_per_step <= 0 or self.steps < self.hold_after:
            return
        needed = self.updates_per_step * (self.steps - self.hold_after) - self.slack
        if self._trainer_updates >= needed:
            return
        started = time.monotonic()
        while True:
            self._trainer_updates = max(self._trainer_updates, int(read_numbers(self.progress_file, 1)[0]))
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


class PositionOnly(gymnasium.ObservationWrapper):
    """MountainCarContinuous without its velocity: the car's position alone. One observation does not
    tell which way the car rolls; a history does, so this is a task where an agent needs memory."""

    def __init__(self, env: gymnasium.Env) -> None:
        super().__init__(env)
        space = env.observation_space
        assert isinstance(space, gymnasium.spaces.Box)
        self.observation_space = gymnasium.spaces.Box(space.low[:1], space.high[:1], dtype=np.float32)

    def observation(self, observation: Any) -> Any:
        return np.asarray(observation[:1], dtype=np.float32)


def make_position_only(**kwargs: Any) -> gymnasium.Env:
    return PositionOnly(gymnasium.make("MountainCarContinuous-v0", disable_env_checker=True, **kwargs))


def make_paced(env_id: str, step_seconds: float = 0.01, **kwargs: Any) -> gymnasium.Env:
    return Paced(gymnasium.make(env_id, disable_env_checker=True, **kwargs), step_seconds=step_seconds)


POSITION_ONLY_ID = "PositionOnlyMountainCar-v0"
if POSITION_ONLY_ID not in gymnasium.registry:
    gymnasium.register(id=POSITION_ONLY_ID, entry_point=make_position_only)

for _task in ("MountainCarContinuous-v0", "Pendulum-v1", *driving.TRACK_IDS.values(), POSITION_ONLY_ID):
    _paced_id = f"Paced{_task}"
    if _paced_id not in gymnasium.registry:
        gymnasium.register(id=_paced_id, entry_point=make_paced,  # type: ignore[arg-type]  # any callable works
                           kwargs={"env_id": _task})
