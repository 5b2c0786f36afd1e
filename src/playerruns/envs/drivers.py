"""Scripted drivers: honest stand-ins for a person, for demos and tests.

A driver factory takes the TmrlSetup and returns a policy ``obs -> action``. The stand-in is
imperfect on purpose (noise, hesitation), never sees the learner, and uses only the observation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from playerruns.bridge.seeding import generator
from playerruns.bridge.setup import TmrlSetup
from playerruns.recording.input_sources import Policy


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


@dataclass(frozen=True)
class Skill:
    """How well a MiniTrack stand-in drives: the parameters ``line_follower`` takes.

    ``noise``: the standard deviation of its steering error; ``hesitation``: the chance per step that it
    lifts off the gas for 3-12 steps; ``caution``: the share of the speed it could brake from that it
    dares (1: all of it); ``twitch``: the chance per step of a jerk of the wheel (a shaky hand)."""

    noise: float = 0.15
    hesitation: float = 0.01
    caution: float = 1.0
    twitch: float = 0.0

    @classmethod
    def at(cls, skill: float) -> Skill:
        """A driver from 0 (a beginner) to 1 (the practised stand-in, ``Skill()``), every parameter
        moving together: at 0 it steers with three times the noise, hesitates five times as often,
        dares 70 % of the speed and jerks the wheel now and then."""
        if not 0.0 <= skill <= 1.0:
            raise ValueError(f"skill must be within [0, 1], got {skill}")
        lack = 1.0 - skill
        return cls(noise=0.15 + 0.30 * lack, hesitation=0.01 + 0.04 * lack, caution=1.0 - 0.30 * lack,
                   twitch=0.02 * lack)


PRACTISED = Skill.at(1.0)  # the stand-in of the demo and the benchmark
LESS_PRACTISED = Skill.at(0.4)  # slower and shakier; the benchmark's second driver (docs/warmup.md gives its numbers)


def line_follower(setup: TmrlSetup | None = None, *, rng: np.random.Generator | None = None,
                  skill: Skill = PRACTISED) -> Policy:
    """MiniTrack: follows the free space its lidar sees, slowing for what is ahead; noisy and hesitant.

    Uses only the observation (speed, 19 beams from left to right, the action buffer), as a person
    looking at the road would. Steers toward where the beams see furthest, keeps off the closer
    side, and picks a speed from which it could brake before the nearest thing ahead (times
    ``skill.caution``). Its steering is noisy, now and then it lifts off the gas for a moment and,
    with ``skill.twitch``, jerks the wheel: it finishes laps, not fast ones.
    """
    from playerruns.envs import minitrack as driving

    rng = rng if rng is not None else np.random.default_rng()
    angles = np.linspace(-90.0, 90.0, driving.LIDAR_BEAMS)  # degrees, > 0: right
    hesitating = {"steps": 0}

    def act(obs: Any) -> np.ndarray:
        speed = float(obs[0]) * driving.SPEED_SCALE
        beams = np.asarray(obs[1:1 + driving.LIDAR_BEAMS], dtype=np.float64) * driving.LIDAR_RANGE
        weights = beams ** 4
        target = float((angles * weights).sum() / weights.sum())
        room = float(beams[-5:].min() - beams[:5].min())  # > 0: more room on the right
        steer = target / 35.0 + 0.04 * room + rng.normal(0.0, skill.noise)
        if skill.twitch and rng.random() < skill.twitch:
            steer += float(rng.choice((-1.0, 1.0))) * 0.8
        steer = float(np.clip(steer, -1.0, 1.0))
        ahead = float(beams[7:12].min())
        safe_speed = (math.sqrt(max(2 * 14.0 * (ahead - 6.0), 0.0)) + 5.0) * skill.caution
        if speed < safe_speed:
            gas, brake = 1.0, -1.0
        else:
            gas, brake = -1.0, float(np.clip((speed - safe_speed) / 4.0, 0.0, 1.0))
        if hesitating["steps"] > 0:
            hesitating["steps"] -= 1
            gas = -1.0
        elif rng.random() < skill.hesitation:
            hesitating["steps"] = int(rng.integers(3, 12))
        return np.array([gas, brake, steer], dtype=np.float32)
    return act


def less_practised_driver(setup: TmrlSetup) -> Policy:
    """``--record-driver playerruns.envs.drivers:less_practised_driver``: MiniTrack's stand-in at
    ``LESS_PRACTISED`` skill (seeded like ``default_driver``)."""
    return line_follower(setup, rng=generator("scripted driver"), skill=LESS_PRACTISED)


def position_momentum_driver(setup: TmrlSetup | None = None, *, rng: np.random.Generator | None = None,
                             noise: float = 0.3) -> Policy:
    """MountainCar without velocity: the momentum driver on the velocity a person reads from the last
    two positions (a jump back to the valley is a new episode)."""
    rng = rng if rng is not None else np.random.default_rng()
    last: dict[str, float | None] = {"position": None}

    def act(obs: Any) -> np.ndarray:
        position = float(obs[0])
        previous = last["position"]
        velocity = 0.0 if previous is None or abs(position - previous) > 0.2 else position - previous
        last["position"] = position
        push = 1.0 if velocity >= 0 else -1.0
        return np.clip(np.array([push + rng.normal(0.0, noise)], dtype=np.float32), -1.0, 1.0)
    return act


def default_driver(setup: TmrlSetup) -> Policy:
    """The scripted stand-in for a person on the configured task (seeded through playerruns.bridge.seeding):
    the line follower on MiniTrack, the momentum driver on MountainCar (on positions alone without the
    velocity), a sine elsewhere."""
    env_id = setup.env_id or ""
    if "MiniTrack" in env_id:
        return line_follower(setup, rng=generator("scripted driver"))
    if "PositionOnlyMountainCar" in env_id:
        return position_momentum_driver(setup, rng=generator("scripted driver"))
    if "MountainCarContinuous" in env_id:
        return momentum_driver(setup, rng=generator("scripted driver"))
    return sine_driver(setup)

