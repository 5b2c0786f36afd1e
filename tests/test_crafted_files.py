"""Hostile run files built by hand from pickle opcodes (``tests/crafted.py``), against every tool.

Issue 20, item 1: whatever a run file holds, info and metadata included, is checked against an
allow-list of plain types with bounds on depth, element count and decoded size, and object-dtype
arrays are refused before numpy builds them. Each kind of the corpus is placed in a sample's
``info``, in the ``metadata`` and as an observation, and each file is given to:

- ``--import-player-runs`` (the ``info`` file; a dataset already exists and must not change) and
  ``--import-player-runs --player-runs-dry-run`` (the ``obs`` file): exit code 2, one line naming it;
- ``--send-player-runs`` (every placement; nothing listens at the server's port: a file is read
  before anything is sent, and no socket may even try to connect): exit code 2, one line naming it;
- ``--inspect --json`` (every placement at once): the file whose metadata holds the payload is named
  in one line on stderr (exit code 1); the others may be listed (``--inspect`` reads only a file's
  metadata when it can) or named;
- the trainer's SOURCE_PATH poller (every placement): each file renamed ``.pkl.rejected`` with its
  reason, one line naming it;
- ``playerruns.load_run`` in this process, for the kinds that cannot crash it (``SUBPROCESS_ONLY``
  run in child processes only: some of them crash numpy with a segmentation fault).

Starting ``python -m playerruns`` costs seconds (it imports tmrl and torch), so each tool takes the
whole corpus in ONE child: import, dry run and send call ``playerruns.cli.main([...])`` in that child
once per file (``BATCH_PROGRAM``: its return value is the exit code, its stdout and stderr are captured
per call and reported as JSON), inspect takes every file in one command line, the poller polls one
folder holding them all. When such a child does not end cleanly (a crash takes every file with it),
each kind is run again in a child of its own, so that a failure still names its kind. A few
representative kinds (``CLI_KINDS``: an object array, deep nesting, an amplification, a cycle) are
also given to a real ``python -m playerruns --import-player-runs`` each, to prove the command-line path.
These children are all started when the module's first test needs one (``launched``), ``PARALLEL`` at
a time, each with a copy of the HOME of its own (a dataset changed by one names that one).

Every child runs with its address space limited (``RLIMIT_AS``), a timeout, and its peak memory
measured (``os.wait4``): a child killed by a signal, timed out or grown past ``MAX_RSS_MB`` fails the
test that ran it, naming the kind.

A positive control (ordinary numpy arrays, scalars and dtypes, OrderedDict, sets, tuples in info and
metadata) must still import and come back exactly, so that the checks do not refuse what run files
legitimately hold (inspect, send and import it through main() in one child, with the dry run of
the harmless envelope).
"""

from __future__ import annotations

import json
import os
import pickle
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from playerruns import RunFileError, load_run
from playerruns.bridge.dataset import read_dataset
from playerruns.runs.runfile import RunFile, save_run
from playerruns.shipping.link import free_local_ports
from tests.crafted import (
    CORPUS,
    LARGE,
    MALFORMED,
    NONE,
    SUBPROCESS_ONLY,
    WHERES,
    lidar_template,
    opcodes_ok,
    wrap,
)
from tests.helpers import make_home, one_line_error, subprocess_env

KINDS = sorted(CORPUS)
IN_PROCESS_KINDS = [k for k in KINDS if k not in SUBPROCESS_ONLY]
ADDRESS_SPACE = 3 << 30  # RLIMIT_AS of each child: tmrl + torch need about 1 GB of it
MAX_RSS_MB = 1536  # peak resident memory a child may reach
TIMEOUT = 60.0  # seconds per child (a group of files gets more, see _group_timeout)
PARALLEL = 3  # children running at once (on two cores: one imports tmrl while another works)


# -- children -----------------------------------------------------------------------------------------

