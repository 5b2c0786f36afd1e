"""Taking the wheel during training (``PLAYER_RUNS.TAKE_OVER``): the settings, the scripted stand-in that steps in
where the agent fails, the worker that drives and tags exactly those steps, the memory that keeps whole the
episodes they are in, and every intervention step counted alike by a real worker and a real trainer through
tmrl's server on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from playerruns.bridge.setup import append_samples
from playerruns.envs import minitrack
from playerruns.envs.drivers import PRACTISED, Skill, line_follower
from playerruns.runs.demos import DEMO_FLAG, INTERVENTION_FLAG, TAKE_OVER_KEY, is_intervention
from playerruns.runs.errors import ConfigError
from playerruns.takeover.controls import StandInTakeOver
from playerruns.trainer.config import parse_player_runs
from playerruns.trainer.sampling import DemoSchedule
from tests.helpers import (
    REPO,
    Roles,
    counted_worker,
    local_ports,
    make_home,
    program_json,
    read_checkpoint,
    run_program,
    subprocess_env,
    trainer_statistics,
    wait_for_server,
)

MINITRACK = "GYM:playerruns.envs.minitrack:MiniTrack-v0"


def _config(interface: str = MINITRACK, **keys) -> dict:
    return {"ENV": {"RTGYM_INTERFACE": interface}, "PLAYER_RUNS": keys}


def test_take_over_is_off_by_default_and_its_keys_are_checked():
    assert parse_player_runs(_config()).take_over is False
    assert parse_player_runs(_config(TAKE_OVER="keyboard", TAKE_OVER_KEY="left shift")).TAKE_OVER_KEY == "left shift"
    with pytest.raises(ConfigError, match=r'PLAYER_RUNS.TAKE_OVER is \'joystick\', expected "off", "keyboard", '
                                          r'"gamepad" or "stand-in"'):
        parse_player_runs(_config(TAKE_OVER="joystick"))
    with pytest.raises(ConfigError, match=r'TAKE_OVER_BUTTON is for TAKE_OVER "gamepad", but PLAYER_RUNS.TAKE_OVER '
                                          r'is "keyboard"'):
        parse_player_runs(_config(TAKE_OVER="keyboard", TAKE_OVER_BUTTON=3))
    with pytest.raises(ConfigError, match=r'TAKE_OVER_SKILL is for TAKE_OVER "stand-in", but PLAYER_RUNS.TAKE_OVER '
                                          r'is "off"'):
        parse_player_runs(_config(TAKE_OVER_SKILL=0.5))
    with pytest.raises(ConfigError, match=r"TAKE_OVER_DEADZONE is 1.5, expected a number from 0 up to"):
        parse_player_runs(_config(TAKE_OVER="gamepad", TAKE_OVER_DEADZONE=1.5))
    assert parse_player_runs(_config("TM20LIDAR", TAKE_OVER="keyboard")).TAKE_OVER == "keyboard"  # in the game too
    with pytest.raises(ConfigError, match=r'TAKE_OVER "stand-in" drives MiniTrack only, not TM20FULL'):
        parse_player_runs(_config("TM20FULL", TAKE_OVER="stand-in"))
    with pytest.raises(ConfigError, match=r'TAKE_OVER "stand-in" drives MiniTrack only'):
        parse_player_runs(_config("GYM:Pendulum-v1", TAKE_OVER="stand-in"))


def _drive(agent, stand_in: StandInTakeOver, steps: int, track: str = "circuit") -> list[bool]:
    """Drives MiniTrack with ``agent`` while ``stand_in`` watches; True for each step the stand-in drove."""
    env = minitrack.make(track)
    obs, info = env.reset(seed=0)
    stand_in.start_episode()
    driven = []
    for _ in range(steps):
        person = stand_in.poll(obs, info)
        driven.append(person is not None)
        obs, _, terminated, truncated, info = env.step(person if person is not None else agent(obs))
        if terminated or truncated:
            obs, info = env.reset()
            stand_in.start_episode()
    return driven


def _runs(flags: list[bool]) -> list[int]:
    """The lengths of the stretches of True in ``flags``."""
    lengths, current = [], 0
    for flag in [*flags, False]:
        if flag:
            current += 1
        elif current:
            lengths.append(current)
            current = 0
    return lengths


def test_the_stand_in_steps_in_where_the_agent_fails_and_lets_go():
    def into_the_wall(obs):
        return np.array([1.0, -1.0, 1.0], np.float32)  # full gas, full right: it hits the border and stays there

    driven = _drive(into_the_wall, StandInTakeOver(Skill.at(0.4), hold=40), 1500)
    stretches = _runs(driven)
    assert len(stretches) >= 3 and max(stretches) <= 40  # it steps in again and again, never longer than hold
    assert driven[:5] == [False] * 5  # the agent drives first
    # a good driver as the agent needs it (almost) never
    calm = _drive(line_follower(rng=np.random.default_rng(1), skill=PRACTISED), StandInTakeOver(Skill.at(0.4)), 1500)
    assert sum(calm) < 0.25 * sum(driven)


def test_the_stand_in_keeps_to_its_budget():
    def standing(obs):
        return np.array([-1.0, 1.0, 0.0], np.float32)  # brakes: no progress ever

    stand_in = StandInTakeOver(Skill.at(0.4), hold=40, budget=50)
    driven = _drive(standing, stand_in, 600)
    assert sum(driven) == 50 == stand_in.used
    assert _runs(driven) == [40, 10]


def _episode(episode: int, steps: int, person: range | None) -> list:
    """A worker's episode: observations [episode, t, 0], the steps in ``person`` driven by a person."""
    obs = [np.array([episode, t, 0.0], dtype=np.float32) for t in range(steps + 1)]
    samples = [(None, obs[0], 0.0, False, False, {})]
    for t in range(1, steps + 1):
        info = {INTERVENTION_FLAG: True, DEMO_FLAG: True} if person is not None and t in person else {}
        samples.append((np.array([0.5], np.float32), obs[t], 1.0 if info else 0.0, False, t == steps, info))
    return samples


