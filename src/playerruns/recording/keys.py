"""Keys a person presses: Enter from the terminal, Del from the terminal or a global hook, and a take-over key held
anywhere (``GlobalKeyHold``).

Del must work while the game window has the focus, which needs a global key hook (pynput: Windows
and Linux/X11). Where none is possible (headless, Wayland, no permission) the recorder says so once
and Del still works in the terminal, as does the gamepad's end button.
"""

from __future__ import annotations

import logging
import os
import queue
import select
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from playerruns.runs.errors import PlayerRunsError

log = logging.getLogger(__name__)

ENTER = "enter"
DELETE = "delete"
_DEL_SEQUENCES = ("\x1b[3~",)


class TerminalKeys:
    """Reads Enter and Del from the terminal in a background thread (cbreak mode: Ctrl+C still works).

    A prompt (``ask``) pauses the thread and gives the terminal back its usual line mode, so that
    every character typed at the prompt reaches the prompt and none is taken for a key.
    """

    POLL_SECONDS = 0.1  # how long the thread waits for input before looking whether it must pause

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdin
        self.events: queue.Queue[str] = queue.Queue()
        self._restore: Any = None  # (fd, the terminal's attributes before cbreak mode)
        self._fd: int | None = None
        self._lock = threading.Lock()  # held by the thread while it waits for or reads input
        self._paused = threading.Event()
        self._stopped = threading.Event()
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
        """Ends the thread (within POLL_SECONDS) and gives the terminal back the mode it had."""
        self._stopped.set()
        if os.name == "posix" and self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)
        self._line_mode()
        self._restore = None

    def _line_mode(self) -> None:
        if self._restore is not None:
            import termios

            fd, attrs = self._restore
            termios.tcsetattr(fd, termios.TCSADRAIN, attrs)

    def _key_mode(self) -> None:
        if self._restore is not None:
            import termios
            import tty

            tty.setcbreak(self._restore[0], termios.TCSADRAIN)  # TCSADRAIN: keys typed ahead are kept

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Within it, the thread reads nothing and the terminal is in its usual line mode (echo, editing)."""
        self._paused.set()
        with self._lock:  # a wait for input in progress ends within POLL_SECONDS
            self._line_mode()
        try:
            yield
        finally:
            if not self._stopped.is_set():
                self._key_mode()
            self._paused.clear()

    def ask(self, prompt: str) -> str:
        """Prints ``prompt`` and returns the line typed (without its end), the key thread paused.

        Raises EOFError at the end of input (Ctrl+D, a closed or exhausted standard input).
        """
        with self.paused():
            print(prompt, end="", flush=True)
            try:
                return self._read_line()
            except EOFError:
                print(flush=True)  # end the prompt's line: nothing typed ended it
                raise

    def _read_line(self) -> str:
        if self._fd is None:
            raise EOFError("no standard input")
        if os.name == "nt":  # pragma: no cover - Windows only
            line = sys.stdin.readline()
            if not line:
                raise EOFError("end of input")
            return line.rstrip("\r\n")
        data = bytearray()
        while True:  # a byte at a time: nothing after the line is taken from the key thread
            try:
                byte = os.read(self._fd, 1)
            except OSError:
                byte = b""  # the terminal went away
            if not byte:
                if data:
                    break
                raise EOFError("end of input")
            if byte == b"\n":
                break
            data += byte
        return data.decode(errors="replace").rstrip("\r")

    def _read(self) -> None:
        if self._fd is None:
            return  # no input: as at its end
        if os.name == "nt":  # pragma: no cover - Windows only
            self._read_windows(self._fd)
            return
        pending = ""
        while not self._stopped.is_set():
            data = self._poll(self._fd)
            if data is None:
                continue
            if not data:
                return  # end of input
            pending = self._keys_in(pending + data.decode(errors="ignore"))

    def _poll(self, fd: int) -> bytes | None:
        """What the input holds within POLL_SECONDS: None if nothing (or paused for a prompt), b"" at its end."""
        if self._paused.is_set():
            self._stopped.wait(self.POLL_SECONDS / 2)
            return None
        with self._lock:
            if self._paused.is_set():
                return None
            try:
                ready, _, _ = select.select([fd], [], [], self.POLL_SECONDS)
                return os.read(fd, 64) if ready else None
            except (OSError, ValueError):
                return b""

    def _keys_in(self, pending: str) -> str:
        """Queues the Enter and Del keys in ``pending``; returns the start of a Del sequence cut short."""
        for seq in _DEL_SEQUENCES:
            while seq in pending:
                pending = pending.replace(seq, "", 1)
                self.events.put(DELETE)
        for ch in pending:
            if ch in "\r\n":
                self.events.put(ENTER)
        return pending[-3:] if pending.endswith(("\x1b", "\x1b[", "\x1b[3")) else ""

    def _read_windows(self, fd: int) -> None:  # pragma: no cover - Windows only
        import msvcrt
        import time

        if not os.isatty(fd):  # a pipe cannot be polled on Windows: read it as it comes
            pending = ""
            while data := os.read(fd, 64):
                pending = self._keys_in(pending + data.decode(errors="ignore"))
            return
        while not self._stopped.is_set():
            if self._paused.is_set() or not msvcrt.kbhit():  # type: ignore[attr-defined]
                time.sleep(self.POLL_SECONDS / 2)
                continue
            ch = msvcrt.getwch()  # type: ignore[attr-defined]
            if ch in "\r\n":
                self.events.put(ENTER)
            elif ch in ("\x00", "\xe0") and msvcrt.getwch() == "S":  # type: ignore[attr-defined]  # the Del key's scan code
                self.events.put(DELETE)

    def clear(self) -> None:
        while not self.events.empty():
            self.events.get_nowait()

    def wait_for_enter(self, also: Callable[[], bool] | None = None) -> None:
        """Blocks until Enter, or until ``also()`` (polled 20 times a second: a window that starts the episode
        and redraws meanwhile) is true; raises EOFError when the terminal input ends and nothing else can
        start it."""
        while True:
            try:
                event = self.events.get(timeout=0.05 if also is not None else 0.2)
            except queue.Empty:
                if also is not None:
                    if also():
                        return
                    continue
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


def _global_keyboard() -> tuple[Any, str | None]:
    """pynput's keyboard module where a global key hook is possible, else (None, why not)."""
    if os.name == "posix" and sys.platform != "darwin" and not os.environ.get("DISPLAY"):
        return None, "no X display" + (" (Wayland session)" if os.environ.get("WAYLAND_DISPLAY") else "")
    try:
        from pynput import keyboard
    except Exception as err:  # pynput raises ImportError with the platform's reason
        return None, str(err).splitlines()[0]
    return keyboard, None


