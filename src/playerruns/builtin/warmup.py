"""Does reusing player runs cut training warmup? Training with and without them, side by side.

Each arm runs tmrl's SAC (in the player-runs arm its subclass DemoSacAgent, with the levers'
settings) through the real tmrl Server, RolloutWorker and Trainer on
127.0.0.1 (``python -m playerruns --server/--worker/--trainer``), on the built-in default
environment. The "player runs" arm first records a few runs with a scripted stand-in for a person
(or the person, with ``human``) and imports them into data.pkl, and uses them through the
PLAYER_RUNS levers of ``LEVERS[BEST]``; the "scratch" arm starts from an empty replay with every
lever off (stock tmrl). Everything else is identical. The benchmark stops an arm once it reaches
the threshold (``stop_at_threshold``); the demo trains both to the budget.

An evaluator in this process loads the trainer's latest policy weights every ``eval_every``
environment steps (500 in the full plan) and runs deterministic episodes on the unpaced task; the
environment steps come from the paced environment of the worker itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from playerruns.builtin import envs
from playerruns.progress import TRAINER_PROGRESS_FILE_ENV, read_numbers
from playerruns.seeding import SEED_ENV
from playerruns.shipping.link import free_local_ports


@dataclass(frozen=True)
class Task:
    """A built-in task of the experiment: what is evaluated, what the worker steps, when it counts as solved."""

    name: str  # what --demo-task and the benchmark call it
    env_id: str  # gymnasium id evaluated (unpaced)
    worker_env: str  # the same task paced for the rollout worker
    threshold: float  # evaluation return that counts as solved
    goal: str  # the threshold in words
    max_episode_steps: int
    every_episode: bool  # the threshold holds for every evaluation episode (else for their mean)
    overrides: dict[str, Any]  # hyper-parameters of this task on top of HYPERPARAMETERS (both arms)
    quick: dict[str, int]  # --quick: budget_steps, eval_every, runs
    full: dict[str, int]


QUICK_PLAN = {"budget_steps": 3000, "eval_every": 1000, "runs": 3}  # --quick shows the path on every task
FULL_PLAN = {"budget_steps": 10_000, "eval_every": 500, "runs": 10}  # the demo and the benchmark

TASKS: dict[str, Task] = {
    "minitrack": Task(
        name="minitrack", env_id="playerruns.builtin.driving:MiniTrack-v0",
        worker_env="playerruns.builtin.envs:PacedMiniTrack-v0", threshold=399.0,
        goal="finish a lap in every evaluation episode", max_episode_steps=1000, every_episode=True,
        overrides={"RW_MAX_SAMPLES_PER_EPISODE": 1000, "ALG": {"TARGET_ENTROPY": -3.0},
                   "MEMORY_SIZE": 50_000},  # 10 recorded laps are 8,000 samples: room for the worker's beside them
        quick=QUICK_PLAN, full=FULL_PLAN),
    "mountaincar": Task(
        name="mountaincar", env_id="MountainCarContinuous-v0",
        worker_env="playerruns.builtin.envs:PacedMountainCarContinuous-v0", threshold=90.0,
        goal="reach the flag, on average over the evaluation episodes", max_episode_steps=999, every_episode=False,
        overrides={"RW_MAX_SAMPLES_PER_EPISODE": 999, "ALG": {"TARGET_ENTROPY": -1.0}},
        quick=QUICK_PLAN, full=FULL_PLAN),
    "pomdp-mountaincar": Task(
        name="pomdp-mountaincar", env_id="playerruns.builtin.envs:PositionOnlyMountainCar-v0",
        worker_env="playerruns.builtin.envs:PacedPositionOnlyMountainCar-v0", threshold=90.0,
        goal="reach the flag seeing only the car's position, on average over the evaluation episodes",
        max_episode_steps=999, every_episode=False,
        overrides={"RW_MAX_SAMPLES_PER_EPISODE": 999, "ALG": {"TARGET_ENTROPY": -1.0}},
        quick=QUICK_PLAN, full=FULL_PLAN),
}
DEFAULT_TASK = "minitrack"

# Hyper-parameters: one place, identical for both arms.
HYPERPARAMETERS: dict[str, Any] = {
    "RUN_NAME": "playerruns_warmup",
    "MEMORY_SIZE": 5_000,  # small on purpose: the budget stands for a long run, and the memory trims
    "BATCH_SIZE": 256,
    "ENVIRONMENT_STEPS_BEFORE_TRAINING": 1000,  # about one worker episode, as in tmrl's default
    "MAX_TRAINING_STEPS_PER_ENVIRONMENT_STEP": 1.0,  # one update per environment step at most
    "UPDATE_MODEL_INTERVAL": 100,  # the worker gets new weights between episodes anyway
    "UPDATE_BUFFER_INTERVAL": 100,
    "TRAINING_STEPS_PER_ROUND": 100,
    "ROUNDS_PER_EPOCH": 10,  # an epoch (and a checkpoint) every 1000 updates
    "MAX_EPOCHS": 100_000,  # the experiment stops the roles at its step budget
    "SAVE_MODEL_EVERY": 0,
    "ALG": {
        "ALGORITHM": "SAC", "LEARN_ENTROPY_COEF": True,  # TARGET_ENTROPY: -dim(action space), per task
        "ALPHA": 0.2, "LR_ACTOR": 3e-4, "LR_CRITIC": 3e-4, "LR_ENTROPY": 3e-4,  # SAC's usual values
        "GAMMA": 0.99, "POLYAK": 0.995,
        "OPTIMIZER_ACTOR": "adam", "OPTIMIZER_CRITIC": "adam", "BETAS_ACTOR": [0.9, 0.999],
        "BETAS_CRITIC": [0.9, 0.999], "L2_ACTOR": 0.0, "L2_CRITIC": 0.0,
        "REDQ_N": 10, "REDQ_M": 2, "REDQ_Q_UPDATES_PER_POLICY_UPDATE": 20,
    },
}
# The PLAYER_RUNS levers, alone and together (the benchmark's ablation). Their values and reasons are in
# docs/warmup.md; BEST is what the demo's player-runs arm uses (the benchmark's best setting).
_WEIGHT = {"DEMO_SAMPLING_WEIGHT": 5.0}  # the old single lever: demos ~10-30% of early batches
_SCHEDULE = {"DEMO_SAMPLING_FRACTION": 0.25, "DEMO_SAMPLING_FRACTION_FINAL": 0.05,
             "DEMO_SAMPLING_ANNEAL_STEPS": 20_000}  # the user guide's 5-30 % advice made exact
_RETENTION = {"KEEP_DEMOS": True}
_LEARNING = {"DEMO_BC_COEF": 0.4, "DEMO_BC_DECAY_STEPS": 20_000, "DEMO_PRETRAIN_STEPS": 1000,
             "DEMO_ACTOR_WARMUP_STEPS": 3000}  # 0.4: TD3+BC's weight
_RECURRENT = {"RECURRENT": True, "SEQUENCE_BURN_IN": 10, "SEQUENCE_LENGTH": 30, "RECURRENT_HIDDEN_SIZE": 64}
LEVERS: dict[str, dict[str, Any]] = {
    "weight": _WEIGHT,
    "schedule": _SCHEDULE,
    "retention": {**_WEIGHT, **_RETENTION},
    "learning": _LEARNING,
    "all": {**_SCHEDULE, **_RETENTION, **_LEARNING},
    "recurrent": _RECURRENT,  # the recurrent agent alone, without player runs
    "recurrent+runs": {**_RECURRENT, **_WEIGHT, **_RETENTION},  # ... with player runs, weighted in its windows
}
BEST = "all"
ARMS_WITHOUT_RUNS = ("scratch", "recurrent")  # the arms that train without player runs
STEP_SECONDS = 0.01  # the worker's pace: 100 steps/s, what 2 CPU cores can train on at one update per step


@dataclass
class ArmResult:
    arm: str
    seed: int
    budget_steps: int
    curve: list[tuple[int, float]] = field(default_factory=list)  # (environment steps, evaluation return)
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

    def steps_or_budget(self) -> int:
        return self.steps_to_threshold if self.steps_to_threshold is not None else self.budget_steps


def hyperparameters(task: Task) -> dict[str, Any]:
    """The tmrl config values of both arms on ``task``."""
    alg = {**HYPERPARAMETERS["ALG"], **task.overrides.get("ALG", {})}
    return {**HYPERPARAMETERS, **task.overrides, "ALG": alg}


def arm_home(folder: Path, task: Task, *, levers: dict[str, Any] | None) -> Path:
    """A HOME holding the TmrlData of one training arm: PLAYER_RUNS ``levers``, or none (scratch, stock tmrl)."""
    from playerruns.tmrl_bridge import init_tmrl_data

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


def record_runs(home: Path, count: int, seed: int, *, human: bool = False) -> Path:
    """Records ``count`` player runs into ``home``'s TmrlData/player_runs with the real recorder CLI."""
    out = home / "TmrlData" / "player_runs"
    if human:
        args = ["--record-input", "auto"]  # a gamepad if there is one; the CLI says what to do otherwise
    else:
        args = ["--record-input", "scripted", "--record-auto-start"]  # playerruns.builtin.drivers:default_driver
    cmd = [sys.executable, "-m", "playerruns", "--record-episode", "--record-episode-count", str(count),
           "--record-episode-output-dir", str(out), *args]
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

    def evaluate(self, weights: Path) -> float | None:
        try:
            self.actor.load(str(weights), device="cpu")
        except Exception:  # the trainer may be writing the file right now: try at the next point
            return None
        returns = []
        for k in range(self.episodes):
            obs, _ = self.env.reset(seed=10_000 + k)
            if hasattr(self.actor, "reset_hidden"):
                self.actor.reset_hidden()
            total, done = 0.0, False
            while not done:
                act = self.actor.act_(obs, test=True)
                obs, rew, terminated, truncated, _ = self.env.step(act)
                total += float(rew)
                done = terminated or truncated
            returns.append(total)
        return float(np.min(returns) if self.task.every_episode else np.mean(returns))


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
    progress_file = folder / "trainer_progress.txt"
    params = hyperparameters(task)
    hold = {  # the worker waits while the trainer is behind: the same updates per step on any machine
        TRAINER_PROGRESS_FILE_ENV: str(progress_file),
        envs.UPDATES_PER_STEP_ENV: str(params["MAX_TRAINING_STEPS_PER_ENVIRONMENT_STEP"]),
        envs.HOLD_AFTER_ENV: str(params["ENVIRONMENT_STEPS_BEFORE_TRAINING"]),
        # a worker sends its samples once per episode: the trainer may lag by one episode, no more
        envs.HOLD_SLACK_ENV: str(task.max_episode_steps + 2 * params["UPDATE_BUFFER_INTERVAL"]),
    }
    weights = home / "TmrlData" / "weights" / f"{HYPERPARAMETERS['RUN_NAME']}_t.tmod"
    logs = {role: folder / f"{role}.log" for role in ("server", "trainer", "worker")}
    procs: dict[str, subprocess.Popen] = {}
    started = time.monotonic()
    time_limit = time_limit or (budget_steps * STEP_SECONDS * 20 + 300)  # a safety net: the hold may slow it
    assign_free_ports(home)
    try:
        for role in ("server", "trainer", "worker"):
            extra = {SEED_ENV: str(seed)}
            if role == "trainer":
                extra[TRAINER_PROGRESS_FILE_ENV] = str(progress_file)
            if role == "worker":
                extra.update(hold, **{envs.STEP_COUNT_FILE_ENV: str(count_file)})
            with open(logs[role], "wb") as log_file:
                procs[role] = subprocess.Popen([sys.executable, "-m", "playerruns", f"--{role}"],
                                               env=_env(home, **extra), stdout=log_file, stderr=subprocess.STDOUT,
                                               start_new_session=True)
            if role == "server":
                time.sleep(1.0)
            if role == "trainer":  # the worker's steps count from the moment a trainer can learn from them
                _wait_for_log(logs["trainer"], TRAINER_READY, procs, started + time_limit)
        next_eval = eval_every
        steps = 0
        while steps < budget_steps and time.monotonic() - started < time_limit:
            for role, proc in procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"the {role} stopped; see {logs[role]}")
            time.sleep(0.5)
            steps = _read_steps(count_file)
            if steps >= next_eval and weights.exists():
                ret = evaluator.evaluate(weights)
                if ret is not None:
                    result.curve.append((steps, ret))
                    next_eval = steps + eval_every
                    if result.steps_to_threshold is None and ret >= task.threshold:
                        result.steps_to_threshold = steps
                    if on_progress:
                        on_progress(arm, steps, ret)
                    if stop_at_threshold and result.steps_to_threshold is not None:
                        break
        result.updates = int(read_numbers(progress_file, 1)[0])  # at the budget, before the last evaluation
        result.worker_waited_seconds = read_numbers(count_file, 2)[1]
        result.updates_per_step = result.updates / steps if steps else None
        stopped_early = result.steps_to_threshold is not None and stop_at_threshold
        final: float | None = result.curve[-1][1] if stopped_early else (
            evaluator.evaluate(weights) if weights.exists() else None)
        result.final_return = final
        if final is not None and not stopped_early:
            result.curve.append((steps, final))
            if result.steps_to_threshold is None and final >= task.threshold:
                result.steps_to_threshold = steps
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    result.wall_seconds = time.monotonic() - started
    _read_demo_stats(logs["trainer"], result)
    return result


