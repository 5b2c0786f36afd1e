"""When a person holds the take-over, and what they drive then.

A ``TakeOverControl`` is polled once per step of a rollout worker's training episode, before the policy's
action is applied: it returns the person's action while they hold the take-over, else None (the policy
drives). Three kinds:

- ``KeyboardTakeOver``: the task's window (``TaskView``, as the recorder shows it); holding the take-over key
  (Space by default) takes the wheel and the arrows drive; releasing it gives the car back.
- ``GamepadTakeOver``: an SDL gamepad; holding the take-over button (and, when asked, moving the stick or a
  trigger beyond the dead zone) takes the wheel, the left stick and the triggers drive as in TrackMania.
- ``StandInTakeOver``: a scripted person for tests and benchmarks on MiniTrack. It watches the agent and
  takes over only where it is about to fail (no progress for ``patience`` steps, or pressed against a
  border), drives ``hold`` steps with the line follower at its ``skill``, and lets go; ``budget`` bounds the
  steps it drives in all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from playerruns.bridge.seeding import generator
from playerruns.recording.input_sources import (
    GamepadSource,
    KeyboardWindowSource,
    TaskView,
    controls_of,
)
from playerruns.runs.errors import PlayerRunsError

if TYPE_CHECKING:
    from playerruns.envs.drivers import Skill

LAP_FRACTION = "lap_fraction"  # what MiniTrack's info says of where the car is on the lap


class TakeOverControl(Protocol):
    name: str

    def start_episode(self) -> None:
        """A new episode starts (the worker reset the task)."""

    def poll(self, obs: Any, info: dict[str, Any]) -> np.ndarray | None:
        """The person's action for the coming step while they hold the take-over, else None. ``info`` is the
        task's info of the last step (or of the reset)."""

    def where(self, info: dict[str, Any]) -> float | None:
        """Where on the track the car is, as the task says (MiniTrack: the lap's share; TrackMania: metres
        driven), from the info of the last step; None when the task does not say."""

    def status(self, driving: bool, person_steps: int, take_overs: int, steps: int) -> None:
        """What the worker did this episode so far (a window shows it; others ignore it)."""

    def close(self) -> None: ...


def lap_share(info: dict[str, Any]) -> float | None:
    """Where on the lap MiniTrack's car is (its info's lap share), or None for a task that does not say."""
    fraction = info.get(LAP_FRACTION) if isinstance(info, dict) else None
    if isinstance(fraction, (float, int, np.floating)) and not isinstance(fraction, bool) and math.isfinite(
            float(fraction)):
        return round(float(fraction), 4)
    return None


@dataclass(frozen=True)
class TakeOverSettings:
    """The ``PLAYER_RUNS`` take-over keys a control needs (``playerruns.trainer.config``)."""

    key: str = "space"
    button: int = 5
    stick: bool = False
    deadzone: float = 0.08

    def hint(self, kind: str, where: str = "") -> str:
        """What the person is told to do to take the wheel, in one wording for every window, panel and log
        line: ``kind`` "keyboard" or "gamepad" (anything else: the scripted stand-in); ``where``, e.g. " in the
        task's window"."""
        if kind == "keyboard":
            return f"Hold {self.key}{where} to take the wheel"
        if kind == "gamepad":
            return f"Hold button {self.button}" + (" (or move the stick)" if self.stick else "") + (
                f"{where} to take the wheel")
        return "A scripted person takes over where the agent is about to fail"


def _panel_lines(hint: str, driving: bool, person_steps: int, take_overs: int, steps: int) -> tuple[str, ...]:
    who = "YOU drive: release to give the car back" if driving else "The agent drives"
    return (hint, f"{who} | step {steps}", f"This episode: you drove {person_steps} steps in {take_overs} "
            f"take-over(s)")


class KeyboardTakeOver:
    """The keyboard in the task's window: hold the take-over key (``settings.key``, a pygame key name) and drive
    with the arrows (a car: Up gas, Down brake, Left/Right steer)."""

    def __init__(self, env: Any, settings: TakeOverSettings) -> None:
        try:
            view = TaskView(env.render, title=f"playerruns: hold {settings.key} to take the wheel")
        except PlayerRunsError as err:
            raise PlayerRunsError(f"PLAYER_RUNS.TAKE_OVER \"keyboard\": {err}; run the worker where there is a "
                                  "display, or take over with \"gamepad\"") from None
        self.source = KeyboardWindowSource(env.action_space, controls=controls_of(env), view=view)
        pygame = self._pygame = self.source._pygame
        try:
            self.key = pygame.key.key_code(settings.key)
        except ValueError:
            self.source.close()
            raise PlayerRunsError(f"PLAYER_RUNS.TAKE_OVER_KEY is {settings.key!r}, expected a key name such as "
                                  "'space', 'left shift' or 'x'") from None
        self.view: TaskView = self.source.view
        self.hint = settings.hint("keyboard") + "; arrows drive"
        self.name = "keyboard"
        self.view.say(self.hint, "The agent drives")

    def start_episode(self) -> None:
        self.view.forget_keys()

    def poll(self, obs: Any, info: dict[str, Any]) -> np.ndarray | None:
        action = self.source.action(obs)  # draws the window and reads its events
        return action if self._pygame.key.get_pressed()[self.key] else None

    def where(self, info: dict[str, Any]) -> float | None:
        return lap_share(info)

    def status(self, driving: bool, person_steps: int, take_overs: int, steps: int) -> None:
        self.view.say(*_panel_lines(self.hint, driving, person_steps, take_overs, steps))

    def close(self) -> None:
        self.source.close()


