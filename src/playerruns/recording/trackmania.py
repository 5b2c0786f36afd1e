"""Recording through tmrl's environments: TrackMania with a person at the wheel, or the generic path.

For TrackMania the recording variants of tmrl's interfaces never actuate anything: no virtual
gamepad or keyboard input, no automatic race reset (the person restarts and presses Enter). The
person's steer, gas and brake come from the OpenPlanet telemetry the interface already reads
(11 little-endian floats: speed, distance, x, y, z, steer, gas, brake, finished, gear, rpm) and are
mapped to tmrl's action ``[gas, brake, steer]``. Observations, reward and episode ends stay tmrl's;
the whole packet each step read is kept in the step's ``info`` (``playerruns.runs.telemetry``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from tmrl.custom.tm.tm_gym_interfaces import TM2020Interface, TM2020InterfaceLidar, TM2020InterfaceLidarProgress

from playerruns.bridge.setup import TmrlSetup, env_cls
from playerruns.recording.input_sources import SourceWithoutEndControl
from playerruns.runs.errors import PlayerRunsError
from playerruns.runs.telemetry import TELEMETRY_KEY, telemetry_record

STEER, GAS, BRAKE = 5, 6, 7  # indices in the OpenPlanet packet


class TelemetryTap:
    """Wraps tmrl's OpenPlanet client to keep the latest packet for reading the person's inputs."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.latest: tuple | None = None

    def retrieve_data(self, *args: Any, **kwargs: Any) -> tuple:
        self.latest = self.client.retrieve_data(*args, **kwargs)
        return self.latest


class _RecordingMixin:
    """Turns a tmrl TrackMania interface into a recorder's: reads, never acts."""

    client: Any  # tmrl's OpenPlanet client, set by the interface's initialize()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["gamepad"] = False  # never create a virtual gamepad
        super().__init__(*args, **kwargs)

    def initialize(self) -> None:
        super().initialize()  # type: ignore[misc]  # the tmrl interface this is mixed into
        if not isinstance(self.client, TelemetryTap):
            self.client = TelemetryTap(self.client)

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        obs, info = super().reset(seed=seed, options=options)  # type: ignore[misc]
        return obs, self._with_telemetry(info)

    def get_obs_rew_terminated_info(self) -> tuple[Any, Any, bool, dict]:
        obs, rew, terminated, info = super().get_obs_rew_terminated_info()  # type: ignore[misc]
        return obs, rew, terminated, self._with_telemetry(info)

    def _with_telemetry(self, info: dict) -> dict:
        """``info`` plus the packet the observation and reward were just computed from."""
        if self.client.latest is None:
            return info
        return {**info, TELEMETRY_KEY: telemetry_record(self.client.latest)}

    def send_control(self, control: Any) -> None:
        """The person drives: nothing is sent to the game."""

    def reset_race(self) -> None:
        """The person restarts the race; no key is sent."""

    def close_finish_pop_up_tm20(self) -> None:
        """Left to the person."""

    def wait(self) -> None:
        """Nothing to do between episodes: the person restarts and presses Enter."""

    def human_action(self) -> np.ndarray:
        """tmrl's ``[gas, brake, steer]`` from the latest telemetry (blocks for the first packet)."""
        return telemetry_action(self.client)


def telemetry_action(client: TelemetryTap) -> np.ndarray:
    """What the person drives, as the game reports it: tmrl's ``[gas, brake, steer]`` from the latest OpenPlanet
    packet (``client`` waits for the first one)."""
    data = client.latest if client.latest is not None else client.retrieve_data()
    return np.clip(np.array([data[GAS], data[BRAKE], data[STEER]], dtype=np.float32), -1.0, 1.0)


class RecordingTM2020Interface(_RecordingMixin, TM2020Interface):
    pass


class RecordingTM2020InterfaceLidar(_RecordingMixin, TM2020InterfaceLidar):
    pass


class RecordingTM2020InterfaceLidarProgress(_RecordingMixin, TM2020InterfaceLidarProgress):
    pass


RECORDING_INTERFACES = {
    TM2020Interface: RecordingTM2020Interface,
    TM2020InterfaceLidar: RecordingTM2020InterfaceLidar,
    TM2020InterfaceLidarProgress: RecordingTM2020InterfaceLidarProgress,
}


def rtgym_interface(env: Any) -> Any:
    """The rtgym interface object inside tmrl's TrackMania environment ``env`` (None for another task)."""
    inner = env.unwrapped
    return getattr(inner, "interface", None) or getattr(inner, "_RealTimeEnvTS__interface", None)


class OpenPlanetSource(SourceWithoutEndControl):
    """The person's inputs as the game reports them (physical gamepad or keyboard, whatever they use)."""

    name = "openplanet-telemetry"

    def __init__(self, env: Any) -> None:
        self.env = env

    def action(self, obs: Any) -> np.ndarray:
        interface = rtgym_interface(self.env)
        if interface is None:
            raise PlayerRunsError("the TrackMania recording interface is not running")
        return interface.human_action()


def recording_env(setup: TmrlSetup, *, render: bool = False) -> Any:
    """The environment a rollout worker would use, with the TrackMania interface in recording mode."""
    if setup.env_id is not None:
        return env_cls(setup, {"render_mode": "rgb_array"} if render else {})()
    return env_cls(setup, interface=lambda stock: partial(RECORDING_INTERFACES[stock.func], *stock.args,
                                                          **stock.keywords))()