def test_trimming_keeps_whole_every_episode_a_person_drove_part_of(tmp_path):
    from playerruns.trainer.memories import DemoWeightedGenericTorchMemory

    memory = DemoWeightedGenericTorchMemory(memory_size=60, batch_size=40, dataset_path=str(tmp_path / "none"),
                                            demo_schedule=DemoSchedule(fraction=0.5), keep_demos=True)
    append_samples(memory, _episode(0, 9, None))
    append_samples(memory, _episode(1, 9, range(4, 7)))  # the person drove steps 4-6 of this one
    for episode in range(2, 20):
        append_samples(memory, _episode(episode, 9, None))
        assert len(memory) <= memory.memory_size
    observations = np.array([o for o in memory.data[1]])
    kept = observations[observations[:, 0] == 1.0][:, 1].tolist()
    assert kept == list(range(10))  # the whole episode, in order, not only the three steps
    assert memory.demo_index.n_demo_samples == 3
    for _ in range(20):
        obs, _, rew, next_obs, _, _ = memory.sample()
        demo_rows = rew == 1.0
        assert demo_rows.any()
        # every demo transition still starts from the observation right before it
        assert bool(((next_obs[:, 1] == obs[:, 1] + 1) & (next_obs[:, 0] == obs[:, 0]))[demo_rows].all())


def test_a_stock_worker_is_tmrls_own_without_take_over(tmp_path):
    home = make_home(tmp_path, interface=MINITRACK, **local_ports())
    with counted_worker(home, 0) as counted:
        assert counted["class"] == "RolloutWorker"


