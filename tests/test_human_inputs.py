"""A person at the keyboard, for real, on a virtual X display: the MiniTrack window, its arrows and Del,
the global Del key while another window has the focus, and a screenshot of what the person sees.

Needs Xvfb and xdotool (``scripts/test.sh`` installs them where it can: CI runs as root); elsewhere
these tests say why they are skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from playerruns.runs.runfile import load_run
from tests.helpers import ENTER, Terminal, make_home, subprocess_env

pytestmark = pytest.mark.slow

MINITRACK = "GYM:playerruns.envs.minitrack:MiniTrack-v0"
WINDOW_TITLE = "playerruns: Del ends the episode"


@pytest.fixture(scope="module")
def display():
    """A virtual X display (``:N``) for this module's tests."""
    for tool in ("Xvfb", "xdotool", "xwininfo"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/test.sh installs xvfb, xdotool and x11-utils when "
                        "run as root)")
    number = 90 + os.getpid() % 100
    while Path(f"/tmp/.X11-unix/X{number}").exists():
        number += 1
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "900x800x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        assert server.poll() is None and time.monotonic() < deadline, "Xvfb did not start"
        time.sleep(0.1)
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


def _xdotool(display: str, *args: str) -> str:
    result = subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display}, capture_output=True,
                            text=True, timeout=30)
    return result.stdout.strip()


def _window(display: str, timeout: float = 60.0, title: str = WINDOW_TITLE) -> tuple[str, tuple[int, int, int, int]]:
    """The MiniTrack window's id and geometry (left, top, width, height), from the X server's window tree.

    (``xdotool search`` does not see windows on a display without a window manager.)"""
    deadline = time.monotonic() + timeout
    pattern = re.compile(r"(0x[0-9a-f]+) \"" + re.escape(title) + r"\".*?(\d+)x(\d+)\+(-?\d+)\+(-?\d+)")
    while time.monotonic() < deadline:
        tree = subprocess.run(["xwininfo", "-root", "-tree"], env={**os.environ, "DISPLAY": display},
                              capture_output=True, text=True, timeout=30).stdout
        match = pattern.search(tree)
        if match:
            wid, width, height, left, top = match.groups()
            return wid, (int(left), int(top), int(width), int(height))
        time.sleep(0.1)
    raise AssertionError("the MiniTrack window did not open")


def _recorder(tmp_path: Path, display: str, *args: str) -> tuple[Terminal, Path]:
    home = make_home(tmp_path, interface=MINITRACK)
    out = tmp_path / "runs"
    env = subprocess_env(home, TERM="xterm", DISPLAY=display)
    term = Terminal([sys.executable, "-m", "playerruns", "--record-episode", "--record-episode-output-dir", str(out),
                     *args], env)
    return term, out


