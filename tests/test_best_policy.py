"""KEEP_BEST_POLICY: the trainer keeps the best epoch's policy beside the latest, in tmrl's weight format."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import torch
from gymnasium.spaces import Box

from playerruns.trainer.best import BestPolicy, EpochScore


def _actor(seed: int):
    from tmrl.custom.custom_models import SquashedGaussianMLPActor

    torch.manual_seed(seed)
    return SquashedGaussianMLPActor(Box(-1, 1, (4,), np.float32), Box(-1, 1, (2,), np.float32))


def _rounds(ret: float, steps: float, n: int = 3) -> list[dict]:
    return [{"return_train": ret, "episode_length_train": steps, "loss_actor": 0.1} for _ in range(n)]


def _weights(actor) -> list[torch.Tensor]:
    return [p.detach().clone() for p in actor.parameters()]


def test_the_best_epoch_is_kept_and_a_worse_one_is_not(tmp_path):
    best = BestPolicy(tmp_path / "weights" / "run_best.tmod")
    epochs = [(100.0, 900.0), (150.0, 900.0), (150.0, 800.0), (120.0, 700.0), (150.2, 850.0)]
    kept = []
    actors = [_actor(k) for k in range(len(epochs))]
    for k, ((ret, steps), actor) in enumerate(zip(epochs, actors, strict=True)):
        kept.append(best.consider(_rounds(ret, steps), actor, {"epoch": k, "updates": 1000 * k}))
    # a higher return wins; an equal one (within 0.5 %) only with shorter episodes: a faster lap
    assert kept == [True, True, True, False, False]
    assert best.epoch == 2 and best.score == EpochScore(150.0, 800.0)
    loaded = _actor(99).load(str(best.weights), device="cpu")  # tmrl's own loader reads it
    assert all(torch.equal(a, b) for a, b in zip(_weights(loaded), _weights(actors[2]), strict=True))
    record = json.loads(best.record.read_text())
    assert record["epoch"] == 2 and record["mean_return"] == 150.0 and record["mean_steps"] == 800.0
    assert not list(best.weights.parent.glob("*.tmp"))  # written atomically: no leftover


def test_an_epoch_without_a_finished_episode_scores_nothing(tmp_path):
    best = BestPolicy(tmp_path / "run_best.tmod")
    assert EpochScore.of_rounds([{"loss_actor": 0.1}]) is None
    assert EpochScore.of_rounds([{"return_train": math.nan}]) is None
    assert not best.consider([{"loss_actor": 0.1}], _actor(0), {"epoch": 0})
    assert not best.weights.exists()


def test_a_full_disk_is_a_warning_and_the_old_best_stays(tmp_path, caplog):
    from tests.helpers import fill_up, small_disk

    with small_disk(tmp_path / "weights", "2m") as weights:
        best = BestPolicy(weights / "run_best.tmod")
        assert best.consider(_rounds(10.0, 100.0), _actor(0), {"epoch": 0})
        before = best.weights.read_bytes()
        fill_up(weights)
        with caplog.at_level(logging.WARNING):
            kept = best.consider(_rounds(20.0, 100.0), _actor(1), {"epoch": 1})
        assert not kept and best.epoch == 0 and best.score == EpochScore(10.0, 100.0)
        assert best.weights.read_bytes() == before and "could not keep the best policy" in caplog.text
        assert not list(weights.glob("*.tmp"))
