"""Helpers for tests that run playerruns and tmrl in subprocesses, each with a HOME of its own."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from playerruns.bridge.setup import init_tmrl_data
from playerruns.runs.demos import DEMO_FLAG, RUN_ID_KEY
from playerruns.runs.runfile import load_run
from playerruns.shipping.link import ServerLink, server_reachable
from playerruns.tools.synthetic import synthetic_run
from playerruns.trainer.sampling import DemoSchedule
from playerruns.trainer.statistics import last_record, read_statistics, statistics_file


def make_home(tmp_path: Path, interface: str = "TM20LIDAR", **overrides) -> Path:
    """A HOME holding a fresh TmrlData for subprocesses."""
    home = tmp_path / "home"
    init_tmrl_data(home, interface=interface, overrides={"MEMORY_SIZE": 5000, "BATCH_SIZE": 32, **overrides})
    return home


def run_cli(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m playerruns ARGS`` with HOME=home, as a user would run it."""
    return subprocess.run([sys.executable, "-m", "playerruns", *args], env=subprocess_env(home),
                          capture_output=True, text=True, timeout=timeout)


REPO = Path(__file__).resolve().parents[1]
PROGRAMS = Path(__file__).resolve().parent / "programs"


def subprocess_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a child process: HOME=home, the repository importable (``tests.*`` modules),
    and no display, so that nothing depends on whether the machine running the tests has one."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    path = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return {**env, "HOME": str(home), "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **extra}


def run_program(home: Path, name: str, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    """``python tests/programs/NAME ARGS`` with HOME=home (and ``env`` over the environment)."""
    return subprocess.run([sys.executable, str(PROGRAMS / name), *args], env=subprocess_env(home, **env),
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


def program_json(result: subprocess.CompletedProcess) -> Any:
    """The last JSON line a test program printed (a worker's background threads may log after it)."""
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith(("{", "["))]
    assert lines, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(lines[-1])


class Roles:
    """``python -m playerruns`` processes of one HOME (server, trainer, worker, senders), each logging to
    a file of its own; ``stop_all`` kills whatever is left (each runs in a session of its own)."""

    def __init__(self, home: Path, logs: Path) -> None:
        self.home = home
        self.logs = logs
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *args: str, home: Path | None = None, env: dict[str, str] | None = None
              ) -> subprocess.Popen:
        log = self.logs / f"{name}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "playerruns", *args],
                                    env=subprocess_env(home or self.home, **(env or {})),
                                    cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
        proc.wait()

    def wait_for(self, predicate, timeout: float, what: str, watch: tuple[str, ...] = ()) -> None:
        """Polls ``predicate`` until true; fails naming ``what`` on timeout or when a watched role exits."""
        import pytest

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            for name in watch:
                assert self.procs[name].poll() is None, f"{name} exited early:\n{self.log(name)[-3000:]}"
            time.sleep(0.3)
        pytest.fail(f"timed out waiting for {what}")

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.kill(name)


def kept_best_policy(home: Path, env_id: str) -> tuple[Path, Any, Any]:
    """The trainer's kept best policy in ``home`` (weights/<RUN_NAME>_best.tmod): its path, and, when the file
    exists, a gymnasium ``env_id`` environment and tmrl's actor loaded with those weights (else None, None)."""
    import gymnasium
    from tmrl.custom.custom_models import SquashedGaussianMLPActor

    from playerruns.trainer.best import best_weights_path

    run_name = json.loads((home / "TmrlData" / "config" / "config.json").read_text())["RUN_NAME"]
    weights = best_weights_path(home / "TmrlData" / "weights", run_name)
    if not weights.is_file():
        return weights, None, None
    env = gymnasium.make(env_id)
    actor = SquashedGaussianMLPActor(env.observation_space, env.action_space).load(str(weights), device="cpu")
    return weights, env, actor


def trainer_statistics(home: Path, event: str | None = None) -> list[dict]:
    """The records the trainer of ``home`` wrote to its statistics channel (default STATISTICS_PATH)."""
    config = json.loads((home / "TmrlData" / "config" / "config.json").read_text(encoding="utf-8"))
    return read_statistics(statistics_file(home / "TmrlData" / "statistics", config["RUN_NAME"]), event)


