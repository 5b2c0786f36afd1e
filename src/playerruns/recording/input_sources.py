"""Where a recorded action comes from: a person's gamepad or keyboard, or a scripted driver.

Every source maps its input onto the environment's Box action space and may ask to end the
episode (the gamepad's Back/Select button, Del in the keyboard window). TrackMania's source, which
reads the game's own telemetry, lives with the TrackMania interfaces in ``tmrl_recording``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from playerruns.errors import PlayerRunsError

Policy = Callable[[Any], Any]  # observation -> action (a scripted stand-in for a person)

DEFAULT_END_BUTTON = 6  # Back/Select on XInput-style pads under SDL
DEADZONE = 0.08


class InputSource(Protocol):
    name: str

    def action(self, obs: Any) -> np.ndarray: ...

    def end_requested(self) -> bool: ...

    def close(self) -> None: ...


def _scale(unit: np.ndarray, space: Any) -> np.ndarray:
    """Maps values in [-1, 1] onto the Box ``space``."""
    low, high = np.asarray(space.low, np.float32), np.asarray(space.high, np.float32)
    return (low + (np.clip(unit, -1.0, 1.0) + 1.0) * 0.5 * (high - low)).astype(np.float32)


class ScriptedSource:
    """Any callable policy ``obs -> action`` standing in for the person (tests, demos)."""

    def __init__(self, policy: Policy, action_space: Any, name: str | None = None) -> None:
        self.policy = policy
        self.action_space = action_space
        self.name = name or f"scripted:{getattr(policy, '__qualname__', type(policy).__name__)}"

    def action(self, obs: Any) -> np.ndarray:
        act = np.asarray(self.policy(obs), dtype=np.float32).reshape(self.action_space.shape)
        return np.clip(act, self.action_space.low, self.action_space.high).astype(np.float32)

    def end_requested(self) -> bool:
        return False

    def close(self) -> None:
        pass


def _pygame() -> Any:
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    try:
        import pygame
    except ImportError as err:
        raise PlayerRunsError(f"--record-input: pygame is not installed ({err}); pip install pygame") from None
    return pygame


class GamepadSource:
    """A physical gamepad through SDL (pygame): stick axes map onto the action dimensions in order."""

    def __init__(self, action_space: Any, *, index: int = 0, end_button: int = DEFAULT_END_BUTTON) -> None:
        pygame = self._pygame = _pygame()
        pygame.joystick.init()
        count = pygame.joystick.get_count()
        if count <= index:
            raise PlayerRunsError(f"--record-input gamepad: no gamepad found (SDL sees {count}); connect one, or use "
                                  "--record-input keyboard")
        self.pad = pygame.joystick.Joystick(index)
        self.pad.init()
        self.action_space = action_space
        self.end_button = end_button
        self.name = f"gamepad:{self.pad.get_name()}"

    def action(self, obs: Any) -> np.ndarray:
        self._pygame.event.pump()
        n = int(np.prod(self.action_space.shape))
        axes = [self.pad.get_axis(i) if i < self.pad.get_numaxes() else 0.0 for i in range(n)]
        unit = np.array([0.0 if abs(a) < DEADZONE else a for a in axes], np.float32).reshape(self.action_space.shape)
        return _scale(unit, self.action_space)

    def end_requested(self) -> bool:
        self._pygame.event.pump()
        return self.end_button < self.pad.get_numbuttons() and bool(self.pad.get_button(self.end_button))

    def close(self) -> None:
        self.pad.quit()


class KeyboardWindowSource:
    """The keyboard in a small window (arrows drive, Del ends the episode), showing the environment."""

    def __init__(self, action_space: Any, render: Callable[[], Any] | None = None) -> None:
        pygame = self._pygame = _pygame()
        try:
            pygame.display.init()
            self.screen = pygame.display.set_mode((600, 400))
        except pygame.error as err:
            raise PlayerRunsError(f"--record-input keyboard: cannot open a window ({err}); on a machine without a "
                                  "display use a gamepad or a scripted driver") from None
        pygame.display.set_caption("playerruns: arrows drive, Del ends the episode")
        self.action_space = action_space
        self.render = render
        self._end = False
        self.name = "keyboard"

    def action(self, obs: Any) -> np.ndarray:
        pygame = self._pygame
        for event in pygame.event.get():
            if event.type == pygame.KEYDOWN and event.key == pygame.K_DELETE:
                self._end = True
        pressed = pygame.key.get_pressed()
        unit = np.zeros(int(np.prod(self.action_space.shape)), np.float32)
        unit[0] = float(pressed[pygame.K_RIGHT]) - float(pressed[pygame.K_LEFT])
        if unit.size > 1:
            unit[1] = float(pressed[pygame.K_UP]) - float(pressed[pygame.K_DOWN])
        self._draw()
        return _scale(unit.reshape(self.action_space.shape), self.action_space)

    def _draw(self) -> None:
        if self.render is None:
            return
        frame = self.render()
        if frame is None:
            return
        pygame = self._pygame
        surface = pygame.surfarray.make_surface(np.transpose(np.asarray(frame), (1, 0, 2)))
        self.screen.blit(pygame.transform.scale(surface, self.screen.get_size()), (0, 0))
        pygame.display.flip()

    def end_requested(self) -> bool:
        ended, self._end = self._end, False
        return ended

    def close(self) -> None:
        self._pygame.display.quit()