@dataclass
class Child:
    """How a child process ended."""

    argv: list[str]
    returncode: int  # negative: killed by that signal
    stdout: str
    stderr: str
    maxrss_mb: float
    seconds: float
    timed_out: bool

    def completed(self) -> subprocess.CompletedProcess:
        return subprocess.CompletedProcess(self.argv, self.returncode, self.stdout, self.stderr)

    @property
    def clean(self) -> bool:
        """Ended on its own, by exit (not a signal), within the time and memory allowed."""
        return not self.timed_out and self.returncode >= 0 and self.maxrss_mb < MAX_RSS_MB

    def why_not_clean(self) -> str:
        if self.timed_out:
            return f"timed out after {self.seconds:.0f} s"
        if self.returncode < 0:
            return f"killed by signal {signal.Signals(-self.returncode).name} (returncode {self.returncode})"
        return f"peak memory {self.maxrss_mb:.0f} MB >= {MAX_RSS_MB} MB"

    def assert_clean(self, what: str) -> None:
        assert self.clean, (f"{what}: {self.why_not_clean()}; stdout: {self.stdout[-1000:]!r}; "
                            f"stderr: {self.stderr[-2000:]!r}")


@dataclass(frozen=True)
class Job:
    """A child to run: ``argv`` after the interpreter, with HOME=home; its output goes next to home."""

    name: str
    home: Path
    argv: tuple[str, ...]
    timeout: float = TIMEOUT
    results: Path | None = None  # where BATCH_PROGRAM writes its results

    def output(self, suffix: str) -> Path:
        return self.home.parent / f"{re.sub(r'[^A-Za-z0-9_.-]', '-', self.name)}.{suffix}"


def _limit_child() -> None:  # runs in the child, before exec
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_children(jobs: list[Job], parallel: int = PARALLEL) -> dict[str, Child]:
    """Runs ``jobs``, ``parallel`` at a time, each with its address space limited; each is waited for
    with ``os.wait4`` for its peak memory and killed (its whole session) after its timeout."""
    pending, running, ended = list(jobs), {}, {}
    try:
        while pending or running:
            while pending and len(running) < parallel:
                job = pending.pop(0)
                if job.results is not None:
                    job.results.unlink(missing_ok=True)
                with open(job.output("out"), "wb") as out, open(job.output("err"), "wb") as err:
                    proc = subprocess.Popen([sys.executable, *job.argv], env=subprocess_env(job.home), stdout=out,
                                            stderr=err, stdin=subprocess.DEVNULL, preexec_fn=_limit_child,
                                            start_new_session=True)
                running[proc.pid] = (job, proc, time.monotonic())
            for pid, (job, proc, started) in list(running.items()):
                done, status, usage = os.wait4(pid, os.WNOHANG)
                timed_out = False
                if not done:
                    if time.monotonic() - started <= job.timeout:
                        continue
                    timed_out = True
                    os.killpg(pid, signal.SIGKILL)
                    done, status, usage = os.wait4(pid, 0)
                del running[pid]
                proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
                ended[job.name] = Child(list(proc.args), proc.returncode,
                                        job.output("out").read_text(errors="replace"),
                                        job.output("err").read_text(errors="replace"), usage.ru_maxrss / 1024,
                                        time.monotonic() - started, timed_out)
            time.sleep(0.02)
    finally:
        for pid, (_job, proc, _started) in running.items():  # only after an error here
            os.killpg(pid, signal.SIGKILL)
            proc.wait()
    return ended


def run_child(home: Path, argv: list[str], timeout: float = TIMEOUT, name: str = "child") -> Child:
    return run_children([Job(name, home, tuple(argv), timeout)])[name]


def cli(home: Path, *args: str, timeout: float = TIMEOUT) -> Child:
    return run_child(home, ["-m", "playerruns", *args], timeout)


def _group_timeout(files: int) -> float:
    return TIMEOUT + 2.0 * files


# -- import, dry run and send in one child: playerruns.cli.main([...]) called once per file ------------

