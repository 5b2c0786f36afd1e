"""KEEP_BEST_POLICY: the trainer keeps the best epoch's policy beside the latest, in tmrl's weight format."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest
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


def test_an_evaluated_best_is_not_displaced_by_the_workers_episodes(tmp_path):
    # EVALUATE_EVERY_EPOCHS 2: odd epochs are scored by the workers, even ones by the trainer's evaluation
    best = BestPolicy(tmp_path / "run_best.tmod")
    actors = [_actor(k) for k in range(5)]
    assert best.consider(_rounds(300.0, 900.0), actors[0], {"epoch": 1})  # the workers' score: kept for now
    evaluated = EpochScore(200.0, 950.0, by="evaluation")  # lower, but the first evaluation replaces it
    assert best.consider([], actors[1], {"epoch": 2}, evaluated=evaluated)
    assert not best.consider(_rounds(399.0, 800.0), actors[2], {"epoch": 3})  # workers' episodes: not compared
    assert not best.consider([], actors[3], {"epoch": 4}, evaluated=EpochScore(190.0, 900.0, by="evaluation"))
    assert best.consider([], actors[4], {"epoch": 6}, evaluated=EpochScore(250.0, 900.0, by="evaluation"))
    assert best.epoch == 6 and best.score == EpochScore(250.0, 900.0, by="evaluation")
    assert json.loads(best.record.read_text())["by"] == "evaluation"
    loaded = _actor(99).load(str(best.weights), device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(_weights(loaded), _weights(actors[4]), strict=True))


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


def _demo_agent(**kwargs):
    from tmrl.custom.custom_models import MLPActorCritic

    from playerruns.trainer.demo_sac import DemoSacAgent

    torch.manual_seed(0)
    return DemoSacAgent(Box(-1, 1, (4,), np.float32), Box(-1, 1, (2,), np.float32), device="cpu",
                        model_cls=MLPActorCritic, **kwargs)


def _train_a_little(agent, steps: int = 5) -> None:
    from playerruns.trainer.memories import DemoBatch

    gen = torch.Generator().manual_seed(3)
    for _ in range(steps):
        o, o2 = torch.rand((16, 4), generator=gen), torch.rand((16, 4), generator=gen)
        a = torch.rand((16, 2), generator=gen) * 2 - 1
        r, zeros = torch.rand(16, generator=gen), torch.zeros(16)
        agent.train(DemoBatch((o, a, r, o2, zeros, zeros), np.arange(16) < 4))


def test_a_fall_below_the_tolerance_puts_the_best_policy_back(tmp_path):
    agent = _demo_agent(bc_coef=0.4, bc_q_filter=False, policy_averaging=0.9)
    _train_a_little(agent)  # the averaged actor exists and differs from the learner's
    best = BestPolicy(tmp_path / "run_best.tmod")
    assert not best.fell_from(EpochScore(0.0, 100.0), 0.03)  # nothing kept yet: nothing to put back
    assert best.consider(_rounds(400.0, 800.0), agent.get_actor(), {"epoch": 3})
    kept = _weights(agent.get_actor())
    _train_a_little(agent, 20)  # the actor moves on, the optimizer with it
    assert not all(torch.equal(a, b) for a, b in zip(_weights(agent.model.actor), kept, strict=True))
    assert agent.pi_optimizer.state  # Adam's moments

    # within the tolerance (3 % of 400: down to 388), or a score of another kind: nothing happens
    assert not best.fell_from(EpochScore(390.0, 800.0), 0.03)
    assert not best.fell_from(EpochScore(100.0, 800.0, by="evaluation"), 0.03)  # the workers' best, not comparable
    assert best.fell_from(EpochScore(372.0, 1000.0), 0.03)
    best.put_back(agent)
    for actor in (agent.model.actor, agent.averaged_actor, agent.get_actor()):
        assert all(torch.equal(a, b) for a, b in zip(_weights(actor), kept, strict=True))
    assert not agent.pi_optimizer.state and best.rollbacks == 1
    _train_a_little(agent)  # and it trains on from there
    assert not all(torch.equal(a, b) for a, b in zip(_weights(agent.model.actor), kept, strict=True))


def test_an_evaluation_scored_by_its_lowest_episode_falls_on_one_crash(tmp_path, caplog):
    """EVALUATION_SCORE "lowest": nine laps and one crash score the crash, a fall the mean would hide."""
    from playerruns.trainer.evaluation import PolicyEvaluation

    laps = PolicyEvaluation((400.0,) * 10, (800,) * 10)
    one_crash = PolicyEvaluation((400.0,) * 9 + (316.0,), (800,) * 9 + (640,))
    assert one_crash.score("mean") == pytest.approx(391.6) and one_crash.score("lowest") == 316.0
    with pytest.raises(ValueError, match="not 'median'"):
        one_crash.score("median")

    def scored(evaluation: PolicyEvaluation, of: str) -> EpochScore:
        return EpochScore(evaluation.score(of), evaluation.median_length, by="evaluation", of=of)

    best = BestPolicy(tmp_path / "run_best.tmod")
    # a best scored by the mean (a run resumed with the key changed): the first lowest-scored evaluation replaces it
    assert best.consider([], _actor(0), {"epoch": 1}, evaluated=scored(laps, "mean"))
    with caplog.at_level(logging.INFO, logger="playerruns.trainer.best"):
        assert best.consider([], _actor(1), {"epoch": 2}, evaluated=scored(laps, "lowest"))
    assert "best policy so far (evaluation, lowest episode return 400.00, 800 steps per episode)" in caplog.text
    assert json.loads(best.record.read_text())["of"] == "lowest"
    # the mean of nine laps and a crash is 2 % down, inside a 3 % tolerance; the lowest episode is 21 % down
    by_mean = BestPolicy(tmp_path / "mean_best.tmod")
    assert by_mean.consider([], _actor(3), {"epoch": 1}, evaluated=scored(laps, "mean"))
    assert not by_mean.fell_from(scored(one_crash, "mean"), 0.03)
    assert best.fell_from(scored(one_crash, "lowest"), 0.03)
    assert not best.fell_from(scored(one_crash, "mean"), 0.03)  # another kind of score: never compared
    assert not best.consider([], _actor(2), {"epoch": 3}, evaluated=scored(one_crash, "lowest"))
    slower = PolicyEvaluation((400.0,) * 10, (900,) * 10)
    assert best.slower_than(scored(slower, "lowest"), 0.03) and not best.slower_than(scored(slower, "mean"), 0.03)


def test_a_tie_in_longer_episodes_is_slower_beyond_the_tolerance(tmp_path):
    best = BestPolicy(tmp_path / "run_best.tmod")
    assert not best.slower_than(EpochScore(400.0, 1000.0), 0.03)  # nothing kept yet
    assert best.consider(_rounds(400.0, 800.0), _actor(0), {"epoch": 2})
    assert not best.slower_than(EpochScore(400.0, 824.0), 0.03)  # 3 % of 800: up to 824 steps
    assert best.slower_than(EpochScore(400.0, 825.0), 0.03)
    assert best.slower_than(EpochScore(398.5, 900.0), 0.03)  # within TIE (0.5 %) of 400: a tie
    assert not best.slower_than(EpochScore(390.0, 900.0), 0.03)  # a lower return is fell_from's question
    assert not best.slower_than(EpochScore(400.0, math.nan), 0.03)  # no length: nothing to compare
    assert not best.slower_than(EpochScore(400.0, 900.0, by="evaluation"), 0.03)  # another kind of score
    assert not best.fell_from(EpochScore(400.0, 900.0), 0.03)  # the return alone does not fall


def test_patience_limits_the_epochs_in_a_row_that_put_the_best_back(tmp_path):
    best = BestPolicy(tmp_path / "run_best.tmod")
    assert best.consider(_rounds(391.0, 1000.0), _actor(0), {"epoch": 7})
    steps = [best.next_step(fell, 2) for fell in (True, True, True, True, False, True)]
    # two falls put it back, the third gives up, the fourth changes nothing; an epoch at its level re-arms it
    assert steps == ["put back", "put back", "give up", None, None, "put back"]
    for fell in (True, True):
        best.next_step(fell, 2)
    assert best.given_up
    assert best.consider(_rounds(400.0, 990.0), _actor(1), {"epoch": 9})  # a new best re-arms it too
    assert not best.given_up and best.in_a_row == 0
    assert [best.next_step(True, None) for _ in range(5)] == ["put back"] * 5  # no patience: every time


def test_negative_returns_fall_by_the_size_of_the_best(tmp_path):
    best = BestPolicy(tmp_path / "run_best.tmod")
    assert best.consider(_rounds(-150.0, 200.0), _actor(0), {"epoch": 0})
    assert not best.fell_from(EpochScore(-154.0, 200.0), 0.03)  # 3 % of 150 below: -154.5
    assert best.fell_from(EpochScore(-155.0, 200.0), 0.03)


@pytest.mark.slow  # starts tmrl in a subprocess
def test_the_trainer_puts_the_best_policy_back_and_a_resumed_trainer_still_can(tmp_path):
    from tests.helpers import make_home, run_program

    home = make_home(tmp_path, interface="GYM:Pendulum-v1", TRAINING_STEPS_PER_ROUND=8,
                     PLAYER_RUNS={"DEMO_BC_COEF": 0.4, "DEMO_BC_Q_FILTER": False, "POLICY_AVERAGING": 0.9,
                                  "DEMO_SAMPLING_FRACTION": 0.5, "ROLLBACK_TOLERANCE": 0.03,
                                  "ROLLBACK_LONGER_EPISODES": True})
    result = run_program(home, "rollback_round_trip.py")
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["kept"] and out["moved"]
    assert out["within"] is False  # 2 % below the best, inside the 3 % tolerance
    assert out["fell"] and out["put_back"] and out["broadcast_pending"]  # the workers get it at the next epoch
    assert "the best policy (epoch 0) put back" in out["line"]
    log = result.stdout + result.stderr
    assert "more than 3 % below the best policy's -100.00 (epoch 0): the best policy drives again" in log
    # a tie in longer episodes: kept on with ROLLBACK_LONGER_EPISODES off or within the tolerance, else put back
    assert out["slower_when_off"] is False and out["moved_when_off"]
    assert out["slower_within"] is False
    assert out["slower"] and out["slower_put_back"]
    assert ("as the best policy did (epoch 0), but in 40 steps per episode, more than 3 % more than its 30: the "
            "best policy drives again (PLAYER_RUNS.ROLLBACK_LONGER_EPISODES)") in log
    # the kept policy travels in tmrl's checkpoint: a resumed trainer can still put it back
    assert out["resumed_moved"] and out["resumed_fell"] and out["resumed_put_back"]
    assert out["resumed_rollbacks"] == 3
    # ROLLBACK_PATIENCE: after 2 epochs in a row that put it back, a third fall lets the policy learn on
    patience = out["patience"]
    assert patience["in_a_row"] == 2 and patience["third"] is False and patience["learns_on"] and patience["given_up"]
    assert patience["fourth"] is False  # still not put back while below
    assert patience["still_given_up"]  # an epoch the workers scored (no evaluation) does not re-arm it
    assert "below the best, not put back: learning on (ROLLBACK_PATIENCE)" in patience["line"]
    assert "again after 2 epochs in a row that put it back: the policy learns on from here" in log
    assert patience["level"] is False and patience["re_armed"]  # an epoch at the best's level re-arms it
    assert patience["after"] is True and patience["after_put_back"]


@pytest.mark.slow  # starts tmrl in a subprocess
def test_the_average_catches_up_with_an_actor_that_drives_better(tmp_path):
    from tests.helpers import make_home, run_program

    home = make_home(tmp_path, interface="GYM:playerruns.envs.minitrack:MiniTrack-v0", TRAINING_STEPS_PER_ROUND=8,
                     PLAYER_RUNS={"DEMO_BC_COEF": 0.4, "POLICY_AVERAGING": 0.9, "DEMO_SAMPLING_FRACTION": 0.5,
                                  "EVALUATION_EPISODES": 2, "POLICY_AVERAGING_CATCH_UP": True})
    result = run_program(home, "catch_up_round_trip.py")
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    ahead, behind, off = out["ahead"], out["behind"], out["off"]
    # the actor drives on (a return above 0), the average stands still (stuck: 0): the average jumps to the actor,
    # the evaluation that counts is the actor's, and the workers get it at the next epoch
    assert ahead["record"]["caught_up"] is True and ahead["average_is_actor"] and ahead["broadcast_pending"]
    assert ahead["mean"] == ahead["record"]["actor_evaluation_mean"] > 0
    log = result.stdout + result.stderr
    assert "the average catches up with the actor (PLAYER_RUNS.POLICY_AVERAGING_CATCH_UP)" in log
    # the other way round: the average drives, is kept, and its evaluation counts; the actor's is recorded
    assert "caught_up" not in behind["record"] and behind["average_kept"] and not behind["broadcast_pending"]
    assert behind["mean"] > 0 and behind["record"]["actor_evaluation_mean"] == 0
    # the key off: the average alone is evaluated, never replaced
    assert off["record"] == {} and off["average_kept"] and off["mean"] == 0
    assert log.count("the average catches up") == 1


@pytest.mark.slow  # starts tmrl in a subprocess
def test_a_fall_at_the_cloning_floor_raises_the_floor(tmp_path):
    """DEMO_BC_FLOOR_RAISE: each fall put back while the cloning weight is at its floor multiplies the floor (a
    fall while it still decays, or a slower lap, does not); the raised floor survives tmrl's checkpoint."""
    from tests.helpers import make_home, run_program

    home = make_home(tmp_path, interface="GYM:Pendulum-v1", TRAINING_STEPS_PER_ROUND=8,
                     PLAYER_RUNS={"DEMO_BC_COEF": 0.4, "DEMO_BC_DECAY_STEPS": 20, "DEMO_BC_COEF_FINAL": 0.01,
                                  "DEMO_BC_Q_FILTER": False, "DEMO_SAMPLING_FRACTION": 0.5,
                                  "ROLLBACK_TOLERANCE": 0.03, "ROLLBACK_LONGER_EPISODES": True,
                                  "DEMO_BC_FLOOR_RAISE": 2.0})
    result = run_program(home, "floor_raise_round_trip.py")
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    decaying = out["decaying"]
    assert decaying["put_back"] and decaying["steps"] == 8 and decaying["floor"] == pytest.approx(0.01)
    assert decaying["coef"] == pytest.approx(0.01 + 0.39 * (1 - 8 / 20))
    assert out["at_floor"]["put_back"] and out["at_floor"]["floor"] == pytest.approx(0.02)
    assert out["at_floor"]["coef"] == pytest.approx(0.02)
    assert out["slower"]["put_back"] and out["slower"]["floor"] == pytest.approx(0.02)  # a slower lap: not raised
    assert out["again"]["floor"] == pytest.approx(0.04)
    assert out["resumed"]["floor"] == pytest.approx(0.04) and out["resumed"]["coef"] == pytest.approx(0.04)
    assert out["resumed_fall"]["put_back"] and out["resumed_fall"]["floor"] == pytest.approx(0.08)
    assert out["capped"]["floor"] == pytest.approx(0.4) and out["capped"]["coef"] == pytest.approx(0.4)
    log = result.stdout + result.stderr
    assert log.count("the policy fell with cloning at its floor: the floor is now") == 6  # 0.02 ... 0.32, then 0.4
    assert "the floor is now 0.02 (PLAYER_RUNS.DEMO_BC_FLOOR_RAISE)" in log
