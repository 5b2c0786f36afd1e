"""Recording as a person does it: the CLI in a real terminal (pty), Enter, Del, Ctrl+C; and TrackMania
recording against a fake game that speaks the OpenPlanet protocol."""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pytest

from playerruns.bridge.dataset import read_dataset
from playerruns.recording.recorder import EpisodeOutcome, save_episode
from playerruns.runs.runfile import RunFile, load_run
from tests.helpers import (
    CTRL_C,
    DELETE,
    ENTER,
    Terminal,
    make_home,
    program_json,
    read_until_seen,
    run_cli,
    run_program,
    subprocess_env,
)

MINITRACK_ID = "GYM:playerruns.envs.minitrack:MiniTrack-v0"


@pytest.mark.slow
def test_record_in_a_terminal_enter_del_limit_ctrl_c(tmp_path, lidar_setup):
    home = make_home(tmp_path, interface="GYM:Pendulum-v1")
    out_dir = tmp_path / "my runs"
    env = subprocess_env(home, TERM="xterm")  # no display: Del can only be read from the terminal
    # Pendulum ends its episodes at 200 steps: the limit of 150 is what ends episode 2
    term = Terminal([sys.executable, "-m", "playerruns", "--record-episode", "--record-episode-count", "4",
                     "--record-episode-output-dir", str(out_dir), "--record-episode-max-samples", "150",
                     "--record-input", "scripted", "--record-driver", "playerruns.envs.drivers:sine_driver",
                     "--record-step-seconds", "0.03"], env)
    term.read_until("Episode 1 of 4: press Enter to start.")
    assert "no global key hook" in term.output  # said once, with the alternatives
    term.press(ENTER)
    term.read_until("Recording: drive; Del ends the episode early.")
    term.press(DELETE)  # ends episode 1 early
    term.read_until("ended by delete")
    term.read_until("Episode 2 of 4: press Enter to start.")
    term.press(ENTER)  # episode 2 runs to the sample limit
    term.read_until("ended by limit")
    term.read_until("Episode 3 of 4: press Enter to start.")
    term.press(ENTER)
    read_until_seen(term, "Recording: drive; Del ends the episode early.", count=3)
    time.sleep(1.0)  # some steps in (one takes 0.03 s), far from the limit (4.5 s)
    term.press(CTRL_C)  # ends the session; the episode in progress is saved as truncated
    term.read_until("Recording stopped (Ctrl+C).")
    assert term.wait() == 0
    assert "Done: 3 run file(s)" in term.output

    files = sorted(out_dir.glob("*.pkl"))
    assert len(files) == 3 and not list(out_dir.glob("*.partial"))
    runs = [load_run(f) for f in files]  # names sort by time: the order they were recorded
    assert [r.metadata["ended_by"] for r in runs] == ["delete", "limit", "interrupt"]
    steps = [len(r.samples) - 1 for r in runs]
    assert steps[1] == 150 and 0 < steps[0] < 150 and 0 < steps[2] < 150
    sine = _sine_actions(lidar_setup, sum(steps))
    recorded = [s[0] for r in runs for s in r.samples[1:]]
    np.testing.assert_array_equal(np.array(recorded), sine)  # exactly what the scripted person did
    for run in runs:
        first, last = run.samples[0], run.samples[-1]
        assert first[0] is None and first[2] == 0.0 and not (first[3] or first[4])  # the reset sample
        assert last[4] is True and not any(s[3] or s[4] for s in run.samples[:-1])
        meta = run.metadata
        assert meta["interface"] == "GYM:Pendulum-v1" and meta["raw"] is True
        assert meta["input_device"] == "scripted:playerruns.envs.drivers:sine_driver" and meta["episode_count"] == 1
    result = run_cli(home, "--import-player-runs", "--player-runs-paths", str(out_dir))
    assert result.returncode == 0, result.stderr
    assert "imported 3 run(s)" in result.stdout


def _sine_actions(lidar_setup, n):
    """The sine driver's first n actions on Pendulum's action space [-2, 2]."""
    t = np.arange(1, n + 1)
    return (-2.0 + (np.sin(2 * np.pi * t / 40).astype(np.float32) + 1.0) * 0.5 * 4.0).astype(np.float32)[:, None]