BATCH_PROGRAM = r"""
import contextlib, io, json, logging, socket, sys, traceback
from pathlib import Path

spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
dataset = Path(spec["dataset"])
snapshot = {p.name: p.read_bytes() for p in dataset.iterdir() if p.is_file()}

def dataset_changes():
    now = {p.name: p.read_bytes() for p in dataset.iterdir() if p.is_file()}
    return sorted(n for n in set(now) | set(snapshot) if now.get(n) != snapshot.get(n))

def restore_dataset():
    for p in dataset.iterdir():
        if p.is_file() and p.name not in snapshot:
            p.unlink()
    for name, data in snapshot.items():
        (dataset / name).write_bytes(data)

connects = []  # every attempt of a socket to connect (to a server): send must refuse before any
_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
def connect(self, address):
    connects.append(repr(address))
    return _connect(self, address)
def connect_ex(self, address):
    connects.append(repr(address))
    return _connect_ex(self, address)
socket.socket.connect, socket.socket.connect_ex = connect, connect_ex

logging.basicConfig(stream=sys.stdout, level=logging.INFO)  # as main() does, but onto the real stdout
from playerruns.cli import main

with open(sys.argv[2], "w", encoding="utf-8") as results:
    for call in spec["calls"]:
        del connects[:]
        out, err, result = io.StringIO(), io.StringIO(), {"id": call["id"]}
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                result["code"] = main(call["argv"])
        except SystemExit as stop:  # argparse
            result["code"] = stop.code
        except BaseException:
            result["exception"] = traceback.format_exc()[-4000:]
        result.update(stdout=out.getvalue()[-4000:], stderr=err.getvalue()[-4000:], connects=list(connects),
                      dataset_changed=dataset_changes())
        if result["dataset_changed"] and not call.get("keep_dataset"):
            restore_dataset()
        results.write(json.dumps(result) + "\n")
        results.flush()
"""


@dataclass
class Batch:
    """A child that ran ``BATCH_PROGRAM``: how it ended, and each call's result by call id."""

    child: Child
    home: Path
    results: dict[str, dict[str, Any]]

    @classmethod
    def read(cls, job: Job, child: Child) -> Batch:
        results = {}
        if job.results is not None and job.results.exists():
            for line in job.results.read_text(encoding="utf-8").splitlines():
                if line.endswith("}"):  # the last line of a crashed child may be cut short
                    result = json.loads(line)
                    results[result["id"]] = result
        return cls(child, job.home, results)


def batch_job(name: str, home: Path, calls: list[dict[str, Any]]) -> Job:
    """``calls`` (each ``{"id", "argv"}``, optionally ``"keep_dataset"``) in one child with HOME=home."""
    spec = home.parent / f"{name}.json"
    spec.write_text(json.dumps({"dataset": str(home / "TmrlData" / "dataset"), "calls": calls}), encoding="utf-8")
    results = home.parent / f"{name}.results.jsonl"
    return Job(name, home, ("-c", BATCH_PROGRAM, str(spec), str(results)), _group_timeout(len(calls)), results)


# -- the files ---------------------------------------------------------------------------------------

def crafted_file(folder: Path, kind: str, where: str) -> Path:
    """The corpus file of ``kind`` with its payload at ``where``, written in ``folder`` (run id of its own)."""
    path = folder / f"{kind}-{where}.pkl"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        path.write_bytes(crafted_bytes(kind, where))
    return path


def crafted_bytes(kind: str, where: str) -> bytes:
    return CORPUS[kind](where, lidar_template(run_id=f"crafted-{kind}-{where}"))


def envelope_file(folder: Path, where: str) -> Path:
    """The run around every payload, with None as its payload at ``where``."""
    path = folder / f"envelope-{where}.pkl"
    if not path.exists():
        path.write_bytes(wrap(NONE, where, lidar_template(run_id=f"crafted-envelope-{where}")))
    return path


def control_values() -> dict[str, Any]:
    """What run files legitimately hold in info and metadata: none of it may be refused."""
    return {
        "f32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "i64": np.array([-(2**62), 0, 2**62], dtype=np.int64),
        "u8": np.arange(5, dtype=np.uint8),
        "bool": np.array([True, False, True]),
        "text": np.array(["ab", "cdé", ""]),
        "bytes_array": np.array([b"ab", b"c"]),
        "zero_d": np.array(3.5),
        "fortran": np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)),
        "big_endian": np.array([1.5, -2.25], dtype=">f8"),
        "c64": np.array([1 + 2j], dtype=np.complex64),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "scalars": (np.float32(1.5), np.int64(-7), np.bool_(True), np.float64(2.5), np.uint16(9)),
        "dtypes": [np.dtype("float32"), np.dtype(">i4"), np.dtype("U5"), np.dtype("bool")],
        "ordered": OrderedDict([("b", 1), ("a", [2, 3])]),
        "set": {1, 2, "x"},
        "frozenset": frozenset({(1, 2), 3}),
        "tuple": (1, 2.5, None, True, "s", b"\x00\xff", complex(1, -1)),
        "bytearray": bytearray(b"abc"),
        "nested": {"a": [{"b": (1, [2, {"c": 3.0}])}]},
        "big_int": 2**100,
        "telemetry": np.linspace(0, 1, 11, dtype=np.float32),
    }


