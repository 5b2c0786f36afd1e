"""Soak benchmark: the real server, trainer and a worker for a long time while run files keep coming and the
trainer is killed and restarted; does online injection lose or duplicate player runs, and does the trainer
keep training?

One tmrl Server, one playerruns Trainer and one RolloutWorker (``python -m playerruns --server/--trainer/
--worker``) on 127.0.0.1, in a temporary HOME whose TmrlData trains tmrl's SAC on MiniTrack (the worker steps
``PacedMiniTrack-v0`` at 50 steps/s) with ``PLAYER_RUNS.ONLINE_INJECTION`` on, ``DEMO_INJECTION_REPEAT`` 2, an
epoch (and a checkpoint) every ``--epoch-updates`` updates, and a MEMORY_SIZE no run reaches (nothing is
trimmed, so every injected sample can be counted at the end). For ``--minutes``:

- a **feeder** drops a file into SOURCE_PATH every 2.5-5.5 s: mostly good runs (``gym_run`` on MiniTrack, each
  with its own run id), sometimes a half-written good run that is completed a few seconds later, a damaged run
  (truncated, or random bytes flipped), or a crafted hostile one (an ``info`` dict nested 100,000 deep; an
  object-dtype numpy array rebuilt by ``_reconstruct`` + BUILD whose data list is shorter than its shape, which
  segfaults plain ``pickle``; a ``posix.system`` call), the hostile parts written opcode by opcode; and now
  and then it sends a good run through the server with ``python -m playerruns --send-player-runs``. Every good
  run id fed is recorded with its sample count.
- a **killer** SIGKILLs the trainer's process group ``--kills`` times at random moments, one of them right
  after the statistics file shows an injection from SOURCE_PATH and another right after a sent run's injection
  (with three kills or more), before the next checkpoint, and restarts the trainer. A trainer that exits by
  itself, or whose log shows a ``Traceback``, is a death that was not ours (it is restarted too).

Then feeding stops, the trainer gets time to take the last files and to write one more checkpoint, every role
is stopped (SIGINT, then SIGKILL), and the final checkpoint (tmrl pickles the training instance; we wrote it,
so plain ``pickle`` loads it, in a subprocess with the soak's HOME) says how many demo samples of each good
run id the replay memory holds (``info["player_run_id"]``). Printed, and written as JSON to ``--out``:

- samples lost (target 0): expected minus present over the good runs with fewer than expected, expected being
  ``len(samples) * DEMO_INJECTION_REPEAT``;
- runs injected twice (target 0): good run ids with more samples than expected;
- trainer deaths not caused by the kill (target 0);
- the trainer's resident memory (VmRSS of its main process) at start, at the end and at its peak;
- the longest stall between training steps: the longest time the statistics records (``progress`` and
  ``epoch``) showed the same ``updates``, within each trainer's life from its first training step (the downtime
  after a kill is not a stall; the restart times, kill to first record and kill to training again, are
  reported separately), and the longest gap between any two records;
- what became of the damaged and crafted files, the senders' outcomes, the checkpoint save times.

``--consume on|off|both`` sets CONSUME_ON_READ (``both``: one soak after the other, ``--minutes`` each).

    python benchmarks/soak.py --minutes 30 --kills 4 --consume both --out benchmarks/results/soak-2026-12-01.json
    python benchmarks/soak.py --minutes 3 --kills 1      # a short try (about 5 minutes in all)
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
RUN_NAME = "playerruns_soak"
WORKER_ENV = "playerruns.builtin.envs:PacedMiniTrack-v0"  # what the worker steps (and the trainer's config)
MAKER_ENV = "playerruns.envs.minitrack:MiniTrack-v0"  # the same task unpaced: the feeder drives it for its runs
STEP_SECONDS = 0.02  # the worker's pace: 50 steps/s
REPEAT = 2  # DEMO_INJECTION_REPEAT
REJECT_AFTER = 20.0  # REJECT_AFTER_SECONDS: the damaged files are rejected within a short soak too
SEND_TIMEOUT = 300  # a sender waits this long for the trainer's receipt (longer than any restart)
NESTING = 100_000
HUNG_SECONDS = 20.0  # a trainer with a traceback in its log that has not trained since for this long is dead
PLACEHOLDER = "@@playerruns-soak-hostile@@"
TRACEBACK = "Traceback"
GOOD_KINDS = ("good", "half", "sent")  # fed runs that must end up in the replay memory, once
BAD_KINDS = ("truncated", "flipped", "nested", "objarray", "forbidden")
KIND_WEIGHTS = {"good": 50, "half": 8, "sent": 12, "truncated": 8, "flipped": 8, "nested": 5, "objarray": 5,
                "forbidden": 4}


# ----------------------------------------------------------------------------------------------- processes

class Children:
    """Every process the benchmark starts, each in a session (process group) of its own, so that a kill ends
    it with the processes it started (tmrl's roles start tlspyo's); ``kill_all`` ends whatever is left."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen] = []
        self._lock = threading.Lock()

    def start(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        with open(log, "ab") as out, self._lock:
            proc = subprocess.Popen(argv, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            self._procs.append(proc)
        return proc

    @staticmethod
    def signal_group(proc: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self, proc: subprocess.Popen) -> None:
        self.signal_group(proc, signal.SIGKILL)
        proc.wait()

    def stop(self, procs: list[subprocess.Popen], grace: float = 20.0) -> None:
        """SIGINT to each group, then SIGKILL to what is still there after ``grace`` seconds."""
        for proc in procs:
            if proc.poll() is None:
                self.signal_group(proc, signal.SIGINT)
        deadline = time.monotonic() + grace
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            self.kill(proc)  # the leader may be gone while its children are not

    def kill_all(self) -> None:
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            self.kill(proc)


CHILDREN = Children()


def role_env(home: Path) -> dict[str, str]:
    # one thread per process: the roles share the machine's cores, and torch's thread pools fight otherwise
    return {**os.environ, "HOME": str(home), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


# ----------------------------------------------------------------------------------------------- the soak HOME

def make_home(home: Path, consume: bool, epoch_updates: int) -> Path:
    """The soak's TmrlData: MiniTrack through tmrl's generic path, online injection on, checkpoints often."""
    from playerruns.bridge.setup import init_tmrl_data
    from playerruns.builtin.tasks import TASKS, hyperparameters
    from playerruns.shipping.link import free_local_ports

    rounds = max(1, epoch_updates // 100)
    ports = dict(zip(("PORT", "LOCAL_PORT_SERVER", "LOCAL_PORT_TRAINER", "LOCAL_PORT_WORKER"), free_local_ports(4),
                     strict=True))
    init_tmrl_data(home, interface=f"GYM:{WORKER_ENV}", overrides={
        **hyperparameters(TASKS["minitrack"]), **ports,
        "RUN_NAME": RUN_NAME, "MEMORY_SIZE": 5_000_000, "BATCH_SIZE": 128,
        "ENVIRONMENT_STEPS_BEFORE_TRAINING": 500, "MAX_TRAINING_STEPS_PER_ENVIRONMENT_STEP": 20.0,
        "UPDATE_BUFFER_INTERVAL": 50, "UPDATE_MODEL_INTERVAL": 200, "TRAINING_STEPS_PER_ROUND": 100,
        "ROUNDS_PER_EPOCH": rounds, "MAX_EPOCHS": 1_000_000,
        "PLAYER_RUNS": {"ONLINE_INJECTION": True, "SOURCE_PATH": str(home / "player_runs"),
                        "RECEIVED_PATH": str(home / "received"), "CONSUME_ON_READ": consume,
                        "MAX_FILES_PER_UPDATE": 2, "DEMO_INJECTION_REPEAT": REPEAT, "DEMO_SAMPLING_WEIGHT": 2.0,
                        "REJECT_AFTER_SECONDS": REJECT_AFTER}})
    (home / "player_runs").mkdir()
    (home / "outbox").mkdir()
    (home / "logs").mkdir()
    return home


def statistics_path(home: Path) -> Path:
    return home / "TmrlData" / "statistics" / f"{RUN_NAME}.jsonl"


def checkpoint_path(home: Path) -> Path:
    return home / "TmrlData" / "checkpoints" / f"{RUN_NAME}_t.tcpt"


class StatisticsTail:
    """The trainer's statistics records, read incrementally as they are appended (whole lines only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""
        self.records: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        new = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                new.append(record)
        self.records.extend(new)
        return new


# ----------------------------------------------------------------------------------------------- the feeder

@dataclass
class Fed:
    kind: str  # one of KIND_WEIGHTS
    run_id: str
    samples: int  # raw samples in the run
    name: str  # the file's name (in SOURCE_PATH, or in the outbox for a sent run)
    at: float  # seconds after feeding started
    note: str = ""


def hostile_pickle(run: Any, kind: str, marker: Path) -> bytes:
    """``run`` pickled (protocol 2, no frames) with one sample's ``info`` replaced by hand-written opcodes."""
    samples = list(run.samples)
    k = min(3, len(samples) - 1)
    act, obs, rew, terminated, truncated, _info = samples[k]
    samples[k] = (act, obs, rew, terminated, truncated, PLACEHOLDER)
    data = pickle.dumps({**run.to_dict(), "samples": samples}, protocol=2)
    placeholder = pickle.BINUNICODE + len(PLACEHOLDER).to_bytes(4, "little") + PLACEHOLDER.encode()
    assert data.count(placeholder) == 1
    if kind == "nested":  # {"k": {"k": ... {} ...}}: EMPTY_DICT, then (key, EMPTY_DICT) x N, then SETITEM x N
        blob = pickle.EMPTY_DICT + (pickle.SHORT_BINUNICODE + b"\x01k" + pickle.EMPTY_DICT) * NESTING \
            + pickle.SETITEM * NESTING
    elif kind == "objarray":  # {"x": an object array of shape (1000,) whose data list holds 3 items}
        blob = pickle.EMPTY_DICT + pickle.SHORT_BINUNICODE + b"\x01x" + short_object_array(1000, 3) + pickle.SETITEM
    elif kind == "forbidden":  # posix.system("touch <marker>"): must never run
        command = f"touch {marker}".encode()
        blob = pickle.GLOBAL + b"posix\nsystem\n" + pickle.BINUNICODE + len(command).to_bytes(4, "little") \
            + command + pickle.TUPLE1 + pickle.REDUCE
    else:
        raise ValueError(kind)
    return data.replace(placeholder, blob)


def short_object_array(shape: int, items: int) -> bytes:
    """numpy's pickle of an object array, by hand: ``_reconstruct(ndarray, (0,), b'b')`` then BUILD with
    ``(1, (shape,), dtype('O8'), False, [0, 1, ...])`` whose list is shorter than the shape."""
    def int4(value: int) -> bytes:
        return pickle.BININT + value.to_bytes(4, "little", signed=True)

    dtype = (pickle.GLOBAL + b"numpy\ndtype\n" + pickle.SHORT_BINUNICODE + b"\x02O8" + pickle.NEWFALSE
             + pickle.NEWTRUE + pickle.TUPLE3 + pickle.REDUCE
             + pickle.MARK + pickle.BININT1 + b"\x03" + pickle.SHORT_BINUNICODE + b"\x01|" + pickle.NONE * 3
             + int4(-1) + int4(-1) + pickle.BININT1 + b"\x3f" + pickle.TUPLE + pickle.BUILD)
    data = pickle.EMPTY_LIST + pickle.MARK + b"".join(pickle.BININT1 + bytes([k]) for k in range(items)) \
        + pickle.APPENDS
    return (pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n" + pickle.GLOBAL + b"numpy\nndarray\n"
            + pickle.BININT1 + b"\x00" + pickle.TUPLE1 + pickle.SHORT_BINBYTES + b"\x01b" + pickle.TUPLE3
            + pickle.REDUCE
            + pickle.MARK + pickle.BININT1 + b"\x01" + int4(shape) + pickle.TUPLE1 + dtype + pickle.NEWFALSE
            + data + pickle.TUPLE + pickle.BUILD)


class Feeder(threading.Thread):
    """Drops run files into SOURCE_PATH and sends runs through the server until ``stop`` is set."""

    def __init__(self, home: Path, setup: Any, rng: random.Random, started: float) -> None:
        super().__init__(daemon=True, name="feeder")
        self.home, self.setup, self.rng, self.started = home, setup, rng, started
        self.source = home / "player_runs"
        self.marker = home / "hostile-code-ran"
        self.fed: list[Fed] = []
        self.senders: list[tuple[Fed, subprocess.Popen]] = []
        self.pending_halves: list[threading.Thread] = []
        self.wanted: str | None = None  # the killer asks for a kind of file next
        self.stop = threading.Event()
        self.error: str | None = None
        self.lock = threading.Lock()
        self._order = list(KIND_WEIGHTS)  # every kind once first (so a short soak has them all), then at random
        rng.shuffle(self._order)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.feed_one(self.next_kind())
                self.stop.wait(self.rng.uniform(2.5, 5.5))
        except Exception as err:  # reported, and the soak stops: a feeder bug must not look like a clean run
            self.error = f"{type(err).__name__}: {err}"

    def next_kind(self) -> str:
        if self.wanted is not None:
            kind, self.wanted = self.wanted, None
            return kind
        if self._order:
            return self._order.pop()
        return self.rng.choices(list(KIND_WEIGHTS), weights=list(KIND_WEIGHTS.values()))[0]

    def make_run(self) -> Any:
        from playerruns.tools.synthetic import gym_run

        return gym_run(self.setup, episodes=self.rng.choice((1, 2)), max_steps=self.rng.randint(60, 160),
                       seed=self.rng.randrange(1 << 30))

    def record(self, kind: str, run: Any, name: str, note: str = "") -> Fed:
        fed = Fed(kind=kind, run_id=run.run_id, samples=len(run.samples), name=name,
                  at=round(time.time() - self.started, 2), note=note)
        with self.lock:
            self.fed.append(fed)
        return fed

    def place(self, name: str, data: bytes) -> None:
        """``data`` as SOURCE_PATH/name in one rename (a hidden temporary name first: the poller ignores it)."""
        tmp = self.source / f".{name}.soak-tmp"
        tmp.write_bytes(data)
        os.replace(tmp, self.source / name)

    def feed_one(self, kind: str) -> None:
        from playerruns.runs.runfile import save_run

        run = self.make_run()
        name = f"{kind}-{run.run_id}.pkl"
        if kind == "good":
            save_run(self.source / name, run)
            self.record(kind, run, name)
        elif kind == "sent":
            path = save_run(self.home / "outbox" / name, run)
            fed = self.record(kind, run, name)
            argv = [sys.executable, "-m", "playerruns", "--send-player-runs", "--player-runs-paths", str(path),
                    "--send-timeout", str(SEND_TIMEOUT)]
            proc = CHILDREN.start(argv, role_env(self.home), self.home / "logs" / f"send-{run.run_id}.log")
            with self.lock:
                self.senders.append((fed, proc))
        elif kind == "half":  # the first part now, under the final name; the rest a few seconds later
            data = pickle.dumps(run.to_dict(), protocol=4)
            cut = int(len(data) * self.rng.uniform(0.3, 0.7))
            delay = self.rng.uniform(3.0, 8.0)
            target = self.source / name
            with open(target, "wb") as f:
                f.write(data[:cut])
            self.record(kind, run, name, note=f"{cut} of {len(data)} bytes, the rest {delay:.1f} s later")

            def finish() -> None:
                time.sleep(delay)
                with open(target, "ab") as f:
                    f.write(data[cut:])
            thread = threading.Thread(target=finish, daemon=True)
            thread.start()
            with self.lock:
                self.pending_halves.append(thread)
        elif kind == "truncated":
            data = pickle.dumps(run.to_dict(), protocol=4)
            cut = int(len(data) * self.rng.uniform(0.1, 0.95))
            self.place(name, data[:cut])
            self.record(kind, run, name, note=f"{cut} of {len(data)} bytes")
        elif kind == "flipped":
            damaged = bytearray(pickle.dumps(run.to_dict(), protocol=4))
            positions = sorted(self.rng.sample(range(16, len(damaged)), 8))
            for at in positions:
                damaged[at] ^= self.rng.randrange(1, 256)
            self.place(name, bytes(damaged))
            self.record(kind, run, name, note=f"bytes flipped at {positions}")
        else:
            self.place(name, hostile_pickle(run, kind, self.marker))
            self.record(kind, run, name)

    def wait_for_halves(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in list(self.pending_halves):
            thread.join(max(0.0, deadline - time.monotonic()))


# ----------------------------------------------------------------------------------------------- the trainer's lives

@dataclass
class Life:
    """One trainer process, from its start to its kill, death or the final stop."""

    index: int
    pid: int
    log: str
    started: float  # Unix time
    ended: float | None = None
    how: str = "running"  # "killed" (by us), "died" (exited by itself), "hung" (no training after a traceback:
    # killed and restarted), "stopped" (at the end)
    exit_code: int | None = None
    kill_reason: str = ""
    rss_kb: list[tuple[float, int]] = field(default_factory=list)  # (Unix time, VmRSS)
    log_bytes_before_stop: int | None = None  # the final stop's KeyboardInterrupt is not a death
    log_read: int = 0  # bytes of the log looked at for a traceback so far
    traceback_at: float | None = None  # Unix time a traceback was first seen in the log
    crash: str = ""  # the exception line of that traceback


@dataclass
class Kill:
    at: float  # seconds after feeding started
    after: str | None  # None: at once; "SOURCE_PATH" or "sent": right after such an injection record
    armed_at: float | None = None  # Unix time the wait for the injection began
    done: bool = False
    detail: dict[str, Any] = field(default_factory=dict)


class Soak:
    def __init__(self, home: Path, consume: bool, minutes: float, kills: int, seed: int, setup: Any) -> None:
        self.home, self.consume, self.minutes = home, consume, minutes
        self.rng = random.Random(seed)
        self.setup = setup
        self.stats = StatisticsTail(statistics_path(home))
        self.lives: list[Life] = []
        self.trainer: subprocess.Popen | None = None
        self.others: dict[str, subprocess.Popen] = {}
        self.other_restarts: Counter[str] = Counter()
        self.kills = self.plan_kills(kills, minutes * 60)
        self.started = time.time()
        self.feeder: Feeder | None = None
        self._last_status = 0.0

    def plan_kills(self, n: int, seconds: float) -> list[Kill]:
        """``n`` kill times spread over the middle of the soak, at least 30 s apart when there is room."""
        spacing = min(30.0, 0.8 * seconds / max(n, 1))
        times: list[float] = []
        while len(times) < n:
            times = sorted(self.rng.uniform(0.1 * seconds, 0.9 * seconds) for _ in range(n))
            if all(b - a >= spacing for a, b in zip(times, times[1:], strict=False)):
                break
            times = []
        afters: list[str | None] = ["SOURCE_PATH", *(["sent"] if n >= 3 else [])]
        afters += [None] * (n - len(afters))
        self.rng.shuffle(afters)
        return [Kill(at=t, after=a) for t, a in zip(times, afters[:n], strict=True)]

    # --- roles

    def start_role(self, role: str) -> subprocess.Popen:
        args = ["--worker", "-d", json.dumps({"step_seconds": STEP_SECONDS})] if role == "worker" else [f"--{role}"]
        return CHILDREN.start([sys.executable, "-m", "playerruns", *args], role_env(self.home),
                              self.home / "logs" / f"{role}.log")

    def start_trainer(self) -> None:
        log = self.home / "logs" / f"trainer-{len(self.lives)}.log"
        # --tmrl-log: the checkpoint times this report reads are tmrl's own lines
        self.trainer = CHILDREN.start([sys.executable, "-m", "playerruns", "--trainer", "--tmrl-log"],
                                      role_env(self.home), log)
        self.lives.append(Life(index=len(self.lives), pid=self.trainer.pid, log=str(log), started=time.time()))

    def start_all(self) -> None:
        from playerruns.shipping.link import ServerLink, server_reachable

        self.others["server"] = self.start_role("server")
        link = ServerLink.from_config()
        deadline = time.monotonic() + 120
        while not server_reachable(link, timeout=0.5):
            if time.monotonic() > deadline or self.others["server"].poll() is not None:
                raise SystemExit(f"the server did not start; see {self.home / 'logs' / 'server.log'}")
            time.sleep(0.3)
        self.start_trainer()
        self.others["worker"] = self.start_role("worker")
        deadline = time.monotonic() + 300
        while not any(r["event"] == "progress" and r["updates"] > 0 for r in self.stats.records):
            self.watch()
            if time.monotonic() > deadline:
                raise SystemExit(f"the trainer did not start training; see {self.lives[-1].log}")
            time.sleep(0.5)

    def kill_trainer(self, reason: str) -> None:
        assert self.trainer is not None
        life = self.lives[-1]
        CHILDREN.kill(self.trainer)
        life.ended, life.how, life.exit_code, life.kill_reason = time.time(), "killed", self.trainer.returncode, reason
        self.say(f"killed the trainer ({reason})")
        time.sleep(self.rng.uniform(1.0, 4.0))
        self.start_trainer()

    def watch(self) -> None:
        """Reads new records; restarts a role that ended by itself; samples the trainer's memory."""
        self.stats.poll()
        if self.trainer is not None and self.trainer.poll() is not None:
            life = self.lives[-1]
            CHILDREN.kill(self.trainer)  # what it started
            life.ended, life.how, life.exit_code = time.time(), "died", self.trainer.returncode
            self.say(f"the trainer exited by itself (code {self.trainer.returncode}); restarting it")
            time.sleep(2.0)
            self.start_trainer()
        self.check_traceback()
        for role, proc in list(self.others.items()):
            if proc.poll() is not None:
                CHILDREN.kill(proc)
                self.other_restarts[role] += 1
                self.say(f"the {role} exited by itself (code {proc.returncode}); restarting it")
                self.others[role] = self.start_role(role)
        current = self.lives[-1] if self.lives else None
        if current is not None and (not current.rss_kb or time.time() - current.rss_kb[-1][0] >= 2.0):
            kb = rss_kb(current.pid)
            if kb is not None:
                current.rss_kb.append((time.time(), kb))

    def check_traceback(self) -> None:
        """A traceback in the trainer's log is a death that was not ours. tmrl's trainer that raised can stay up
        without training (its network threads keep the process alive): once no training step came for
        HUNG_SECONDS after the traceback, it is killed and restarted like a trainer that exited."""
        if self.trainer is None or not self.lives:
            return
        life = self.lives[-1]
        if life.traceback_at is None:
            try:
                with open(life.log, "rb") as f:
                    f.seek(max(0, life.log_read - len(TRACEBACK)))  # a little overlap: the word may be cut
                    data = f.read()
            except OSError:
                return
            life.log_read = max(0, life.log_read - len(TRACEBACK)) + len(data)
            if TRACEBACK.encode() not in data:
                return
            life.traceback_at = time.time()
            self.say("the trainer's log shows a traceback")
            return
        life.crash = exception_line(read_text(Path(life.log))) or life.crash
        steps = [r["updates"] for r in self.stats.records if r["time"] >= life.started]
        before = max((r["updates"] for r in self.stats.records if life.started <= r["time"] <= life.traceback_at),
                     default=0)
        if max(steps, default=0) > before or time.time() - life.traceback_at < HUNG_SECONDS:
            return
        CHILDREN.kill(self.trainer)
        life.ended, life.how, life.exit_code = time.time(), "hung", self.trainer.returncode
        life.kill_reason = f"no training step {HUNG_SECONDS:g} s after a traceback ({life.crash})"
        self.say(f"the trainer stopped training after a traceback ({life.crash[:150]}); killed, restarting it")
        time.sleep(2.0)
        self.start_trainer()

    def say(self, text: str) -> None:
        print(f"  [{'on' if self.consume else 'off'} {time.time() - self.started:7.1f}s] {text}", flush=True)

    def status(self) -> None:
        if time.time() - self._last_status < 30:
            return
        self._last_status = time.time()
        last = self.stats.records[-1] if self.stats.records else {}
        kb = self.lives[-1].rss_kb[-1][1] if self.lives and self.lives[-1].rss_kb else 0
        fed = Counter(f.kind for f in self.feeder.fed) if self.feeder else Counter()
        self.say(f"epoch {last.get('epoch')}, updates {last.get('updates')}, env_steps {last.get('env_steps')}, "
                 f"trainer RSS {kb / 1024:.0f} MB, fed {sum(fed.values())} files "
                 f"({', '.join(f'{k} {v}' for k, v in sorted(fed.items()))})")

    # --- the killer

    def injection_to_kill_after(self, kill: Kill) -> dict[str, Any] | None:
        """The newest injection record of the wanted origin written since the kill was armed, if no epoch record
        (so no checkpoint) came after it."""
        assert kill.armed_at is not None
        for record in reversed(self.stats.records):
            if record["time"] < kill.armed_at:
                return None
            if record["event"] == "epoch":
                return None
            if record["event"] == "injection" and record.get("origin", "").startswith(
                    "SOURCE_PATH" if kill.after == "SOURCE_PATH" else "sent from"):
                return record
        return None

    def maybe_kill(self, elapsed: float) -> None:
        kill = next((k for k in self.kills if not k.done), None)
        if kill is None or elapsed < kill.at or self.trainer is None:
            return
        if not any(r["event"] in ("start", "resume") and r["time"] >= self.lives[-1].started
                   for r in self.stats.records):
            return  # the trainer restarted last is still starting: wait until it runs
        last = self.stats.records[-1] if self.stats.records else {}
        if kill.after is None:
            reason = "at a random time"
        else:
            if kill.armed_at is None:
                kill.armed_at = time.time()
                assert self.feeder is not None
                self.feeder.wanted = "good" if kill.after == "SOURCE_PATH" else "sent"
            record = self.injection_to_kill_after(kill)
            if record is None and time.time() - kill.armed_at < 90:
                return
            if record is None:
                reason = f"no {kill.after} injection within 90 s: at once"
            else:
                reason = f"right after a {kill.after} injection (run ids {', '.join(record['run_ids'])})"
                kill.detail["injection"] = {k: record[k] for k in ("time", "epoch", "updates", "run_ids", "origin")}
                kill.detail["injection_to_kill_s"] = round(time.time() - record["time"], 3)
        kill.detail.update(at_s=round(elapsed, 1), reason=reason, epoch=last.get("epoch"), updates=last.get("updates"),
                           time=time.time())
        kill.done = True
        self.kill_trainer(reason)

    # --- the whole soak

    def run(self) -> dict[str, Any]:
        self.started = time.time()
        self.say(f"HOME {self.home}; starting the server, the trainer and the worker")
        self.start_all()
        self.say("training; feeding starts")
        self.started = time.time()
        self.feeder = Feeder(self.home, self.setup, self.rng, self.started)
        self.feeder.start()
        end = self.started + self.minutes * 60
        while time.time() < end:
            self.watch()
            if self.feeder.error:
                raise SystemExit(f"the feeder failed: {self.feeder.error}")
            self.maybe_kill(time.time() - self.started)
            self.status()
            time.sleep(0.05)
        for kill in self.kills:  # a kill planned after the end (it waited for an injection): not done
            if not kill.done:
                kill.detail["reason"] = "not done: the soak ended first"
        self.feeder.stop.set()
        self.feeder.join(60)
        self.say("feeding stopped; waiting for the last files, the senders and one more checkpoint")
        self.settle()
        stop_records = len(self.stats.records)
        self.final_stop()
        counted = count_in_subprocess(self.home)
        return self.figures(counted, stop_records)

    def settle(self) -> None:
        """Until every good run fed was injected at least once (or 3 minutes), the bad files had time to be
        rejected and the senders ended; then one more epoch and its checkpoint."""
        assert self.feeder is not None
        self.feeder.wait_for_halves(30)
        settle_start = time.time()
        last_fed = max((f.at for f in self.feeder.fed), default=0.0) + self.started
        good = {f.run_id for f in self.feeder.fed if f.kind in GOOD_KINDS}
        while True:
            self.watch()
            self.status()
            seen = {rid for r in self.stats.records if r["event"] == "injection" for rid in r["run_ids"]}
            senders_done = all(p.poll() is not None for _f, p in self.feeder.senders)
            rejected_time = time.time() > last_fed + REJECT_AFTER + 10
            if (good <= seen and senders_done and rejected_time) or time.time() - settle_start > 180:
                break
            time.sleep(0.2)
        epoch = max((r["epoch"] for r in self.stats.records), default=0)
        deadline = time.time() + 300
        while time.time() < deadline:
            self.watch()
            done = [r for r in self.stats.records if r["event"] == "epoch" and r["epoch"] > epoch]
            ckpt = checkpoint_path(self.home)
            if done and ckpt.exists() and ckpt.stat().st_mtime > done[0]["time"]:
                return
            time.sleep(0.2)
        self.say("no checkpoint after the soak within 5 minutes: counting from the last one")

    def final_stop(self) -> None:
        assert self.trainer is not None and self.feeder is not None
        life = self.lives[-1]
        kb = rss_kb(life.pid)
        if kb is not None:
            life.rss_kb.append((time.time(), kb))
        life.log_bytes_before_stop = Path(life.log).stat().st_size
        life.ended, life.how = time.time(), "stopped"
        CHILDREN.stop([self.trainer, *self.others.values(), *(p for _f, p in self.feeder.senders)])
        life.exit_code = self.trainer.returncode
        self.stats.poll()

    # --- the figures

    def figures(self, counted: dict[str, Any], stop_records: int) -> dict[str, Any]:
        assert self.feeder is not None
        fed = self.feeder.fed
        present: dict[str, int] = counted["per_run"]
        good = [f for f in fed if f.kind in GOOD_KINDS]
        lost_runs, twice_runs, samples_lost, extra = [], [], 0, 0
        for f in good:
            expected, have = f.samples * REPEAT, present.get(f.run_id, 0)
            if have < expected:
                samples_lost += expected - have
                lost_runs.append({"run_id": f.run_id, "kind": f.kind, "expected": expected, "present": have,
                                  "fed_at_s": f.at})
            elif have > expected:
                extra += have - expected
                twice_runs.append({"run_id": f.run_id, "kind": f.kind, "expected": expected, "present": have})
        bad_in_memory = [{"kind": f.kind, "run_id": f.run_id, "present": present[f.run_id]}
                         for f in fed if f.kind in BAD_KINDS and present.get(f.run_id)]
        injected_ids = {rid for r in self.stats.records if r["event"] == "injection" for rid in r["run_ids"]}
        bad_injected = [{"kind": f.kind, "run_id": f.run_id, "name": f.name, "note": f.note}
                        for f in fed if f.kind in BAD_KINDS and f.run_id in injected_ids]
        known = {f.run_id for f in fed}
        unknown_in_memory = {rid: n for rid, n in present.items() if rid not in known}

        records = self.stats.records[:stop_records]
        lives = self.lives_with_records(records)
        deaths = [life for life in self.lives if life.how == "died"]
        hung = [life for life in self.lives if life.how == "hung"]
        with_traceback = [life.index for life in self.lives if traceback_in(life)]
        not_ours = sorted({life.index for life in deaths} | set(with_traceback))
        stall = longest_stall(lives)
        restarts = self.restart_times(lives)
        rss = [kb for life in self.lives for _t, kb in life.rss_kb]
        first_training = next((r["time"] for r in records if r["event"] in ("progress", "epoch") and r["updates"] > 0),
                               None)
        start_rss = next((kb for t, kb in self.lives[0].rss_kb if first_training is None or t >= first_training),
                         None)
        end_rss = self.lives[-1].rss_kb[-1][1] if self.lives[-1].rss_kb else None
        source_files = Counter(file_state(p.name) for p in (self.home / "player_runs").iterdir()
                               if not p.name.startswith(".") and not p.name.endswith(".reason"))
        bad_fed = [f for f in fed if f.kind in BAD_KINDS]
        rejected = [f for f in bad_fed if any(p.name.startswith(f.name + ".rejected")
                                              for p in (self.home / "player_runs").glob(f.name + ".rejected*"))]
        senders = Counter("delivered" if p.returncode == 0 else f"exit {p.returncode}" for _f, p in self.feeder.senders)
        saves = [float(s) for life in self.lives for s in re.findall(r"saved checkpoint in ([0-9.]+) seconds",
                                                                    read_text(Path(life.log)))]
        loads = [float(s) for life in self.lives for s in re.findall(r"Loaded checkpoint in ([0-9.]+) seconds",
                                                                    read_text(Path(life.log)))]
        last = records[-1] if records else {}
        return {
            "consume_on_read": self.consume,
            "minutes": self.minutes,
            "samples_lost": samples_lost,
            "runs_lost": len(lost_runs),
            "runs_injected_twice": len(twice_runs),
            "samples_extra": extra,
            "trainer_deaths_not_ours": len(not_ours),
            "trainer_exits_by_itself": len(deaths),
            "trainer_hung_after_traceback": len(hung),
            "trainer_lives_with_traceback": with_traceback,
            "trainer_rss_start_mb": mb(start_rss),
            "trainer_rss_end_mb": mb(end_rss),
            "trainer_rss_peak_mb": mb(max(rss) if rss else None),
            "longest_stall_s": stall["longest_stall_s"],
            "longest_stall_at": stall["longest_stall_at"],
            "longest_record_gap_s": stall["longest_record_gap_s"],
            "restarts": restarts,
            "trainer_restarts": len(restarts),
            "longest_restart_s": max((r["to_training_s"] or 0.0 for r in restarts), default=None),
            "kills": [k.detail for k in self.kills],
            "checkpoint_save_s_max": round(max(saves), 3) if saves else None,
            "checkpoint_save_s_mean": round(sum(saves) / len(saves), 3) if saves else None,
            "checkpoint_saves": len(saves),
            "checkpoint_load_s": loads,
            "good_runs_fed": len(good),
            "good_samples_expected": sum(f.samples * REPEAT for f in good),
            "fed_by_kind": dict(Counter(f.kind for f in fed)),
            "bad_files_fed": len(bad_fed),
            "bad_files_rejected": len(rejected),
            "bad_runs_in_memory": bad_in_memory,
            "bad_runs_injected": bad_injected,
            "trainer_crashes": [{"life": life.index, "how": life.how,
                                 "exception": life.crash or exception_line(read_text(Path(life.log))),
                                 "at_s": round(life.traceback_at - self.started, 1) if life.traceback_at else None}
                                for life in self.lives if life.how in ("died", "hung") or life.traceback_at],
            "unknown_run_ids_in_memory": unknown_in_memory,
            "hostile_code_ran": self.feeder.marker.exists(),
            "source_path_files": dict(source_files),
            "senders": dict(senders),
            "other_role_restarts": dict(self.other_restarts),
            "trainer_lives": [{**{k: v for k, v in asdict(life).items() if k != "rss_kb"},
                               "rss_first_mb": mb(life.rss_kb[0][1]) if life.rss_kb else None,
                               "rss_last_mb": mb(life.rss_kb[-1][1]) if life.rss_kb else None} for life in self.lives],
            "final": {"epoch": last.get("epoch"), "updates": last.get("updates"), "env_steps": last.get("env_steps"),
                      "checkpoint": {k: v for k, v in counted.items() if k != "per_run"}},
            "lost": lost_runs,
            "injected_twice": twice_runs,
            "injection_records_per_good_run": dict(Counter(
                n for n in Counter(rid for r in records if r["event"] == "injection" for rid in r["run_ids"]
                                   if rid in {f.run_id for f in good}).values())),
            "fed": [asdict(f) for f in fed],
        }

    def lives_with_records(self, records: list[dict[str, Any]]) -> list[tuple[Life, list[dict[str, Any]]]]:
        out = []
        for life in self.lives:
            end = life.ended or time.time()
            out.append((life, [r for r in records if life.started <= r["time"] <= end]))
        return out

    def restart_times(self, lives: list[tuple[Life, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
        """Per kill or death: seconds until the next trainer's first record, and until it trained again."""
        out = []
        for (life, _records), (_next_life, next_records) in zip(lives, lives[1:], strict=False):
            assert life.ended is not None
            first = next_records[0]["time"] if next_records else None
            base = max((r["updates"] for r in next_records[:1]), default=0)
            trained = next((r["time"] for r in next_records if r["updates"] > base), None)
            out.append({"how": life.how, "at_s": round(life.ended - self.started, 1),
                        "to_first_record_s": round(first - life.ended, 1) if first else None,
                        "to_training_s": round(trained - life.ended, 1) if trained else None,
                        "resumed_epoch": next_records[0].get("epoch") if next_records else None,
                        "epoch_at_kill": next((r["epoch"] for r in reversed(_records)), None)})
        return out


def longest_stall(lives: list[tuple[Life, list[dict[str, Any]]]]) -> dict[str, Any]:
    """The longest time ``updates`` stayed the same in consecutive progress/epoch records of one trainer's life,
    counted from its first training step (a life's start, and the downtime after a kill, are not stalls), and
    the longest gap between any two consecutive records of one life from then on."""
    best: tuple[float, dict[str, Any] | None] = (0.0, None)
    gap = 0.0
    for life, records in lives:
        steps = [r for r in records if r["event"] in ("progress", "epoch")]
        first = next((i for i, r in enumerate(steps) if r["updates"] > steps[0]["updates"]), None)
        if first is None:
            continue
        since, value = steps[first]["time"], steps[first]["updates"]
        for r in steps[first + 1:]:
            if r["updates"] > value:
                if r["time"] - since > best[0]:
                    best = (r["time"] - since, {"life": life.index, "epoch": r["epoch"], "updates": value})
                since, value = r["time"], r["updates"]
        if steps[-1]["time"] - since > best[0]:  # still at the same value at the life's last record
            best = (steps[-1]["time"] - since, {"life": life.index, "epoch": steps[-1]["epoch"], "updates": value,
                                                 "open": True})
        start = steps[first]["time"]
        times = [r["time"] for r in records if r["time"] >= start]
        gap = max([gap, *(b - a for a, b in zip(times, times[1:], strict=False))])
    return {"longest_stall_s": round(best[0], 2), "longest_stall_at": best[1], "longest_record_gap_s": round(gap, 2)}


def traceback_in(life: Life) -> bool:
    text = read_text(Path(life.log))
    if life.log_bytes_before_stop is not None:
        text = text[:life.log_bytes_before_stop]
    return TRACEBACK in text


def exception_line(text: str) -> str:
    """The exception line of the first traceback in ``text`` ("ValueError: ..."), or ""."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(TRACEBACK)), None)
    if start is None:
        return ""
    return next((line[:300] for line in lines[start + 1:] if re.match(r"^[A-Za-z_.]+(Error|Exception|Interrupt)\b",
                                                                      line)), "")


def read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def file_state(name: str) -> str:
    for suffix in (".imported", ".rejected", ".sent"):
        if re.search(re.escape(f".pkl{suffix}") + r"(\.\d+)?$", name):
            return f"*.pkl{suffix}"
    return "*.pkl" if name.endswith(".pkl") else "other"


def mb(kb: int | None) -> float | None:
    return round(kb / 1024, 1) if kb is not None else None


# ----------------------------------------------------------------------------------------------- the count

def count_in_subprocess(home: Path) -> dict[str, Any]:
    """Demo samples per run id in the final checkpoint, counted by ``--count-checkpoint`` with the soak's HOME."""
    path = checkpoint_path(home)
    result = subprocess.run([sys.executable, __file__, "--count-checkpoint", str(path)], env=role_env(home),
                            capture_output=True, text=True, timeout=600, cwd=REPO)
    if result.returncode != 0:
        raise SystemExit(f"counting the checkpoint {path} failed:\n{result.stderr[-3000:]}")
    counted: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return counted


def count_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's replay memory: demo samples per ``info["player_run_id"]`` and what else it holds."""
    from playerruns.runs.demos import is_demo, run_id_of

    instance = pickle.loads(path.read_bytes())  # our own trainer's checkpoint (tmrl pickles the training instance)
    memory = instance.memory
    data = memory.data
    infos: list[Any] = next((c for c in data if c and all(isinstance(x, dict) for x in c[:100])), [])
    per_run = Counter(run_id_of(info) for info in infos if is_demo(info))
    record = getattr(instance, "injection_record", None)
    demo_index = getattr(memory, "demo_index", None)
    return {"per_run": {str(k): v for k, v in per_run.items()}, "raw_samples": len(data[0]) if data else 0,
            "memory_size": int(memory.memory_size), "demo_samples_tagged": sum(per_run.values()),
            "demo_index_samples": getattr(demo_index, "n_demo_samples", None),
            "record_run_ids": len(record.run_ids) if record is not None else None,
            "epoch": int(instance.epoch), "updates": int(instance.total_updates),
            "env_steps": int(instance.total_samples), "checkpoint_mb": round(path.stat().st_size / 2**20, 1)}


# ----------------------------------------------------------------------------------------------- the report

def machine() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    except OSError:
        pass

    def package(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None
    return {"cpus": os.cpu_count(), "cpu_model": model or platform.processor() or platform.machine(),
            "platform": platform.platform(), "python": sys.version.split()[0], "torch": package("torch"),
            "tmrl": package("tmrl"), "playerruns": package("playerruns"),
            "date": datetime.now().isoformat("T", "seconds")}


ROWS: list[tuple[str, str, str]] = [  # label, key, target
    ("samples lost", "samples_lost", "0"),
    ("  runs that lost samples", "runs_lost", "0"),
    ("runs injected twice", "runs_injected_twice", "0"),
    ("trainer deaths not caused by the kill", "trainer_deaths_not_ours", "0"),
    ("  trainer exits by itself", "trainer_exits_by_itself", "0"),
    ("  trainer hung after a traceback (killed)", "trainer_hung_after_traceback", "0"),
    ("  trainer lives with a Traceback", "trainer_lives_with_traceback", "[]"),
    ("trainer RSS at start (MB)", "trainer_rss_start_mb", ""),
    ("trainer RSS at end (MB)", "trainer_rss_end_mb", ""),
    ("trainer RSS peak (MB)", "trainer_rss_peak_mb", ""),
    ("longest stall between training steps (s)", "longest_stall_s", ""),
    ("longest gap between statistics records (s)", "longest_record_gap_s", ""),
    ("trainer restarts (kills and deaths)", "trainer_restarts", ""),
    ("longest restart, kill to training again (s)", "longest_restart_s", ""),
    ("checkpoint save, longest (s)", "checkpoint_save_s_max", ""),
    ("checkpoints saved", "checkpoint_saves", ""),
    ("good runs fed (source, half-written, sent)", "good_runs_fed", ""),
    ("good demo samples expected", "good_samples_expected", ""),
    ("bad files fed / rejected", "bad_files", ""),
    ("bad runs injected (statistics records)", "bad_runs_injected", "0"),
    ("bad runs found in memory", "bad_runs_in_memory", "0"),
    ("hostile code ran", "hostile_code_ran", "False"),
    ("senders", "senders", ""),
    ("final epoch / updates", "final_steps", ""),
    ("memory: raw samples / demo samples", "memory", ""),
]


def cell(run: dict[str, Any], key: str) -> str:
    if key == "bad_files":
        return f"{run['bad_files_fed']} / {run['bad_files_rejected']}"
    if key in ("bad_runs_in_memory", "bad_runs_injected"):
        return str(len(run[key]))
    if key == "final_steps":
        return f"{run['final']['epoch']} / {run['final']['updates']}"
    if key == "memory":
        ckpt = run["final"]["checkpoint"]
        return f"{ckpt['raw_samples']} / {ckpt['demo_samples_tagged']}"
    if key == "senders":
        return ", ".join(f"{k} {v}" for k, v in sorted(run[key].items())) or "-"
    value = run[key]
    return "-" if value is None else str(value)


def print_report(report: dict[str, Any]) -> None:
    m = report["machine"]
    print()
    print(f"soak benchmark, {m['date']}: {m['cpus']} CPUs ({m['cpu_model']}), Python {m['python']}, "
          f"torch {m['torch']}, tmrl {m['tmrl']}, playerruns {m['playerruns']}")
    runs = report["runs"]
    heads = [f"CONSUME_ON_READ {'on' if r['consume_on_read'] else 'off'}, {r['minutes']:g} min" for r in runs]
    width = max(len(label) for label, _k, _t in ROWS) + 2
    cols = [max(len(h), *(len(cell(r, k)) for _l, k, _t in ROWS)) + 2 for h, r in zip(heads, runs, strict=True)]
    print(f"{'':<{width}}" + "".join(f"{h:>{c}}" for h, c in zip(heads, cols, strict=True)) + "   target")
    for label, key, target in ROWS:
        print(f"{label:<{width}}" + "".join(f"{cell(r, key):>{c}}" for r, c in zip(runs, cols, strict=True))
              + (f"   {target}" if target else ""))
    for r in runs:
        tag = f"CONSUME_ON_READ {'on' if r['consume_on_read'] else 'off'}"
        for k in r["restarts"]:
            print(f"{tag}: trainer {k['how']} at {k['at_s']} s: first record after {k['to_first_record_s']} s, "
                  f"training again after {k['to_training_s']} s (epoch {k['epoch_at_kill']} -> resumed at epoch "
                  f"{k['resumed_epoch']})")
        for k in r["kills"]:
            print(f"{tag}: kill at {k.get('at_s')} s: {k.get('reason')}")
        if r["longest_stall_at"]:
            print(f"{tag}: longest stall at {r['longest_stall_at']}")
        for lost in r["lost"]:
            print(f"{tag}: lost {lost['kind']} run {lost['run_id']} (fed at {lost['fed_at_s']} s): "
                  f"{lost['present']} of {lost['expected']} samples")
        for twice in r["injected_twice"]:
            print(f"{tag}: injected twice {twice['kind']} run {twice['run_id']}: {twice['present']} of "
                  f"{twice['expected']} samples")
        for crash in r["trainer_crashes"]:
            print(f"{tag}: trainer life {crash['life']} ({crash['how']}) traceback at {crash['at_s']} s: "
                  f"{crash['exception'][:200]}")
        for bad in r["bad_runs_injected"]:
            print(f"{tag}: a {bad['kind']} file was injected: {bad['name']} ({bad['note']})")
        for bad in r["bad_runs_in_memory"]:
            print(f"{tag}: a {bad['kind']} file's run {bad['run_id']} is in the memory ({bad['present']} samples)")


# ----------------------------------------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to feed and kill (per soak)")
    parser.add_argument("--kills", type=int, default=4, help="SIGKILLs of the trainer per soak")
    parser.add_argument("--consume", choices=("on", "off", "both"), default="on", help="CONSUME_ON_READ")
    parser.add_argument("--epoch-updates", type=int, default=1500,
                        help="updates per epoch, a checkpoint each (1500: about 30 s on 2 cores)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the feeder's and the killer's choices")
    parser.add_argument("--out", type=Path, default=RESULTS / f"soak-{date.today().isoformat()}.json")
    parser.add_argument("--keep", action="store_true", help="keep the temporary HOMEs (logs, checkpoint)")
    parser.add_argument("--count-checkpoint", type=Path, help=argparse.SUPPRESS)  # the counting subprocess
    args = parser.parse_args()
    if args.count_checkpoint:
        print(json.dumps(count_checkpoint(args.count_checkpoint)))
        return

    work = Path(tempfile.mkdtemp(prefix="playerruns-soak-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a SIGTERM cleans up as Ctrl+C does
    try:
        os.environ["HOME"] = str(work / "maker")  # tmrl reads HOME at import: the feeder's own TmrlData
        from playerruns.bridge.setup import init_tmrl_data, load_setup

        init_tmrl_data(work / "maker", interface=f"GYM:{MAKER_ENV}")
        setup = load_setup()
        report: dict[str, Any] = {"benchmark": "soak", "machine": machine(),
                                  "args": {k: str(v) for k, v in vars(args).items() if k != "count_checkpoint"},
                                  "settings": {"worker_env": WORKER_ENV, "step_seconds": STEP_SECONDS,
                                               "demo_injection_repeat": REPEAT, "reject_after_seconds": REJECT_AFTER,
                                               "epoch_updates": args.epoch_updates}, "runs": []}
        settings = {"on": [True], "off": [False], "both": [True, False]}[args.consume]
        for k, consume in enumerate(settings):
            home = make_home(work / f"consume-{'on' if consume else 'off'}", consume, args.epoch_updates)
            os.environ["HOME"] = str(home)  # ServerLink.from_config reads the soak's config.json
            print(f"soak {k + 1} of {len(settings)}: CONSUME_ON_READ {consume}, {args.minutes:g} min, "
                  f"{args.kills} kill(s)", flush=True)
            soak = Soak(home, consume, args.minutes, args.kills, args.seed + k, setup)
            try:
                report["runs"].append(soak.run())
            finally:
                CHILDREN.kill_all()
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=2) + "\n")  # after each soak: a later failure keeps it
        print_report(report)
        print(f"results: {args.out}")
    finally:
        CHILDREN.kill_all()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
