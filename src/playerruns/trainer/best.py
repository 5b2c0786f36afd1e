"""The best policy the trainer has seen, kept beside the latest: a user who stops at a dip keeps the good one.

After each epoch the trainer scores its policy by its own evaluation when ``EVALUATION_EPISODES`` is on
(``playerruns.trainer.evaluation``: deterministic episodes, their mean return, or the lowest with
``EVALUATION_SCORE`` "lowest", and their median length), else by
the rollout workers' own training episodes of that epoch (tmrl's ``return_train`` and
``episode_length_train`` of each round, averaged): the higher
mean return wins and, at an equal return (within ``TIE``: a lap is worth the same however fast it
is driven), the shorter episode. When the epoch beats the best so far, the actor's weights are
written to ``weights/<RUN_NAME>_best.tmod`` (the format of tmrl's own weight files, so a worker
can drive them) and what earned it to ``weights/<RUN_NAME>_best.json``, both atomically.

The workers' episodes were driven by weights a little older than the epoch's end (they receive
new weights every ``UPDATE_MODEL_INTERVAL`` updates and between episodes), so the kept policy is
the one at the end of the best epoch, not exactly the one that drove; a stochastic worker's return
is also noisier than a deterministic evaluation. The kept score is part of the checkpoint: a
resumed trainer goes on comparing with it.

With ``ROLLBACK_TOLERANCE`` the best policy is also put back: an epoch that scores more than that share of
the best's score below it (``fell_from``) makes the kept policy the actor again, and the policy the workers
drive (``put_back``). With ``ROLLBACK_LONGER_EPISODES`` as well, so does an epoch that ties the best's return
(within ``TIE``) with episodes more than that share longer (``slower_than``): on a task that pays a lap the
same however fast it is driven (MiniTrack, TrackMania), a slower lap scores as much as the best one, and
without this the agent can drift back to a slower line unnoticed. The critic keeps what it learned from the
worse policy's episodes (a crash is in the replay memory), so the actor's next attempt starts from the best
policy with a critic that knows where the last one failed. A copy of the kept actor's parameters is held for
that (``policy``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TIE = 0.005  # returns within 0.5 % of each other are equal: then the shorter episode is the better one


@dataclass(frozen=True)
class EpochScore:
    """What one epoch's policy scored: the mean return of the workers' training episodes, or the trainer's own
    evaluation (``by``), whose score is its episodes' mean return or their lowest (``of``, EVALUATION_SCORE). The
    field keeps the name ``mean_return`` for checkpoints written before ``of`` existed."""

    mean_return: float
    mean_steps: float
    by: str = "workers"  # "workers": their training episodes; "evaluation": the trainer's own (EVALUATION_EPISODES)
    of: str = "mean"  # the evaluation's episodes: "mean" return, or the "lowest" (the workers': always the mean)

    @property
    def kind(self) -> str:
        """How it was scored, as the log lines say it: "workers", "evaluation", "evaluation, lowest episode"."""
        return self.by if self.by == "workers" or self.of == "mean" else f"{self.by}, {self.of} episode"

    def same_kind(self, other: EpochScore) -> bool:
        return self.by == other.by and self.of == other.of

    @classmethod
    def of_rounds(cls, stats: list[dict[str, Any]]) -> EpochScore | None:
        """From tmrl's round statistics; None when no round has a finite episode return yet."""
        pairs = [(float(s["return_train"]), float(s.get("episode_length_train", math.nan))) for s in stats
                 if isinstance(s.get("return_train"), int | float) and math.isfinite(float(s["return_train"]))]
        if not pairs:
            return None
        steps = [n for _, n in pairs if math.isfinite(n)]
        return cls(sum(r for r, _ in pairs) / len(pairs), sum(steps) / len(steps) if steps else math.nan)

    def beats(self, other: EpochScore | None) -> bool:
        if other is None:
            return True
        if self.ties(other):
            return math.isfinite(self.mean_steps) and (not math.isfinite(other.mean_steps)
                                                       or self.mean_steps < other.mean_steps)
        return self.mean_return > other.mean_return

    def ties(self, other: EpochScore) -> bool:
        """Are the two mean returns equal (within ``TIE`` of ``other``'s)?"""
        return abs(self.mean_return - other.mean_return) <= TIE * max(abs(other.mean_return), 1e-9)

    def outranks(self, other: EpochScore | None) -> bool:
        """Should this epoch's policy replace the one that scored ``other``? Scores of one kind are compared
        (``beats``); between kinds the trainer's evaluation decides: a workers' score never replaces an evaluated
        best (with ``EVALUATE_EVERY_EPOCHS`` above 1 the epochs between evaluations are scored by the workers'
        noisier episodes), and the first evaluation replaces a best the workers scored, or one scored by another
        ``EVALUATION_SCORE`` (a run resumed with the key changed)."""
        if other is None or self.same_kind(other):
            return self.beats(other)
        return self.by == "evaluation"