def control_reference() -> dict[str, Any]:
    """``control_values`` as plain ``pickle`` gives them back (numpy makes a big-endian array native
    when it unpickles it, for one): what the restricted loader must give too."""
    return pickle.loads(pickle.dumps(control_values(), protocol=4))


def control_run(run_id: str = "crafted-control") -> RunFile:
    content = lidar_template(run_id=run_id)
    samples = [(a, o, r, te, tr, {**info, "control": control_values()}) for a, o, r, te, tr, info in content["samples"]]
    return RunFile(samples=samples, run_id=run_id, recorded_at=content["recorded_at"],
                   metadata={**content["metadata"], "control": control_values()})


def assert_same(got: Any, want: Any, where: str = "value") -> None:
    """``got`` is ``want`` exactly: types, dtypes (byte order included), shapes, memory order, values."""
    assert type(got) is type(want), (where, type(got), type(want))
    if isinstance(want, np.ndarray):
        assert got.dtype == want.dtype and got.dtype.str == want.dtype.str, (where, got.dtype, want.dtype)
        assert got.shape == want.shape, (where, got.shape, want.shape)
        assert got.flags.f_contiguous == want.flags.f_contiguous, (where, "memory order")
        assert got.flags.c_contiguous == want.flags.c_contiguous, (where, "memory order")
        assert got.tobytes(order="A") == want.tobytes(order="A"), where
    elif isinstance(want, np.generic):
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), (where, got, want)
    elif isinstance(want, dict):
        assert list(got) == list(want), (where, list(got), list(want))
        for key in want:
            assert_same(got[key], want[key], f"{where}[{key!r}]")
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), where
        for k, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{where}[{k}]")
    else:
        assert got == want, (where, got, want)


# -- what a refusal looks like ----------------------------------------------------------------------

def assert_refused(child: Child, path: Path, what: str, code: int = 2) -> str:
    """The child refused ``path``: no signal, no timeout, bounded memory, exit ``code``, one line naming it."""
    child.assert_clean(what)
    return one_line_error(child.completed(), f"{path}:", code=code)


def assert_call_refused(result: dict[str, Any], path: Path, what: str) -> str:
    """main() refused ``path``: returned 2 and printed one ``playerruns: error:`` line naming it on stderr."""
    assert "exception" not in result, f"{what}: main() raised\n{result['exception']}"
    return one_line_error(subprocess.CompletedProcess([what], result["code"], result["stdout"], result["stderr"]),
                          f"{path}:", code=2)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def dataset_files(home: Path) -> dict[str, bytes]:
    folder = home / "TmrlData" / "dataset"
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


# -- the HOME, and the children of the module's tests ----------------------------------------------

@dataclass
class World:
    """A TM20LIDAR HOME whose dataset holds one imported run, and nothing listening at its server port;
    each group of children gets a copy of it (``fork``)."""

    root: Path
    home: Path
    corpus: Path
    saved: dict[str, bytes]  # the dataset's files
    jobs: dict[str, Job] = field(default_factory=dict)

    def once(self, key: str, make: Callable[[], Job]) -> Job:
        """The job ``make`` gives, made once (making one writes its files: a poller's folder, once only)."""
        if key not in self.jobs:
            self.jobs[key] = make()
        return self.jobs[key]

    def fork(self, name: str) -> Path:
        """A copy of the HOME (made once), for the children of ``name``."""
        home = self.root / "homes" / name / "home"
        if not home.exists():
            shutil.copytree(self.home, home)
        return home


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("crafted")
    (port,) = free_local_ports(1)
    home = make_home(root, PORT=port, MEMORY_SIZE=100_000)
    template = lidar_template(run_id="crafted-first")
    first = save_run(root / "first.pkl", RunFile(samples=template["samples"], run_id=template["run_id"],
                                                 recorded_at=template["recorded_at"], metadata=template["metadata"]))
    done = cli(home, "--import-player-runs", "--player-runs-paths", str(first))
    assert done.returncode == 0, done.stderr
    return World(root, home, root / "corpus", dataset_files(home))


