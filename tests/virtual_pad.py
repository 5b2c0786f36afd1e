"""A gamepad that exists only inside this process: SDL's virtual joystick driver, through the SDL library pygame
loads (``SDL_JoystickAttachVirtual``, SDL >= 2.0.14). pygame, and so playerruns, sees it as it sees a real pad
plugged in; a test presses its buttons and moves its sticks. The machines here have no pad and no /dev/uinput,
so this is as close to a person's pad as a test gets: the whole path from SDL's joystick API up is real.

Only a process that attaches the pad sees it: use it in a test program (``tests/programs``), not across
processes.
"""

from __future__ import annotations

import ctypes
import glob
import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402  # after the prompt is hidden

GAME_CONTROLLER = 1  # SDL_JOYSTICK_TYPE_GAMECONTROLLER: SDL names its axes and buttons as an XInput pad's
AXES = 6  # left x, left y, right x, right y, left trigger, right trigger (SDL's game-controller order)
BUTTONS = 15
LEFT_X, LEFT_TRIGGER, RIGHT_TRIGGER = 0, 4, 5


def _sdl() -> ctypes.CDLL:
    """The SDL library pygame runs on (its wheel's copy, or the system's)."""
    here = os.path.dirname(pygame.__file__)
    found = sorted(glob.glob(os.path.join(here, "..", "pygame.libs", "libSDL2-*.so*"))) + sorted(
        glob.glob(os.path.join(here, ".dylibs", "libSDL2*.dylib")))
    lib = ctypes.CDLL(found[0] if found else "libSDL2-2.0.so.0")
    lib.SDL_JoystickAttachVirtual.restype = ctypes.c_int
    lib.SDL_JoystickAttachVirtual.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.SDL_JoystickOpen.restype = ctypes.c_void_p
    lib.SDL_JoystickOpen.argtypes = [ctypes.c_int]
    lib.SDL_JoystickSetVirtualButton.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint8]
    lib.SDL_JoystickSetVirtualAxis.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int16]
    lib.SDL_GetError.restype = ctypes.c_char_p
    return lib


class VirtualPad:
    """An XInput-style pad plugged into SDL (``attach``): ``press``/``release`` a button, ``stick`` and
    ``trigger`` move the axes (SDL delivers the change at the reader's next event pump)."""

    def __init__(self) -> None:
        pygame.joystick.init()
        self.sdl = _sdl()
        index = self.sdl.SDL_JoystickAttachVirtual(GAME_CONTROLLER, AXES, BUTTONS, 0)
        if index < 0:
            raise RuntimeError(f"SDL refused a virtual pad: {self.sdl.SDL_GetError().decode()}")
        self.handle = self.sdl.SDL_JoystickOpen(index)
        if not self.handle:
            raise RuntimeError(f"SDL cannot open its virtual pad: {self.sdl.SDL_GetError().decode()}")
        for trigger in (LEFT_TRIGGER, RIGHT_TRIGGER):
            self._axis(trigger, -32768)  # a released trigger rests at the low end of SDL's joystick axis

    def press(self, button: int) -> None:
        self.sdl.SDL_JoystickSetVirtualButton(self.handle, button, 1)

    def release(self, button: int) -> None:
        self.sdl.SDL_JoystickSetVirtualButton(self.handle, button, 0)

    def stick(self, x: float) -> None:
        """The left stick's x, -1 (left) to 1 (right)."""
        self._axis(LEFT_X, int(round(max(-1.0, min(1.0, x)) * 32767)))

    def trigger(self, axis: int, travel: float) -> None:
        """A trigger (``LEFT_TRIGGER``, ``RIGHT_TRIGGER``) pressed ``travel`` of its way, 0 to 1."""
        self._axis(axis, int(round(-32768 + max(0.0, min(1.0, travel)) * 65535)))

    def _axis(self, axis: int, value: int) -> None:
        self.sdl.SDL_JoystickSetVirtualAxis(self.handle, axis, value)