@dataclass
class BestPolicy:
    """The best epoch so far and where its weights are kept (pickled with the trainer's checkpoint)."""

    weights: Path
    score: EpochScore | None = None
    epoch: int | None = None
    policy: dict[str, Any] | None = None  # the kept actor's parameters (on the CPU), to put back
    rollbacks: int = 0  # how many times the kept policy was put back
    in_a_row: int = 0  # epochs in a row after which it was put back (ROLLBACK_PATIENCE)
    given_up: bool = False  # put back ROLLBACK_PATIENCE epochs in a row, and fell again: not put back for now

    @property
    def record(self) -> Path:
        return self.weights.with_suffix(".json")

    def consider(self, stats: list[dict[str, Any]], actor: Any, counters: dict[str, int],
                 evaluated: EpochScore | None = None) -> bool:
        """Keeps ``actor`` when its epoch beats the best so far; True when it was kept. The epoch's score is
        ``evaluated`` (the trainer's own evaluation) when given, else its workers' episodes. A failure to
        write is one warning: training goes on, the previous best file stays as it was."""
        score = evaluated if evaluated is not None else EpochScore.of_rounds(stats)
        if score is None or not score.outranks(self.score):
            return False
        try:
            self.weights.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(self.weights, actor.save)
            info = {**counters, **asdict(score), "weights": str(self.weights)}
            _write_atomically(self.record, lambda p: Path(p).write_text(json.dumps(info, indent=2) + "\n"))
        except (OSError, RuntimeError) as err:
            log.warning(f"Player runs: could not keep the best policy in {self.weights} ({err}); training goes on")
            return False
        self.score, self.epoch = score, counters.get("epoch")
        self.in_a_row, self.given_up = 0, False
        self.policy = {name: value.detach().cpu().clone() for name, value in actor.state_dict().items()}
        steps = f", {score.mean_steps:.0f} steps per episode" if math.isfinite(score.mean_steps) else ""
        which = "workers' mean return" if score.by == "workers" else f"{score.kind} return"
        log.info(f"Player runs: best policy so far ({which} {score.mean_return:.2f}{steps}) kept in "
                 f"{self.weights}")
        return True

    def fell_from(self, score: EpochScore | None, tolerance: float) -> bool:
        """Did an epoch scoring ``score`` fall more than ``tolerance`` (a share of the best's score) below the
        best policy? False while there is no best to put back, and between scores of different kinds (the
        workers' stochastic episodes score lower than a deterministic evaluation of the same policy)."""
        if not self.comparable(score):
            return False
        assert score is not None and self.score is not None
        return score.mean_return < self.score.mean_return - tolerance * abs(self.score.mean_return)

    def slower_than(self, score: EpochScore | None, tolerance: float) -> bool:
        """Did an epoch scoring ``score`` tie the best policy's return with episodes more than ``tolerance`` (a
        share of the best's episode length) longer? False without a best to put back, between scores of
        different kinds, and when either episode length is unknown."""
        if not self.comparable(score):
            return False
        assert score is not None and self.score is not None
        if not (math.isfinite(score.mean_steps) and math.isfinite(self.score.mean_steps)):
            return False
        return score.ties(self.score) and score.mean_steps > self.score.mean_steps * (1.0 + tolerance)

    def next_step(self, fell: bool, patience: int | None) -> str | None:
        """After an epoch that ``fell`` below the best policy (or did not): ``"put back"``, ``"give up"`` (it was
        put back ``patience`` epochs in a row and the policy fell again: the learner goes on from where it is, so
        the workers drive the dip and the critic learns what it costs) or None. Giving up lasts until an epoch
        that does not fall (the policy is back at the best's level) or a new best policy."""
        if not fell:
            self.in_a_row, self.given_up = 0, False
            return None
        if self.given_up:
            return None
        if patience is not None and self.in_a_row >= patience:
            self.given_up = True
            return "give up"
        self.in_a_row += 1
        return "put back"

    def comparable(self, score: EpochScore | None) -> bool:
        """Is there a best policy to put back, scored the same way as ``score``?"""
        return (score is not None and self.score is not None and self.policy is not None
                and score.same_kind(self.score))

    def put_back(self, agent: Any) -> None:
        """The kept policy becomes ``agent``'s actor again (tmrl's SAC agents and playerruns' own): the actor,
        the averaged actor the workers drive with ``POLICY_AVERAGING``, and a fresh state of the actor's
        optimizer (its moments pointed where the worse policy went)."""
        if self.policy is None:
            raise ValueError("no best policy to put back")
        agent.model.actor.load_state_dict(self.policy)
        averaged = getattr(agent, "averaged_actor", None)
        if averaged is not None:
            averaged.load_state_dict(self.policy)
        agent.pi_optimizer.state.clear()
        self.rollbacks += 1


def _write_atomically(path: Path, write: Any) -> None:
    """``write(temporary path)``, then the temporary file replaces ``path`` (never a half-written file)."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def best_weights_path(weights_folder: Path, run_name: str) -> Path:
    return Path(weights_folder) / f"{run_name}_best.tmod"