@pytest.mark.slow
def test_every_intervention_step_reaches_the_trainer_once_through_tmrls_server(tmp_path):
    episodes, max_steps = 4, 250
    home = make_home(tmp_path, interface=MINITRACK, MEMORY_SIZE=1_000_000, BATCH_SIZE=32, MAX_EPOCHS=10_000,
                     ROUNDS_PER_EPOCH=1, TRAINING_STEPS_PER_ROUND=20, ENVIRONMENT_STEPS_BEFORE_TRAINING=100,
                     UPDATE_BUFFER_INTERVAL=5, UPDATE_MODEL_INTERVAL=20,
                     MAX_TRAINING_STEPS_PER_ENVIRONMENT_STEP=1000.0, RW_MAX_SAMPLES_PER_EPISODE=max_steps,
                     **local_ports(), PLAYER_RUNS={"TAKE_OVER": "stand-in", "TAKE_OVER_SKILL": 0.4})
    roles = Roles(home, tmp_path)
    try:
        roles.start("server", "--server")
        wait_for_server(roles, home, "server")
        roles.start("trainer", "--trainer")
        with counted_worker(home, episodes) as counted:  # an untrained policy: the stand-in has work to do
            assert counted["class"] == "TakeOverRolloutWorker"
            assert counted["person_steps"] > 0 and counted["take_overs"] > 0

            def trainer_saw_everything() -> bool:
                epochs = [r for r in trainer_statistics(home, "epoch") if "worker_steps_total" in r]
                return bool(epochs) and epochs[-1]["worker_steps_total"] == counted["steps"] + episodes

            roles.wait_for(trainer_saw_everything, 180, "the trainer to count the worker's steps",
                           ("server", "trainer"))
            epochs = [r for r in trainer_statistics(home, "epoch") if "worker_steps_total" in r]
            last = epochs[-1]
            assert last["person_steps_total"] == counted["person_steps"]  # none lost, none counted twice
            assert sum(r["take_overs"] for r in epochs) == counted["take_overs"]
            assert sum(r["person_steps"] for r in epochs) == counted["person_steps"]
            assert all(0.0 <= r["intervention_rate"] <= 1.0 for r in epochs)
            places = [p for r in epochs for p in r["take_over_at"]]
            assert len(places) == counted["take_overs"] and all(0.0 <= p <= 1.0 for p in places)
            log = roles.log("trainer")
            assert "the person drove" in log and "take-over(s)" in log
            assert "Traceback" not in log

            def checkpoint_has_everything():
                instance = read_checkpoint(home)
                return instance is not None and instance.memory.takeovers.worker_steps == counted["steps"] + episodes

            roles.wait_for(checkpoint_has_everything, 120, "a checkpoint with every sample", ("trainer",))
            memory = read_checkpoint(home).memory
            infos = memory.data[memory.columns.info]
            person = [i for i in infos if is_intervention(i)]
            assert len(person) == counted["person_steps"]
            assert all(i.get(DEMO_FLAG) is True for i in person)  # player data for sampling, retention and cloning
            assert sum(TAKE_OVER_KEY in i for i in person) == counted["take_overs"]
            assert memory.demo_index.n_demo_samples == counted["person_steps"]
    finally:
        roles.stop_all()