def test_unwritable_output_folder_fails_before_driving(tmp_path):
    home = make_home(tmp_path, interface="GYM:Pendulum-v1")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli(home, "--record-episode", "--record-input", "scripted",
                     "--record-episode-output-dir", str(blocker / "runs"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--record-episode-output-dir" in lines[0] and "cannot write" in lines[0]


def test_missing_gamepad_is_a_clear_message(tmp_path, monkeypatch):
    home = make_home(tmp_path, interface="GYM:Pendulum-v1")
    monkeypatch.setenv("SDL_JOYSTICK_DISABLE", "1")
    result = run_cli(home, "--record-episode", "--record-input", "gamepad")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no gamepad found" in lines[0] and "--record-input keyboard" in lines[0]


def test_recording_with_a_gamepad_on_a_machine_without_a_display(tmp_path):
    """SDL's virtual pad (``tests.virtual_pad``): no window can open here, and the pad still records."""
    home = make_home(tmp_path, interface=MINITRACK_ID)
    out = tmp_path / "runs"
    args = ("--record-episode", "--record-input", "gamepad", "--record-auto-start", "--record-episode-output-dir",
            str(out), "--record-step-seconds", "0.01")
    result = run_program(home, "record_with_pad.py", *args, "--record-episode-max-samples", "30")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "no window to show the task" in result.stdout and "gamepad:Virtual Controller" in result.stdout
    (first,) = [load_run(p) for p in out.glob("*.pkl")]
    assert first.metadata["ended_by"] == "limit" and len(first.samples) == 31
    # left stick 0.5 right, right trigger full: tmrl's [gas, brake, steer], at every step
    np.testing.assert_allclose([s[0] for s in first.samples[1:]], [[1.0, -1.0, 0.5]] * 30, atol=1e-4)
    ended = run_program(home, "record_with_pad.py", *args, PAD_END_HELD="1")
    assert ended.returncode == 0, ended.stderr[-3000:]
    assert "ended by gamepad" in ended.stdout  # the pad's end button ends the episode


def test_auto_input_without_gamepad_or_display_says_what_to_do(tmp_path, monkeypatch):
    home = make_home(tmp_path, interface="GYM:Pendulum-v1")
    monkeypatch.setenv("SDL_JOYSTICK_DISABLE", "1")
    monkeypatch.setenv("SDL_VIDEODRIVER", "x11")
    result = run_cli(home, "--record-episode")
    assert result.returncode == 2
    assert "no gamepad found" in result.stdout and "keyboard in a window" in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no gamepad and no window" in lines[0] and "--record-input scripted" in lines[0]


def test_failed_save_keeps_the_samples_and_retries_elsewhere(tmp_path, lidar_setup, rng):
    from playerruns.tools.synthetic import synthetic_run

    run = synthetic_run(lidar_setup, steps=5, rng=rng)
    outcome = EpisodeOutcome(run=RunFile(samples=run.samples, metadata=run.metadata), steps=5, episode_return=0.0,
                             duration=1.0, ended_by="limit")
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    said: list[str] = []
    answers = iter(["", str(tmp_path / "elsewhere")])  # first retry the same folder, then another one
    path = save_episode(outcome, blocked, ask=lambda prompt: next(answers), say=said.append)
    assert path is not None and path.parent == tmp_path / "elsewhere"
    assert len(load_run(path).samples) == len(run.samples)  # every sample kept
    assert sum("kept in memory" in s for s in said) == 2
    discarded = save_episode(outcome, blocked, ask=lambda prompt: "discard", say=said.append)
    assert discarded is None




@pytest.mark.slow
@pytest.mark.parametrize("interface", ["TM20LIDAR", "TM20LIDARPROGRESS", "TM20FULL"])
def test_trackmania_recording_against_a_fake_game(tmp_path, interface):
    home = make_home(tmp_path, interface=interface)
    config_file = home / "TmrlData" / "config" / "config.json"
    config = json.loads(config_file.read_text())
    config["ENV"]["SLEEP_TIME_AT_RESET"] = 0.1
    config_file.write_text(json.dumps(config))
    runs = tmp_path / "runs"
    runs.mkdir()
    episodes = program_json(run_program(home, "record_trackmania.py", str(runs), timeout=180))
    from tests.fake_trackmania import expected_actions

    assert [e["ended_by"] for e in episodes] == ["limit", "delete"]
    assert episodes[0]["steps"] == 30 and episodes[1]["steps"] == 12
    for ep in episodes:
        assert ep["input_device"] == "openplanet-telemetry"
        assert ep["actions"][0] == [0.0, 0.0, 0.0]  # the reset sample carries tmrl's default action
        steps = [tuple(a) for a in ep["actions"][1:]]
        assert set(steps) <= expected_actions() and len(set(steps)) >= 2  # the person's inputs, as sent
        assert ep["buffer_tail"][1:] == ep["actions"][1:]  # the action buffer holds the measured action
        assert ep["truncated"][-1] and not any(ep["truncated"][:-1])
    # the whole OpenPlanet packet of each step is kept in its info, for the reset sample too
    for ep in episodes:
        telemetry = np.array(ep["telemetry"])
        assert ep["telemetry_dtype"] == "float32" and telemetry.shape == (len(ep["actions"]), 11)
        assert np.all(np.diff(telemetry[:, 2]) >= 0) and np.all(telemetry[:, 3:5] == 0)  # x grows along the lap
        assert np.all(telemetry[:, 9] == 3.0) and np.all(telemetry[:, 10] == 5000.0)  # gear, rpm
        # each action is the person's input of the packet read at the previous step (gas, brake, steer)
        assert [tuple(a) for a in ep["actions"][1:]] == [(g, b, s) for s, g, b in telemetry[:-1, 5:8].tolist()]
        assert ep["reward_stamp"]["trajectory"] != "none"
    check = run_cli(home, "--import-player-runs", "--player-runs-paths", str(runs))
    assert check.returncode == 0, check.stderr
    assert "imported 2 run(s)" in check.stdout
    # through the sample compressor and the memory: the telemetry is still in each sample's info
    data = read_dataset(home / "TmrlData" / "dataset" / "data.pkl")
    infos = next(col for col in data if isinstance(col[0], dict))  # the info column (its place varies by memory)
    kept = [i["openplanet"].tolist() for i in infos]
    assert kept == [row for ep in episodes for row in ep["telemetry"]][-len(kept):]
    # tmrl's reward function, run again over the telemetry with the same reward file, gives the recorded rewards
    relabeled = tmp_path / "relabeled"
    again = run_cli(home, "--relabel-rewards", "--player-runs-paths", str(runs), "--output-dir", str(relabeled))
    assert again.returncode == 0, again.stderr
    recomputed = {load_run(p).metadata["relabeled_from"]: load_run(p) for p in relabeled.glob("*.pkl")}
    for ep in episodes:
        original = load_run(ep["path"])
        new = recomputed[original.run_id]
        assert [float(s[2]) for s in new.samples] == ep["rewards"] and any(r != 0 for r in ep["rewards"])
        assert new.run_id != original.run_id and new.metadata["reward_stamp"] == ep["reward_stamp"]