@dataclass(frozen=True)
class Tool:
    """One of the commands that refuse every kind (called through main() in BATCH_PROGRAM), with the
    placements it is given."""

    name: str
    wheres: tuple[str, ...]
    args: tuple[str, ...]  # before --player-runs-paths PATH

    def job(self, world: World, kinds: list[str] | None = None) -> Job:
        """All the corpus (or ``kinds``) in one child, with a HOME of the tool's own."""
        tool = self.name.replace(" ", "-")
        name = tool if kinds is None else f"{tool}-{'-'.join(kinds)}"

        def make() -> Job:
            calls = [{"id": f"{kind}-{where}",
                      "argv": [*self.args, "--player-runs-paths", str(crafted_file(world.corpus, kind, where))]}
                     for kind in (KINDS if kinds is None else kinds) for where in self.wheres]
            return batch_job(name, world.fork(tool), calls)

        return world.once(name, make)


IMPORT = Tool("import", ("info",), ("--import-player-runs",))
DRY_RUN = Tool("dry run", ("obs",), ("--import-player-runs", "--player-runs-dry-run"))
SEND = Tool("send", WHERES, ("--send-player-runs", "--send-timeout", "2"))

INSPECT_PROGRAM = "--inspect", "--json", "--player-runs-paths"

POLLER_PROGRAM = r"""
import json, sys
from pathlib import Path
from playerruns.bridge.setup import load_setup
from playerruns.trainer.injection import InjectionRecord, SourcePoller

folder = Path(sys.argv[1])
poller = SourcePoller(folder, InjectionRecord(), load_setup().compat, max_files=10_000, reject_after=0.0)
injected = []
for now in range(8):
    for run in poller.poll(now=float(now)):
        poller.mark_injected(run, len(run.samples))
        injected.append(run.source.name)
    if not any(p.suffix == ".pkl" for p in folder.iterdir()):
        break
print(json.dumps(injected))
"""

# a few kinds through the real command line, each in a process of its own
CLI_KINDS = ("object_array_short_data", "deep_lists", "shared_buffer_arrays", "cycle_list")


def inspect_job(world: World) -> Job:
    def make() -> Job:
        paths = [crafted_file(world.corpus, kind, where) for kind in KINDS for where in WHERES]
        return Job("inspect", world.fork("inspect"),
                   ("-m", "playerruns", *INSPECT_PROGRAM, ",".join(map(str, paths))), _group_timeout(len(paths)))

    return world.once("inspect", make)


def poll_job(world: World, folder: Path, files: int) -> Job:
    return Job(f"poll-{folder.name}", world.fork("poller"), ("-c", POLLER_PROGRAM, str(folder)), _group_timeout(files))


def poll_all_job(world: World) -> Job:
    def make() -> Job:
        folder = world.root / "source-all"
        for kind in KINDS:
            for where in WHERES:
                crafted_file(folder, kind, where)
        save_run(folder / "zz-control.pkl", control_run("crafted-control-poller"))
        return poll_job(world, folder, len(KINDS) * len(WHERES))

    return world.once("poll-all", make)


def accepted_job(world: World) -> Job:
    """A dry run of the envelopes, then the control through inspect, send and import (kept in the dataset)."""
    return world.once("accepted", lambda: _accepted_job(world))


def _accepted_job(world: World) -> Job:
    envelopes = ",".join(str(envelope_file(world.root, where)) for where in ("info", "metadata"))
    control = str(save_run(world.root / "control-cli.pkl", control_run("crafted-control-cli")))
    calls = [
        {"id": "envelope-dry-run", "argv": ["--import-player-runs", "--player-runs-dry-run",
                                            "--player-runs-paths", envelopes]},
        {"id": "control-inspect", "argv": ["--inspect", "--json", "--player-runs-paths", control]},
        {"id": "control-send", "argv": ["--send-player-runs", "--player-runs-paths", control, "--send-timeout", "2"]},
        {"id": "control-import", "argv": ["--import-player-runs", "--player-runs-paths", control],
         "keep_dataset": True},
    ]
    return batch_job("accepted", world.fork("accepted"), calls)