TRAINER_READY = "Player runs: replay memory starts with"


def _wait_for_log(log_file: Path, text: str, procs: dict[str, subprocess.Popen], deadline: float) -> None:
    """Waits until ``text`` appears in ``log_file``; raises if a role stops or the deadline passes."""
    while text not in log_file.read_text(errors="replace"):
        for role, proc in procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"the {role} stopped; see {log_file.parent / (role + '.log')}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the trainer did not start in time; see {log_file}")
        time.sleep(0.2)


def _read_steps(count_file: Path) -> int:
    return int(read_numbers(count_file, 1)[0])


def _read_demo_stats(trainer_log: Path, result: ArmResult) -> None:
    """The trainer's own per-epoch line: demo fraction of sampled batches and of the memory."""
    import re

    pattern = re.compile(r"demo fraction of sampled batches this epoch: ([\d.]+) .*?; (\d+) of (\d+) samples")
    text = trainer_log.read_text(errors="replace") if trainer_log.exists() else ""
    pretrained = re.findall(r"Player runs: pretraining on \d+ demo samples for (\d+) steps", text)
    result.pretrain_steps = int(pretrained[-1]) if pretrained else 0
    matches = pattern.findall(text)
    if matches:
        fraction, demos, total = matches[-1]
        result.demo_samples = int(demos)
        result.demo_fraction_sampled = float(fraction)
        result.demo_fraction_memory = int(demos) / int(total) if int(total) else 0.0


