"""A stand-in for TrackMania with the OpenPlanet plugin, for recording tests: no game, no screen.

- ``FakeOpenPlanet`` serves tmrl's telemetry protocol on 127.0.0.1:9000 (11 little-endian float32:
  speed, distance, x, y, z, steer, gas, brake, finished, gear, rpm) for a scripted lap along the x
  axis, whose driver cycles through ``INPUT_PHASES`` of steer/gas/brake.
- ``SyntheticWindow`` replaces tmrl's screen capture with frames of the configured window size.
"""

from __future__ import annotations

import pickle
import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np

PORT = 9000
INPUT_PHASES = [(-0.5, 1.0, 0.0), (0.5, 1.0, 0.0), (0.0, 0.0, 1.0)]  # (steer, gas, brake)
PHASE_SECONDS = 0.3


def expected_actions() -> set[tuple[float, float, float]]:
    """tmrl's [gas, brake, steer] for each scripted input phase."""
    return {(gas, brake, steer) for steer, gas, brake in INPUT_PHASES}


def write_reward_trajectory(tmrl_data: Path) -> None:
    points = np.array([[x, 0.0, 0.0] for x in np.arange(0.0, 20000.0, 5.0)])
    (tmrl_data / "reward" / "reward.pkl").write_bytes(pickle.dumps(points))


class FakeOpenPlanet:
    def __init__(self, rate_hz: float = 200.0) -> None:
        self.rate_hz = rate_hz
        self.server = socket.create_server(("127.0.0.1", PORT), reuse_port=False)
        self.started = time.monotonic()
        threading.Thread(target=self._serve, daemon=True).start()

    def packet(self) -> bytes:
        t = time.monotonic() - self.started
        steer, gas, brake = INPUT_PHASES[int(t / PHASE_SECONDS) % len(INPUT_PHASES)]
        x = 20.0 * t
        return struct.pack("<" + "f" * 11, 50.0, x, x, 0.0, 0.0, steer, gas, brake, 0.0, 3.0, 5000.0)

    def _serve(self) -> None:
        while True:
            conn, _ = self.server.accept()
            threading.Thread(target=self._stream, args=(conn,), daemon=True).start()

    def _stream(self, conn: socket.socket) -> None:
        with conn:
            try:
                while True:
                    conn.sendall(self.packet())
                    time.sleep(1.0 / self.rate_hz)
            except OSError:
                return


class SyntheticWindow:
    """tmrl's WindowInterface, minus the real window: a road-like frame of the configured size."""

    def __init__(self, window_name: str) -> None:
        import tmrl.config.config_constants as cfg

        self.w, self.h = cfg.WINDOW_WIDTH, cfg.WINDOW_HEIGHT
        self.frames = 0

    def move_and_resize(self, *args, **kwargs) -> None:
        pass

    def screenshot(self) -> np.ndarray:
        self.frames += 1
        img = np.full((self.h, self.w, 4), 200, dtype=np.uint8)
        shift = (self.frames * 7) % (self.w // 4)
        img[self.h // 2:, self.w // 4 + shift: self.w // 2 + shift, :3] = 30  # a dark road band
        return img


def check_take_over(out: dict, episodes: int = 2, steps: int = 50, take_overs_per_episode: int = 2) -> None:
    """What ``tests/programs/take_over_trackmania.py`` printed shows a person who took the car and gave it back:
    exactly the steps they held the take-over are tagged, their actions are the inputs the game reported, the
    game got nothing from tmrl while they drove, tmrl let go of the car once as each take-over began, and the run
    files the worker saved hold exactly the person's steps."""
    assert out["class"] == "TakeOverRolloutWorker" and out["interface"].startswith("TakeOverTM2020Interface")
    flags, actions, places = out["intervention"], out["actions"], out["place"]
    assert len(flags) == episodes * (steps + 1)  # a reset sample, then the steps, per episode
    assert out["steps"] == episodes * steps
    assert sum(flags) == out["person_steps"] >= episodes * take_overs_per_episode * 6  # each held >= 6 steps
    starts = [k for k, flag in enumerate(flags) if flag and not flags[k - 1]]
    assert len(starts) == out["take_overs"] >= episodes * take_overs_per_episode
    resets = {k * (steps + 1) for k in range(episodes)}
    assert not any(flags[k] for k in resets)  # nobody drives a reset
    person = [tuple(a) for a, flag in zip(actions, flags, strict=True) if flag]
    assert set(person) <= expected_actions()  # the person's inputs as the game reported them
    assert [k for k, p in enumerate(places) if p is not None] == starts  # where each take-over began ...
    assert all(isinstance(places[k], float) and places[k] >= 0.0 for k in starts)  # ... in metres along the track
    received = out["received"]
    assert received and not any(r["person_drives"] for r in received)  # nothing reached the game while they drove
    step_of = {k: k - 1 - k // (steps + 1) for k in starts}  # a sample's index -> the steps taken before it
    let_go = {r["at"] for r in received if r["keys"] == [] and r["at"] is not None}
    assert all(step_of[k] in let_go for k in starts)  # tmrl let go of the car as each take-over began
    # the run files saved: one per episode, a reset sample per take-over, then exactly the person's steps
    assert out["saved_files"] == episodes and out["saved_take_overs"] == out["take_overs"]
    assert out["saved_person_steps"] == out["person_steps"] == out["saved_samples"] - out["saved_take_overs"]
