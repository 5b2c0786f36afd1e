"""The recorder's own cost per step at the TM20LIDAR configuration's sizes.

Recording must never disturb real-time timing: at tmrl's 20 Hz control rate a step lasts 50 ms, and
whatever the recorder does between two environment steps (reading the person's input, applying the
observation preprocessor, building the sample, checking the stop keys) delays the next action.
This script drives ``playerruns.recording.Recorder`` with an environment that returns lidar-sized
observations instantly and times, per step, everything except the environment's own step.
Target: under 1 ms per step. Last line: ``record_overhead_ms: <worst step, ms>``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="playerruns-bench-record-"))
    os.environ["HOME"] = str(home)
    from playerruns.bridge.setup import init_tmrl_data, load_setup
    from playerruns.recording.input_sources import ScriptedSource
    from playerruns.recording.keys import TerminalKeys
    from playerruns.recording.recorder import Recorder
    from playerruns.runs.runfile import save_run

    init_tmrl_data(home, interface="TM20LIDAR")
    setup = load_setup()
    rng = np.random.default_rng(0)
    spaces = setup.observation_space.spaces

    class InstantLidarEnv:
        """An rtgym-shaped TM20LIDAR environment whose step costs nothing but is timed."""

        def __init__(self) -> None:
            self.env_seconds: list[float] = []
            self.act_buf = [setup.default_action] * setup.act_buf_len
            self.frames = [tuple(rng.uniform(0, 100, s.shape).astype(s.dtype) for s in spaces) for _ in range(64)]
            self.t = 0
            self.gaps: list[float] = []  # recorder work between a step's return and the next step's call
            self._returned: float | None = None

        def reset(self):
            self._returned = None
            return (*self.frames[0], *self.act_buf), {}

        def step(self, act):
            t0 = time.perf_counter()
            if self._returned is not None:
                self.gaps.append(t0 - self._returned)
            self.t += 1
            self.act_buf = [*self.act_buf[1:], act]
            obs = (*self.frames[self.t % 64], *self.act_buf)
            done = self.t % args.steps == 0
            result = obs, np.float32(0.1), False, done, {}
            self._returned = time.perf_counter()
            self.env_seconds.append(self._returned - t0)
            return result

    env = InstantLidarEnv()
    source = ScriptedSource(lambda obs: np.array([1.0, 0.0, 0.1], np.float32), setup.action_space, name="constant")
    keys = TerminalKeys(stream=open(os.devnull))  # the real key path: a reader thread and its queue
    keys.start()
    recorder = Recorder(env, source, interface=setup.interface, max_samples=args.steps,
                        obs_preprocessor=setup.obs_preprocessor, default_action=setup.default_action,
                        stop_requested=keys.delete_pressed)

    per_step: list[float] = []
    save_seconds: list[float] = []
    out = home / "runs"
    out.mkdir()
    for _ in range(args.episodes):
        env.env_seconds.clear()
        t0 = time.perf_counter()
        outcome = recorder.record_episode()
        elapsed = time.perf_counter() - t0
        steps = outcome.steps
        per_step.append((elapsed - sum(env.env_seconds)) / steps)
        t1 = time.perf_counter()
        save_run(out / f"{outcome.run.run_id}.pkl", outcome.run)
        save_seconds.append(time.perf_counter() - t1)

    # the worst single step: the gap between one env.step returning and the recorder calling the next one
    worst = max(env.gaps) if env.gaps else 0.0
    shutil.rmtree(home, ignore_errors=True)

    mean_ms = 1000 * float(np.mean(per_step))
    p_max_ms = 1000 * float(np.max(per_step))
    print(f"episodes: {args.episodes} x {args.steps} steps, TM20LIDAR sizes "
          f"(obs {setup.compat.describe_obs()})")
    print(f"recorder time per step (everything but the environment step): mean {mean_ms:.4f} ms, "
          f"worst episode mean {p_max_ms:.4f} ms")
    print(f"largest extra delay of a single 20 Hz control step: {1000 * worst:.4f} ms (budget 50 ms)")
    print(f"saving a {args.steps}-step run file at the end of an episode (outside the control loop): "
          f"median {1000 * float(np.median(save_seconds)):.1f} ms")
    print("target: under 1 ms per step")
    print(f"record_overhead_ms: {1000 * worst:.4f}")


if __name__ == "__main__":
    main()
