"""Records two TrackMania episodes against the fake OpenPlanet game into argv[1] and prints them as JSON."""

import json
import sys
from pathlib import Path

import tmrl.custom.tm.tm_gym_interfaces as tm_interfaces
from tests import fake_trackmania as fake

from playerruns.bridge.demo_path import reward_stamp
from playerruns.bridge.setup import close_env, load_setup, tmrl_data_folder
from playerruns.recording.recorder import Recorder
from playerruns.recording.trackmania import OpenPlanetSource, recording_env
from playerruns.runs.runfile import save_run
from playerruns.runs.validation import check_samples

tm_interfaces.WindowInterface = fake.SyntheticWindow  # no screen here: synthetic frames of the window's size

fake.write_reward_trajectory(tmrl_data_folder())
game = fake.FakeOpenPlanet()
setup = load_setup()
env = recording_env(setup)
calls = {"n": 0}


def stop_after_12_in_second_episode():
    calls["n"] += 1
    return calls["n"] == 30 + 2 + 12


recorder = Recorder(env, OpenPlanetSource(env), interface=setup.interface, max_samples=30,
                    obs_preprocessor=setup.obs_preprocessor, default_action=env.unwrapped.default_action,
                    stop_requested=stop_after_12_in_second_episode,
                    metadata={"test": True, "reward_stamp": reward_stamp(setup)})
out = []
for k in range(2):
    outcome = recorder.record_episode()
    check_samples(outcome.run.samples, setup.compat, f"episode {k}")
    path = save_run(Path(sys.argv[1]) / f"tm{k}.pkl", outcome.run)
    out.append({"path": str(path), "ended_by": outcome.ended_by, "steps": outcome.steps,
                "actions": [s[0].tolist() for s in outcome.run.samples],
                "buffer_tail": [s[1][-1].tolist() for s in outcome.run.samples],
                "truncated": [bool(s[4]) for s in outcome.run.samples],
                "input_device": outcome.run.metadata["input_device"],
                "telemetry": [s[5]["openplanet"].tolist() for s in outcome.run.samples],
                "telemetry_dtype": str(outcome.run.samples[0][5]["openplanet"].dtype),
                "rewards": [float(s[2]) for s in outcome.run.samples],
                "reward_stamp": outcome.run.metadata.get("reward_stamp")})
close_env(env)
print(json.dumps(out))
