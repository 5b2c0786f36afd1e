"""Runs injected from SOURCE_PATH survive a trainer killed at any point, exactly once, with CONSUME_ON_READ on
and off; a run already in data.pkl is never injected again; a run file whose handling killed the trainer
is set aside at the next start. Real server, trainer and worker on 127.0.0.1, killed with SIGKILL."""

from __future__ import annotations

import copy
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest

from playerruns.runs.demos import run_id_of
from playerruns.runs.runfile import load_run, new_run_id, save_run
from tests.helpers import (
    Roles,
    local_ports,
    make_home,
    make_runs,
    read_checkpoint,
    run_cli,
    trainer_statistics,
    wait_for_server,
)

pytestmark = pytest.mark.slow  # starts tmrl in subprocesses

REPEAT = 2


def _home(tmp_path: Path, *, consume: bool) -> Path:
    return make_home(tmp_path, interface="GYM:tests.throttled_env:ThrottledPendulum-v0", MEMORY_SIZE=1_000_000,
                     BATCH_SIZE=64, MAX_EPOCHS=10_000, ROUNDS_PER_EPOCH=2, TRAINING_STEPS_PER_ROUND=50,
                     ENVIRONMENT_STEPS_BEFORE_TRAINING=200, UPDATE_BUFFER_INTERVAL=10, UPDATE_MODEL_INTERVAL=50,
                     MAX_TRAINING_STEPS_PER_ENVIRONMENT_STEP=10.0, RW_MAX_SAMPLES_PER_EPISODE=200, **local_ports(),
                     PLAYER_RUNS={"ONLINE_INJECTION": True, "SOURCE_PATH": str(tmp_path / "source"),
                                  "CONSUME_ON_READ": consume, "DEMO_INJECTION_REPEAT": REPEAT,
                                  "REJECT_AFTER_SECONDS": 1, "RECEIVED_PATH": str(tmp_path / "received")})


def _injected(home: Path) -> Counter:
    """How often each run id was announced injected in the statistics file, over every trainer start."""
    return Counter(run_id for record in trainer_statistics(home, "injection") for run_id in record["run_ids"])


def _memory_counts(checkpoint) -> Counter:
    """Samples per player run id in a checkpoint's replay memory."""
    info = next(column for column in checkpoint.memory.data if column and isinstance(column[0], dict))
    return Counter(run_id for run_id in map(run_id_of, info) if run_id is not None)


def _checkpoint_with(home: Path, run_ids: set[str]):
    checkpoint = read_checkpoint(home)
    if checkpoint is None or not run_ids <= checkpoint.injection_record.run_ids:
        return None
    return checkpoint


def _drop(runs: list[tuple[Path, str, int]], source: Path) -> None:
    for path, _run_id, _n in runs:
        os.replace(path, source / path.name)  # complete files only, as the recorder writes them


@pytest.mark.parametrize("consume", [True, False], ids=["consume", "keep-files"])
def test_injected_runs_come_back_after_a_kill_exactly_once(tmp_path, consume):
    home = _home(tmp_path, consume=consume)
    source = tmp_path / "source"
    source.mkdir()
    roles = Roles(home, tmp_path)
    made = make_runs(home, tmp_path / "made", 5)
    imported, first, later = made[0], made[1:3], made[3:]
    # the recorder's default folder as SOURCE_PATH: a run imported into data.pkl is also there
    done = run_cli(home, "--import-player-runs", "--player-runs-paths", str(imported[0]))
    assert done.returncode == 0, done.stderr
    shutil.copy(imported[0], source / "imported.pkl")
    oldest = min(path.stat().st_mtime for path, _i, _n in made) - 60
    os.utime(source / "imported.pkl", (oldest, oldest))  # polled first (oldest first): handled before run1
    expected = {run_id: n * REPEAT for _p, run_id, n in first + later} | {imported[1]: imported[2]}
    try:
        roles.start("server", "--server")
        wait_for_server(roles, home, "server")
        roles.start("trainer", "--trainer")
        roles.start("worker", "--worker")
        _drop(first, source)
        ids = {run_id for _p, run_id, _n in first}
        # 1. killed after the injection, before any checkpoint holds it
        roles.wait_for(lambda: ids <= set(_injected(home)), 180, "the first injections", ("trainer",))
        roles.kill("trainer")
        assert _checkpoint_with(home, ids) is None  # the kill came before a checkpoint: the test means it
        # the run already in data.pkl is skipped, and consumed like an injected one
        assert sorted(p.name for p in source.iterdir()) == sorted(
            [f"{p.name}.imported" if consume else p.name for p in [source / "imported.pkl"] + [
                p for p, _i, _n in first]])
        roles.start("trainer2", "--trainer")
        roles.wait_for(lambda: any(r["origin"] == "kept before the restart" for r in trainer_statistics(
            home, "injection")), 180, "the kept runs injected again", ("trainer2",))
        assert "are not in the checkpoint: injecting them again" in roles.log("trainer2")
        # 2. killed once a checkpoint holds them, with two more runs dropped meanwhile
        _drop(later, source)
        ids |= {run_id for _p, run_id, _n in later}
        roles.wait_for(lambda: _checkpoint_with(home, ids) is not None, 300, "a checkpoint of all runs",
                       ("trainer2",))
        kept = list((tmp_path / "received").rglob("*.pkl"))
        roles.kill("trainer2")
        assert kept == []  # the checkpoint holds them: their kept copies are gone
        roles.start("trainer3", "--trainer")
        roles.wait_for(lambda: len(trainer_statistics(home, "resume")) >= 2, 180, "the second resume",
                       ("trainer3",))
        time.sleep(5)  # some polls of SOURCE_PATH: nothing may be injected again
        assert "kept before the restart" not in roles.log("trainer3")
        resumed = trainer_statistics(home, "resume")[-1]
        assert resumed["demo_samples"] == sum(expected.values())
    finally:
        roles.stop_all()
    checkpoint = read_checkpoint(home)
    assert _memory_counts(checkpoint) == expected  # nothing lost, nothing twice, the imported run not injected
    injected = _injected(home)
    assert imported[1] not in injected
    assert all(injected[run_id] == 1 for _p, run_id, _n in later)
    assert all(injected[run_id] == 2 for _p, run_id, _n in first)  # once, and once again after the kill


