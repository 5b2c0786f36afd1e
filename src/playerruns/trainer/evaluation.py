"""The trainer's own look at its policy: deterministic episodes of the gymnasium task it trains on.

With ``PLAYER_RUNS.EVALUATION_EPISODES`` above 0, the trainer drives the policy its workers get (the
averaged one with ``POLICY_AVERAGING``) for that many episodes after every ``EVALUATE_EVERY_EPOCHS``
epochs, in its own process, on the task's base task (``playerruns.envs.registry``: a paced task is
driven without its real-time pace). Episode k starts from seed ``EVALUATION_SEED`` + k (20,000 + k by
default), so every evaluation drives the same starts. They are not the starts the demo's and the
benchmark's evaluator drives (``drive_episodes``' own default, 10,000 + k): the trainer chooses and puts
back its best policy on its own starts, and the figures a user reads are measured on others, as a
validation set and a test set. The score is the episodes' mean return or, with ``EVALUATION_SCORE``
"lowest", the worst episode's: then one crash in ten episodes is a fall, not a tenth of one. TrackMania
has no such task: the game runs on the worker's machine.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FIRST_SEED = 10_000  # episode k of the demo's and the benchmark's evaluation resets with seed FIRST_SEED + k
SCORES = ("mean", "lowest")  # what an evaluation's score is (EVALUATION_SCORE): the returns' mean, or the lowest


@dataclass(frozen=True)
class PolicyEvaluation:
    """The returns and lengths (steps) of an evaluation's episodes, in order."""

    returns: tuple[float, ...]
    lengths: tuple[int, ...]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.returns)

    @property
    def lowest(self) -> float:
        return min(self.returns)

    def score(self, statistic: str) -> float:
        """The evaluation's score: the mean return (``"mean"``) or the lowest one (``"lowest"``)."""
        if statistic not in SCORES:
            raise ValueError(f"an evaluation is scored by one of {SCORES}, not {statistic!r}")
        return self.mean if statistic == "mean" else self.lowest

    @property
    def median_length(self) -> float:
        return float(statistics.median(self.lengths))

    def record(self) -> dict[str, float]:
        """The fields the statistics channel carries for it."""
        return {"evaluation_mean": self.mean, "evaluation_lowest": self.lowest,
                "evaluation_steps": self.median_length, "evaluation_episodes": len(self.returns)}


def drive_episodes(actor: Any, env: Any, episodes: int, *, first_seed: int = FIRST_SEED,
                   preprocess: Callable[[Any], Any] | None = None) -> PolicyEvaluation:
    """Drives ``actor`` (a tmrl ActorModule: ``act_(obs, test=True)``) deterministically for ``episodes``
    episodes of ``env``, episode k from seed ``first_seed`` + k."""
    returns, lengths = [], []
    for k in range(episodes):
        obs, _ = env.reset(seed=first_seed + k)
        if hasattr(actor, "reset_hidden"):  # the recurrent policy starts each episode afresh
            actor.reset_hidden()
        total, length, done = 0.0, 0, False
        while not done:
            act = actor.act_(preprocess(obs) if preprocess is not None else obs, test=True)
            obs, reward, terminated, truncated, _ = env.step(act)
            total += float(reward)
            length += 1
            done = bool(terminated or truncated)
        returns.append(total)
        lengths.append(length)
    return PolicyEvaluation(tuple(returns), tuple(lengths))


class TrainerEvaluation:
    """The evaluation a trainer runs (see the module docstring). Its environment is made on first use and is
    not part of the checkpoint."""

    def __init__(self, env_id: str, episodes: int, every: int, *, first_seed: int) -> None:
        from playerruns.envs.registry import base_task

        self.env_id = base_task(env_id) or env_id
        self.episodes = episodes
        self.every = every
        self.first_seed = first_seed
        self._env: Any = None

    def due(self, epoch: int) -> bool:
        """After the epoch numbered ``epoch`` (tmrl counts from 1 once one has run)?"""
        return self.episodes > 0 and epoch > 0 and epoch % self.every == 0

    def run(self, actor: Any) -> PolicyEvaluation:
        if self._env is None:
            import gymnasium

            self._env = gymnasium.make(self.env_id)
        return drive_episodes(actor, self._env, self.episodes, first_seed=self.first_seed)

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None
