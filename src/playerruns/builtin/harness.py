"""Does reusing player runs cut training warmup? One arm of the experiment, trained and evaluated.

Each arm runs tmrl's SAC (in the player-runs arm its subclass DemoSacAgent, with the levers'
settings) through the real tmrl Server, RolloutWorker and Trainer on 127.0.0.1 (``python -m
playerruns --server/--worker/--trainer``), on a built-in task. The "player runs" arm first records a
few runs with a scripted stand-in for a person (or the person, with ``human``) and imports them into
data.pkl, and uses them through the PLAYER_RUNS levers of ``tasks.LEVERS[BEST]``; the "scratch" arm
starts from an empty replay with every lever off (stock tmrl). Everything else is identical. The
benchmark stops an arm once it reaches the threshold (``stop_at_threshold``); the demo trains both
to the budget.

What the trainer did is read from its statistics channel (``playerruns.trainer.statistics``), never
from its log. The worker is held to the trainer through that channel (``builtin.envs.Hold``, given
to the worker's environment as keyword arguments). An evaluator in this process loads the
trainer's latest policy weights every ``eval_every`` environment steps (500 in the full plan) and
runs deterministic episodes on the unpaced task; the environment steps come from the paced
environment of the worker itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from playerruns.bridge.seeding import SEED_ENV
from playerruns.builtin.curves import CurveFigures, Evaluation
from playerruns.builtin.envs import Hold
from playerruns.builtin.progress import read_numbers
from playerruns.builtin.tasks import HYPERPARAMETERS, STEP_SECONDS, Task, hyperparameters
from playerruns.shipping.link import free_local_ports
from playerruns.trainer.best import best_weights_path
from playerruns.trainer.evaluation import drive_episodes
from playerruns.trainer.statistics import read_statistics, statistics_file


@dataclass
class ArmResult:
    arm: str
    seed: int
    budget_steps: int
    curve: list[tuple[int, float, float | None]] = field(default_factory=list)  # (steps, score, lap steps)
    steps_to_threshold: int | None = None  # None: not reached within the budget
    final_return: float | None = None
    demo_samples: int = 0
    demo_fraction_memory: float | None = None
    demo_fraction_sampled: float | None = None
    wall_seconds: float = 0.0
    updates: int = 0  # trainer updates when the budget was reached
    updates_per_step: float | None = None  # what the arm achieved (held at the configured value by the worker)
    worker_waited_seconds: float = 0.0  # how long the worker waited for the trainer
    pretrain_steps: int = 0  # demo-only updates before the worker's samples were used (not in ``updates``)
    levers: dict[str, Any] = field(default_factory=dict)  # the arm's PLAYER_RUNS settings
    driver: dict[str, Any] | None = None  # who drove the player runs (PlayerLaps.describe); None: no runs
    runs: int = 0  # player runs it trained on
    rollbacks: int = 0  # epochs after which the trainer put its best policy back (ROLLBACK_TOLERANCE)
    # epochs below the best it let the policy learn on (ROLLBACK_PATIENCE), and epochs after which the average jumped
    # to the better actor (POLICY_AVERAGING_CATCH_UP); None: a result saved before they were counted
    rollbacks_given_up: int | None = None
    catch_ups: int | None = None
    # the best policy the trainer kept (weights/<RUN_NAME>_best.tmod) at the budget, evaluated as the curve's points
    # are: what a user who takes the kept policy drives (None: not measured, or no such file)
    best_policy_score: float | None = None
    best_policy_lap_steps: float | None = None

    def evaluations(self) -> list[Evaluation]:
        return [Evaluation.from_point(p) for p in self.curve]

    def figures(self, threshold: float) -> CurveFigures:
        return CurveFigures.of(self.evaluations(), threshold)

    def steps_or_budget(self) -> int:
        return self.steps_to_threshold if self.steps_to_threshold is not None else self.budget_steps


def arm_home(folder: Path, task: Task, *, levers: dict[str, Any] | None) -> Path:
    """A HOME holding the TmrlData of one training arm: PLAYER_RUNS ``levers``, or none (scratch, stock tmrl)."""
    from playerruns.bridge.setup import init_tmrl_data

    init_tmrl_data(folder, interface=f"GYM:{task.worker_env}", overrides={
        **hyperparameters(task), "PLAYER_RUNS": {"ONLINE_INJECTION": False, **(levers or {})}})
    return folder


PORT_KEYS = ("PORT", "LOCAL_PORT_SERVER", "LOCAL_PORT_TRAINER", "LOCAL_PORT_WORKER")


def assign_free_ports(home: Path) -> None:
    """Writes ports that are free right now into the arm's config.json, just before its roles start
    (chosen earlier, another program may have taken them meanwhile)."""
    config_file = home / "TmrlData" / "config" / "config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config.update(zip(PORT_KEYS, free_local_ports(len(PORT_KEYS)), strict=True))
    config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _env(home: Path, **extra: str) -> dict[str, str]:
    # one thread per process: the roles share 2 cores, and torch's thread pools fight over them otherwise
    return {**os.environ, "HOME": str(home), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", **extra}


def record_runs(home: Path, count: int, seed: int, *, human: bool = False, driver: str | None = None,
                max_samples: int | None = None) -> Path:
    """Records ``count`` player runs into ``home``'s TmrlData/player_runs with the real recorder CLI;
    ``driver`` is a scripted driver's ``module:factory`` (default: playerruns.envs.drivers:default_driver);
    ``max_samples`` ends each run after that many samples (a person who drives part of a lap)."""
    out = home / "TmrlData" / "player_runs"
    if human:
        args = ["--record-input", "auto"]  # a gamepad if there is one; the CLI says what to do otherwise
    else:
        args = ["--record-input", "scripted", "--record-auto-start", *(["--record-driver", driver] if driver else [])]
    cmd = [sys.executable, "-m", "playerruns", "--record-episode", "--record-episode-count", str(count),
           "--record-episode-output-dir", str(out), *args,
           *(["--record-episode-max-samples", str(max_samples)] if max_samples is not None else [])]
    # the recorder drives the task the worker steps (paced, 100 steps/s: a scripted driver does not mind)
    result = subprocess.run(cmd, env=_env(home, **{SEED_ENV: str(seed)}), stdin=None if human else subprocess.DEVNULL,
                            capture_output=not human, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"recording failed: {result.stderr or result.stdout}")
    return out


def import_runs_cli(home: Path, folder: Path) -> str:
    result = subprocess.run([sys.executable, "-m", "playerruns", "--import-player-runs", "--player-runs-paths",
                             str(folder)], env=_env(home), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"import failed: {result.stderr}")
    return result.stdout.strip().splitlines()[-1]


class Evaluator:
    """Loads the trainer's latest policy and runs deterministic episodes of the unpaced task; its score is
    the lowest return (a task solved in every episode) or the mean (MountainCar, as gymnasium defines it)."""

    def __init__(self, task: Task, episodes: int = 3, levers: dict[str, Any] | None = None) -> None:
        import gymnasium
        from tmrl.custom.custom_models import SquashedGaussianMLPActor

        self.task = task
        self.env = gymnasium.make(task.env_id)
        self.actor: Any
        if (levers or {}).get("RECURRENT"):  # the policy the arm's worker drives
            from playerruns.trainer.recurrent_sac import RecurrentActor

            self.actor = RecurrentActor(self.env.observation_space, self.env.action_space,
                                        hidden=(levers or {}).get("RECURRENT_HIDDEN_SIZE", 64))
        else:
            self.actor = SquashedGaussianMLPActor(self.env.observation_space, self.env.action_space)
        self.episodes = episodes

    def evaluate(self, weights: Path, steps: int = 0) -> Evaluation | None:
        """The policy in ``weights`` evaluated at ``steps`` environment steps; None if the file cannot be
        read right now. Its lap steps are the median episode length when every episode finished a lap
        (it reached the task's threshold)."""
        try:
            self.actor.load(str(weights), device="cpu")
        except Exception:  # the trainer may be writing the file right now: try at the next point
            return None
        driven = drive_episodes(self.actor, self.env, self.episodes)
        returns, lengths = driven.returns, driven.lengths
        score = float(np.min(returns) if self.task.every_episode else np.mean(returns))
        lapped = min(returns) >= self.task.threshold
        return Evaluation(steps, score, float(np.median(lengths)) if lapped else None)


def run_arms_side_by_side(arms: list[dict[str, Any]], task: Task) -> list[ArmResult]:
    """Runs several ``run_arm`` calls (keyword dicts without ``evaluator``) at once, one thread each
    with its own evaluator; the roles are processes, the threads mostly wait. Results in order."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(arms)) as pool:
        futures = [pool.submit(run_arm, task=task, evaluator=Evaluator(task), **kwargs) for kwargs in arms]
        return [f.result() for f in futures]


def run_arm(home: Path, task: Task, *, arm: str, seed: int, budget_steps: int, eval_every: int, evaluator: Evaluator,
            demo_runs: Path | None, on_progress: Callable[[str, int, float | None], None] | None = None,
            time_limit: float | None = None, stop_at_threshold: bool = True) -> ArmResult:
    """Trains one arm (its HOME made by arm_home) through tmrl's real roles until ``budget_steps`` steps,
    or until it reaches the threshold (``stop_at_threshold``)."""
    folder = home
    result = ArmResult(arm=arm, seed=seed, budget_steps=budget_steps)
    config = json.loads((home / "TmrlData" / "config" / "config.json").read_text(encoding="utf-8"))
    result.levers = {k: v for k, v in config.get("PLAYER_RUNS", {}).items() if k != "ONLINE_INJECTION"}
    if demo_runs is not None:
        import_runs_cli(home, demo_runs)
    count_file = folder / "worker_steps.txt"
    params = hyperparameters(task)
    stats_file = statistics_file(home / "TmrlData" / "statistics", HYPERPARAMETERS["RUN_NAME"])
    hold = Hold(  # the worker waits while the trainer is behind: the same updates per step on any machine
        statistics=str(stats_file), updates_per_step=float(params["MAX_TRAINING_STEPS_PER_ENVIRONMENT_STEP"]),
        after=int(params["ENVIRONMENT_STEPS_BEFORE_TRAINING"]),
        # a worker sends its samples once per episode (or every WORKER_SYNC_STEPS): the trainer may lag by that
        slack=_steps_between_sends(task, result.levers) + 2 * int(params["UPDATE_BUFFER_INTERVAL"]))
    worker_env = json.dumps({"hold": hold.to_kwargs(), "count_file": str(count_file)})
    weights = home / "TmrlData" / "weights" / f"{HYPERPARAMETERS['RUN_NAME']}_t.tmod"
    logs = {role: folder / f"{role}.log" for role in ("server", "trainer", "worker")}
    procs: dict[str, subprocess.Popen] = {}
    started = time.monotonic()
    time_limit = time_limit or (budget_steps * STEP_SECONDS * 20 + 300)  # a safety net: the hold may slow it
    assign_free_ports(home)
    try:
        for role in ("server", "trainer", "worker"):
            args = ["--worker", "-d", worker_env] if role == "worker" else [f"--{role}"]
            with open(logs[role], "wb") as log_file:
                procs[role] = subprocess.Popen([sys.executable, "-m", "playerruns", *args],
                                               env=_env(home, **{SEED_ENV: str(seed)}), stdout=log_file,
                                               stderr=subprocess.STDOUT, start_new_session=True)
            if role == "server":
                time.sleep(1.0)
            if role == "trainer":  # the worker's steps count from the moment a trainer can learn from them
                _wait_for_trainer(stats_file, procs, logs, started + time_limit)
        next_eval = eval_every
        steps = 0
        while steps < budget_steps and time.monotonic() - started < time_limit:
            for role, proc in procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"the {role} stopped; see {logs[role]}")
            time.sleep(0.5)
            steps = _read_steps(count_file)
            if steps >= next_eval and weights.exists():
                point = evaluator.evaluate(weights, steps)
                if point is not None:
                    result.curve.append((steps, point.score, point.lap_steps))
                    next_eval = steps + eval_every
                    if result.steps_to_threshold is None and point.score >= task.threshold:
                        result.steps_to_threshold = steps
                    if on_progress:
                        on_progress(arm, steps, point.score)
                    if stop_at_threshold and result.steps_to_threshold is not None:
                        break
        result.updates = _trainer_updates(stats_file)  # at the budget, before the last evaluation
        result.worker_waited_seconds = read_numbers(count_file, 2)[1]
        result.updates_per_step = result.updates / steps if steps else None
        stopped_early = result.steps_to_threshold is not None and stop_at_threshold
        if stopped_early or (result.curve and result.curve[-1][0] == steps):  # the last evaluation is at the budget
            result.final_return = result.curve[-1][1]
        elif weights.exists() and (final := evaluator.evaluate(weights, steps)) is not None:
            result.final_return = final.score
            result.curve.append((steps, final.score, final.lap_steps))
            if result.steps_to_threshold is None and final.score >= task.threshold:
                result.steps_to_threshold = steps
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    result.wall_seconds = time.monotonic() - started
    _read_demo_stats(stats_file, result)
    best = best_weights_path(home / "TmrlData" / "weights", HYPERPARAMETERS["RUN_NAME"])
    if best.exists() and (kept := evaluator.evaluate(best, steps)) is not None:
        result.best_policy_score, result.best_policy_lap_steps = kept.score, kept.lap_steps
    return result


def _steps_between_sends(task: Task, levers: dict[str, Any]) -> int:
    """The most steps a worker drives before its samples leave: an episode, or PLAYER_RUNS.WORKER_SYNC_STEPS."""
    sync = int(levers.get("WORKER_SYNC_STEPS", 0) or 0)
    return min(task.max_episode_steps, sync) if sync > 0 else task.max_episode_steps


def _wait_for_trainer(stats_file: Path, procs: dict[str, subprocess.Popen], logs: dict[str, Path],
                      deadline: float) -> None:
    """Waits until the trainer's first statistics record (its memory, at start); raises if a role stops
    or the deadline passes."""
    while not read_statistics(stats_file):
        for role, proc in procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"the {role} stopped; see {logs[role]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the trainer did not start in time; see {logs['trainer']}")
        time.sleep(0.2)


def _read_steps(count_file: Path) -> int:
    return int(read_numbers(count_file, 1)[0])


def _trainer_updates(stats_file: Path) -> int:
    records = read_statistics(stats_file)
    return int(records[-1]["updates"]) if records else 0


def _read_demo_stats(stats_file: Path, result: ArmResult) -> None:
    """From the trainer's statistics: its pretraining, the last epoch's demo shares of the memory
    and of the sampled batches, and how many times it put its best policy back, gave up doing so and caught up."""
    pretrained = read_statistics(stats_file, "pretrain")
    result.pretrain_steps = int(pretrained[-1]["steps"]) if pretrained else 0
    every_epoch = read_statistics(stats_file, "epoch")
    result.rollbacks = sum(1 for r in every_epoch if r.get("rolled_back") is True)
    result.rollbacks_given_up = sum(1 for r in every_epoch if r.get("rollback_given_up") is True)
    result.catch_ups = sum(1 for r in every_epoch if r.get("caught_up") is True)
    epochs = [r for r in every_epoch if "demo_fraction_sampled" in r]
    if epochs:
        last = epochs[-1]
        result.demo_samples = int(last["demo_samples"])
        result.demo_fraction_sampled = float(last["demo_fraction_sampled"])
        result.demo_fraction_memory = float(last["demo_fraction_memory"])
