"""Start and stop keys for recording: Enter from the terminal, Del from the terminal or a global hook.

Del must work while the game window has the focus, which needs a global key hook (pynput: Windows
and Linux/X11). Where none is possible (headless, Wayland, no permission) the recorder says so once
and Del still works in the terminal, as does the gamepad's end button.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
from typing import Any, TextIO

log = logging.getLogger(__name__)

ENTER = "enter"
DELETE = "delete"
_DEL_SEQUENCES = ("\x1b[3~",)


class TerminalKeys:
    """Reads Enter and Del from the terminal in a background thread (cbreak mode: Ctrl+C still works)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdin
        self.events: queue.Queue[str] = queue.Queue()
        self._restore: Any = None
        self._thread = threading.Thread(target=self._read, daemon=True, name="playerruns-terminal-keys")

    def start(self) -> TerminalKeys:
        fd: int | None
        try:
            fd = int(self.stream.fileno())
            is_tty = os.isatty(fd)
        except (AttributeError, OSError, ValueError):
            fd, is_tty = None, False
        if fd is not None and is_tty and os.name == "posix":
            import termios
            import tty

            self._restore = (fd, termios.tcgetattr(fd))
            tty.setcbreak(fd)
        self._fd = fd
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._restore is not None:
            import termios

            fd, attrs = self._restore
            termios.tcsetattr(fd, termios.TCSADRAIN, attrs)
            self._restore = None

    def _read(self) -> None:
        if os.name == "nt" and self._fd is not None and os.isatty(self._fd):
            self._read_windows_console()
            return
        pending = ""
        while True:
            try:
                chunk = os.read(self._fd, 64).decode(errors="ignore") if self._fd is not None else ""
            except OSError:
                return
            if not chunk:
                return  # end of input
            pending += chunk
            for seq in _DEL_SEQUENCES:
                while seq in pending:
                    pending = pending.replace(seq, "", 1)
                    self.events.put(DELETE)
            for ch in pending:
                if ch in "\r\n":
                    self.events.put(ENTER)
            pending = pending[-3:] if pending.endswith(("\x1b", "\x1b[", "\x1b[3")) else ""

    def _read_windows_console(self) -> None:  # pragma: no cover - Windows only
        import msvcrt

        while True:
            ch = msvcrt.getwch()  # type: ignore[attr-defined]
            if ch in "\r\n":
                self.events.put(ENTER)
            elif ch in ("\x00", "\xe0") and msvcrt.getwch() == "S":  # type: ignore[attr-defined]  # the Del key's scan code
                self.events.put(DELETE)

    def clear(self) -> None:
        while not self.events.empty():
            self.events.get_nowait()

    def wait_for_enter(self) -> None:
        """Blocks until Enter; raises EOFError when the terminal input ends."""
        while True:
            try:
                event = self.events.get(timeout=0.2)
            except queue.Empty:
                if not self._thread.is_alive():
                    raise EOFError("terminal input closed") from None
                continue
            if event == ENTER:
                return

    def delete_pressed(self) -> bool:
        """True (once) if Del was pressed since the last call."""
        pressed = False
        while not self.events.empty():
            pressed |= self.events.get_nowait() == DELETE
        return pressed


class GlobalDelHook:
    """Del pressed anywhere (the game window has the focus), through pynput where it can hook keys."""

    def __init__(self) -> None:
        self._pressed = threading.Event()
        self._listener: Any = None
        self.unavailable_reason: str | None = None

    def start(self) -> GlobalDelHook:
        if os.name == "posix" and sys.platform != "darwin" and not os.environ.get("DISPLAY"):
            self.unavailable_reason = ("no X display" + (" (Wayland session)" if os.environ.get("WAYLAND_DISPLAY")
                                                          else ""))
            return self
        try:
            from pynput import keyboard
        except Exception as err:  # pynput raises ImportError with the platform's reason
            self.unavailable_reason = str(err).splitlines()[0]
            return self

        def on_press(key: Any) -> None:
            if key == keyboard.Key.delete:
                self._pressed.set()

        try:
            self._listener = keyboard.Listener(on_press=on_press)
            self._listener.start()
        except Exception as err:
            self.unavailable_reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            self._listener = None
        return self

    @property
    def available(self) -> bool:
        return self._listener is not None

    def delete_pressed(self) -> bool:
        if self._pressed.is_set():
            self._pressed.clear()
            return True
        return False

    def clear(self) -> None:
        self._pressed.clear()

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