def ratio(scratch: ArmResult, other: ArmResult) -> float:
    """Steps to the threshold, scratch / other; an arm that never reached it counts its budget (a bound)."""
    return scratch.steps_or_budget() / max(other.steps_or_budget(), 1)


def summarize(results: list[ArmResult], task: Task, best: str = "player runs") -> dict[str, Any]:
    """The figures the warmup benchmark and the demo report: per arm and seed, and ratios against scratch.

    ``best`` names the player-runs arm of the headline ratio; every other non-scratch arm is an
    ablation setting, reported by its median ratio over the seeds it shares with scratch.
    """
    arms = sorted({r.arm for r in results})
    by_arm = {a: sorted((r for r in results if r.arm == a), key=lambda r: r.seed) for a in arms}
    summary: dict[str, Any] = {
        "task": task.name, "env": task.env_id, "threshold": task.threshold, "goal": task.goal,
        "budget_steps": max(r.budget_steps for r in results),
        "seeds": {a: len(v) for a, v in by_arm.items()},
        "steps_to_threshold": {a: [r.steps_to_threshold for r in v] for a, v in by_arm.items()},  # null: never
        "reached_threshold": {a: [r.steps_to_threshold is not None for r in v] for a, v in by_arm.items()},
        "final_return": {a: [r.final_return for r in v] for a, v in by_arm.items()},
        "updates_per_step": {a: [r.updates_per_step for r in v] for a, v in by_arm.items()},
        "pretrain_steps": {a: [r.pretrain_steps for r in v] for a, v in by_arm.items()},
        "demo_fraction_memory": {a: [r.demo_fraction_memory for r in v] for a, v in by_arm.items() if a != "scratch"},
        "demo_fraction_sampled": {a: [r.demo_fraction_sampled for r in v] for a, v in by_arm.items()
                                  if a != "scratch"},
        "levers": by_arm[best][0].levers if best in by_arm else None,
        "hyperparameters": {**hyperparameters(task), "STEP_SECONDS": STEP_SECONDS},
    }
    scratch = {r.seed: r for r in by_arm.get("scratch", [])}
    ablation = {}
    for arm, runs in by_arm.items():
        pairs = [(scratch[r.seed], r) for r in runs if r.seed in scratch]
        if arm == "scratch" or not pairs:
            continue
        ratios = [ratio(s, r) for s, r in pairs]
        ablation[arm] = {"ratio_median": float(np.median(ratios)), "ratio_worst": float(np.min(ratios)),
                         "seeds": [r.seed for _, r in pairs], "levers": runs[0].levers,
                         "reached": sum(r.steps_to_threshold is not None for _, r in pairs)}
        if arm == best:
            summary["ratios"] = ratios
            summary["ratio_median"] = float(np.median(ratios))
            summary["ratio_worst"] = float(np.min(ratios))
            summary["ratio_max"] = float(np.max(ratios))
            summary["ratio_is_lower_bound"] = any(s.steps_to_threshold is None for s, _ in pairs)
    summary["ablation"] = {a: v for a, v in ablation.items() if a != best}
    summary["curves"] = {f"{r.arm} seed {r.seed}": r.curve for r in results}
    summary["runs"] = [asdict(r) for r in results]
    return summary


