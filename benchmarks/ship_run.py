"""Shipping a 5,000-sample lidar run to the trainer through tmrl's server, against a rollout worker
sending the same 5,000 samples through the same server, in the same run.

One tmrl Server (its tlspyo relay) on 127.0.0.1 and one trainer process: a real ``PlayerRunsTraining``
(TM20LIDAR configuration, tmrl's lidar memory with demo weighting) behind ``PlayerRunsTrainerInterface``,
calling its real ``update_buffer`` in a loop, as a trainer waiting for samples does. It prints the time
whenever its memory grows. In this process:

- **worker**: a real tmrl ``RolloutWorker`` whose buffer holds the run's samples, compressed by tmrl's
  lidar compressor as the worker compresses what it collects, sent one episode per buffer with tmrl's
  ``send_and_clear_buffer`` (a worker sends after each episode). Timed from the first send until the
  trainer's memory holds all of them.
- **ship**: a connected ``RunSender`` ships the run file (5 episodes; raw samples, as recorded); the
  trainer validates it, stores it, compresses it and appends it; the sender then reads the receipt.
  Timed from ``add`` until the receipt says taken (``ship``), and until the trainer's memory held the
  run (``ship_injected``). A sender started cold (its connection opened inside the timing) is timed too.

Rounds alternate which goes first. Target: ship at most 2x the worker's time. Last line:
``ship_ratio: <median over rounds of ship / worker>``.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TARGET = 2.0
EPISODES = 5
STEPS = 999  # + the reset sample: 1,000 samples per episode, 5,000 in the run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="timed rounds (each: worker, ship, cold ship)")
    parser.add_argument("--trainer-role", metavar="HOME", help=argparse.SUPPRESS)  # the trainer process
    args = parser.parse_args()
    if args.trainer_role:
        os.environ["HOME"] = args.trainer_role
        trainer_loop()
        return
    home = Path(tempfile.mkdtemp(prefix="playerruns-bench-ship-"))
    os.environ["HOME"] = str(home)  # tmrl reads ~/TmrlData/config/config.json at import
    try:
        run(home, args.rounds)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def trainer_loop() -> None:
    """The trainer process: PlayerRunsTraining.update_buffer in a loop; prints `t raw demo` on growth."""
    import tmrl.config.config_constants as cfg
    from gymnasium.spaces import Tuple

    from playerruns.bridge.setup import load_setup, raw_sample_count
    from playerruns.trainer.config import parse_player_runs
    from playerruns.trainer.receiving import PlayerRunsTrainerInterface
    from playerruns.trainer.roles import training_cls

    setup = load_setup()
    player_runs = parse_player_runs(cfg.TMRL_CONFIG)
    spaces = Tuple([*setup.observation_space.spaces, *[setup.action_space] * setup.act_buf_len])
    training = training_cls(setup, player_runs)(env_cls=(spaces, setup.action_space))
    interface = PlayerRunsTrainerInterface(server_ip="127.0.0.1", model_path=str(Path(os.environ["HOME"]) / "m.tmod"))
    last = None
    print("ready", flush=True)
    while True:
        started, full_collections = time.monotonic(), gc.get_stats()[2]["collections"]
        training.update_buffer(interface)
        memory = training.memory
        now = (raw_sample_count(memory.data), memory.demo_index.n_demo_samples)
        if now != last:
            collected = gc.get_stats()[2]["collections"] - full_collections
            print(f"{time.monotonic():.6f} {now[0]} {now[1]} {time.monotonic() - started:.6f} {collected}", flush=True)
            last = now
        time.sleep(0.005)


class TrainerWatch:
    """Reads the trainer process's lines: (time, raw samples, demo samples) as its memory grows."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.points: list[tuple[float, int, int]] = []
        self.update_seconds: list[float] = []  # how long the buffer update that grew the memory took
        self.full_collections: list[int] = []  # Python's full garbage collections during that update
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip() == "ready":
                self.ready.set()
                continue
            parts = line.split()
            if len(parts) == 5:
                try:
                    self.points.append((float(parts[0]), int(parts[1]), int(parts[2])))
                    self.update_seconds.append(float(parts[3]))
                    self.full_collections.append(int(parts[4]))
                except ValueError:
                    pass

    def when(self, predicate, timeout: float = 300.0) -> tuple[float, int, int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for point in list(self.points):
                if predicate(point):
                    return point
            if self.proc.poll() is not None:
                raise SystemExit(f"the trainer process exited ({self.proc.returncode})")
            time.sleep(0.002)
        raise SystemExit("timed out waiting for the trainer")

    @property
    def last(self) -> tuple[float, int, int]:
        return self.points[-1] if self.points else (0.0, 0, 0)


def run(home: Path, rounds: int) -> None:
    import numpy as np

    from playerruns.bridge.setup import init_tmrl_data, load_setup
    from playerruns.runs.runfile import new_run_id, save_run
    from playerruns.runs.sample import split_episodes
    from playerruns.shipping.link import ServerLink, free_local_ports
    from playerruns.tools.synthetic import synthetic_run

    port, p_server, p_trainer, p_worker = free_local_ports(4)
    init_tmrl_data(home, interface="TM20LIDAR", overrides={
        "MEMORY_SIZE": 1_000_000, "BATCH_SIZE": 64, "PORT": port, "LOCAL_PORT_SERVER": p_server,
        "LOCAL_PORT_TRAINER": p_trainer, "LOCAL_PORT_WORKER": p_worker,
        "PLAYER_RUNS": {"ONLINE_INJECTION": True, "SOURCE_PATH": str(home / "unused"),
                        "RECEIVED_PATH": str(home / "received")}})
    setup = load_setup()
    run_file = synthetic_run(setup, episodes=EPISODES, steps=STEPS, rng=np.random.default_rng(0))
    n = len(run_file.samples)
    files = []
    for k in range(2 * rounds + 1):  # a new run id each time: a run sent twice is not injected twice
        run_file.run_id = new_run_id()
        files.append(save_run(home / f"run{k}.pkl", run_file))
    episodes = split_episodes(run_file.samples)
    compressed = [[setup.compress(s) for s in ep] for ep in episodes]
    print(f"run: {n} samples in {len(episodes)} episodes, {files[0].stat().st_size / 1e6:.1f} MB on disk; "
          f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen([sys.executable, "-m", "playerruns", "--server"], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    trainer = subprocess.Popen([sys.executable, __file__, "--trainer-role", str(home)], stdout=subprocess.PIPE,
                               text=True, env=env, start_new_session=True)
    watch = TrainerWatch(trainer)
    worker = None
    try:
        if not watch.ready.wait(180):
            raise SystemExit("the trainer process did not start")
        worker = _worker(setup)
        link = ServerLink.from_config()
        warm = _sender(link)
        ship_one(warm, files.pop(), watch, n)  # connects, and warms both ends
        send_worker(worker, compressed, watch, n)
        rows = []
        parts: list[tuple[float, float, int]] = []  # per ship: reading the file, the trainer's update, its full GCs
        for k in range(rounds):
            first_worker = k % 2 == 0
            worker_s = send_worker(worker, compressed, watch, n) if first_worker else None
            ship_s, injected_s = ship_one(warm, files.pop(), watch, n)
            parts.append((ship_one.read_seconds, ship_one.trainer_seconds,  # type: ignore[attr-defined]
                          ship_one.full_collections))  # type: ignore[attr-defined]
            cold = _sender(link)
            cold_s, _ = ship_one(cold, files.pop(), watch, n, cold=True)
            cold.close()
            if not first_worker:
                worker_s = send_worker(worker, compressed, watch, n)
            assert worker_s is not None
            rows.append((worker_s, ship_s, injected_s, cold_s))
            read_s, update_s, full_gc = parts[-1]
            print(f"round {k + 1}: worker {worker_s:.3f} s, ship {ship_s:.3f} s (read {read_s:.3f} s, trainer's "
                  f"update {update_s:.3f} s with {full_gc} full GC, injected at {injected_s:.3f} s), "
                  f"cold ship {cold_s:.3f} s, ratio {ship_s / worker_s:.2f}", flush=True)
        warm.close()
    finally:
        if worker is not None:
            worker._RolloutWorker__endpoint.stop()  # tmrl keeps it private; a live endpoint keeps this process up
        for proc in (trainer, server):  # each with the tlspyo connection process it started
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    ratios = [s / w for w, s, _i, _c in rows]
    cold_ratios = [c / w for w, _s, _i, c in rows]
    medians = [statistics.median(r[i] for r in rows) for i in (0, 1, 3)]
    print(f"worker: median {medians[0]:.3f} s; ship: median {medians[1]:.3f} s; cold ship: median {medians[2]:.3f} s")
    print(f"ratio ship/worker: median {statistics.median(ratios):.2f}, worst {max(ratios):.2f}, "
          f"best {min(ratios):.2f} over {len(rows)} rounds (target <= {TARGET:g}); cold ship/worker: "
          f"median {statistics.median(cold_ratios):.2f}, worst {max(cold_ratios):.2f}")
    print(f"ship_ratio: {statistics.median(ratios):.3f}")


def _worker(setup):
    from functools import partial

    import tmrl.config.config_constants as cfg
    from tmrl.custom.custom_models import SquashedGaussianMLPActor
    from tmrl.envs import GenericGymEnv
    from tmrl.networking import RolloutWorker

    # the environment is never stepped: the worker only sends the run's samples through its own transport
    return RolloutWorker(env_cls=partial(GenericGymEnv, id="Pendulum-v1"), actor_module_cls=SquashedGaussianMLPActor,
                         sample_compressor=setup.sample_compressor, device="cpu", server_ip="127.0.0.1",
                         max_samples_per_episode=10_000, model_path=str(Path(os.environ["HOME"]) / "w.tmod"),
                         obs_preprocessor=None, standalone=False, local_port=cfg.LOCAL_PORT_WORKER)


def send_worker(worker, compressed_episodes, watch: TrainerWatch, n: int) -> float:
    """Seconds from the worker's first send until the trainer's memory holds all ``n`` samples."""
    raw0, demo0 = watch.last[1], watch.last[2]
    start = time.monotonic()
    for episode in compressed_episodes:
        for sample in episode:
            worker.buffer.append_sample(sample)
        worker.send_and_clear_buffer()
    t, _raw, _demo = watch.when(lambda p: p[1] - p[2] >= raw0 - demo0 + n)
    return t - start


def _sender(link):
    from playerruns.shipping.sender import RunSender

    return RunSender(link, say=lambda _line: None)


def ship_one(sender, path: Path, watch: TrainerWatch, n: int, cold: bool = False) -> tuple[float, float]:
    """Seconds from ``add`` until the receipt says taken, and until the trainer's memory held the run."""
    if not cold and sender._endpoint is None:
        sender.pump()
    demo0 = watch.last[2]
    start = time.monotonic()
    outgoing = sender.add(path)
    ship_one.read_seconds = time.monotonic() - start  # type: ignore[attr-defined]
    while outgoing.status is None:
        sender.pump()
        time.sleep(0.001)
    done = time.monotonic()
    if not outgoing.delivered:
        raise SystemExit(f"the trainer did not take the run: {outgoing.detail}")
    point = watch.when(lambda p: p[2] >= demo0 + n)
    at = watch.points.index(point)
    ship_one.trainer_seconds = watch.update_seconds[at]  # type: ignore[attr-defined]
    ship_one.full_collections = watch.full_collections[at]  # type: ignore[attr-defined]
    return done - start, point[0] - start


if __name__ == "__main__":
    main()