def _listen(keyboard: Any, **callbacks: Any) -> tuple[Any, str | None]:
    """A started pynput listener with ``callbacks``, or (None, why it could not start)."""
    try:
        listener = keyboard.Listener(**callbacks)
        listener.start()
    except Exception as err:
        return None, str(err).splitlines()[0] if str(err) else type(err).__name__
    ready = threading.Thread(target=listener.wait, daemon=True)  # pynput's wait() has no timeout
    ready.start()
    ready.join(timeout=5.0)
    if ready.is_alive() and not listener.is_alive():
        return None, "the key hook stopped as it started"
    return listener, None  # hooked (or still hooking, on a slow machine)


class GlobalDelHook:
    """Del pressed anywhere (the game window has the focus), through pynput where it can hook keys."""

    def __init__(self) -> None:
        self._pressed = threading.Event()
        self._listener: Any = None
        self.unavailable_reason: str | None = None

    def start(self) -> GlobalDelHook:
        keyboard, self.unavailable_reason = _global_keyboard()
        if keyboard is None:
            return self

        def on_press(key: Any) -> None:
            if key == keyboard.Key.delete:
                self._pressed.set()

        self._listener, self.unavailable_reason = _listen(keyboard, on_press=on_press)
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


# pygame's names of the keys that pynput names otherwise (a single character is its own name in both)
_PYNPUT_NAMES = {"left shift": "shift_l", "right shift": "shift_r", "left ctrl": "ctrl_l", "right ctrl": "ctrl_r",
                 "left alt": "alt_l", "right alt": "alt_r", "caps lock": "caps_lock", "page up": "page_up",
                 "page down": "page_down", "return": "enter", "escape": "esc", "scroll lock": "scroll_lock",
                 "num lock": "num_lock", "print screen": "print_screen", "left meta": "cmd_l",
                 "right meta": "cmd_r"}


class GlobalKeyHold:
    """Whether one key is held down now, wherever the focus is (the game's window): a global hook through pynput.

    ``key`` is a key's name as pygame spells it ("space", "right ctrl", "x", "f9"). Raises PlayerRunsError when the
    name is no key, or when no global hook is possible here (headless, Wayland, no permission), saying why.
    """

    def __init__(self, key: str) -> None:
        keyboard, why = _global_keyboard()
        if keyboard is None:
            raise PlayerRunsError(f"no global key hook ({why})")
        self.key = self._pynput_key(keyboard, key)
        self._held = threading.Event()
        self._listener, why = _listen(keyboard, on_press=self._press, on_release=self._release)
        if self._listener is None:
            raise PlayerRunsError(f"no global key hook ({why})")

    @staticmethod
    def _pynput_key(keyboard: Any, name: str) -> Any:
        text = name.strip().lower()
        if len(text) == 1:
            return keyboard.KeyCode.from_char(text)
        member = getattr(keyboard.Key, _PYNPUT_NAMES.get(text, text.replace(" ", "_")), None)
        if member is None:
            raise PlayerRunsError(f"{name!r} is not a key name pynput knows (such as 'space', 'right ctrl', 'x', "
                                  "'f9')")
        return member

    def _matches(self, key: Any) -> bool:
        if key == self.key:
            return True
        char = getattr(key, "char", None)  # a letter typed with Shift arrives upper-case
        return isinstance(char, str) and char.lower() == getattr(self.key, "char", None)

    def _press(self, key: Any) -> None:
        if self._matches(key):
            self._held.set()

    def _release(self, key: Any) -> None:
        if self._matches(key):
            self._held.clear()

    def held(self) -> bool:
        return self._held.is_set()

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
