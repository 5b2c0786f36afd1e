"""Pendulum-v1 at a bounded pace, for tests with a live rollout worker.

tmrl's worker steps a plain gymnasium environment as fast as it can and would flood the replay
memory of a 2-core test machine; a real-time environment paces itself. Made with the id
``tests.throttled_env:ThrottledPendulum-v0`` (gymnasium imports this module to register it).
"""

from __future__ import annotations

import time

import gymnasium
from gymnasium.envs.classic_control.pendulum import PendulumEnv

STEP_SECONDS = 0.002


class ThrottledPendulum(PendulumEnv):
    def step(self, action):
        time.sleep(STEP_SECONDS)
        return super().step(action)


if "ThrottledPendulum-v0" not in gymnasium.registry:
    gymnasium.register(id="ThrottledPendulum-v0", entry_point=ThrottledPendulum, max_episode_steps=200)