def _kill_while_handling(roles: Roles, home: Path, tmp_path: Path, big: Path) -> None:
    """Drops ``big`` into SOURCE_PATH and SIGKILLs the trainer while its note says it handles a file."""
    note_folder = tmp_path / "received"
    os.replace(big, tmp_path / "source" / big.name)
    deadline = time.monotonic() + 120
    while not any(note_folder.glob(".handling-*")):
        assert time.monotonic() < deadline, "the trainer never noted the file it handles"
        time.sleep(0.002)
    roles.kill("trainer")


def _big_run(template: Path, folder: Path) -> tuple[Path, str]:
    """A valid run long enough to read that a kill lands while the trainer handles it."""
    big = load_run(template)  # distinct samples: one sample referenced over and over is refused (content rules)
    big.samples = big.samples[:1] + [copy.deepcopy(s) for _ in range(1000) for s in big.samples[1:]]
    big.run_id = new_run_id()
    return save_run(folder / "big.pkl", big), big.run_id


@pytest.mark.parametrize("kills_alone", [False, True], ids=["a-kill", "a-file-that-kills"])
def test_a_trainer_killed_while_handling_a_file_keeps_it_unless_the_file_kills(tmp_path, monkeypatch, kills_alone):
    if kills_alone:  # a stand-in for a file that crashes native code: it kills any process it is read in alone
        crash = tmp_path / "crash"
        crash.mkdir()
        (crash / "sitecustomize.py").write_text(
            "import os, signal\n"
            "if b'big.pkl' in open('/proc/self/cmdline', 'rb').read():\n"
            "    os.kill(os.getpid(), signal.SIGSEGV)\n")
        monkeypatch.setenv("PYTHONPATH", str(crash))
    home = _home(tmp_path, consume=True)
    source = tmp_path / "source"
    source.mkdir()
    roles = Roles(home, tmp_path)
    (small, small_id, _n), (template, _id, _m) = make_runs(home, tmp_path / "made", 2)
    big, big_id = _big_run(template, tmp_path / "made")
    try:
        roles.start("server", "--server")
        wait_for_server(roles, home, "server")
        roles.start("trainer", "--trainer")
        roles.wait_for(lambda: trainer_statistics(home, "start"), 180, "the trainer to start", ("trainer",))
        _kill_while_handling(roles, home, tmp_path, big)
        assert (source / "big.pkl").exists()
        os.replace(small, source / "small.pkl")
        roles.start("trainer2", "--trainer")
        roles.wait_for(lambda: small_id in _injected(home), 180, "the next run injected", ("trainer2",))
        if not kills_alone:
            roles.wait_for(lambda: big_id in _injected(home), 180, "the big run injected", ("trainer2",))
    finally:
        roles.stop_all()
    (line,) = [x for x in roles.log("trainer2").splitlines() if "stopped while" in x]
    assert "big.pkl" in line
    if kills_alone:
        assert (source / "big.pkl.rejected").exists() and not (source / "big.pkl").exists()
        reason = (source / "big.pkl.rejected.reason").read_text()
        assert "the trainer stopped while" in reason and "died of signal 11" in reason
        assert "renamed it big.pkl.rejected" in line and big_id not in _injected(home)
    else:  # the kill was the death's cause, not the file: it is injected, nothing is lost
        assert "read alone, the file does not stop a process, so it is handled as usual" in line
        assert not list(source.glob("*.rejected"))