def table(results: list[ArmResult], task: Task) -> str:
    lines = [f"{'arm':<12} {'seed':>4} {'steps to ' + f'{task.threshold:g}':>14} {'final return':>13} "
             f"{'demo % memory':>14} {'demo % batches':>15} {'updates/step':>13}"]
    for r in results:
        reached = str(r.steps_to_threshold) if r.steps_to_threshold is not None else f">{r.budget_steps}"
        final = f"{r.final_return:.1f}" if r.final_return is not None else "-"
        dm = f"{100 * r.demo_fraction_memory:.1f}" if r.demo_fraction_memory is not None else "-"
        ds = f"{100 * r.demo_fraction_sampled:.1f}" if r.demo_fraction_sampled is not None else "-"
        ups = f"{r.updates_per_step:.2f}" if r.updates_per_step is not None else "-"
        lines.append(f"{r.arm:<12} {r.seed:>4} {reached:>14} {final:>13} {dm:>14} {ds:>15} {ups:>13}")
    return "\n".join(lines)


def plot(results: list[ArmResult], task: Task, path: Path, title: str) -> Path:
    import logging

    import matplotlib

    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # no font-cache chatter in the demo's output
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    colors = {"player runs": "tab:green", "all": "tab:green", "recurrent+runs": "tab:green", "recurrent": "tab:blue",
              "scratch": "tab:gray"}
    seeds = {arm: sorted(r.seed for r in results if r.arm == arm) for arm in {r.arm for r in results}}
    labelled: set[str] = set()
    for r in results:
        if r.curve:
            xs, ys = zip(*r.curve, strict=True)
            many = len(seeds[r.arm]) > 1
            label = None if r.arm in labelled else (f"{r.arm} ({len(seeds[r.arm])} seeds)" if many
                                                    else f"{r.arm} (seed {r.seed})")
            labelled.add(r.arm)
            ax.plot(xs, ys, color=colors.get(r.arm, None), alpha=0.8 if not many else 0.5, marker=".", label=label)
    ax.axhline(task.threshold, color="tab:red", linestyle="--", linewidth=1, label=f"solved ({task.threshold:g})")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("evaluation return")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_json(path: Path, data: dict[str, Any]) -> Path:
    from playerruns.runs.atomic_io import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())
    return path
