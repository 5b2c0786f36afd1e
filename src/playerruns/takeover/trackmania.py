"""Taking the wheel in TrackMania: the worker lets go of the car while the person holds the take-over.

A person watching the agent drive in the game holds the take-over (a button of their physical pad, or a key
held while the game has the focus) and drives with their own pad or keyboard, as they always do. For exactly
those steps the worker's interface sends nothing to the game: on the first step it lets go of tmrl's virtual
gamepad (or the keys tmrl holds) once, so that only the person's inputs drive, and then the policy's actions are
dropped. What the person drove is read back from the OpenPlanet telemetry the interface already reads (steer,
gas and brake, as the recording interfaces do: ``playerruns.recording.trackmania``), and becomes the step's
action in tmrl's sample. Releasing the take-over gives the car back: the next step sends the policy's action.

Where a take-over began is the telemetry's distance along the track, in metres.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tmrl.custom.tm.tm_gym_interfaces import TM2020Interface, TM2020InterfaceLidar, TM2020InterfaceLidarProgress

from playerruns.recording.keys import GlobalKeyHold
from playerruns.recording.trackmania import TelemetryTap, rtgym_interface, telemetry_action
from playerruns.runs.errors import PlayerRunsError
from playerruns.runs.telemetry import TELEMETRY_FIELDS
from playerruns.takeover.controls import GamepadTakeOver, TakeOverSettings

DISTANCE = TELEMETRY_FIELDS.index("distance")
LET_GO = np.zeros(3, dtype=np.float32)  # tmrl's [gas, brake, steer] with nothing pressed


class _TakeOverMixin:
    """A tmrl TrackMania interface the person can take the car from (``hand_over``)."""

    client: Any  # tmrl's OpenPlanet client, set by the interface's initialize()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.person_drives = False

    def initialize(self) -> None:
        super().initialize()  # type: ignore[misc]  # the tmrl interface this is mixed into
        if not isinstance(self.client, TelemetryTap):
            self.client = TelemetryTap(self.client)

    def hand_over(self, person: bool) -> None:
        """The person takes the car (True) or gives it back (False). Taking it lets go of tmrl's controls once."""
        if person and not self.person_drives:
            super().send_control(LET_GO)  # type: ignore[misc]
        self.person_drives = person

    def send_control(self, control: Any) -> None:
        if not self.person_drives:
            super().send_control(control)  # type: ignore[misc]

    def person_action(self) -> np.ndarray:
        """tmrl's ``[gas, brake, steer]`` that the person drives, from the latest telemetry."""
        return telemetry_action(self.client)

    def distance(self) -> float | None:
        """Metres driven along the track at the latest telemetry packet (None before the first)."""
        latest = self.client.latest if isinstance(self.client, TelemetryTap) else None
        return None if latest is None else round(float(latest[DISTANCE]), 1)


class TakeOverTM2020Interface(_TakeOverMixin, TM2020Interface):
    pass


class TakeOverTM2020InterfaceLidar(_TakeOverMixin, TM2020InterfaceLidar):
    pass


class TakeOverTM2020InterfaceLidarProgress(_TakeOverMixin, TM2020InterfaceLidarProgress):
    pass


TAKE_OVER_INTERFACES = {
    TM2020Interface: TakeOverTM2020Interface,
    TM2020InterfaceLidar: TakeOverTM2020InterfaceLidar,
    TM2020InterfaceLidarProgress: TakeOverTM2020InterfaceLidarProgress,
}


class _PadHold:
    """The take-over held on the physical pad (its button, or its stick beyond the dead zone)."""

    def __init__(self, env: Any, settings: TakeOverSettings) -> None:
        self.pad = GamepadTakeOver(env, settings, controls="car")
        self.hint = settings.hint("gamepad", " on your pad")

    def held(self) -> bool:
        self.pad.source.pump()
        return self.pad.held()

    def close(self) -> None:
        self.pad.close()


class _KeyHold:
    """The take-over key held while the game has the focus (a global key hook)."""

    def __init__(self, settings: TakeOverSettings) -> None:
        self.hook = GlobalKeyHold(settings.key)
        self.hint = settings.hint("keyboard", " (the game may have the focus)")

    def held(self) -> bool:
        return self.hook.held()

    def close(self) -> None:
        self.hook.stop()


class TrackManiaTakeOver:
    """The take-over control of a TrackMania worker: ``kind`` "gamepad" (SDL's view of the person's pad) or
    "keyboard" (a global hook on ``settings.key``). The worker's environment must run a take-over interface
    (``TAKE_OVER_INTERFACES``)."""

    def __init__(self, env: Any, settings: TakeOverSettings, kind: str) -> None:
        self.interface = rtgym_interface(env)
        if not isinstance(self.interface, _TakeOverMixin):
            raise PlayerRunsError("PLAYER_RUNS.TAKE_OVER: the worker's TrackMania interface cannot hand the car over "
                                  f"({type(self.interface).__name__})")
        self.trigger: _PadHold | _KeyHold
        if kind == "gamepad":
            self.trigger = _PadHold(env, settings)
        else:
            try:
                self.trigger = _KeyHold(settings)
            except PlayerRunsError as err:
                raise PlayerRunsError(f"PLAYER_RUNS.TAKE_OVER \"keyboard\" on TrackMania: {err}; take over with "
                                      "\"gamepad\"") from None
        self.name = f"trackmania-{kind}"
        self.hint = self.trigger.hint

    def start_episode(self) -> None:
        self.interface.hand_over(False)  # tmrl resets the race with its own controls

    def poll(self, obs: Any, info: dict[str, Any]) -> np.ndarray | None:
        held = self.trigger.held()
        self.interface.hand_over(held)
        return self.interface.person_action() if held else None

    def where(self, info: dict[str, Any]) -> float | None:
        return self.interface.distance()

    def status(self, driving: bool, person_steps: int, take_overs: int, steps: int) -> None:
        pass  # the game's own screen is what the person watches

    def close(self) -> None:
        self.trigger.close()
