"""Where a recorded action comes from: a person's gamepad or keyboard, or a scripted driver.

Every source maps its input onto the environment's Box action space and may ask to end the
episode (the gamepad's Back/Select button, Del in the keyboard window). TrackMania's source
(``OpenPlanetSource``), which reads the game's own telemetry, lives with the TrackMania recording
interfaces in ``playerruns.recording.trackmania``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from playerruns.runs.errors import PlayerRunsError

if TYPE_CHECKING:
    from gymnasium import spaces

Policy = Callable[[Any], Any]  # observation -> action (a scripted stand-in for a person)

_NO_SCREEN = ("offscreen", "dummy")  # SDL's video drivers that draw in memory only
DEFAULT_END_BUTTON = 6  # Back/Select on XInput-style pads under SDL
DEADZONE = 0.08


class InputSource(Protocol):
    name: str
    end_label: str  # how the recorder names an episode ended by end_requested() ("gamepad", "delete")

    def action(self, obs: Any) -> np.ndarray: ...

    def end_requested(self) -> bool: ...

    def start_episode(self) -> None:
        """Forgets end requests made before the episode started (a Del still queued in a window)."""

    def start_requested(self) -> bool:
        """While the session waits to start an episode: True when the person starts it from this source
        (Enter or the first input in the task's window); sources without a window say False."""

    def close(self) -> None: ...


def _scale(unit: np.ndarray, space: spaces.Box) -> np.ndarray:
    """Maps values in [-1, 1] onto the Box ``space``."""
    low, high = np.asarray(space.low, np.float32), np.asarray(space.high, np.float32)
    return (low + (np.clip(unit, -1.0, 1.0) + 1.0) * 0.5 * (high - low)).astype(np.float32)


class SourceWithoutEndControl:
    """A source that never asks to end an episode and holds nothing to release (the episode ends by
    the environment, the limit, Del in the terminal or the global hook)."""

    end_label = "environment"

    def end_requested(self) -> bool:
        return False

    def start_episode(self) -> None:
        pass

    def start_requested(self) -> bool:
        return False

    def close(self) -> None:
        pass


class ScriptedSource(SourceWithoutEndControl):
    """Any callable policy ``obs -> action`` standing in for the person (tests, demos)."""

    def __init__(self, policy: Policy, action_space: spaces.Box, name: str | None = None) -> None:
        self.policy = policy
        self.action_space = action_space
        self.name = name or f"scripted:{getattr(policy, '__qualname__', type(policy).__name__)}"

    def action(self, obs: Any) -> np.ndarray:
        act = np.asarray(self.policy(obs), dtype=np.float32).reshape(self.action_space.shape)
        return np.clip(act, self.action_space.low, self.action_space.high).astype(np.float32)


def _pygame() -> Any:
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    try:
        import pygame
    except ImportError as err:
        raise PlayerRunsError(f"--record-input: pygame is not installed ({err}); pip install pygame") from None
    return pygame


def car_action(steer: float, gas: float, brake: float) -> np.ndarray:
    """tmrl's TrackMania action ``[gas, brake, steer]`` from a person's controls.

    ``steer`` in [-1, 1] (left < 0), ``gas`` and ``brake`` in [0, 1] (a trigger's travel, or a key held).
    Gas and brake become tmrl's [-1, 1] values (released: -1, fully pressed: 1), as tmrl's virtual
    gamepad reads them; steer within DEADZONE of the centre is 0.
    """
    steer = 0.0 if abs(steer) < DEADZONE else float(np.clip(steer, -1.0, 1.0))
    gas, brake = float(np.clip(gas, 0.0, 1.0)), float(np.clip(brake, 0.0, 1.0))
    return np.array([2.0 * gas - 1.0, 2.0 * brake - 1.0, steer], dtype=np.float32)


def controls_of(env: Any) -> str:
    """"car" for a task whose action is tmrl's ``[gas, brake, steer]`` (MiniTrack), else "axes"."""
    return str(getattr(getattr(env, "unwrapped", env), "controls", "axes"))


class GamepadSource:
    """A physical gamepad through SDL (pygame).

    For a car (``controls="car"``): the left stick steers, the right trigger is gas, the left trigger
    brake, as in TrackMania; SDL's game-controller database names them on any known pad. Otherwise
    the stick axes map onto the action dimensions in order. A window shows the task when it can draw
    itself (``view``).
    """

    def __init__(self, action_space: spaces.Box, *, index: int = 0, end_button: int = DEFAULT_END_BUTTON,
                 controls: str = "axes", view: TaskView | None = None) -> None:
        pygame = self._pygame = _pygame()
        # the pad counts whichever window has the focus (the game's, while a worker's take-over reads the pad)
        os.environ.setdefault("SDL_JOYSTICK_ALLOW_BACKGROUND_EVENTS", "1")
        pygame.joystick.init()
        count = pygame.joystick.get_count()
        if count <= index:
            raise PlayerRunsError(f"--record-input gamepad: no gamepad found (SDL sees {count}); connect one, or use "
                                  "--record-input keyboard")
        self.pad = pygame.joystick.Joystick(index)
        self.pad.init()
        self.controller = _game_controller(index)
        self.action_space = action_space
        self.end_button = end_button
        self.controls = controls
        self.view = view
        self.name = f"gamepad:{self.pad.get_name()}"
        self.end_label = "gamepad"

    def pump(self) -> None:
        """Lets SDL read the pad (and the window, if any). SDL delivers a pad's state through its event queue, which
        needs its video subsystem: without a window it is started on its own, on SDL's dummy driver where there is
        no display (nothing is drawn: the pad still works on a machine without a screen)."""
        pygame = self._pygame
        if self.view is None and not pygame.display.get_init():
            try:
                pygame.display.init()
            except pygame.error:
                driver = os.environ.get("SDL_VIDEODRIVER")
                os.environ["SDL_VIDEODRIVER"] = "dummy"
                try:
                    pygame.display.init()
                finally:
                    if driver is None:
                        os.environ.pop("SDL_VIDEODRIVER")
                    else:
                        os.environ["SDL_VIDEODRIVER"] = driver
        pygame.event.pump()

    def action(self, obs: Any) -> np.ndarray:
        self.pump()
        if self.view is not None:
            self.view.show()
        if self.controls == "car":
            steer, gas, brake = self._car_axes()
            return car_action(steer, gas, brake)
        n = int(np.prod(self.action_space.shape))
        axes = [self.pad.get_axis(i) if i < self.pad.get_numaxes() else 0.0 for i in range(n)]
        unit = np.array([0.0 if abs(a) < DEADZONE else a for a in axes], np.float32).reshape(self.action_space.shape)
        return _scale(unit, self.action_space)

    def _car_axes(self) -> tuple[float, float, float]:
        """(steer, gas, brake) from the pad: SDL's named controls where it knows the pad, else the
        XInput layout of SDL's joystick API (axis 0: left stick x, 5: right trigger, 2: left trigger)."""
        pygame = self._pygame
        if self.controller is not None:
            full = 32767.0
            return (self.controller.get_axis(pygame.CONTROLLER_AXIS_LEFTX) / full,
                    self.controller.get_axis(pygame.CONTROLLER_AXIS_TRIGGERRIGHT) / full,
                    self.controller.get_axis(pygame.CONTROLLER_AXIS_TRIGGERLEFT) / full)
        axis = [self.pad.get_axis(i) if i < self.pad.get_numaxes() else -1.0 for i in range(6)]
        return axis[0], (axis[5] + 1.0) / 2.0, (axis[2] + 1.0) / 2.0

    def end_requested(self) -> bool:
        self.pump()
        if self.view is not None and self.view.delete_pressed():
            self.end_label = "delete"
            return True
        self.end_label = "gamepad"
        return self.end_button < self.pad.get_numbuttons() and bool(self.pad.get_button(self.end_button))

    def start_episode(self) -> None:
        if self.view is not None:
            self.view.forget_keys()

    def start_requested(self) -> bool:
        """Enter in the window, or the pad moved: a stick or a trigger beyond the dead zone, or a button
        other than the end button."""
        self.pump()
        if self.view is not None:
            self.view.show()
            if self.view.start_requested():
                return True
        if self.controls == "car":
            steer, gas, brake = self._car_axes()
            moved = abs(steer) >= DEADZONE or gas >= DEADZONE or brake >= DEADZONE
        else:
            moved = any(abs(self.pad.get_axis(i)) >= DEADZONE for i in range(self.pad.get_numaxes()))
        pressed = any(self.pad.get_button(b) for b in range(self.pad.get_numbuttons()) if b != self.end_button)
        return moved or pressed

    def close(self) -> None:
        self.pad.quit()
        if self.view is not None:
            self.view.close()


def _game_controller(index: int) -> Any:
    """SDL's game-controller view of pad ``index`` (named sticks and triggers), or None if SDL does not know it."""
    try:
        from pygame._sdl2 import controller
    except ImportError:
        return None
    controller.init()
    if index < controller.get_count() and controller.is_controller(index):
        return controller.Controller(index)
    return None


class TaskView:
    """A window showing the task as it renders itself, with a panel of text under it that says what to do and
    what is going on (``say``), and where Del ends the episode and Enter (or the first arrow key) starts one.

    Opening it needs a display (an X server, Wayland or Windows); without one the constructor raises
    PlayerRunsError saying why. The text is drawn with pygame's own font (no system font needed).
    """

    TITLE = "playerruns: Del ends the episode"
    PANEL = 118  # pixels of text under the task's picture
    LINE = 22
    BACKGROUND = (24, 24, 28)
    TEXT = (235, 235, 235)
    FONT_SIZE = 24

    def __init__(self, render: Callable[[], Any] | None, size: tuple[int, int] = (600, 600),
                 title: str = TITLE) -> None:
        pygame = self._pygame = _pygame()
        try:
            pygame.display.init()
            driver = pygame.display.get_driver()
            if driver in _NO_SCREEN and os.environ.get("SDL_VIDEODRIVER") != driver:
                pygame.display.quit()  # SDL fell back to drawing in memory: nobody would see the window
                raise pygame.error("no display: SDL found no screen to draw on (DISPLAY or WAYLAND_DISPLAY unset)")
            self.screen = pygame.display.set_mode((size[0], size[1] + self.PANEL))
        except pygame.error as err:
            raise PlayerRunsError(f"cannot open a window ({err})") from None
        pygame.display.set_caption(title)
        pygame.font.init()
        self.font = pygame.font.Font(None, self.FONT_SIZE)
        self.size = size
        self.render = render
        self.lines: list[str] = []
        self._delete = False
        self._start = False

    def say(self, *lines: str) -> None:
        """The panel's text from now on (drawn at the next ``show``)."""
        self.lines = [line for line in lines if line]

    def show(self) -> None:
        """Draws the task's latest frame and the panel, and reads the window's key events."""
        pygame = self._pygame
        for event in pygame.event.get():
            if event.type == pygame.KEYDOWN and event.key == pygame.K_DELETE:
                self._delete = True
            elif event.type == pygame.KEYDOWN and event.key in _start_keys(pygame):
                self._start = True
        frame = self.render() if self.render is not None else None
        if frame is not None:
            surface = pygame.surfarray.make_surface(np.transpose(np.asarray(frame), (1, 0, 2)))
            self.screen.blit(pygame.transform.scale(surface, self.size), (0, 0))
        self._draw_panel()
        pygame.display.flip()

    def _draw_panel(self) -> None:
        width, top = self.size[0], self.size[1]
        self.screen.fill(self.BACKGROUND, (0, top, width, self.PANEL))
        for k, line in enumerate(self.lines[: self.PANEL // self.LINE]):
            text = self.font.render(_fit(line, self.font, width - 20), True, self.TEXT, self.BACKGROUND)
            self.screen.blit(text, (10, top + 8 + k * self.LINE))

    def delete_pressed(self) -> bool:
        pressed, self._delete = self._delete, False
        return pressed

    def start_requested(self) -> bool:
        """True (once) when Enter or an arrow key was pressed in the window since the last call."""
        pressed, self._start = self._start, False
        return pressed

    def forget_keys(self) -> None:
        """Drops the key events queued so far (a Del that a global hook already acted on)."""
        self._pygame.event.get()
        self._delete = False
        self._start = False

    def close(self) -> None:
        self._pygame.display.quit()


def _start_keys(pygame: Any) -> tuple[int, ...]:
    """The keys that start an episode from the window: Enter, and the arrows (a person's first input)."""
    return (pygame.K_RETURN, pygame.K_KP_ENTER, pygame.K_UP, pygame.K_DOWN, pygame.K_LEFT, pygame.K_RIGHT)


def _fit(line: str, font: Any, width: int) -> str:
    """``line`` cut (with an ellipsis) to fit ``width`` pixels in ``font``."""
    if font.size(line)[0] <= width:
        return line
    while line and font.size(line + "...")[0] > width:
        line = line[:-1]
    return line + "..."


class KeyboardWindowSource:
    """The keyboard in the task's window: arrows drive, Del ends the episode.

    For a car (``controls="car"``): Up is gas, Down is brake, Left/Right steer. Otherwise Right/Left
    drive the first action dimension and Up/Down the second.
    """

    def __init__(self, action_space: spaces.Box, render: Callable[[], Any] | None = None,
                 controls: str = "axes", view: TaskView | None = None) -> None:
        try:
            self.view = view if view is not None else TaskView(render)
        except PlayerRunsError as err:
            raise PlayerRunsError(f"--record-input keyboard: {err}; on a machine without a display use a gamepad "
                                  "or a scripted driver") from None
        self._pygame = self.view._pygame
        self.action_space = action_space
        self.controls = controls
        self.name = "keyboard"
        self.end_label = "delete"

    def action(self, obs: Any) -> np.ndarray:
        pygame = self._pygame
        self.view.show()
        pressed = pygame.key.get_pressed()
        right_left = float(pressed[pygame.K_RIGHT]) - float(pressed[pygame.K_LEFT])
        if self.controls == "car":
            return car_action(right_left, float(pressed[pygame.K_UP]), float(pressed[pygame.K_DOWN]))
        unit = np.zeros(int(np.prod(self.action_space.shape)), np.float32)
        unit[0] = right_left
        if unit.size > 1:
            unit[1] = float(pressed[pygame.K_UP]) - float(pressed[pygame.K_DOWN])
        return _scale(unit.reshape(self.action_space.shape), self.action_space)

    def end_requested(self) -> bool:
        return self.view.delete_pressed()

    def start_episode(self) -> None:
        self.view.forget_keys()

    def start_requested(self) -> bool:
        self.view.show()
        return self.view.start_requested()

    def close(self) -> None:
        self.view.close()


def controls_help(source: InputSource, controls: str) -> str:
    """The line of the window's panel that says which keys or pad controls drive, for ``source``."""
    if isinstance(source, GamepadSource):
        drive = ("left stick steers, right trigger gas, left trigger brake" if controls == "car"
                 else "the sticks move the action's dimensions")
        return f"Pad: {drive}; button {source.end_button} or Del ends it"
    drive = "Up gas, Down brake, Left/Right steer" if controls == "car" else "arrows move the action"
    return f"Keys: {drive}; Del ends the episode"