class GamepadTakeOver:
    """An SDL gamepad: hold ``settings.button`` (5: the right shoulder button of XInput-style pads) to take the
    wheel; with ``settings.stick``, moving the left stick or a trigger beyond ``settings.deadzone`` takes it
    too. The task's window shows the agent driving when the task draws itself. ``controls``: "car" or "axes"
    (default: what the task says, ``controls_of``)."""

    def __init__(self, env: Any, settings: TakeOverSettings, view: TaskView | None = None,
                 controls: str | None = None) -> None:
        try:
            self.source = GamepadSource(env.action_space, controls=controls or controls_of(env), view=view)
        except PlayerRunsError as err:
            why = str(err).removeprefix("--record-input gamepad: ").split(";")[0]
            raise PlayerRunsError(f"PLAYER_RUNS.TAKE_OVER \"gamepad\": {why}; connect the pad before starting the "
                                  "worker, or take over with \"keyboard\"") from None
        self.settings = settings
        self.hint = settings.hint("gamepad")
        self.name = self.source.name

    def start_episode(self) -> None:
        self.source.start_episode()

    def held(self) -> bool:
        pad = self.source.pad
        if self.settings.button < pad.get_numbuttons() and pad.get_button(self.settings.button):
            return True
        if not self.settings.stick:
            return False
        if self.source.controls == "car":
            steer, gas, brake = self.source._car_axes()
            return max(abs(steer), gas, brake) >= self.settings.deadzone
        return any(abs(pad.get_axis(i)) >= self.settings.deadzone for i in range(pad.get_numaxes()))

    def poll(self, obs: Any, info: dict[str, Any]) -> np.ndarray | None:
        action = self.source.action(obs)  # pumps SDL's events (and draws the window)
        return action if self.held() else None

    def where(self, info: dict[str, Any]) -> float | None:
        return lap_share(info)

    def status(self, driving: bool, person_steps: int, take_overs: int, steps: int) -> None:
        if self.source.view is not None:
            self.source.view.say(*_panel_lines(self.hint, driving, person_steps, take_overs, steps))

    def close(self) -> None:
        self.source.close()


class StandInTakeOver:
    """A scripted person watching the agent on MiniTrack (see the module docstring).

    It reads only what a person watching would see: the observation (speed, lidar) and how far along the lap
    the car is (``info["lap_fraction"]``). ``patience``: steps without new progress (``GAIN`` of a lap) before
    it steps in (fewer than MiniTrack's 70-step stuck rule); ``wall``: metres to a border, on any beam, that
    count as pressed against it; ``hold``: steps it drives once it took over; ``rest``: steps it then watches the agent
    before it may step in again; ``budget``: the most steps it drives in all (None: no bound).
    """

    GAIN = 0.002  # the share of a lap that counts as progress (1.1 to 1.6 m on MiniTrack's tracks)

    def __init__(self, skill: Skill, *, patience: int = 25, wall: float = 1.0, hold: int = 40, rest: int = 10,
                 budget: int | None = None, seed_name: str = "take-over stand-in") -> None:
        from playerruns.envs.drivers import line_follower

        self.drive = line_follower(rng=generator(seed_name), skill=skill)
        self.patience, self.wall, self.hold, self.rest, self.budget = patience, wall, hold, rest, budget
        self.name = f"stand-in (noise {skill.noise:.2f})"
        self.used = 0
        self.start_episode()

    def start_episode(self) -> None:
        self.best = -math.inf
        self.stalled = 0
        self.left = 0  # steps still to drive in the current take-over
        self.resting = 0  # steps still to watch before stepping in again

    def poll(self, obs: Any, info: dict[str, Any]) -> np.ndarray | None:
        fraction = info.get(LAP_FRACTION) if isinstance(info, dict) else None
        if isinstance(fraction, float) and math.isfinite(fraction):
            if fraction > self.best + self.GAIN:
                self.best, self.stalled = fraction, 0
            else:
                self.stalled += 1
        if self.resting > 0:
            self.resting -= 1
        elif self.left == 0 and self._about_to_fail(obs) and (self.budget is None or self.used < self.budget):
            self.left = self.hold if self.budget is None else min(self.hold, self.budget - self.used)
            self.stalled = 0
        if self.left == 0:
            return None
        self.left -= 1
        self.used += 1
        if self.left == 0:
            self.resting = self.rest
        return np.asarray(self.drive(obs), dtype=np.float32)

    def _about_to_fail(self, obs: Any) -> bool:
        from playerruns.envs import minitrack

        beams = np.asarray(obs[1:1 + minitrack.LIDAR_BEAMS], dtype=np.float64) * minitrack.LIDAR_RANGE
        return self.stalled >= self.patience or float(beams.min()) < self.wall

    def where(self, info: dict[str, Any]) -> float | None:
        return lap_share(info)

    def status(self, driving: bool, person_steps: int, take_overs: int, steps: int) -> None:
        pass

    def close(self) -> None:
        pass


def person_action(action: Any, space: Any) -> np.ndarray:
    """The person's action as the worker applies it: float32, in the action space's shape and bounds."""
    act = np.asarray(action, dtype=np.float32).reshape(space.shape)
    return np.clip(act, space.low, space.high).astype(np.float32)

