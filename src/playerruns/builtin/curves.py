"""What a learning curve says to a person: the figures of the whole curve, not only its first good point.

An evaluation is one point of the curve: the worker's environment steps when it was taken, its
score (the task's: the lowest return of the evaluation episodes on MiniTrack) and, when every
episode finished a lap, the steps the lap took. ``CurveFigures.of`` reads a curve against the
task's threshold and step budget:

- ``steps_to_threshold``: the first evaluation at the threshold (None: never, within the budget);
- ``kept_after_first``: the share of the evaluations after that one which are still at it;
- ``lowest_after_first``: the lowest score after it (how deep the worst dip went);
- ``mean_score``: the mean score over every evaluation of the budget (the area under the curve);
- ``final_return`` and ``lap_steps_final``: the last evaluation (the policy at the budget);
- ``lap_steps_best``: the fastest lap of any evaluation at the threshold.

Each figure is plain data; None where the curve gives it no value.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of a policy: its score, and the steps per lap when every episode finished one."""

    steps: int  # the worker's environment steps when it was taken
    score: float
    lap_steps: float | None = None

    @classmethod
    def from_point(cls, point: Sequence[Any]) -> Evaluation:
        """A saved curve point: ``(steps, score)`` (older results) or ``(steps, score, lap_steps)``."""
        lap = point[2] if len(point) > 2 else None
        return cls(int(point[0]), float(point[1]), None if lap is None else float(lap))


@dataclass(frozen=True)
class CurveFigures:
    steps_to_threshold: int | None
    kept_after_first: float | None
    lowest_after_first: float | None
    mean_score: float | None
    final_return: float | None
    lap_steps_final: float | None
    lap_steps_best: float | None

    @classmethod
    def of(cls, curve: Sequence[Evaluation], threshold: float) -> CurveFigures:
        if not curve:
            return cls(None, None, None, None, None, None, None)
        first = next((i for i, e in enumerate(curve) if e.score >= threshold), None)
        after = list(curve[first + 1:]) if first is not None else []
        laps = [e.lap_steps for e in curve if e.score >= threshold and e.lap_steps is not None]
        return cls(
            steps_to_threshold=curve[first].steps if first is not None else None,
            kept_after_first=(sum(e.score >= threshold for e in after) / len(after) if after
                              else (1.0 if first is not None else None)),
            lowest_after_first=min((e.score for e in after), default=curve[first].score) if first is not None else None,
            mean_score=statistics.fmean(e.score for e in curve),
            final_return=curve[-1].score,
            lap_steps_final=curve[-1].lap_steps if curve[-1].score >= threshold else None,
            lap_steps_best=min(laps) if laps else None,
        )


def faster_by(agent_lap: float | None, player_lap: float | None) -> float | None:
    """How much faster the agent's lap is than the player's, as a share of the player's (< 0: slower)."""
    if agent_lap is None or not player_lap:
        return None
    return 1.0 - agent_lap / player_lap


def lap_sentence(agent_lap: float | None, player_lap: float | None, *, who: str = "the agent",
                 policy: str = "the agent's final policy") -> str:
    """"your median lap 817 steps, the agent's 726: 11 % faster" (or slower, or no lap yet); ``who`` and ``policy``
    name the driver in the two forms."""
    if player_lap is None:
        return "no finished lap in the player runs to compare with"
    mine = f"your median lap {player_lap:.0f} steps"
    if agent_lap is None:
        return f"{mine}; {policy} does not finish a lap in every episode"
    share = faster_by(agent_lap, player_lap) or 0.0
    percent = f"{abs(share) * 100:.0f} %"
    how = f"{percent} faster" if share > 0.005 else f"{percent} slower" if share < -0.005 else "as fast"
    return f"{mine}, {who}'s {agent_lap:.0f}: {how}"


@dataclass(frozen=True)
class PlayerLaps:
    """What the player runs an arm trained on say about their driver: laps finished, median lap."""

    episodes: int
    laps_finished: int
    median_lap_steps: float | None  # over the finished laps

    @classmethod
    def of_runs(cls, folder: Any, threshold: float) -> PlayerLaps:
        """From the run files' headers in ``folder`` (episode returns and steps, as the recorder wrote them);
        an episode at the task's threshold finished its lap."""
        from pathlib import Path

        from playerruns.runs import read_header

        returns: list[float] = []
        steps: list[int] = []
        for path in sorted(Path(folder).glob("*.pkl")):
            header = read_header(path)
            if header is None:
                continue
            returns.extend(float(r) for r in header.metadata.get("episode_returns", []))
            steps.extend(int(n) for n in header.metadata.get("episode_steps", []))
        laps = [n for r, n in zip(returns, steps, strict=False) if r >= threshold]
        return cls(len(returns), len(laps), float(statistics.median(laps)) if laps else None)

    def describe(self, name: str, description: str) -> dict[str, Any]:
        """The ``driver`` entry of the benchmark's results."""
        of_10 = round(10 * self.laps_finished / self.episodes, 1) if self.episodes else None
        return {"name": name, "description": description, "laps_finished_of_10": of_10,
                "median_lap_steps": self.median_lap_steps, "episodes": self.episodes}
