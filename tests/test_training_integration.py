"""A real tmrl Server, Trainer and RolloutWorker on 127.0.0.1 (tmrl's generic path, a paced Pendulum), started
with ``python -m playerruns``, while run files are dropped into SOURCE_PATH: the good one is injected and
consumed, the truncated and the malicious ones are rejected, and training never stops."""

from __future__ import annotations

import re

import pytest

from tests.helpers import (
    Roles,
    local_ports,
    make_home,
    make_runs,
    read_checkpoint,
    run_cli,
    run_program,
    trainer_statistics,
    trainer_updates,
    wait_for_server,
)

pytestmark = pytest.mark.slow  # starts tmrl in subprocesses


def test_server_trainer_worker_with_online_injection(tmp_path):
    source = tmp_path / "player_runs"
    home = make_home(tmp_path, interface="GYM:tests.throttled_env:ThrottledPendulum-v0", MEMORY_SIZE=1_000_000,
                     BATCH_SIZE=64,
                     MAX_EPOCHS=10_000, ROUNDS_PER_EPOCH=2, TRAINING_STEPS_PER_ROUND=50,
                     ENVIRONMENT_STEPS_BEFORE_TRAINING=200, UPDATE_BUFFER_INTERVAL=10, UPDATE_MODEL_INTERVAL=50,
                     MAX_TRAINING_STEPS_PER_ENVIRONMENT_STEP=10.0, RW_MAX_SAMPLES_PER_EPISODE=200, **local_ports(),
                     PLAYER_RUNS={"ONLINE_INJECTION": True, "SOURCE_PATH": str(source), "CONSUME_ON_READ": True,
                                  "DEMO_INJECTION_REPEAT": 2, "DEMO_SAMPLING_WEIGHT": 50.0,
                                  "REJECT_AFTER_SECONDS": 2.0})
    roles = Roles(home, tmp_path)  # the throttled test environment is imported from the repository
    watched = ("server", "trainer", "worker")
    try:
        roles.start("server", "--server")
        wait_for_server(roles, home, "server")
        roles.start("trainer", "--trainer")
        roles.start("worker", "--worker")
        trainer_log = tmp_path / "trainer.log"

        def updates() -> int:
            return trainer_updates(home)

        roles.wait_for(lambda: updates() >= 100, 120, "training to start", watched)
        assert f"Player runs online injection: SOURCE_PATH={source} (exists=false)" in trainer_log.read_text()
        source.mkdir()
        marker = tmp_path / "payload-ran"
        dropped = run_program(home, "drop_files.py", str(source), str(marker))
        assert dropped.returncode == 0, dropped.stderr
        run_id, n_samples = dropped.stdout.split()
        n_samples = int(n_samples)

        roles.wait_for(lambda: (source / "good.pkl.imported").exists()
                       and (source / "copying.pkl.rejected").exists() and (source / "evil.pkl.rejected").exists(),
                       90, "the good file injected and the bad ones rejected", watched)
        after_reject = updates()
        roles.wait_for(lambda: updates() >= after_reject + 200, 90, "training to go on", watched)

        text = trainer_log.read_text(errors="replace")
        assert text.count("Player runs SOURCE_PATH does not exist") == 1  # said once, while missing
        assert f"Player runs injected 1 file(s): {n_samples} samples x2 repeat" in text and run_id in text
        assert "forbidden object 'posix.system'" in (source / "evil.pkl.rejected.reason").read_text()
        assert "truncated" in (source / "copying.pkl.rejected.reason").read_text()
        assert not marker.exists()
        assert "Traceback" not in text
        # the console: one line per epoch, with the workers' return, and not tmrl's table every round
        assert re.search(r"^INFO:playerruns\.trainer\.training:Player runs: epoch \d+ \| [\d,]+ env steps, .* \| "
                         r"worker return -?\d+\.\d", text, re.MULTILINE)
        assert "=== epoch" not in text and "return_train" not in text
        epochs = trainer_statistics(home, "epoch")
        assert any(r["demo_samples"] == 2 * n_samples for r in epochs), epochs[-3:]
        assert any(r["demo_fraction_sampled"] > 0.05 for r in epochs if r["demo_samples"] > 0)  # weight 50
        [injection] = trainer_statistics(home, "injection")
        assert (injection["run_ids"], injection["samples"], injection["repeat"]) == ([run_id], n_samples, 2)
        assert all("return_train" in r["tmrl"] and "loss_critic" in r["tmrl"] for r in epochs)
        progress = [r["updates"] for r in trainer_statistics(home, "progress")]
        assert progress and progress == sorted(progress)
        for name in watched:
            assert roles.procs[name].poll() is None, f"{name} stopped"
        # the checkpoint (pickled training instance) holds the demos and the record of the injection
        instance = read_checkpoint(home)
        assert instance is not None and run_id in instance.injection_record.run_ids
        assert instance.memory.demo_index.n_demo_samples == 2 * n_samples
    finally:
        roles.stop_all()


@pytest.mark.parametrize("before_training", [50, 1000], ids=["fewer-than-the-dataset", "more"])
def test_the_trainer_says_when_it_will_train_on_demos_alone(tmp_path, before_training):
    home = make_home(tmp_path, interface="GYM:tests.throttled_env:ThrottledPendulum-v0", MEMORY_SIZE=10_000,
                     ENVIRONMENT_STEPS_BEFORE_TRAINING=before_training, ROUNDS_PER_EPOCH=2,
                     TRAINING_STEPS_PER_ROUND=20, MAX_TRAINING_STEPS_PER_ENVIRONMENT_STEP=1.0, **local_ports())
    [(run, _run_id, n)] = make_runs(home, tmp_path / "made", 1)
    done = run_cli(home, "--import-player-runs", "--player-runs-paths", str(run))
    assert done.returncode == 0, done.stderr
    roles = Roles(home, tmp_path)
    try:
        roles.start("trainer", "--trainer")  # no server: the trainer builds its memory from data.pkl all the same
        roles.wait_for(lambda: trainer_statistics(home, "start"), 120, "the trainer to start", ("trainer",))
        roles.wait_for(lambda: read_checkpoint(home) is not None, 120, "the first checkpoint", ("trainer",))
        text = roles.log("trainer")
    finally:
        roles.stop_all()
    alone = [line for line in text.splitlines() if "training starts on them alone" in line]
    usable = len(read_checkpoint(home).memory)  # what tmrl counts as environment steps: at most the run's samples
    assert 0 < usable <= n
    if before_training <= usable:
        assert alone == [f"INFO:playerruns.trainer.training:Player runs: the replay memory starts with {usable} "
                         f"samples, at least ENVIRONMENT_STEPS_BEFORE_TRAINING ({before_training}): training starts "
                         f"on them alone, up to {usable} updates (about {usable / 40:.1f} epochs) before it waits "
                         "for worker samples"]
    else:
        assert alone == []
