"""The recorder keeps every episode (issue 20, item 4): a save that fails on a full disk asks for
another folder, with the terminal's key thread paused so that every character typed reaches the
prompt; at the end of input, or when no folder given can be written, the episode goes to a fallback
folder named in the output; the closing line names the files actually written.

The full disk is a real one: a 64 KiB tmpfs filled up (mounting needs root; without it the session
tests are skipped). The other kind of folder that cannot be written is one under a regular file."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from playerruns.recording.keys import TerminalKeys
from playerruns.recording.recorder import UNSAVED_FOLDER, EpisodeLost, EpisodeOutcome, save_episode
from playerruns.runs.runfile import RunFile, load_run
from tests.helpers import ENTER, REPO, Terminal, fill_up, make_home, read_until_seen, small_disk, subprocess_env

PROMPT_END = "'discard': drop it): "
MAX_SAMPLES = 20


@pytest.fixture
def full_disk(tmp_path):
    """A folder on a 64 KiB tmpfs holding one file that fills it: writing a run file there fails with ENOSPC."""
    with small_disk(tmp_path / "full-disk") as mount_point:
        fill_up(mount_point)
        yield mount_point


def _blocked(tmp_path: Path) -> Path:
    """A folder that can never be created: its parent is a regular file (root can write anywhere else)."""
    blocker = tmp_path / "a-regular-file"
    blocker.write_text("not a folder")
    return blocker / "runs"


def _record_argv(out_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "playerruns", "--record-episode", "--record-input", "scripted",
            "--record-driver", "playerruns.envs.drivers:sine_driver",
            "--record-episode-max-samples", str(MAX_SAMPLES), "--record-episode-output-dir", str(out_dir), *extra]


def _type_slowly(term: Terminal, text: str) -> None:
    """Types ``text`` a key at a time, as a person does, leaving the key thread time to read each one."""
    for ch in text:
        term.press(ch)
        time.sleep(0.05)
    term.press(ENTER)


def _done_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.startswith("Done:")]
    assert len(lines) == 1, output
    return lines[0]


def _only_run_in(folder: Path) -> Path:
    files = list(folder.glob("*.pkl"))
    assert len(files) == 1, (folder, files)
    assert len(load_run(files[0]).samples) == MAX_SAMPLES + 1  # every sample kept: the reset sample and each step
    return files[0]


@pytest.mark.parametrize("stdin", ["at its end", "closed"])
def test_end_of_input_saves_the_episode_to_the_fallback_folder(tmp_path, full_disk, stdin):
    home = make_home(tmp_path, interface="GYM:Pendulum-v1")
    out_dir = full_disk / "runs"
    preexec = (lambda: os.close(0)) if stdin == "closed" else None
    result = subprocess.run(_record_argv(out_dir, "--record-auto-start"), env=subprocess_env(home),
                            stdin=subprocess.DEVNULL, preexec_fn=preexec, capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    out = result.stdout
    assert out.count("Could not save") == 1, out  # the full disk, once: no prompt loop
    assert "No folder given (" in out
    fallback = home / UNSAVED_FOLDER
    saved = _only_run_in(fallback)
    assert f"The episode was saved to the fallback folder {fallback}: move it to where you keep your runs." in out
    assert f"Saved {saved}: {MAX_SAMPLES} steps" in out
    assert _done_line(out) == f"Done: 1 run file(s): {saved}"
    assert not list(out_dir.glob("*.pkl")) and not list(out_dir.glob(".*.partial"))


@pytest.mark.slow
def test_a_folder_typed_in_a_terminal_reaches_the_prompt_whole(tmp_path, full_disk):
    home = make_home(tmp_path, interface="GYM:Pendulum-v1")
    out_dir = full_disk / "runs"
    chosen = [tmp_path / "first choice" / "runs", tmp_path / "second choice"]
    # no --record-auto-start: the key thread reads Enter from this terminal before and after each prompt
    term = Terminal(_record_argv(out_dir, "--record-episode-count", "2"), subprocess_env(home, TERM="xterm"))
    for k, folder in enumerate(chosen, start=1):
        term.read_until(f"Episode {k} of 2: press Enter to start.")
        term.press(ENTER)
        read_until_seen(term, PROMPT_END, count=k)
        # typed relative to the recorder's working directory (the repository): shown and used as a full path
        _type_slowly(term, os.path.relpath(folder, REPO))
        read_until_seen(term, f"Saving to {folder}\r\n", count=1)
    assert term.wait() == 0, term.output
    saved = [_only_run_in(folder) for folder in chosen]
    out = term.output
    assert out.count("Could not save") == 2, out  # the full disk, once per episode
    for path in saved:
        assert f"Saved {path}: {MAX_SAMPLES} steps" in out
    assert _done_line(out) == f"Done: 2 run file(s): {saved[0]}, {saved[1]}"


@pytest.mark.slow
def test_when_no_folder_given_can_be_written_the_fallback_keeps_the_episode(tmp_path, full_disk):
    home = make_home(tmp_path, interface="GYM:Pendulum-v1")
    (home / UNSAVED_FOLDER).write_text("a regular file: the home folder's fallback cannot be created")
    temp = tmp_path / "system-temp"
    temp.mkdir()
    out_dir = full_disk / "runs"
    blocked = _blocked(tmp_path)
    term = Terminal(_record_argv(out_dir, "--record-auto-start"), subprocess_env(home, TERM="xterm", TMPDIR=str(temp)))
    for k, answer in enumerate([str(out_dir), "", str(blocked)], start=1):  # the full folder, retry, another one
        read_until_seen(term, PROMPT_END, count=k)
        _type_slowly(term, answer)
    assert term.wait() == 0, term.output
    out = term.output
    assert "No folder given could be written (3 tries)." in out
    assert out.count("Could not save") == 3 and out.count("Cannot create") == 2, out  # bounded: 3 tries, 2 fallbacks
    assert f"Cannot create {blocked}" in out and f"Cannot create {home / UNSAVED_FOLDER}" in out
    assert out.count(PROMPT_END) == 3
    fallback = temp / UNSAVED_FOLDER
    saved = _only_run_in(fallback)
    assert f"The episode was saved to the fallback folder {fallback}" in out
    assert _done_line(out) == f"Done: 1 run file(s): {saved}"
    assert not blocked.parent.is_dir() and not list(out_dir.glob("*.pkl"))


def _outcome(lidar_setup, rng) -> EpisodeOutcome:
    from playerruns.tools.synthetic import synthetic_run

    run = synthetic_run(lidar_setup, steps=5, rng=rng)
    return EpisodeOutcome(run=RunFile(samples=run.samples, metadata=run.metadata), steps=5, episode_return=0.0,
                          duration=1.0, ended_by="limit")


def test_the_prompt_is_asked_a_bounded_number_of_times(tmp_path, lidar_setup, rng):
    outcome = _outcome(lidar_setup, rng)
    blocked = _blocked(tmp_path)
    asked: list[str] = []
    said: list[str] = []

    def enter_forever(prompt: str) -> str:  # what a prompt reading an exhausted input used to get
        asked.append(prompt)
        return ""

    path = save_episode(outcome, blocked, ask=enter_forever, say=said.append,
                        fallbacks=[_blocked(tmp_path) / "also", tmp_path / "fallback"])
    assert len(asked) == 3
    assert path is not None and path == tmp_path / "fallback" / f"{outcome.run.run_id}.pkl" and path.is_absolute()
    assert len(load_run(path).samples) == len(outcome.run.samples)
    assert said[-1] == f"The episode was saved to the fallback folder {tmp_path / 'fallback'}: move it to where " \
                       "you keep your runs."


def test_a_relative_answer_is_shown_and_used_as_a_full_path(tmp_path, lidar_setup, rng, monkeypatch):
    outcome = _outcome(lidar_setup, rng)
    monkeypatch.chdir(tmp_path)
    said: list[str] = []
    path = save_episode(outcome, _blocked(tmp_path), ask=lambda prompt: "relative/runs", say=said.append,
                        fallbacks=[])
    assert path == tmp_path / "relative" / "runs" / f"{outcome.run.run_id}.pkl"
    assert f"Saving to {tmp_path / 'relative' / 'runs'}" in said


def test_nothing_writable_is_one_clear_error_naming_the_lost_episode(tmp_path, lidar_setup, rng):
    outcome = _outcome(lidar_setup, rng)
    blocked = _blocked(tmp_path)
    places = [blocked.parent / "home-fallback", blocked.parent / "temp-fallback"]
    said: list[str] = []

    def end_of_input(prompt: str) -> str:
        raise EOFError("end of input")

    with pytest.raises(EpisodeLost) as lost:
        save_episode(outcome, blocked, ask=end_of_input, say=said.append, fallbacks=places)
    message = str(lost.value)
    assert "\n" not in message and message.startswith("episode lost:")
    assert f"{len(outcome.run.samples)} samples (run {outcome.run.run_id})" in message
    assert all(str(p) in message for p in [blocked, *places])
    assert said.count("No folder given (end of input).") == 1 and len(said) == 4  # the folder, no answer, 2 fallbacks


def test_a_prompt_gets_every_character_while_the_key_thread_runs(capsys):
    """On a pipe (no terminal): Enter reaches the key thread before and after a prompt, and the
    answer typed a character at a time reaches the prompt whole."""
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "r") as stream:
        keys = TerminalKeys(stream).start()
        try:
            os.write(write_end, b"\n")
            keys.wait_for_enter()
            answer = "/some/folder with spaces/x"

            def type_answer() -> None:
                time.sleep(0.3)  # the prompt is already waiting
                for ch in answer + "\n":
                    os.write(write_end, ch.encode())
                    time.sleep(0.02)

            typist = threading.Thread(target=type_answer)
            typist.start()
            assert keys.ask("Folder? ") == answer
            typist.join()
            assert keys.events.empty()  # the answer's Enter went to the prompt, not the key thread
            os.write(write_end, b"\n")
            keys.wait_for_enter()  # the key thread reads again
            os.close(write_end)
            with pytest.raises(EOFError):
                keys.ask("Folder? ")  # the end of input ends the prompt at once
        finally:
            keys.stop()
    assert capsys.readouterr().out == "Folder? Folder? \n"