@pytest.mark.parametrize("kind, fragments", [
    ("keyboard", ('PLAYER_RUNS.TAKE_OVER "keyboard": cannot open a window (no display', "take over with \"gamepad\"")),
    ("gamepad", ('PLAYER_RUNS.TAKE_OVER "gamepad": no gamepad found', "connect the pad before starting")),
])
def test_a_take_over_without_its_window_or_pad_is_one_line_and_exit_2(tmp_path, kind, fragments):
    home = make_home(tmp_path, interface=MINITRACK, **local_ports(), PLAYER_RUNS={"TAKE_OVER": kind})
    result = subprocess.run([sys.executable, "-m", "playerruns", "--worker"], capture_output=True, text=True,
                            timeout=120, cwd=REPO, env=subprocess_env(home, SDL_JOYSTICK_DISABLE="1"))
    assert result.returncode == 2, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("playerruns: error: ")]
    assert len(errors) == 1 and all(f in errors[0] for f in fragments), errors
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("how", ["button", "stick"])
def test_holding_the_pads_button_or_moving_its_stick_takes_the_wheel_on_minitrack(tmp_path, how):
    """SDL's virtual pad (``tests.virtual_pad``): the machine has no pad, so this is the nearest to a person's."""
    keys = {"TAKE_OVER": "gamepad", "TAKE_OVER_STEP_SECONDS": 0.01, **({"TAKE_OVER_STICK": True} if how == "stick"
                                                                      else {})}
    home = make_home(tmp_path, interface=MINITRACK, **local_ports(), PLAYER_RUNS=keys)
    out = program_json(run_program(home, "take_over_pad.py", how))
    assert out["control"] == "gamepad:Virtual Controller"
    flags = out["intervention"]
    assert out["take_overs"] == 1 and sum(flags) == out["person_steps"] >= 6
    assert not any(flags[:11])  # the reset and the first 10 steps: the agent drove
    held = [a for a, flag in zip(out["actions"], flags, strict=True) if flag]
    # left stick 0.5 right, right trigger full, left trigger released: tmrl's [gas, brake, steer]
    np.testing.assert_allclose(held, [[1.0, -1.0, 0.5]] * len(held), atol=1e-4)


@pytest.mark.slow
def test_taking_the_wheel_in_trackmania_with_the_pad_lets_go_of_the_car(tmp_path):
    """The fake game (``tests.fake_trackmania``) and SDL's virtual pad: see ``fake_trackmania.check_take_over``."""
    from tests.fake_trackmania import check_take_over

    home = make_home(tmp_path, interface="TM20LIDAR", VIRTUAL_GAMEPAD=False, **local_ports(),
                     PLAYER_RUNS={"TAKE_OVER": "gamepad"})
    config_file = home / "TmrlData" / "config" / "config.json"
    config = json.loads(config_file.read_text())
    config["ENV"]["SLEEP_TIME_AT_RESET"] = 0.1
    config_file.write_text(json.dumps(config))
    check_take_over(program_json(run_program(home, "take_over_trackmania.py", "gamepad", timeout=180)))


def test_a_trackmania_take_over_by_key_without_a_display_is_one_line_and_exit_2(tmp_path):
    home = make_home(tmp_path, interface="TM20LIDAR", VIRTUAL_GAMEPAD=False, **local_ports(),
                     PLAYER_RUNS={"TAKE_OVER": "keyboard"})
    result = subprocess.run([sys.executable, "-m", "playerruns", "--worker"], capture_output=True, text=True,
                            timeout=120, cwd=REPO, env=subprocess_env(home))
    assert result.returncode == 2, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("playerruns: error: ")]
    assert len(errors) == 1 and 'TAKE_OVER "keyboard" on TrackMania: no global key hook (no X display)' in errors[0]
    assert 'take over with "gamepad"' in errors[0] and "Traceback" not in result.stderr


def test_where_take_overs_are_saved_is_checked():
    default = parse_player_runs(_config(TAKE_OVER="keyboard")).take_over_runs_path
    assert default is not None and default.parts[-2:] == ("player_runs", "take-overs")
    assert parse_player_runs(_config(TAKE_OVER="keyboard", TAKE_OVER_RUNS_PATH=None)).take_over_runs_path is None
    with pytest.raises(ConfigError, match=r"TAKE_OVER_RUNS_PATH is 3, expected a non-empty folder path string, "
                                          r"or null"):
        parse_player_runs(_config(TAKE_OVER="keyboard", TAKE_OVER_RUNS_PATH=3))
    with pytest.raises(ConfigError, match=r"TAKE_OVER_RUNS_PATH is the SOURCE_PATH folder: the trainer would "
                                          r"inject the person's steps a second time"):
        parse_player_runs(_config(TAKE_OVER="stand-in", SOURCE_PATH="/tmp/runs", TAKE_OVER_RUNS_PATH="/tmp/runs/"))
    with pytest.raises(ConfigError, match=r"TAKE_OVER_RUNS_PATH and PLAYER_RUNS.TAKE_OVER go together"):
        parse_player_runs(_config(TAKE_OVER_RUNS_PATH="/tmp/take-overs"))


