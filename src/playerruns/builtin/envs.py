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

from playerruns.builtin import driving  # registers the MiniTrack ids

STEP_COUNT_FILE_ENV = "PLAYERRUNS_STEP_COUNT_FILE"  # where a paced env publishes its step count (opt-in)


class Paced(gymnasium.Wrapper):
    """Steps the wrapped environment at most every ``step_seconds``, and can publish its step count."""

    def __init__(self, env: gymnasium.Env, step_seconds: float = 0.01, count_file: str | None = None) -> None:
        super().__init__(env)
        self.step_seconds = step_seconds
        self.steps = 0
        self._next = 0.0
        count_file = count_file or os.environ.get(STEP_COUNT_FILE_ENV)
        self.count_file = Path(count_file) if count_file else None

    def reset(self, **kwargs: Any) -> Any:
        self._next = time.monotonic()
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> Any:
        self._next += self.step_seconds
        delay = self._next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            self._next = time.monotonic()
        result = self.env.step(action)
        self.steps += 1
        if self.count_file is not None and self.steps % 50 == 0:
            tmp = self.count_file.with_suffix(".tmp")
            tmp.write_text(str(self.steps))
            os.replace(tmp, self.count_file)
        return result


def make_paced(env_id: str, step_seconds: float = 0.01, **kwargs: Any) -> gymnasium.Env:
    return Paced(gymnasium.make(env_id, disable_env_checker=True, **kwargs), step_seconds=step_seconds)


for _task in ("MountainCarContinuous-v0", "Pendulum-v1", *driving.TRACK_IDS.values()):
    _paced_id = f"Paced{_task}"
    if _paced_id not in gymnasium.registry:
        gymnasium.register(id=_paced_id, entry_point=make_paced,  # type: ignore[arg-type]  # any callable works
                           kwargs={"env_id": _task})