def cli_import_job(world: World, kind: str) -> Job:
    name = f"cli-import-{kind}"
    return world.once(name, lambda: Job(name, world.fork(name), ("-m", "playerruns", "--import-player-runs",
                                                                 "--player-runs-paths",
                                                                 str(crafted_file(world.corpus, kind, "info")))))


# the children each test of this module needs (by test function; ``kind`` when it is parametrized by it)
NEEDS: dict[str, Callable[[World, str | None], Job]] = {
    "test_envelope_is_a_valid_run": lambda world, kind: accepted_job(world),
    "test_control_goes_through_every_tool": lambda world, kind: accepted_job(world),
    "test_import_refuses": lambda world, kind: IMPORT.job(world),
    "test_dry_run_refuses": lambda world, kind: DRY_RUN.job(world),
    "test_send_refuses_before_sending": lambda world, kind: SEND.job(world),
    "test_cli_import_refuses": lambda world, kind: cli_import_job(world, kind or CLI_KINDS[0]),
    "test_inspect_names_what_it_cannot_read": lambda world, kind: inspect_job(world),
    "test_trainer_injects_the_control": lambda world, kind: poll_all_job(world),
    "test_trainer_quarantines": lambda world, kind: poll_all_job(world),
}


class Launched:
    """The children of the selected tests, run together (``PARALLEL`` at a time) when the first of them
    needs one; a child asked for later (a kind run alone) is run then."""

    def __init__(self, jobs: list[Job]) -> None:
        self.children = run_children(jobs)

    def child(self, job: Job) -> Child:
        if job.name not in self.children:
            self.children.update(run_children([job]))
        return self.children[job.name]

    def batch(self, job: Job) -> Batch:
        return Batch.read(job, self.child(job))


@pytest.fixture(scope="module")
def launched(world: World, request) -> Launched:
    jobs: dict[str, Job] = {}
    for item in request.session.items:
        need = NEEDS.get(getattr(item, "originalname", ""))
        if need is not None and getattr(item, "module", None) is request.module:
            callspec = getattr(item, "callspec", None)
            job = need(world, callspec.params.get("kind") if callspec else None)
            jobs.setdefault(job.name, job)
    return Launched(list(jobs.values()))


class ToolRuns:
    """The corpus through one tool: one child for all the kinds, and (when that child did not end
    cleanly) a child per kind, run when a test asks for that kind."""

    def __init__(self, launched: Launched, world: World, tool: Tool) -> None:
        self.launched, self.world, self.tool = launched, world, tool
        self.all = launched.batch(tool.job(world))

    def results(self, kind: str) -> dict[str, dict[str, Any]]:
        """The result of each placement of ``kind`` (by where), from a child that ended cleanly."""
        batch = self.all
        ids = [f"{kind}-{where}" for where in self.tool.wheres]
        if not batch.child.clean or any(i not in batch.results for i in ids):  # this kind alone
            batch = self.launched.batch(self.tool.job(self.world, [kind]))
            batch.child.assert_clean(f"{self.tool.name} of {kind}")
        missing = [i for i in ids if i not in batch.results]
        assert not missing, (f"{self.tool.name} of {kind}: no result for {missing}; "
                             f"stderr: {batch.child.stderr[-2000:]!r}")
        return {where: batch.results[f"{kind}-{where}"] for where in self.tool.wheres}


# -- the corpus itself ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_corpus_files_are_what_they_claim(kind):
    """Each file is a pickle up to its STOP (pickletools builds nothing), small unless it must be big,
    and the same file with a harmless payload is a valid run (test_envelope_is_a_valid_run)."""
    for where in WHERES:
        data = CORPUS[kind](where)
        assert data.startswith(b"\x80\x04") and data.endswith(b".")
        assert opcodes_ok(data) or kind in MALFORMED, (kind, where)
        assert len(data) < (2 << 20 if kind in LARGE else 16 << 10), (kind, where, len(data))
        assert b"playerruns crafted payload" not in data


@pytest.fixture(scope="module")
def accepted(world: World, launched: Launched) -> Batch:
    batch = launched.batch(accepted_job(world))
    batch.child.assert_clean("dry run of the envelopes, then the control through every tool")
    return batch