@pytest.mark.parametrize("blocked", [False, True])
def test_what_the_person_drove_is_saved_as_run_files_that_import(tmp_path, blocked):
    """A real worker with the stand-in (no server needed: tmrl's worker drives on while nobody listens) saves
    each episode's take-overs: exactly the person's steps, as the worker counted them, and they import. A folder
    that cannot be written (here a file is in its way) sends them to the fallback folder: nothing lost."""
    from playerruns.runs.runfile import load_run

    episodes = 3
    runs_path = tmp_path / "take-overs"
    if blocked:
        runs_path.write_text("a file, not a folder")
    home = make_home(tmp_path, interface=MINITRACK, RW_MAX_SAMPLES_PER_EPISODE=200, **local_ports(),
                     PLAYER_RUNS={"TAKE_OVER": "stand-in", "TAKE_OVER_SKILL": 0.4,
                                  "TAKE_OVER_RUNS_PATH": str(runs_path)})
    with counted_worker(home, episodes) as counted:
        assert counted["person_steps"] > 0
    folder = home / "playerruns-unsaved" if blocked else runs_path
    files = sorted(folder.glob("*.pkl"))
    assert 1 <= len(files) <= episodes
    runs = [load_run(f) for f in files]
    steps = [s for run in runs for s in run.samples if s[0] is not None and is_intervention(s[5])]
    resets = sum(run.metadata["episode_count"] for run in runs)
    assert sum(len(run.samples) for run in runs) == len(steps) + resets  # a reset sample, then only the person
    assert len(steps) == counted["person_steps"]  # none lost, none twice
    assert resets == counted["take_overs"]  # one episode of the file per take-over
    assert all(run.metadata["input_device"] == "take-over:stand-in" for run in runs)
    assert all(end in ("terminated", "truncated") for run in runs for end in run.metadata["episode_ends"])
    from tests.helpers import run_cli

    inspected = run_cli(home, "--inspect", "--player-runs-paths", str(folder))
    assert inspected.returncode == 0, inspected.stderr
    assert "take-over:stand-in" in inspected.stdout
    imported = run_cli(home, "--import-player-runs", "--player-runs-paths", str(folder))
    assert imported.returncode == 0, imported.stderr
    assert f"imported {len(files)} run(s) / {len(steps) + resets} samples" in imported.stdout


def test_take_over_files_are_written_beside_the_worker_in_order_and_close_waits_for_them(tmp_path):
    """The episode's end hands its file to the writer thread; ``close`` saves the episode under way too, and
    returns only when every file is on disk, in the order the episodes ended."""
    from playerruns.runs.runfile import load_run
    from playerruns.takeover.saving import TakeOverRuns

    runs = TakeOverRuns(tmp_path / "take-overs", interface="GYM:Pendulum-v1", kind="stand-in")
    driven = []
    for episode in range(3):
        for t in range(60):
            person = 10 <= t < 30 or (episode == 2 and t >= 50)  # the last episode is cut with the person driving
            sample = (None if t == 0 else np.full(1, episode, np.float32), np.full(3, t, np.float32), 1.0, False,
                      episode < 2 and t == 59, {INTERVENTION_FLAG: True} if person else {})
            runs.add(sample, person)
            driven.append(person)
    saved = runs.close()
    assert saved == sorted((tmp_path / "take-overs").glob("*.pkl"))  # every file, in the order written
    assert len(saved) == 3
    loaded = [load_run(path) for path in saved]
    assert [int(run.samples[1][0][0]) for run in loaded] == [0, 1, 2]  # episode order (run ids sort by time)
    person_steps = [sum(s[0] is not None and bool(s[5].get(INTERVENTION_FLAG)) for s in run.samples) for run in loaded]
    assert person_steps == [20, 20, 30]
    assert sum(person_steps) == sum(driven)
    assert runs.close() == saved  # closing twice writes nothing more
