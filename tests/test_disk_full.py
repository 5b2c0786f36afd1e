"""A full disk is one line, and loses nothing: the import onto a full dataset folder keeps data.pkl as it was; a
trainer whose checkpoint cannot be written says so in one line and trains on. (The recorder on a full disk:
tests/test_recorder_keeps_episodes.py.) The disk is a real tmpfs filled up."""

from __future__ import annotations

import pytest

from tests.helpers import (
    Roles,
    file_digests,
    fill_up,
    local_ports,
    make_home,
    make_runs,
    one_line_error,
    run_cli,
    small_disk,
    trainer_statistics,
    wait_for_server,
)


def test_an_import_onto_a_full_disk_is_one_line_and_keeps_the_dataset(tmp_path):
    home = make_home(tmp_path, interface="GYM:Pendulum-v1")
    (first, _id, _n), (second, _id2, _m) = make_runs(home, tmp_path / "runs", 2)
    dataset = home / "TmrlData" / "dataset"
    with small_disk(dataset, "256k"):
        done = run_cli(home, "--import-player-runs", "--player-runs-paths", str(first))
        assert done.returncode == 0, done.stderr
        fill_up(dataset)
        before = file_digests(dataset)
        full = run_cli(home, "--import-player-runs", "--player-runs-paths", str(second))
        line = one_line_error(full, str(dataset / "data.pkl"), "cannot write the dataset", "No space left on device",
                              "left as it was")
        assert "Traceback" not in full.stdout + full.stderr, line
        assert file_digests(dataset) == before  # data.pkl byte for byte, and no temporary file left


@pytest.mark.slow  # starts tmrl's roles
def test_a_checkpoint_onto_a_full_disk_is_one_error_line_and_training_goes_on(tmp_path):
    home = make_home(tmp_path, interface="GYM:tests.throttled_env:ThrottledPendulum-v0", MEMORY_SIZE=1_000_000,
                     BATCH_SIZE=64, MAX_EPOCHS=10_000, ROUNDS_PER_EPOCH=2, TRAINING_STEPS_PER_ROUND=50,
                     ENVIRONMENT_STEPS_BEFORE_TRAINING=200, UPDATE_BUFFER_INTERVAL=10, UPDATE_MODEL_INTERVAL=50,
                     MAX_TRAINING_STEPS_PER_ENVIRONMENT_STEP=10.0, RW_MAX_SAMPLES_PER_EPISODE=200, **local_ports())
    roles = Roles(home, tmp_path)
    with small_disk(home / "TmrlData" / "checkpoints", "64k") as checkpoints:
        fill_up(checkpoints)
        try:
            roles.start("server", "--server")
            wait_for_server(roles, home, "server")
            roles.start("trainer", "--trainer")
            roles.start("worker", "--worker")
            roles.wait_for(lambda: len(trainer_statistics(home, "epoch")) >= 2, 300, "two epochs on a full disk",
                           ("trainer",))
        finally:
            roles.stop_all()
    log = roles.log("trainer")
    failures = [line for line in log.splitlines() if "could not save the checkpoint" in line]
    assert len(failures) >= 2, log[-3000:]  # the first one, before any epoch, and after the first epoch
    assert all("No space left on device" in line and "training goes on" in line for line in failures)
    assert "Traceback" not in log