def test_envelope_is_a_valid_run(world: World, accepted: Batch):
    """The run around every payload imports when its payload is harmless (None in info and metadata):
    what the tests below see refused is the payload, not the envelope."""
    for where in ("info", "metadata"):
        assert load_run(envelope_file(world.root, where)).run_id == f"crafted-envelope-{where}"
    done = accepted.results["envelope-dry-run"]
    assert "exception" not in done, done["exception"]
    assert done["code"] == 0, done["stderr"]
    assert "would import 2 run(s)" in done["stdout"]
    assert done["dataset_changed"] == [], done["dataset_changed"]


# -- every tool against every kind -------------------------------------------------------------------

@pytest.fixture(scope="module")
def imports(world: World, launched: Launched) -> ToolRuns:
    return ToolRuns(launched, world, IMPORT)


@pytest.fixture(scope="module")
def dry_runs(world: World, launched: Launched) -> ToolRuns:
    return ToolRuns(launched, world, DRY_RUN)


@pytest.fixture(scope="module")
def sends(world: World, launched: Launched) -> ToolRuns:
    return ToolRuns(launched, world, SEND)


@pytest.mark.parametrize("kind", KINDS)
def test_import_refuses(kind, world: World, imports: ToolRuns):
    path = crafted_file(world.corpus, kind, "info")
    result = imports.results(kind)["info"]
    assert_call_refused(result, path, f"import of {kind} (in info)")
    assert result["dataset_changed"] == [], f"{kind}: the dataset changed: {result['dataset_changed']}"
    assert path.read_bytes() == crafted_bytes(kind, "info")


@pytest.mark.parametrize("kind", KINDS)
def test_dry_run_refuses(kind, world: World, dry_runs: ToolRuns):
    path = crafted_file(world.corpus, kind, "obs")
    result = dry_runs.results(kind)["obs"]
    assert_call_refused(result, path, f"dry run of {kind} (as obs)")
    assert result["dataset_changed"] == [], f"{kind}: the dataset changed: {result['dataset_changed']}"


@pytest.mark.parametrize("kind", KINDS)
def test_send_refuses_before_sending(kind, world: World, sends: ToolRuns):
    for where, result in sends.results(kind).items():
        path = crafted_file(world.corpus, kind, where)
        assert_call_refused(result, path, f"send of {kind} (in {where})")
        assert "Sending" not in result["stdout"] and "Not sent" not in result["stdout"], (kind, where, result["stdout"])
        assert result["connects"] == [], (kind, where, "a socket tried to connect", result["connects"])
        assert path.read_bytes() == crafted_bytes(kind, where)


@pytest.mark.parametrize("kind", CLI_KINDS)
def test_cli_import_refuses(kind, world: World, launched: Launched):
    """``python -m playerruns --import-player-runs`` itself: exit code 2, one line naming the file, data.pkl
    unchanged."""
    path = crafted_file(world.corpus, kind, "info")
    job = cli_import_job(world, kind)
    assert_refused(launched.child(job), path, f"import of {kind} (in info) by the command line")
    assert dataset_files(job.home) == world.saved, f"{kind}: the dataset changed"
    assert path.read_bytes() == crafted_bytes(kind, "info")


# inspect and the poller: the whole corpus in one child, then (if it did not end cleanly) kind by kind

@pytest.fixture(scope="module")
def inspect_all(world: World, launched: Launched) -> Child:
    return launched.child(inspect_job(world))


@pytest.mark.parametrize("kind", KINDS)
def test_inspect_names_what_it_cannot_read(kind, world: World, inspect_all: Child):
    paths = {where: crafted_file(world.corpus, kind, where) for where in WHERES}
    child = inspect_all
    if not child.clean:  # a crash (or a hang) of another kind takes every file with it: this kind alone
        child = cli(world.home, *INSPECT_PROGRAM, ",".join(map(str, paths.values())))
        child.assert_clean(f"inspect of {kind}")
    lines = error_lines(child.stderr)
    for line in lines:
        assert line.startswith("playerruns: error: "), line  # nothing but one-line errors (no traceback)
    listed = {json.loads(line)["path"] for line in child.stdout.splitlines() if line.startswith("{")}
    for where, path in paths.items():
        named = [line for line in lines if line.startswith(f"playerruns: error: {path}:")]
        if where == "metadata":  # inspect reads the metadata of every file
            assert len(named) == 1 and str(path) not in listed, (kind, where, named, child.stderr[-1000:])
        else:  # the samples are read only when the metadata is not enough
            assert (len(named) == 1) != (str(path) in listed), (kind, where, named)
    assert child.returncode == 1, (kind, child.returncode)


