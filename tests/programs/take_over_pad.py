"""A MiniTrack rollout worker with PLAYER_RUNS.TAKE_OVER "gamepad", built as ``python -m playerruns --worker``
builds it (no display here: no window, the pad still takes over), drives one training episode of 40 steps on
SDL's virtual pad (``tests.virtual_pad``). The person's pad rests at: left stick 0.5 right, right trigger fully
pressed; from the 10th step they hold button PLAYER_RUNS.TAKE_OVER_BUTTON for at least 6 steps (argv[1]
"button"), or, with TAKE_OVER_STICK, leave the button alone and only the stick and trigger move (argv[1]
"stick", the pad at rest before the 10th step). Prints JSON: the worker's counts and each buffered sample's
action and intervention tag."""

import json
import multiprocessing
import os
import sys
import threading
import time

import tmrl.config.config_constants as cfg
from tests.virtual_pad import RIGHT_TRIGGER, VirtualPad

from playerruns.bridge.setup import load_setup
from playerruns.runs.demos import INTERVENTION_FLAG
from playerruns.trainer.config import parse_player_runs
from playerruns.trainer.roles import make_worker

how = sys.argv[1]
STEPS, PRESS_AT, HOLD = 40, 10, 6
player_runs = parse_player_runs(cfg.TMRL_CONFIG)
pad = VirtualPad()


def drive(steer: float, gas: float) -> None:
    """The person's left stick and right trigger."""
    pad.stick(steer)
    pad.trigger(RIGHT_TRIGGER, gas)


if how == "button":
    drive(0.5, 1.0)
worker = make_worker("worker", load_setup(), player_runs)


def person() -> None:
    while worker.totals()[0] < PRESS_AT:
        time.sleep(0.001)
    if how == "button":
        pad.press(player_runs.TAKE_OVER_BUTTON)
    else:
        drive(0.5, 1.0)
    pressed_at = worker.totals()[0]
    while worker.totals()[0] < pressed_at + HOLD:
        time.sleep(0.001)
    if how == "button":
        pad.release(player_runs.TAKE_OVER_BUTTON)
    else:
        drive(0.0, 0.0)


threading.Thread(target=person, daemon=True).start()
worker.collect_train_episode(max_samples=STEPS)
samples = worker.buffer.memory
steps, person_steps, take_overs = worker.totals()
print(json.dumps({"class": type(worker).__name__, "control": worker.control.name, "steps": steps,
                  "person_steps": person_steps, "take_overs": take_overs,
                  "actions": [None if s[0] is None else [float(a) for a in s[0]] for s in samples],
                  "intervention": [bool(s[-1].get(INTERVENTION_FLAG)) for s in samples]}), flush=True)
for child in multiprocessing.active_children():  # tlspyo's client, trying to reach a server that is not there
    child.terminate()
os._exit(0)
