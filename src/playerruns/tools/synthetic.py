"""Runs made without a person, for tests, benchmarks and the demo.

- ``synthetic_run`` follows the TrackMania data path without the game: random interface
  observations, rtgym's action buffer appended (newest last), the configured observation
  preprocessor applied, a reset sample first, ``truncated`` on the last allowed step.
- ``gym_run`` drives a real gymnasium environment (tmrl's generic path) with any policy.
Both return raw samples exactly as a tmrl rollout worker would collect them.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from playerruns.bridge.setup import TmrlSetup
from playerruns.recording.input_sources import Policy
from playerruns.runs.runfile import RunFile, build_metadata
from playerruns.runs.sample import Sample

if TYPE_CHECKING:
    import gymnasium


def _random_leaf(space: gymnasium.spaces.Box, rng: np.random.Generator) -> np.ndarray:
    low = np.maximum(space.low, -1e3)
    high = np.minimum(space.high, 1e3)
    return rng.uniform(low, high).astype(space.dtype)


def synthetic_run(setup: TmrlSetup, *, episodes: int = 1, steps: int = 50,
                  rng: np.random.Generator | None = None) -> RunFile:
    """A run through the configured TrackMania interface's observation path (no game needed)."""
    rng = rng or np.random.default_rng()
    preprocess = setup.obs_preprocessor
    if preprocess is None:
        raise ValueError("synthetic_run needs a TrackMania configuration (one with an observation preprocessor)")
    spaces = setup.observation_space.spaces
    samples: list[Sample] = []
    for _ in range(episodes):
        act_buf = deque([setup.default_action] * setup.act_buf_len, maxlen=setup.act_buf_len)

        def observe(act_buf: deque = act_buf) -> tuple:
            env_obs = (*(_random_leaf(s, rng) for s in spaces), *act_buf)
            return preprocess(env_obs)

        samples.append((setup.default_action, observe(), 0.0, False, False, {}))
        for t in range(steps):
            act = rng.uniform(-1.0, 1.0, setup.action_space.shape).astype(np.float32)
            act_buf.append(act)
            terminated = bool(t == steps - 1 and rng.random() < 0.5)
            truncated = t == steps - 1 and not terminated
            samples.append((act, observe(), np.float32(rng.normal()), terminated, truncated, {}))
    meta = build_metadata(samples, interface=setup.interface, device="synthetic")
    return RunFile(samples=samples, metadata=meta)


def gym_run(setup: TmrlSetup, policy: Policy | None = None, *, episodes: int = 1, max_steps: int | None = None,
            seed: int | None = None) -> RunFile:
    """A run of the configured gymnasium environment driven by ``policy`` (random if None)."""
    from tmrl.envs import GenericGymEnv

    max_steps = max_steps or setup.max_samples_per_episode
    env = GenericGymEnv(id=setup.env_id)
    env.action_space.seed(seed)
    samples: list[Sample] = []
    try:
        for ep in range(episodes):
            obs, info = env.reset(seed=None if seed is None else seed + ep)
            samples.append((None, obs, 0.0, False, False, dict(info)))
            for t in range(max_steps):
                act = policy(obs) if policy is not None else env.action_space.sample()
                act = np.asarray(act, dtype=np.float32).reshape(env.action_space.shape)
                obs, rew, terminated, truncated, info = env.step(act)
                truncated = bool(truncated) or (t == max_steps - 1 and not terminated)
                samples.append((act, obs, float(rew), bool(terminated), truncated, dict(info)))
                if terminated or truncated:
                    break
    finally:
        env.close()
    meta = build_metadata(samples, interface=setup.interface, device="scripted" if policy else "random")
    return RunFile(samples=samples, metadata=meta)
