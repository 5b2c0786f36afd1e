"""MountainCarContinuous without its velocity: a task where an agent needs memory.

Made through its gymnasium id, ``GYM:playerruns.envs.position_only:PositionOnlyMountainCar-v0`` in
config.json (gymnasium imports this module to register it).
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np


class PositionOnly(gymnasium.ObservationWrapper):
    """MountainCarContinuous without its velocity: the car's position alone. One observation does not
    tell which way the car rolls; a history does, so this is a task where an agent needs memory."""

    def __init__(self, env: gymnasium.Env) -> None:
        super().__init__(env)
        space = env.observation_space
        assert isinstance(space, gymnasium.spaces.Box)
        self.observation_space = gymnasium.spaces.Box(space.low[:1], space.high[:1], dtype=np.float32)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return np.asarray(observation[:1], dtype=np.float32)


def make_position_only(**kwargs: Any) -> gymnasium.Env:
    return PositionOnly(gymnasium.make("MountainCarContinuous-v0", disable_env_checker=True, **kwargs))


POSITION_ONLY_ID = "PositionOnlyMountainCar-v0"
if POSITION_ONLY_ID not in gymnasium.registry:
    gymnasium.register(id=POSITION_ONLY_ID, entry_point=make_position_only)