class Terminal:
    """A child process on a pseudo-terminal, driven by keystrokes like a person at a keyboard."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # child
            # a person's terminal delivers Ctrl+C; a test run started in the background (a shell's `cmd &`)
            # has SIGINT ignored, which the child would inherit through exec
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.chdir(REPO)
            os.execve(argv[0], argv, env)
        self.pid, self.fd, self.output = pid, fd, ""

    def read_until(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {text!r}; screen so far:\n{self.output}")
            ready, _, _ = select.select([self.fd], [], [], min(remaining, 0.2))
            if ready:
                try:
                    self.output += os.read(self.fd, 4096).decode(errors="replace")
                except OSError:
                    break
        return self.output

    def _drain(self, seconds: float) -> None:
        ready, _, _ = select.select([self.fd], [], [], seconds)
        if ready:
            try:
                self.output += os.read(self.fd, 4096).decode(errors="replace")
            except OSError:
                time.sleep(seconds)

    def press(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def wait(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                try:
                    self.output += os.read(self.fd, 65536).decode(errors="replace")
                except OSError:
                    pass
                return os.waitstatus_to_exitcode(status)
            self._drain(0.1)
        raise AssertionError("the recorder did not exit")


ENTER, DELETE, CTRL_C = "\r", "\x1b[3~", "\x03"


def make_runs(home: Path, folder: Path, count: int) -> list[tuple[Path, str, int]]:
    """(path, run id, samples) of ``count`` new pendulum runs in ``folder``."""
    done = run_program(home, "make_runs.py", str(folder), str(count))
    assert done.returncode == 0, done.stderr
    runs = []
    for k in range(count):
        path = folder / f"run{k}.pkl"
        run = load_run(path)
        runs.append((path, run.run_id, len(run.samples)))
    return runs


def wait_for_server(roles: Roles, home: Path, name: str) -> None:
    link = ServerLink(ip="127.0.0.1", port=config_port(home), password="", tls=False, tls_hostname="", keys_dir=None,
                      header_size=12, max_buf_len=1)
    roles.wait_for(lambda: server_reachable(link, timeout=0.5), 120, "the server to listen", (name,))


def config_port(home: Path) -> int:
    return json.loads((home / "TmrlData" / "config" / "config.json").read_text())["PORT"]


def demo_episodes(setup, rng, n_episodes, steps, demo):
    """Compressed samples of n_episodes; reward 1.0 for demos, 0.0 otherwise."""
    run = synthetic_run(setup, episodes=n_episodes, steps=steps, rng=rng)
    info = {DEMO_FLAG: True, RUN_ID_KEY: "demo"} if demo else {}
    reward = np.float32(1.0 if demo else 0.0)
    return [setup.compress((a, o, reward, t, tr, dict(info))) for a, o, _, t, tr, _ in run.samples]


def valid_counts(memory):
    """(demo, other) valid transitions, counted from the memory's data by reward."""
    offset = memory.transition_offset
    done = memory.data[memory.columns.done]
    rewards = memory.data[5]
    demo = other = 0
    for item in range(len(memory)):
        if done[item + offset - 1]:
            continue
        if rewards[item + offset] == 1.0:
            demo += 1
        else:
            other += 1
    return demo, other


def lidar_memory(setup, tmp_path, weight, **kwargs):
    from playerruns.trainer.memories import weighted_memory_cls

    kwargs.setdefault("dataset_path", tmp_path / "none")
    return weighted_memory_cls(setup.memory_cls, DemoSchedule(weight=weight))(nb_steps=1, device="cpu", **kwargs)


