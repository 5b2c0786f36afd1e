"""Scripted drivers: honest stand-ins for a person, for demos and tests.

A driver factory takes the TmrlSetup and returns a policy ``obs -> action``. The stand-in is
imperfect on purpose (noise, hesitation), never sees the learner, and uses only the observation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from playerruns.recording.input_sources import Policy
from playerruns.seeding import generator
from playerruns.tmrl_bridge import TmrlSetup


def momentum_driver(setup: TmrlSetup | None = None, *, rng: np.random.Generator | None = None,
                    noise: float = 0.3) -> Policy:
    """MountainCarContinuous: push along the velocity to pump momentum, with noisy, imperfect pushes."""
    rng = rng if rng is not None else np.random.default_rng()

    def act(obs: Any) -> np.ndarray:
        push = 1.0 if obs[1] >= 0 else -1.0
        return np.clip(np.array([push + rng.normal(0.0, noise)], dtype=np.float32), -1.0, 1.0)
    return act


def sine_driver(setup: TmrlSetup, *, period: int = 40) -> Policy:
    """Any Box action space: a slow deterministic sine on every dimension (tests compare actions exactly)."""
    space = setup.action_space
    state = {"t": 0}

    def act(obs: Any) -> np.ndarray:
        state["t"] += 1
        unit = np.full(space.shape, np.sin(2 * np.pi * state["t"] / period), dtype=np.float32)
        low, high = np.asarray(space.low, np.float32), np.asarray(space.high, np.float32)
        return (low + (unit + 1.0) * 0.5 * (high - low)).astype(np.float32)
    return act


def default_driver(setup: TmrlSetup) -> Policy:
    """The momentum driver on MountainCar (seeded through playerruns.seeding), a sine elsewhere."""
    if setup.env_id and "MountainCarContinuous" in setup.env_id:
        return momentum_driver(setup, rng=generator("scripted driver"))
    return sine_driver(setup)

