"""``--record-episode``: a recording session in a terminal, for any configuration.

Picks the input source (the game's telemetry for TrackMania; a gamepad, the keyboard window or a
scripted driver for gymnasium tasks), builds the environment a rollout worker would use, then
records ``count`` episodes one run file each: Enter starts an episode, Del (terminal or global
hook) or the gamepad's end button ends it early, Ctrl+C stops the session and keeps the episode.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from playerruns.bridge.demo_path import reward_stamp
from playerruns.bridge.setup import TmrlSetup, close_env, tmrl_data_folder
from playerruns.recording.input_sources import (
    GamepadSource,
    InputSource,
    KeyboardWindowSource,
    Policy,
    ScriptedSource,
    TaskView,
    controls_help,
    controls_of,
)
from playerruns.recording.keys import GlobalDelHook, TerminalKeys
from playerruns.recording.recorder import EpisodeLost, Recorder, check_output_dir, save_episode
from playerruns.recording.trackmania import OpenPlanetSource, recording_env
from playerruns.runs.errors import PlayerRunsError
from playerruns.shipping.link import ServerLink
from playerruns.shipping.sender import RunSender, report

DEFAULT_DRIVER = "playerruns.envs.drivers:default_driver"


def load_policy(spec: str) -> Callable[[TmrlSetup], Policy]:
    """``module:callable`` -> the callable, a driver factory: it returns a policy when called with the TmrlSetup."""
    import importlib

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise PlayerRunsError(f"--record-driver: expected 'module:function', got {spec!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise PlayerRunsError(f"--record-driver: cannot load {spec!r} ({err})") from None
    return factory


def make_source(kind: str, setup: TmrlSetup, env: Any, *, driver: str | None, end_button: int) -> InputSource:
    if kind == "auto" and setup.env_id is None:
        kind = "openplanet"
    if kind == "openplanet":
        if setup.env_id is not None:
            raise PlayerRunsError("--record-input openplanet: needs a TrackMania configuration")
        return OpenPlanetSource(env)
    if setup.env_id is None:
        raise PlayerRunsError(f"--record-input {kind}: TrackMania runs are recorded from the game's telemetry "
                              "(--record-input openplanet)")
    controls = controls_of(env)
    if kind == "auto":  # a person: their gamepad, else the keyboard in a window
        try:
            return _gamepad(env, end_button, controls)
        except PlayerRunsError as no_pad:
            print(f"{no_pad}; using the keyboard in a window instead", flush=True)
            try:
                return KeyboardWindowSource(env.action_space, render=env.render, controls=controls)
            except PlayerRunsError as no_window:
                raise PlayerRunsError(f"--record-input auto: no gamepad and no window for the keyboard "
                                      f"({no_window}); use --record-input scripted for a scripted driver") from None
    if kind == "gamepad":
        return _gamepad(env, end_button, controls)
    if kind == "keyboard":
        return KeyboardWindowSource(env.action_space, render=env.render, controls=controls)
    if kind == "scripted":
        factory = load_policy(driver or DEFAULT_DRIVER)
        return ScriptedSource(factory(setup), env.action_space, name=f"scripted:{driver or 'default'}")
    raise PlayerRunsError(f"--record-input: unknown source {kind!r}")


def _gamepad(env: Any, end_button: int, controls: str) -> GamepadSource:
    """The gamepad, with a window showing the task when the task draws itself and a display exists."""
    pad = GamepadSource(env.action_space, end_button=end_button, controls=controls)
    if getattr(env, "render_mode", None) == "rgb_array":
        try:
            pad.view = TaskView(env.render)
        except PlayerRunsError as err:
            print(f"Note: no window to show the task ({err}); drive by the terminal's messages", flush=True)
    return pad


def run_recording(setup: TmrlSetup, *, count: int, output_dir: Path | None, max_samples: int | None, input_kind: str,
                  driver: str | None, step_seconds: float | None, end_button: int, auto_start: bool = False,
                  send_timeout: float | None = None) -> int:
    """``--record-episode``: records ``count`` episodes, one run file each, in the ``setup`` configuration.

    With ``send_timeout`` (``--send``), each saved run file is also sent to the trainer through the tmrl
    server while recording goes on; at the end, the recorder waits up to ``send_timeout`` seconds for
    the confirmations and exits 1 unless every episode was delivered.
    """
    folder = check_output_dir(Path(output_dir).expanduser() if output_dir else tmrl_data_folder() / "player_runs")
    env = recording_env(setup, render=input_kind in ("keyboard", "auto", "gamepad"))
    source = make_source(input_kind, setup, env, driver=driver, end_button=end_button)
    if step_seconds is None:  # people need a real-time pace; rtgym paces TrackMania itself
        step_seconds = 0.0 if (setup.env_id is None or isinstance(source, ScriptedSource)) else 0.05
    default_action = getattr(env.unwrapped, "default_action", None)
    say = partial(print, flush=True)
    keys = TerminalKeys().start()
    hook = GlobalDelHook().start()
    panel = WindowPanel.of(source, env, count=count, max_samples=max_samples or setup.max_samples_per_episode)
    recorder = Recorder(env, source, interface=setup.interface,
                        max_samples=max_samples or setup.max_samples_per_episode,
                        obs_preprocessor=setup.obs_preprocessor, default_action=default_action,
                        step_seconds=step_seconds,
                        stop_requested=lambda: keys.delete_pressed() | hook.delete_pressed(),
                        on_start=lambda: say("Recording: drive; Del ends the episode early."),
                        metadata=run_metadata(setup, step_seconds),
                        on_step=panel.driving if panel is not None else None)
    saved: list[Path] = []
    lost: EpisodeLost | None = None
    sender = None
    if send_timeout is not None:
        link = ServerLink.from_config()
        sender = RunSender(link, say=say).start_background()
        say(f"Each saved episode is sent to the trainer through the tmrl server at {link.where}.")
    try:
        start = "Each episode starts at once" if auto_start else "Press Enter to start each episode"
        say(f"Recording {count} episode(s) into {folder} with input {source.name}. {start}; "
            "Del ends it early; Ctrl+C stops (the episode in progress is saved).")
        if not hook.available:
            pad = f"the gamepad's end button (button {end_button}), " if isinstance(source, GamepadSource) else ""
            here = "this terminal and the task's window" if getattr(source, "view", None) is not None \
                else "this terminal"
            say(f"Note: Del works only in {here}, not in the game window: no global key hook "
                f"({hook.unavailable_reason}). Alternatives: press Del there, {pad}or let the episode end at "
                "its limit.")
        for k in range(1, count + 1):
            keys.clear()  # forget keys pressed while the last episode was saved, before asking
            if panel is not None:
                panel.waiting(k)
            if auto_start:
                say(f"Episode {k} of {count}: starting.")
            else:
                here = " (or Enter, or just start driving, in the task's window)" if panel is not None else ""
                say(f"Episode {k} of {count}: press Enter to start.{here}")
                try:
                    keys.wait_for_enter(also=source.start_requested if panel is not None else None)
                except (KeyboardInterrupt, EOFError):
                    say("Stopped before the episode started.")
                    break
            if panel is not None:
                panel.episode = k
            outcome = recorder.record_episode()
            prompt = _Prompt(keys)
            if outcome.steps == 0:
                say("Nothing recorded in this episode.")
            else:
                try:
                    path = save_episode(outcome, folder, ask=prompt.ask, say=say)
                except EpisodeLost as err:
                    lost = err
                    break  # nothing can be written anywhere: the next episodes would be lost too
                if path is not None:
                    saved.append(path)
                    say(f"Saved {path}: {outcome.steps} steps, return {outcome.episode_return:.2f}, "
                        f"{outcome.duration:.1f}s, ended by {outcome.ended_by}")
                    if panel is not None:
                        panel.last = (f"Saved {path.name}: {outcome.steps} steps, return "
                                      f"{outcome.episode_return:.1f}, ended by {outcome.ended_by}")
                    if sender is not None:
                        sender.add(path)
            if outcome.ended_by == "interrupt" or prompt.interrupted:
                say("Recording stopped (Ctrl+C).")
                break
    finally:
        keys.stop()
        hook.stop()
        source.close()
        close_env(env)
    say(closing_line(saved, folder))
    if lost is not None:
        print(f"playerruns: error: {lost}", file=sys.stderr, flush=True)
    if sender is None:
        return 0 if lost is None else 1
    try:
        if sender.waiting:
            say(f"Waiting up to {send_timeout:g} s for the trainer to confirm {len(sender.waiting)} run(s)")
        sender.wait(send_timeout or 0.0)
        code = report(sender, say)
        return code if lost is None else 1
    finally:
        sender.close()


class WindowPanel:
    """What the task's window says under the picture, before, during and between episodes."""

    def __init__(self, view: TaskView, env: Any, *, help_line: str, count: int, max_samples: int) -> None:
        self.view = view
        self.env = env
        self.help_line = help_line
        self.legend = str(getattr(env.unwrapped, "legend", "") or "")
        self.count = count
        self.max_samples = max_samples
        self.episode = 1
        self.last = ""  # what was saved last

    @classmethod
    def of(cls, source: InputSource, env: Any, *, count: int, max_samples: int) -> WindowPanel | None:
        view = getattr(source, "view", None)
        if not isinstance(view, TaskView):
            return None
        return cls(view, env, help_line=controls_help(source, controls_of(env)), count=count, max_samples=max_samples)

    def waiting(self, k: int) -> None:
        """Before episode ``k``: the task at its start, the keys, and how to begin."""
        self.episode = k
        try:
            self.env.reset()  # the picture of where the episode starts (it is reset again when it starts)
        except Exception:  # a task that cannot reset outside an episode: its last picture stays
            pass
        self.view.say(f"Episode {k} of {self.count}: press Enter, or just start driving", self.help_line,
                      self.legend, self.last)
        self.view.show()

    def driving(self, steps: int, info: dict[str, Any]) -> None:
        """During an episode: the steps so far and, if the task says it, how far round the lap."""
        lap = info.get("lap_fraction")
        where = f", lap {100 * lap:.0f} % done" if isinstance(lap, int | float) else ""
        self.view.say(f"Recording episode {self.episode} of {self.count}: step {steps} of {self.max_samples}{where}",
                      self.help_line, self.legend)