def one_line_error(result: subprocess.CompletedProcess, *fragments: str, code: int = 2) -> str:
    """The one ``playerruns: error:`` line a refused command printed on stderr (exit code ``code``),
    checked to name each of ``fragments``."""
    assert result.returncode == code, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("playerruns: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def file_digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder``, by path relative to it (to show that nothing was changed)."""
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def home_with_import(folder: Path, setup, rng, *, steps: int, **overrides) -> tuple[Path, Path, Path]:
    """A TM20LIDAR HOME in ``folder`` whose dataset already holds one synthetic run of ``steps`` steps,
    imported with the CLI: (home, its data.pkl, the imported run file)."""
    from playerruns.runs.runfile import save_run

    home = make_home(folder, **overrides)
    imported = save_run(folder / "imported.pkl", synthetic_run(setup, steps=steps, rng=rng))
    result = run_cli(home, "--import-player-runs", "--player-runs-paths", str(imported))
    assert result.returncode == 0, result.stderr
    return home, home / "TmrlData" / "dataset" / "data.pkl", imported


def local_ports() -> dict[str, int]:
    """Free ports on 127.0.0.1 for the server and the three local endpoints of a HOME's config.json."""
    from playerruns.shipping.link import free_local_ports

    port, server, trainer, worker = free_local_ports(4)
    return {"PORT": port, "LOCAL_PORT_SERVER": server, "LOCAL_PORT_TRAINER": trainer, "LOCAL_PORT_WORKER": worker}


def trainer_updates(home: Path) -> int:
    """The training steps (updates) of the trainer of ``home``, as its statistics channel last said them."""
    config = json.loads((home / "TmrlData" / "config" / "config.json").read_text(encoding="utf-8"))
    record = last_record(statistics_file(home / "TmrlData" / "statistics", config["RUN_NAME"]))
    return int(record["updates"]) if record is not None and "updates" in record else 0


def read_checkpoint(home: Path):
    """The trainer's latest checkpoint in ``home`` (tmrl pickles the training instance), or None while
    there is none or it is being written."""
    import pickle

    try:
        path = next((home / "TmrlData" / "checkpoints").glob("*_t.tcpt"))
        return pickle.loads(path.read_bytes())
    except (StopIteration, EOFError, pickle.UnpicklingError, OSError):
        return None


def read_until_seen(term: Terminal, text: str, count: int, timeout: float = 60.0) -> str:
    """Waits until ``text`` has appeared ``count`` times on ``term``'s screen; returns the screen so far."""
    deadline = time.monotonic() + timeout
    while term.output.count(text) < count:
        assert time.monotonic() < deadline, f"timed out waiting for {text!r} x{count}:\n{term.output}"
        term._drain(0.2)
    return term.output


SEEDED_STREAM = "tests: seeded driver"


def seeded_stream_driver(setup):
    """A scripted person (``--record-driver tests.helpers:seeded_stream_driver``) whose actions in [-1, 1)
    are drawn from playerruns' named stream SEEDED_STREAM: under PLAYERRUNS_SEED they are known in
    advance (``seeded_stream_actions``), unseeded they are fresh every time."""
    from playerruns.bridge.seeding import generator

    draws, shape = generator(SEEDED_STREAM), setup.action_space.shape

    def act(obs):
        return draws.uniform(-1.0, 1.0, shape).astype(np.float32)
    return act


def seeded_stream_actions(seed: int, shape: tuple[int, ...], n: int) -> np.ndarray:
    """The first ``n`` actions of ``seeded_stream_driver`` in a process seeded with ``seed`` (seeds this one)."""
    from playerruns.bridge.seeding import generator, seed_everything

    seed_everything(seed)
    draws = generator(SEEDED_STREAM)
    return np.array([draws.uniform(-1.0, 1.0, shape).astype(np.float32) for _ in range(n)])


@contextmanager
def small_disk(mount_point: Path, size: str = "64k") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``mount_point`` (created), unmounted afterwards; the test is skipped
    where it cannot be mounted (it needs root)."""
    import pytest

    mount_point.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up (needs root): {done.stderr.strip() or done.returncode}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def fill_up(folder: Path) -> None:
    """Fills the file system holding ``folder`` with one file, until a write fails with ENOSPC."""
    filler = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(filler, b"\0" * 4096):
            pass
    except OSError:  # ENOSPC: full
        pass
    finally:
        os.close(filler)
    try:
        (folder / "probe").write_bytes(b"\0" * 4096)
    except OSError:
        return
    raise AssertionError(f"{folder} is not full")


@contextmanager
def counted_worker(home, episodes: int, timeout: float = 300) -> Iterator[dict]:
    """The counts of a worker built as ``--worker`` builds it (``tests/programs/take_over_worker.py``) that ran
    ``episodes`` training episodes; it lives (its last buffers on their way) until the block ends."""
    # the program prints its counts alone on stdout; the logs of tmrl and of tlspyo's client (other processes,
    # which may write at any moment) go to a file, so that they cannot cut into that line
    log_path = Path(home) / "take-over-worker.log"
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen([sys.executable, str(PROGRAMS / "take_over_worker.py"), str(episodes)],
                                env=subprocess_env(home), stdout=subprocess.PIPE, stderr=log_file, text=True,
                                cwd=REPO, start_new_session=True)
    lines: list[str] = []

    def output() -> str:
        return "".join(lines)[-1000:] + log_path.read_text()[-3000:]
    try:
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
        reader.start()
        deadline = time.monotonic() + timeout
        while not any(line.startswith("{") for line in lines):
            assert proc.poll() is None, output()
            assert time.monotonic() < deadline, "the worker did not finish its episodes:\n" + output()
            time.sleep(0.2)
        yield json.loads(next(line for line in lines if line.startswith("{")))
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def train_round(trainer) -> None:
    """Inside a program run with ``run_program``: one round of updates on ``trainer``'s memory, drawn as tmrl's
    ``run_epoch`` draws it (``TRAINING_STEPS_PER_ROUND`` batches)."""
    for batch in trainer.memory:
        trainer.agent.train(batch)


def trainer_on_demos():
    """Inside a program run with ``run_program``: the trainer class of this HOME's config (``training_cls``), and
    a trainer built from it on 2 imported demo episodes, with 3 worker episodes appended to its memory."""
    import tmrl.config.config_constants as cfg
    from tmrl.networking import Buffer

    from playerruns.bridge.dataset import import_runs
    from playerruns.bridge.setup import load_setup
    from playerruns.runs.runfile import save_run
    from playerruns.tools.synthetic import gym_run
    from playerruns.trainer.config import parse_player_runs
    from playerruns.trainer.roles import training_cls

    setup = load_setup()
    runs = setup.dataset_path.parent / "runs"
    runs.mkdir()
    save_run(runs / "demo.pkl", gym_run(setup, episodes=2, max_steps=30, seed=1))
    import_runs(str(runs), setup)
    cls = training_cls(setup, parse_player_runs(cfg.TMRL_CONFIG))
    trainer = cls()
    worker = Buffer()
    for s in gym_run(setup, episodes=3, max_steps=30, seed=9).samples:
        worker.append_sample(s)
    return cls, trainer, worker