@pytest.fixture(scope="module")
def poll_all(world: World, launched: Launched) -> tuple[Path, Child]:
    return world.root / "source-all", launched.child(poll_all_job(world))


def _poll(world: World, folder: Path, files: int) -> Child:
    job = poll_job(world, folder, files)
    return run_children([job])[job.name]


def test_trainer_injects_the_control(world: World, poll_all):
    folder, child = poll_all
    if not child.clean:  # the corpus crashed it: the control alone
        folder = world.root / "source-control"
        folder.mkdir(exist_ok=True)
        save_run(folder / "zz-control.pkl", control_run("crafted-control-poller"))
        child = _poll(world, folder, 1)
        child.assert_clean("poller with the control alone")
    assert (folder / "zz-control.pkl.imported").exists(), child.stderr[-2000:]
    assert "zz-control.pkl" in json.loads(child.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("kind", KINDS)
def test_trainer_quarantines(kind, world: World, poll_all):
    folder, child = poll_all
    if not child.clean:
        folder = world.root / f"source-{kind}"
        for where in WHERES:
            crafted_file(folder, kind, where)
        child = _poll(world, folder, len(WHERES))
        child.assert_clean(f"poller with {kind}")
    for where in WHERES:
        name = f"{kind}-{where}.pkl"
        assert not (folder / name).exists(), (kind, where, "neither injected nor rejected", child.stderr[-1500:])
        assert not (folder / f"{name}.imported").exists(), (kind, where, "injected")
        assert (folder / f"{name}.rejected").read_bytes() == crafted_bytes(kind, where)
        reason = (folder / f"{name}.rejected.reason").read_text(encoding="utf-8").strip()
        assert "\n" not in reason and reason.startswith(f"{folder / name}:"), (kind, where, reason)


# -- the API, in this process ------------------------------------------------------------------------

@pytest.mark.parametrize("kind", IN_PROCESS_KINDS)
def test_load_run_raises_run_file_error(kind, tmp_path):
    for where in WHERES:
        path = crafted_file(tmp_path, kind, where)
        with pytest.raises(RunFileError) as err:
            load_run(path)
        message = str(err.value)
        assert message.startswith(f"{path}:") and "\n" not in message and len(message) < 1000, (where, message)


# -- the positive control ------------------------------------------------------------------------------

def test_control_round_trips_in_process(tmp_path):
    run = control_run()
    path = save_run(tmp_path / "control.pkl", run)
    loaded = load_run(path)
    reference = pickle.loads(pickle.dumps(run.to_dict(), protocol=4))
    assert_same(loaded.metadata, reference["metadata"], "metadata")
    assert_same(loaded.samples, reference["samples"], "samples")
    assert_same(loaded.metadata["control"], control_reference(), "metadata['control']")


def test_control_goes_through_every_tool(world: World, accepted: Batch):
    """Import, inspect and send (main() in one child) take the control; the dataset holds its info
    values exactly."""
    path, run_id = world.root / "control-cli.pkl", "crafted-control-cli"
    for name in ("inspect", "send", "import"):
        done = accepted.results[f"control-{name}"]
        assert "exception" not in done, (name, done["exception"])
    done = accepted.results["control-inspect"]
    assert done["code"] == 0 and json.loads(done["stdout"].strip().splitlines()[-1])["fits"], done["stderr"]
    done = accepted.results["control-send"]
    assert done["code"] == 1 and f"Not sent {path.name} (run {run_id}): no tmrl server" in done["stdout"], \
        (done["stdout"], done["stderr"])
    done = accepted.results["control-import"]
    assert done["code"] == 0, done["stderr"]
    assert "data.pkl" in done["dataset_changed"], done
    infos = next(c for c in read_dataset(accepted.home / "TmrlData" / "dataset" / "data.pkl")
                 if c and isinstance(c[0], dict))
    mine = [info for info in infos if info.get("player_run_id") == run_id]
    assert mine, "the control's samples are not in the dataset"
    for info in mine:
        assert_same(info["control"], control_reference(), "info['control'] in data.pkl")