def test_keyboard_window_drives_the_car_and_del_ends_the_episode(tmp_path, display):
    term, out = _recorder(tmp_path, display, "--record-input", "keyboard", "--record-episode-max-samples", "600",
                          "--record-episode-count", "2")
    term.read_until("Episode 1 of 2: press Enter to start.")
    assert "no global key hook" not in term.output  # a display: Del works in every window
    term.press(ENTER)
    term.read_until("Recording: drive; Del ends the episode early.")
    window, geometry = _window(display)
    left, top, width, height = geometry
    _xdotool(display, "mousemove", str(left + width // 2), str(top + height // 2))  # focus follows the pointer
    _xdotool(display, "windowfocus", window)
    _xdotool(display, "keydown", "Up")  # full gas, as a person holding the key
    time.sleep(2.0)
    screenshot = _screenshot(display, geometry)
    _xdotool(display, "keyup", "Up")
    _xdotool(display, "keydown", "Down")
    time.sleep(0.5)
    _xdotool(display, "keyup", "Down")
    _xdotool(display, "key", "Delete")
    term.read_until("ended by delete", timeout=60)

    # the second episode is not ended by the Del that ended the first (still queued in the window)
    term.read_until("Episode 2 of 2: press Enter to start.")
    term.press(ENTER)
    term.read_until("Recording: drive; Del ends the episode early.")
    _xdotool(display, "keydown", "Up")
    time.sleep(1.0)
    _xdotool(display, "keyup", "Up")
    _xdotool(display, "key", "Delete")
    term.read_until("Done: 2 run file(s)", timeout=60)
    assert term.wait() == 0

    first, second = (load_run(f) for f in sorted(out.glob("*.pkl")))
    assert second.metadata["ended_by"] == "delete" and len(second.samples) - 1 >= 10
    run = first
    acts = np.array([s[0] for s in run.samples[1:]])
    gas, brake, steer = acts[:, 0], acts[:, 1], acts[:, 2]
    assert (gas == 1.0).sum() >= 10 and (brake == 1.0).sum() >= 3  # Up is gas, Down is brake
    assert set(np.unique(gas)) <= {-1.0, 1.0} and np.all(steer == 0.0)  # nothing else was pressed
    first_brake = int(np.argmax(brake == 1.0))
    assert np.all(gas[first_brake:] == -1.0)  # gas released before braking
    assert run.samples[-1][5]["lap_fraction"] > 0.01 and run.metadata["ended_by"] == "delete"
    assert run.metadata["input_device"] == "keyboard"

    # what the person saw: the track (grey road, white borders) on grass, the red car
    pixels = screenshot.reshape(-1, 3).astype(int)
    grass = np.all(np.abs(pixels - [34, 110, 44]) < 12, axis=1).mean()
    road = np.all(np.abs(pixels - [90, 90, 96]) < 12, axis=1).mean()
    car = np.all(np.abs(pixels - [220, 30, 30]) < 30, axis=1).sum()
    assert grass > 0.3 and road > 0.08 and car > 20, (grass, road, car)
    from PIL import Image

    Image.fromarray(screenshot).save(tmp_path / "minitrack-window.png")


def _screenshot(display: str, geometry: tuple[int, int, int, int]) -> np.ndarray:
    """The window's pixels as a person sees them, grabbed from the X display."""
    import mss

    left, top, width, height = geometry
    os.environ["DISPLAY"] = display
    try:
        grab = getattr(mss, "MSS", None) or mss.mss  # MSS in newer releases
        with grab() as grabber:
            shot = grabber.grab({"left": left, "top": top, "width": width, "height": height})
    finally:
        os.environ.pop("DISPLAY", None)
    return np.asarray(shot)[:, :, [2, 1, 0]].copy()  # BGRA -> RGB


def test_global_del_ends_the_episode_while_another_window_has_the_focus(tmp_path, display):
    # the scripted line follower drives; Del is pressed on the display (the X server's focus, not the
    # recorder's terminal), as a person presses it in the game's window
    term, out = _recorder(tmp_path, display, "--record-input", "scripted", "--record-step-seconds", "0.05",
                          "--record-episode-max-samples", "900")
    term.read_until("Episode 1 of 1: press Enter to start.")
    assert "no global key hook" not in term.output
    term.press(ENTER)
    term.read_until("Recording: drive; Del ends the episode early.")
    time.sleep(1.0)
    _xdotool(display, "key", "Delete")  # to whatever has the focus on the display, not the terminal
    term.read_until("ended by delete", timeout=60)
    assert term.wait() == 0
    run = load_run(next(out.glob("*.pkl")))
    assert run.metadata["ended_by"] == "delete" and 5 < len(run.samples) - 1 < 900


def test_car_controls_map_to_tmrls_gas_brake_steer():
    from playerruns.recording.input_sources import DEADZONE, car_action

    np.testing.assert_array_equal(car_action(0.0, 0.0, 0.0), [-1.0, -1.0, 0.0])  # nothing pressed
    np.testing.assert_array_equal(car_action(-1.0, 1.0, 0.0), [1.0, -1.0, -1.0])  # full gas, full left
    np.testing.assert_array_equal(car_action(0.5, 0.25, 1.0), [-0.5, 1.0, 0.5])  # a trigger's travel
    assert car_action(DEADZONE / 2, 0.0, 0.0)[2] == 0.0  # a resting stick does not steer
    np.testing.assert_array_equal(car_action(3.0, 2.0, -1.0), [1.0, -1.0, 1.0])  # out of range: clipped


def _text_at(screenshot: np.ndarray, text: str, region: tuple[int, int, int, int]) -> float:
    """How well ``text``, drawn as the window draws its panel (pygame's own font, its size and colours, by
    pygame in this process), matches the best place of ``region`` (left, top, width, height) of the
    screenshot: the mean difference per pixel channel, 0 for identical pixels."""
    import pygame

    from playerruns.recording.input_sources import TaskView

    pygame.font.init()
    rendered = pygame.font.Font(None, TaskView.FONT_SIZE).render(text, True, TaskView.TEXT, TaskView.BACKGROUND)
    template = np.transpose(pygame.surfarray.array3d(rendered), (1, 0, 2)).astype(float)
    left, top, width, height = region
    area = screenshot[top:top + height, left:left + width].astype(float)
    h, w = template.shape[:2]
    best = float("inf")
    for y in range(0, area.shape[0] - h + 1):
        for x in range(0, min(40, area.shape[1] - w + 1)):  # the panel's lines start 10 px from the left
            best = min(best, float(np.abs(area[y:y + h, x:x + w] - template).mean()))
    return best


def test_the_window_says_what_to_do_and_starts_with_the_first_input(tmp_path, display):
    from playerruns.recording.input_sources import TaskView

    term, out = _recorder(tmp_path, display, "--record-input", "keyboard", "--record-episode-max-samples", "400")
    term.read_until("Episode 1 of 1: press Enter to start. (or Enter, or just start driving, in the task's window)")
    window, geometry = _window(display)
    left, top, width, height = geometry
    time.sleep(1.0)  # a few redraws
    before = _screenshot(display, geometry)
    panel = (0, height - TaskView.PANEL, width, TaskView.PANEL)
    assert height == 600 + TaskView.PANEL
    for line in ("Episode 1 of 1: press Enter, or just start driving",
                 "Keys: Up gas, Down brake, Left/Right steer; Del ends the episode",
                 "Bars at the top: white = share of the lap done, blue = speed"):
        assert _text_at(before, line, panel) < 8, line  # the phrase is on screen, pixel for pixel
    assert _text_at(before, "Recording episode 1 of 1", panel) > 20  # a phrase it does not show yet: no match
    from PIL import Image

    Image.fromarray(before).save(tmp_path / "window-before-the-first-episode.png")

    # the person starts from the window itself, with the gas: no idle step is recorded
    _xdotool(display, "mousemove", str(left + width // 2), str(top + height // 3))
    _xdotool(display, "windowfocus", window)
    _xdotool(display, "keydown", "Up")
    term.read_until("Recording: drive; Del ends the episode early.")
    time.sleep(1.5)
    during = _screenshot(display, geometry)
    _xdotool(display, "keyup", "Up")
    _xdotool(display, "key", "Delete")
    term.read_until("Done: 1 run file(s)", timeout=60)
    assert term.wait() == 0
    Image.fromarray(during).save(tmp_path / "window-while-driving.png")
    assert _text_at(during, "Recording episode 1 of 1: step", panel) < 8
    run = load_run(next(out.glob("*.pkl")))
    gas = np.array([s[0][0] for s in run.samples[1:]])
    assert gas[0] == 1.0 and gas[:10].min() == 1.0  # the first recorded step is already the person's gas
    assert "press Enter to start" in term.output and "Episode 2" not in term.output


def test_holding_space_in_the_workers_window_takes_the_wheel_and_the_trainer_learns_those_steps(tmp_path, display):
    """A real server, trainer and worker with PLAYER_RUNS.TAKE_OVER "keyboard": the worker's window shows the agent
    driving; a person holds Space and the gas for two seconds, then lets go."""
    from PIL import Image

    from playerruns.recording.input_sources import TaskView
    from tests.helpers import Roles, local_ports, trainer_statistics, wait_for_server

    home = make_home(tmp_path, interface=MINITRACK, MEMORY_SIZE=1_000_000, BATCH_SIZE=32, MAX_EPOCHS=10_000,
                     ROUNDS_PER_EPOCH=1, TRAINING_STEPS_PER_ROUND=20, ENVIRONMENT_STEPS_BEFORE_TRAINING=50,
                     UPDATE_BUFFER_INTERVAL=5, UPDATE_MODEL_INTERVAL=20, MAX_TRAINING_STEPS_PER_ENVIRONMENT_STEP=1000.0,
                     RW_MAX_SAMPLES_PER_EPISODE=200, **local_ports(), PLAYER_RUNS={"TAKE_OVER": "keyboard"})
    roles = Roles(home, tmp_path)
    try:
        roles.start("server", "--server")
        wait_for_server(roles, home, "server")
        roles.start("trainer", "--trainer")
        roles.start("worker", "--worker", env={"DISPLAY": display})
        window, geometry = _window(display, title="playerruns: hold space to take the wheel")
        left, top, width, height = geometry
        panel = (0, height - TaskView.PANEL, width, TaskView.PANEL)
        time.sleep(1.0)
        watching = _screenshot(display, geometry)
        assert _text_at(watching, "Hold space to take the wheel; arrows drive", panel) < 8
        _xdotool(display, "mousemove", str(left + width // 2), str(top + height // 3))
        _xdotool(display, "windowfocus", window)
        _xdotool(display, "keydown", "space")
        _xdotool(display, "keydown", "Up")
        time.sleep(2.0)
        driving = _screenshot(display, geometry)
        _xdotool(display, "keyup", "Up")
        _xdotool(display, "keyup", "space")
        Image.fromarray(driving).save(tmp_path / "take-over-window.png")
        assert _text_at(driving, "YOU drive: release to give the car back", panel) < 8

        def taken() -> list[dict]:
            return [r for r in trainer_statistics(home, "epoch") if r.get("person_steps_total")]

        roles.wait_for(lambda: bool(taken()) and "the person drove" in roles.log("worker")
                       and int(re.findall(r"\((\d+) of \d+ so far\)", roles.log("worker"))[-1]) > 0, 120,
                       "the worker to send an episode the person drove part of", ("server", "trainer", "worker"))
        worker_log = roles.log("worker")
        so_far = [int(n) for n in re.findall(r"\((\d+) of \d+ so far\)", worker_log)]
        roles.wait_for(lambda: taken()[-1]["person_steps_total"] >= so_far[-1], 120, "the trainer to count them",
                       ("server", "trainer", "worker"))
        held = so_far[-1]
        assert 10 <= held <= 2.0 / 0.05 + 20  # two seconds at 20 Hz, give or take the key's way to the window
        assert taken()[-1]["take_overs"] >= 1 or sum(r["take_overs"] for r in taken()) >= 1
    finally:
        roles.stop_all()


def test_holding_a_key_while_the_game_has_the_focus_takes_the_wheel_in_trackmania(tmp_path, display):
    """The fake game (``tests.fake_trackmania``); xdotool holds the take-over key on the display, whichever window
    has the focus (a global hook): see ``fake_trackmania.check_take_over``."""
    import json

    from tests.fake_trackmania import check_take_over
    from tests.helpers import local_ports, program_json, run_program

    home = make_home(tmp_path, interface="TM20LIDAR", VIRTUAL_GAMEPAD=False, **local_ports(),
                     PLAYER_RUNS={"TAKE_OVER": "keyboard", "TAKE_OVER_KEY": "right ctrl"})
    config_file = home / "TmrlData" / "config" / "config.json"
    config = json.loads(config_file.read_text())
    config["ENV"]["SLEEP_TIME_AT_RESET"] = 0.1
    config_file.write_text(json.dumps(config))
    check_take_over(program_json(run_program(home, "take_over_trackmania.py", "keyboard", timeout=180,
                                             DISPLAY=display)))
