"""A worker that sends its samples and takes new weights inside an episode (``PLAYER_RUNS.WORKER_SYNC_STEPS``):
the key is checked, a worker without it is tmrl's own, and with it every sample reaches a real trainer once, in
order, through tmrl's server on 127.0.0.1, with the number of mid-episode sends the key sets."""

from __future__ import annotations

import numpy as np
import pytest

from playerruns.runs.errors import ConfigError
from playerruns.trainer.config import parse_player_runs
from tests.helpers import (
    Roles,
    counted_worker,
    local_ports,
    make_home,
    read_checkpoint,
    trainer_statistics,
    wait_for_server,
)

MINITRACK = "GYM:playerruns.envs.minitrack:MiniTrack-v0"


@pytest.mark.parametrize("value", [-1, 2.5, True, "100", None])
def test_worker_sync_steps_must_be_a_whole_number_of_steps(value):
    with pytest.raises(ConfigError, match=r"config.json: PLAYER_RUNS.WORKER_SYNC_STEPS is .*expected a whole number"):
        parse_player_runs({"PLAYER_RUNS": {"WORKER_SYNC_STEPS": value}})
    assert parse_player_runs({}).WORKER_SYNC_STEPS == 0  # off: tmrl's own worker, sending between episodes


def test_a_worker_without_the_key_is_tmrls_own_and_with_it_says_so(tmp_path):
    home = make_home(tmp_path, interface=MINITRACK, **local_ports())
    with counted_worker(home, 0) as counted:
        assert counted["class"] == "RolloutWorker"
    home = make_home(tmp_path / "sync", interface=MINITRACK, **local_ports(), PLAYER_RUNS={"WORKER_SYNC_STEPS": 50})
    with counted_worker(home, 0) as counted:
        assert counted["class"] == "SyncingRolloutWorker"
    roles = Roles(home, tmp_path / "sync")
    try:  # the worker a user starts says so (before it looks for its server)
        roles.start("worker", "--worker")
        line = "the worker sends its samples and takes new weights every 50 steps inside an episode"
        roles.wait_for(lambda: line in roles.log("worker"), 60, "the worker's line", ("worker",))
    finally:
        roles.stop_all()


def _episode_lengths(done: np.ndarray) -> list[int]:
    """The steps of each episode in a memory's done column (a reset sample, then its steps, the last one done)."""
    ends = np.flatnonzero(done)
    starts = np.concatenate([[0], ends[:-1] + 1])
    return [int(end - start) for start, end in zip(starts, ends, strict=True)]  # less the reset sample


@pytest.mark.slow
@pytest.mark.parametrize("take_over", [False, True], ids=["stock", "take-over"])
def test_every_sample_reaches_the_trainer_once_and_in_order_when_sent_inside_episodes(tmp_path, take_over):
    episodes, max_steps, every = 4, 250, 10
    keys = {"WORKER_SYNC_STEPS": every}
    if take_over:
        keys |= {"TAKE_OVER": "stand-in", "TAKE_OVER_SKILL": 0.4}
    home = make_home(tmp_path, interface=MINITRACK, MEMORY_SIZE=1_000_000, BATCH_SIZE=32, MAX_EPOCHS=10_000,
                     ROUNDS_PER_EPOCH=1, TRAINING_STEPS_PER_ROUND=20, ENVIRONMENT_STEPS_BEFORE_TRAINING=100,
                     UPDATE_BUFFER_INTERVAL=5, UPDATE_MODEL_INTERVAL=20,
                     MAX_TRAINING_STEPS_PER_ENVIRONMENT_STEP=1000.0, RW_MAX_SAMPLES_PER_EPISODE=max_steps,
                     **local_ports(), PLAYER_RUNS=keys)
    roles = Roles(home, tmp_path)
    try:
        roles.start("server", "--server")
        wait_for_server(roles, home, "server")
        roles.start("trainer", "--trainer")
        with counted_worker(home, episodes) as counted:
            assert counted["class"] == ("TakeOverSyncingRolloutWorker" if take_over else "SyncingRolloutWorker")

            def checkpoint_has_every_episode():
                instance = read_checkpoint(home)
                if instance is None or not instance.memory.data:
                    return False
                done = instance.memory.data[instance.memory.columns.done]
                return int(np.sum(np.asarray(done, bool))) >= episodes

            roles.wait_for(checkpoint_has_every_episode, 180, "a checkpoint with every episode", ("trainer",))
            memory = read_checkpoint(home).memory
            done = np.asarray(memory.data[memory.columns.done], bool)
            lengths = _episode_lengths(done)
            assert len(lengths) == episodes and done[-1]  # nothing after the last episode's end: no copy
            assert len(done) == sum(lengths) + episodes  # each episode: its reset sample and its steps, once
            assert all(1 <= n <= max_steps for n in lengths)
            # an episode of n steps leaves in (n - 1) // every buffers before its end: every one arrived, in order
            assert counted["mid_episode_sends"] == sum((n - 1) // every for n in lengths) > 0

            assert memory.takeovers.worker_steps == len(done)  # the trainer counted each sample as it arrived
            if take_over:
                def epoch_counted_everything() -> bool:
                    epochs = [r for r in trainer_statistics(home, "epoch") if "worker_steps_total" in r]
                    return bool(epochs) and epochs[-1]["worker_steps_total"] == len(done)

                roles.wait_for(epoch_counted_everything, 120, "an epoch counting every sample", ("trainer",))
                epochs = [r for r in trainer_statistics(home, "epoch") if "worker_steps_total" in r]
                assert epochs[-1]["person_steps_total"] == counted["person_steps"] > 0
                assert memory.demo_index.n_demo_samples == counted["person_steps"]
                assert counted["steps"] == sum(lengths)
            assert "Traceback" not in roles.log("trainer")
    finally:
        roles.stop_all()