def closing_line(saved: list[Path], folder: Path) -> str:
    """The session's last line: where every run file went (never a folder that was not written)."""
    if not saved:
        return "Done: 0 run file(s)"
    if all(path.parent == folder for path in saved):
        return f"Done: {len(saved)} run file(s) in {folder}"
    return f"Done: {len(saved)} run file(s): {', '.join(str(path) for path in saved)}"


def run_metadata(setup: TmrlSetup, step_seconds: float) -> dict[str, Any]:
    """What every recorded run's metadata says about how it was recorded (and, for TrackMania, what its rewards
    were computed from: see ``playerruns.tools.rewards``); the take-over's run files say it too."""
    metadata: dict[str, Any] = {"step_seconds": step_seconds, "env_id": setup.env_id}
    stamp = reward_stamp(setup)
    if stamp is not None:
        metadata["reward_stamp"] = stamp
    return metadata


class _Prompt:
    """The save prompt, asked with the terminal's key thread paused (``TerminalKeys.ask``). Ctrl+C at
    the prompt counts as the end of input (the episode goes to a fallback folder) and stops the session."""

    def __init__(self, keys: TerminalKeys) -> None:
        self.keys = keys
        self.interrupted = False

    def ask(self, prompt: str) -> str:
        try:
            return self.keys.ask(prompt)
        except KeyboardInterrupt:
            self.interrupted = True
            print(flush=True)  # the prompt's line is left unfinished
            raise EOFError("Ctrl+C") from None
