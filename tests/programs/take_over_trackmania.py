"""A TrackMania rollout worker with PLAYER_RUNS.TAKE_OVER (argv[1]: "gamepad" or "keyboard"), built as
``python -m playerruns --worker`` builds it, drives the fake game (``tests.fake_trackmania``) for 2 episodes of
50 steps. A person takes the wheel twice an episode: at the 10th and the 30th step they hold the take-over for
at least 6 steps, on SDL's virtual pad (``tests.virtual_pad``, button PLAYER_RUNS.TAKE_OVER_BUTTON) or, for
"keyboard", with xdotool holding the key on the X display (DISPLAY). While they hold it, the fake game's
driver is the person: its telemetry reports the inputs it drives.

Prints JSON: the worker's counts, each buffered sample's action, whether it is tagged an intervention and its
take-over place, every control the game received (tmrl's keyboard control: the keys it pressed) with
whether the person was driving then and how many steps had been taken, and what the run files the worker saved
(PLAYER_RUNS.TAKE_OVER_RUNS_PATH) hold, each loaded and checked against the configuration as an import would."""

import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time

import tmrl.config.config_constants as cfg
import tmrl.custom.tm.tm_gym_interfaces as tm_interfaces
from tests import fake_trackmania as fake

from playerruns.bridge.setup import load_setup, tmrl_data_folder
from playerruns.recording.trackmania import rtgym_interface
from playerruns.runs.demos import INTERVENTION_FLAG, TAKE_OVER_KEY, load_demo_run
from playerruns.trainer.config import parse_player_runs
from playerruns.trainer.roles import make_worker

kind = sys.argv[1]
XDOTOOL_NAMES = {"right ctrl": "Control_R", "space": "space"}  # pygame key names as xdotool (X keysyms) spells them
EPISODES, STEPS, PRESS_AT, HOLD = 2, 50, (10, 30), 6
player_runs = parse_player_runs(cfg.TMRL_CONFIG)

tm_interfaces.WindowInterface = fake.SyntheticWindow  # no screen here: synthetic frames of the window's size
received: list[dict] = []  # what reached the game, in order
interface_box: list = []
worker_box: list = []


def game_keys(actions, *args, **kwargs):
    """The game's keyboard input: tmrl's keyboard control (VIRTUAL_GAMEPAD false) presses these keys."""
    person = bool(interface_box and interface_box[0].person_drives)
    at = worker_box[0].totals()[0] if worker_box else None  # steps taken so far (exact for a send in the loop's
    received.append({"keys": sorted(actions), "person_drives": person, "at": at})  # thread, as the let-go)


tm_interfaces.apply_control = game_keys
tm_interfaces.keyres = lambda: received.append({"keys": ["reset"], "person_drives": False, "at": None})

if kind == "gamepad":
    from tests.virtual_pad import VirtualPad

    pad = VirtualPad()  # plugged in before the worker starts, as the user guide says
    button = player_runs.TAKE_OVER_BUTTON

    def hold() -> None:
        pad.press(button)

    def let_go() -> None:
        pad.release(button)
else:
    def _xdotool(*args: str) -> None:
        subprocess.run(["xdotool", *args], check=True, timeout=30)

    def hold() -> None:
        _xdotool("keydown", XDOTOOL_NAMES.get(player_runs.TAKE_OVER_KEY, player_runs.TAKE_OVER_KEY))

    def let_go() -> None:
        _xdotool("keyup", XDOTOOL_NAMES.get(player_runs.TAKE_OVER_KEY, player_runs.TAKE_OVER_KEY))

worker = make_worker("worker", load_setup(), player_runs)
fake.write_reward_trajectory(tmrl_data_folder())
game = fake.FakeOpenPlanet()  # after the worker: tlspyo's client process must not inherit the game's socket
interface_box.append(rtgym_interface(worker.env))
worker_box.append(worker)


def person() -> None:
    """Holds the take-over from each step of PRESS_AT (of every episode) for at least HOLD steps."""
    for episode in range(EPISODES):
        for at in PRESS_AT:
            start = episode * STEPS + at
            while worker.totals()[0] < start:
                time.sleep(0.001)
            hold()
            pressed_at = worker.totals()[0]
            while worker.totals()[0] < pressed_at + HOLD:
                time.sleep(0.001)
            let_go()


threading.Thread(target=person, daemon=True).start()
for _ in range(EPISODES):
    worker.collect_train_episode(max_samples=STEPS)
worker.reset(collect_samples=False)  # logs the last episode's figures into the totals
samples = worker.buffer.memory
steps, person_steps, take_overs = worker.totals()
saved = [load_demo_run(path, load_setup().compat) for path in worker.runs.wait()]  # checked as an import checks
print(json.dumps({
    "class": type(worker).__name__, "interface": type(interface_box[0]).__name__, "steps": steps,
    "person_steps": person_steps, "take_overs": take_overs,
    "actions": [None if s[0] is None else [float(a) for a in s[0]] for s in samples],
    "intervention": [bool(s[-1].get(INTERVENTION_FLAG)) for s in samples],
    "place": [s[-1].get(TAKE_OVER_KEY) for s in samples],
    "received": received, "saved_files": len(saved),
    "saved_person_steps": sum(bool(s[-1].get(INTERVENTION_FLAG)) for run in saved for s in run.samples),
    "saved_samples": sum(len(run.samples) for run in saved),
    "saved_take_overs": sum(run.metadata["episode_count"] for run in saved)}), flush=True)
for child in multiprocessing.active_children():  # tlspyo's client, trying to reach a server that is not there
    child.terminate()
os._exit(0)
