"""The ``PLAYER_RUNS`` section of tmrl's config.json, validated when the trainer starts."""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from playerruns.runs.errors import ConfigError
from playerruns.trainer.evaluation import SCORES as EVALUATION_SCORES
from playerruns.trainer.sampling import DemoSchedule
from playerruns.trainer.windows import WindowShape

log = logging.getLogger(__name__)

SECTION = "PLAYER_RUNS"
_WINDOWS_PATH = re.compile(r"^([A-Za-z]):[\\/](.*)$")


@dataclass(frozen=True)
class PlayerRunsConfig:
    """Online injection and demo sampling settings (keys of the ``PLAYER_RUNS`` section)."""

    ONLINE_INJECTION: bool = False
    SOURCE_PATH: str = str(Path("~") / "TmrlData" / "player_runs")
    CONSUME_ON_READ: bool = True
    MAX_FILES_PER_UPDATE: int = 1
    DEMO_INJECTION_REPEAT: int = 1
    DEMO_SAMPLING_WEIGHT: float = 1.0
    REJECT_AFTER_SECONDS: float = 60.0  # a bad file unchanged this long is renamed .pkl.rejected
    RECEIVED_PATH: str = str(Path("~") / "TmrlData" / "player_runs" / "received")  # runs shipped to this trainer
    STATISTICS_PATH: str = str(Path("~") / "TmrlData" / "statistics")  # the trainer's <RUN_NAME>.jsonl
    # the sampling schedule (playerruns.trainer.sampling.DemoSchedule); all off by default
    DEMO_WEIGHT_DECAY_SAMPLES: int = 0  # the weight decays linearly to 1 as the memory fills to this
    DEMO_SAMPLING_FRACTION: float | None = None  # an exact share of every batch instead of a weight
    DEMO_SAMPLING_FRACTION_FINAL: float | None = None  # ... annealed linearly down to this floor
    DEMO_SAMPLING_ANNEAL_STEPS: int = 0  # ... over this many training steps
    KEEP_DEMOS: bool = False  # the memory's trimming evicts other samples, never demos
    # the learning side (playerruns.trainer.demo_sac.DemoSacAgent); 0: tmrl's stock agent
    DEMO_BC_COEF: float = 0.0  # behaviour cloning on the demo rows of each batch
    DEMO_BC_DECAY_STEPS: int = 0  # the coefficient decays linearly to DEMO_BC_COEF_FINAL over this many training steps
    DEMO_BC_COEF_FINAL: float = 0.0  # ... the floor it decays to, then keeps
    DEMO_BC_Q_FILTER: bool = True  # clone a demo action only where the critic rates it above the policy's
    DEMO_PRETRAIN_STEPS: int = 0  # demo-only training steps before the worker's samples are used
    DEMO_ACTOR_WARMUP_STEPS: int = 0  # first online training steps in which the actor only clones demos
    DEMO_RETURN_BOUND: bool = False  # the critic's target on a demo row is at least the player's own return
    DEMO_BC_ACTION_WEIGHTS: tuple[float, ...] | None = None  # online cloning's weight per action dimension (None: 1s)
    DEMO_BC_JOINT: bool = False  # cloning as a term of SAC's actor loss (TD3+BC), not a second step (needs the bound)
    POLICY_AVERAGING: float = 0.0  # > 0: the workers drive an average of the actor's weights (e.g. 0.999)
    POLICY_AVERAGING_CATCH_UP: bool = False  # the evaluation drives the actor too: the average jumps to it if better
    DEMO_TARGET_ENTROPY: float | None = None  # SAC's entropy target while cloning (None: ALG.TARGET_ENTROPY)
    CRITIC_LAYER_NORM: bool = False  # LayerNorm in the critic's hidden layers (RLPD): bounded Q off the data
    CRITIC_CONSERVATISM: float = 0.0  # > 0: Cal-QL's term, the actor's actions not rated above the driven ones
    CRITIC_CONSERVATISM_DECAY_STEPS: int = 0  # > 0: ... its weight falls linearly to 0 over this many training steps
    KEEP_BEST_POLICY: bool = True  # weights/<RUN_NAME>_best.tmod: the best epoch's policy (trainer.best)
    ROLLBACK_TOLERANCE: float | None = None  # an epoch this share below the best puts the best policy back (None: off)
    ROLLBACK_LONGER_EPISODES: bool = False  # ... and so does one that ties it with episodes that share longer
    ROLLBACK_PATIENCE: int | None = None  # ... at most this many epochs in a row, then it learns on (None: no limit)
    DEMO_BC_FLOOR_RAISE: float | None = None  # > 1: a fall put back while cloning is at its floor multiplies the floor
    # watching the trainer (trainer.console, trainer.sinks, trainer.evaluation)
    TENSORBOARD: bool = False  # the statistics channel also as TensorBoard events in TENSORBOARD_PATH/<RUN_NAME>
    TENSORBOARD_PATH: str = str(Path("~") / "TmrlData" / "tensorboard")
    EVALUATION_EPISODES: int = 0  # > 0: the trainer drives its policy for this many episodes (gymnasium tasks)
    EVALUATE_EVERY_EPOCHS: int = 1  # ... after every this many epochs
    EVALUATION_SEED: int = 20_000  # ... episode k starts from this seed + k (not the demo's and benchmark's starts)
    EVALUATION_SCORE: str = "mean"  # ... scored by the episodes' mean return, or "lowest": by the worst episode's
    # the recurrent agent (playerruns.trainer.recurrent_sac) on the episode-sequence memory (sequences)
    RECURRENT: bool = False
    SEQUENCE_BURN_IN: int = 10  # window steps that only warm the hidden state up
    SEQUENCE_LENGTH: int = 30  # window steps trained on; a batch holds BATCH_SIZE // SEQUENCE_LENGTH windows
    RECURRENT_HIDDEN_SIZE: int = 64  # the GRU's state size (actor and each critic)
    # a person takes the wheel from a rollout worker (playerruns.takeover); read by --worker
    WORKER_SYNC_STEPS: int = 0  # > 0: a worker sends its samples and takes new weights every this many steps
    TAKE_OVER: str = "off"  # "keyboard" (the task's window), "gamepad", or "stand-in" (a scripted person)
    TAKE_OVER_KEY: str = "space"  # keyboard: hold this key (a pygame key name) to drive
    TAKE_OVER_BUTTON: int = 5  # gamepad: hold this button (5: the right shoulder button of XInput pads)
    TAKE_OVER_STICK: bool = False  # gamepad: moving the stick or a trigger beyond the dead zone takes over too
    TAKE_OVER_DEADZONE: float = 0.08  # ... this share of the stick's or trigger's travel
    TAKE_OVER_STEP_SECONDS: float = 0.05  # a gymnasium task's pace while a person watches (20 Hz, as the game)
    TAKE_OVER_SKILL: float = 0.4  # stand-in: its driving skill, 0 (a beginner) to 1 (the practised stand-in)
    TAKE_OVER_BUDGET: int | None = None  # stand-in: the most steps it drives in all (null: no bound)
    # where the worker saves what the person drove, one run file per episode (null: not saved; takeover.saving)
    TAKE_OVER_RUNS_PATH: str | None = str(Path("~") / "TmrlData" / "player_runs" / "take-overs")

    @property
    def source_path(self) -> Path:
        return Path(os.path.expanduser(self.SOURCE_PATH))

    @property
    def received_path(self) -> Path:
        return Path(os.path.expanduser(self.RECEIVED_PATH))

    @property
    def statistics_path(self) -> Path:
        return Path(os.path.expanduser(self.STATISTICS_PATH))

    @property
    def tensorboard_path(self) -> Path:
        return Path(os.path.expanduser(self.TENSORBOARD_PATH))

    @property
    def take_over_runs_path(self) -> Path | None:
        return None if self.TAKE_OVER_RUNS_PATH is None else Path(os.path.expanduser(self.TAKE_OVER_RUNS_PATH))

    @property
    def schedule(self) -> DemoSchedule:
        return DemoSchedule(weight=self.DEMO_SAMPLING_WEIGHT, weight_decay_samples=self.DEMO_WEIGHT_DECAY_SAMPLES,
                            fraction=self.DEMO_SAMPLING_FRACTION, fraction_final=self.DEMO_SAMPLING_FRACTION_FINAL,
                            anneal_steps=self.DEMO_SAMPLING_ANNEAL_STEPS)

    @property
    def window(self) -> WindowShape:
        return WindowShape(burn_in=self.SEQUENCE_BURN_IN, length=self.SEQUENCE_LENGTH)

    @property
    def take_over(self) -> bool:
        """True when a rollout worker lets a person (or the stand-in) take the wheel."""
        return self.TAKE_OVER != "off"

    @property
    def uses_demo_agent(self) -> bool:
        """True when the trainer's agent is DemoSacAgent rather than tmrl's stock one."""
        return self.DEMO_BC_COEF > 0  # pretraining and the actor warm-up need it too (checked when parsed)


TAKE_OVER_KINDS = ("off", "keyboard", "gamepad", "stand-in")
_RULES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "ONLINE_INJECTION": ("true or false", lambda v: isinstance(v, bool)),
    "SOURCE_PATH": ("a non-empty folder path string", lambda v: isinstance(v, str) and v.strip() != ""),
    "RECEIVED_PATH": ("a non-empty folder path string", lambda v: isinstance(v, str) and v.strip() != ""),
    "STATISTICS_PATH": ("a non-empty folder path string", lambda v: isinstance(v, str) and v.strip() != ""),
    "CONSUME_ON_READ": ("true or false", lambda v: isinstance(v, bool)),
    "MAX_FILES_PER_UPDATE": ("a whole number >= 1", lambda v: _is_whole(v) and v >= 1),
    "DEMO_INJECTION_REPEAT": ("a whole number >= 1", lambda v: _is_whole(v) and v >= 1),
    "DEMO_SAMPLING_WEIGHT": ("a finite number >= 0, at most 1,000,000 (demos in nearly every row already)",
                             lambda v: _is_number(v) and 0 <= v <= 1e6),
    "REJECT_AFTER_SECONDS": ("a finite number >= 0", lambda v: _is_number(v) and math.isfinite(v) and v >= 0),
    "DEMO_WEIGHT_DECAY_SAMPLES": ("a whole number >= 0", lambda v: _is_whole(v) and v >= 0),
    "DEMO_SAMPLING_FRACTION": ("a number from 0 to 1, or null", lambda v: v is None or _is_share(v)),
    "DEMO_SAMPLING_FRACTION_FINAL": ("a number from 0 to 1, or null", lambda v: v is None or _is_share(v)),
    "DEMO_SAMPLING_ANNEAL_STEPS": ("a whole number >= 0", lambda v: _is_whole(v) and v >= 0),
    "KEEP_DEMOS": ("true or false", lambda v: isinstance(v, bool)),
    "DEMO_BC_COEF": ("a finite number >= 0, at most 100 (TD3+BC's weight is 0.4)",
                     lambda v: _is_number(v) and 0 <= v <= 100),
    "DEMO_BC_DECAY_STEPS": ("a whole number >= 0", lambda v: _is_whole(v) and v >= 0),
    "DEMO_BC_COEF_FINAL": ("a finite number >= 0, at most 100", lambda v: _is_number(v) and 0 <= v <= 100),
    "DEMO_BC_Q_FILTER": ("true or false", lambda v: isinstance(v, bool)),
    "DEMO_PRETRAIN_STEPS": ("a whole number >= 0", lambda v: _is_whole(v) and v >= 0),
    "DEMO_ACTOR_WARMUP_STEPS": ("a whole number >= 0", lambda v: _is_whole(v) and v >= 0),
    "DEMO_RETURN_BOUND": ("true or false", lambda v: isinstance(v, bool)),
    "DEMO_BC_JOINT": ("true or false", lambda v: isinstance(v, bool)),
    "DEMO_BC_ACTION_WEIGHTS": ("a list of 1-64 numbers from 0 to 100 (one per action dimension, at least one above "
                               "0), or null", lambda v: v is None or _is_weight_list(v)),
    "POLICY_AVERAGING": ("a number from 0 up to (not including) 1",
                         lambda v: _is_number(v) and 0.0 <= v < 1.0),
    "POLICY_AVERAGING_CATCH_UP": ("true or false", lambda v: isinstance(v, bool)),
    "DEMO_TARGET_ENTROPY": ("a finite number (SAC's entropy target, e.g. -6), or null",
                            lambda v: v is None or (_is_number(v) and math.isfinite(v))),
    "CRITIC_LAYER_NORM": ("true or false", lambda v: isinstance(v, bool)),
    "CRITIC_CONSERVATISM": ("a number from 0 (off) to 100 (Cal-QL's weights are 1-10)",
                            lambda v: _is_number(v) and 0 <= v <= 100),
    "CRITIC_CONSERVATISM_DECAY_STEPS": ("a whole number >= 0 (0: the weight stays)", lambda v: _is_whole(v) and v >= 0),
    "KEEP_BEST_POLICY": ("true or false", lambda v: isinstance(v, bool)),
    "ROLLBACK_TOLERANCE": ("a number from 0 to 1 (a share of the best policy's score), or null",
                           lambda v: v is None or _is_share(v)),
    "ROLLBACK_LONGER_EPISODES": ("true or false", lambda v: isinstance(v, bool)),
    "ROLLBACK_PATIENCE": ("a whole number >= 1, or null (no limit)", lambda v: v is None or (_is_whole(v) and v >= 1)),
    "DEMO_BC_FLOOR_RAISE": ("a number above 1 and at most 10 (the factor a fall multiplies the floor by), or null",
                            lambda v: v is None or (_is_number(v) and 1 < v <= 10)),
    "TENSORBOARD": ("true or false", lambda v: isinstance(v, bool)),
    "TENSORBOARD_PATH": ("a non-empty folder path string", lambda v: isinstance(v, str) and v.strip() != ""),
    "EVALUATION_EPISODES": ("a whole number >= 0", lambda v: _is_whole(v) and v >= 0),
    "EVALUATE_EVERY_EPOCHS": ("a whole number >= 1", lambda v: _is_whole(v) and v >= 1),
    "EVALUATION_SEED": ("a whole number from 0 to 2**31 (the first episode's reset seed)",
                        lambda v: _is_whole(v) and 0 <= v <= 2**31),
    "EVALUATION_SCORE": ('"mean" (the episodes\' mean return) or "lowest" (the worst episode\'s return)',
                         lambda v: v in EVALUATION_SCORES),
    "RECURRENT": ("true or false", lambda v: isinstance(v, bool)),
    "SEQUENCE_BURN_IN": ("a whole number >= 0", lambda v: _is_whole(v) and v >= 0),
    "SEQUENCE_LENGTH": ("a whole number >= 1", lambda v: _is_whole(v) and v >= 1),
    "RECURRENT_HIDDEN_SIZE": ("a whole number >= 1", lambda v: _is_whole(v) and v >= 1),
    "WORKER_SYNC_STEPS": ("a whole number >= 0 (0: only between episodes, as tmrl)",
                          lambda v: _is_whole(v) and v >= 0),
    "TAKE_OVER": ('"off", "keyboard", "gamepad" or "stand-in"', lambda v: v in TAKE_OVER_KINDS),
    "TAKE_OVER_KEY": ("a key name string such as \"space\"", lambda v: isinstance(v, str) and v.strip() != ""),
    "TAKE_OVER_BUTTON": ("a whole number >= 0 (a gamepad button)", lambda v: _is_whole(v) and 0 <= v < 64),
    "TAKE_OVER_STICK": ("true or false", lambda v: isinstance(v, bool)),
    "TAKE_OVER_DEADZONE": ("a number from 0 up to (not including) 1", lambda v: _is_number(v) and 0.0 <= v < 1.0),
    "TAKE_OVER_STEP_SECONDS": ("a number from 0 to 1", lambda v: _is_number(v) and 0.0 <= v <= 1.0),
    "TAKE_OVER_SKILL": ("a number from 0 to 1", lambda v: _is_share(v)),
    "TAKE_OVER_BUDGET": ("a whole number >= 0, or null", lambda v: v is None or (_is_whole(v) and v >= 0)),
    "TAKE_OVER_RUNS_PATH": ("a non-empty folder path string, or null (not saved)",
                            lambda v: v is None or (isinstance(v, str) and v.strip() != "")),
}
_FLOATS = ("DEMO_SAMPLING_WEIGHT", "DEMO_SAMPLING_FRACTION", "DEMO_SAMPLING_FRACTION_FINAL", "DEMO_BC_COEF",
           "DEMO_BC_COEF_FINAL", "ROLLBACK_TOLERANCE", "DEMO_BC_FLOOR_RAISE",
           "POLICY_AVERAGING", "DEMO_TARGET_ENTROPY", "CRITIC_CONSERVATISM", "TAKE_OVER_DEADZONE",
           "TAKE_OVER_STEP_SECONDS", "TAKE_OVER_SKILL")


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_weight_list(value: Any) -> bool:
    return (isinstance(value, list) and 1 <= len(value) <= 64 and all(_is_number(w) and 0 <= w <= 100 for w in value)
            and any(w > 0 for w in value))


def _is_share(value: Any) -> bool:
    return _is_number(value) and 0.0 <= value <= 1.0


def parse_player_runs(tmrl_config: dict[str, Any], config_file: str = "config.json") -> PlayerRunsConfig:
    """Reads and validates the ``PLAYER_RUNS`` section (absent: all defaults).

    A wrong type or out-of-range value raises ConfigError naming the key and what is allowed;
    an unknown key is warned about (likely a typo).
    """
    section = tmrl_config.get(SECTION, {})
    if not isinstance(section, dict):
        raise ConfigError(f"{config_file}: {SECTION} must be a JSON object")
    known = {f.name for f in fields(PlayerRunsConfig)}
    for key in section:
        if key not in known:
            close = [k for k in known if k.replace("_", "") == str(key).upper().replace("_", "")]
            hint = f" (did you mean {close[0]}?)" if close else ""
            log.warning(f"{config_file}: unknown key {SECTION}.{key} is ignored{hint}; known keys: "
                        f"{', '.join(sorted(known))}")
    values = {}
    for key, (allowed, ok) in _RULES.items():
        if key in section:
            if not ok(section[key]):
                raise ConfigError(f"{config_file}: {SECTION}.{key} is {section[key]!r}, expected {allowed}")
            values[key] = section[key]
    for key in _FLOATS:
        if values.get(key) is not None:
            values[key] = float(values[key])
    if values.get("DEMO_BC_ACTION_WEIGHTS") is not None:
        values["DEMO_BC_ACTION_WEIGHTS"] = tuple(float(w) for w in values["DEMO_BC_ACTION_WEIGHTS"])
    _check_combinations(values, tmrl_config, config_file)
    return PlayerRunsConfig(**values)


def _check_combinations(values: dict[str, Any], tmrl_config: dict[str, Any], config_file: str) -> None:
    """Keys that contradict each other, or that mean nothing without another one, name each other."""
    def conflict(a: str, b: str, why: str) -> ConfigError:
        return ConfigError(f"{config_file}: {SECTION}.{a} and {SECTION}.{b} {why}")

    fraction = values.get("DEMO_SAMPLING_FRACTION")
    if fraction is not None:
        for other in ("DEMO_SAMPLING_WEIGHT", "DEMO_WEIGHT_DECAY_SAMPLES"):
            if other in values:
                raise conflict("DEMO_SAMPLING_FRACTION", other, "contradict each other: a fixed share of every "
                               "batch, or a weight, not both (remove one)")
    for dependent in ("DEMO_SAMPLING_FRACTION_FINAL", "DEMO_SAMPLING_ANNEAL_STEPS"):
        if values.get(dependent) is not None and fraction is None:
            raise conflict(dependent, "DEMO_SAMPLING_FRACTION", "go together: annealing needs a starting fraction")
    final, steps = values.get("DEMO_SAMPLING_FRACTION_FINAL"), values.get("DEMO_SAMPLING_ANNEAL_STEPS", 0)
    if fraction is not None and (final is None) != (steps == 0):
        raise conflict("DEMO_SAMPLING_FRACTION_FINAL", "DEMO_SAMPLING_ANNEAL_STEPS",
                       "go together: a floor and the training steps to reach it (both set, or neither)")
    if final is not None and fraction is not None and final > fraction:
        raise conflict("DEMO_SAMPLING_FRACTION_FINAL", "DEMO_SAMPLING_FRACTION",
                       f"do not fit: the floor {final:g} is above the starting fraction {fraction:g}")
    if values.get("DEMO_WEIGHT_DECAY_SAMPLES", 0) > 0 and values.get("DEMO_SAMPLING_WEIGHT", 1.0) == 1.0:
        log.warning(f"{config_file}: {SECTION}.DEMO_WEIGHT_DECAY_SAMPLES has no effect with DEMO_SAMPLING_WEIGHT 1")
    bc = values.get("DEMO_BC_COEF", 0.0)
    for dependent in ("DEMO_BC_DECAY_STEPS", "DEMO_BC_COEF_FINAL", "DEMO_BC_Q_FILTER", "DEMO_ACTOR_WARMUP_STEPS",
                      "DEMO_RETURN_BOUND", "DEMO_BC_JOINT", "DEMO_BC_ACTION_WEIGHTS",
                      "POLICY_AVERAGING", "DEMO_TARGET_ENTROPY"):
        if dependent in values and bc == 0.0:
            raise conflict(dependent, "DEMO_BC_COEF", "go together: set DEMO_BC_COEF above 0 to clone demos")
    bc_final = values.get("DEMO_BC_COEF_FINAL", 0.0)
    if bc_final > 0.0 and values.get("DEMO_BC_DECAY_STEPS", 0) == 0:
        raise conflict("DEMO_BC_COEF_FINAL", "DEMO_BC_DECAY_STEPS", "go together: a floor is what the cloning weight "
                       "decays to, so set DEMO_BC_DECAY_STEPS above 0 (or leave the weight constant)")
    if bc_final > bc:
        raise conflict("DEMO_BC_COEF_FINAL", "DEMO_BC_COEF",
                       f"do not fit: the floor {bc_final:g} is above the starting weight {bc:g}")
    if values.get("DEMO_PRETRAIN_STEPS", 0) > 0 and bc == 0.0:
        raise conflict("DEMO_PRETRAIN_STEPS", "DEMO_BC_COEF", "go together: pretraining clones demos, so it needs "
                       "DEMO_BC_COEF above 0")
    if values.get("ROLLBACK_TOLERANCE") is not None and not values.get("KEEP_BEST_POLICY", True):
        raise conflict("ROLLBACK_TOLERANCE", "KEEP_BEST_POLICY", "go together: the trainer can only put back a best "
                       "policy it keeps (KEEP_BEST_POLICY true)")
    if values.get("ROLLBACK_LONGER_EPISODES") and values.get("ROLLBACK_TOLERANCE") is None:
        raise conflict("ROLLBACK_LONGER_EPISODES", "ROLLBACK_TOLERANCE", "go together: set ROLLBACK_TOLERANCE (how "
                       "much longer the episodes may get) to put the best policy back")
    if values.get("ROLLBACK_PATIENCE") is not None and values.get("ROLLBACK_TOLERANCE") is None:
        raise conflict("ROLLBACK_PATIENCE", "ROLLBACK_TOLERANCE", "go together: the patience counts the epochs in a "
                       "row that put the best policy back (set ROLLBACK_TOLERANCE)")
    if values.get("DEMO_BC_FLOOR_RAISE") is not None:
        if bc_final == 0.0:
            raise conflict("DEMO_BC_FLOOR_RAISE", "DEMO_BC_COEF_FINAL", "go together: the raise multiplies the floor "
                           "the cloning weight decays to (set DEMO_BC_COEF_FINAL above 0)")
        if values.get("ROLLBACK_TOLERANCE") is None:
            raise conflict("DEMO_BC_FLOOR_RAISE", "ROLLBACK_TOLERANCE", "go together: the floor rises when the best "
                           "policy is put back after a fall (set ROLLBACK_TOLERANCE)")
    if values.get("DEMO_BC_JOINT") and not values.get("DEMO_RETURN_BOUND", False):
        raise conflict("DEMO_BC_JOINT", "DEMO_RETURN_BOUND", "go together: the joint actor loss is part of the "
                       "bounded update (set DEMO_RETURN_BOUND to true)")
    if values.get("CRITIC_CONSERVATISM", 0.0) and not values.get("DEMO_RETURN_BOUND", False):
        raise conflict("CRITIC_CONSERVATISM", "DEMO_RETURN_BOUND", "go together: the conservative term stops at the "
                       "player's returns, which the critic gets with DEMO_RETURN_BOUND true")
    if values.get("CRITIC_CONSERVATISM_DECAY_STEPS", 0) and not values.get("CRITIC_CONSERVATISM", 0.0):
        raise conflict("CRITIC_CONSERVATISM_DECAY_STEPS", "CRITIC_CONSERVATISM", "go together: set "
                       "CRITIC_CONSERVATISM above 0 (the weight that decays)")
    if values.get("POLICY_AVERAGING_CATCH_UP"):
        if not values.get("POLICY_AVERAGING", 0.0):
            raise conflict("POLICY_AVERAGING_CATCH_UP", "POLICY_AVERAGING", "go together: the average can only catch "
                           "up with the actor when the workers drive an average (POLICY_AVERAGING above 0)")
        if not values.get("EVALUATION_EPISODES", 0):
            raise conflict("POLICY_AVERAGING_CATCH_UP", "EVALUATION_EPISODES", "go together: the trainer's "
                           "evaluation tells whether the actor drives better than the average (set "
                           "EVALUATION_EPISODES above 0)")
    if "TENSORBOARD_PATH" in values and not values.get("TENSORBOARD", False):
        raise conflict("TENSORBOARD_PATH", "TENSORBOARD", "go together: set TENSORBOARD to true to write events")
    for dependent in ("EVALUATE_EVERY_EPOCHS", "EVALUATION_SEED", "EVALUATION_SCORE"):
        if dependent in values and not values.get("EVALUATION_EPISODES", 0):
            raise conflict(dependent, "EVALUATION_EPISODES", "go together: set EVALUATION_EPISODES above 0 to "
                           "evaluate")
    interface = str(tmrl_config.get("ENV", {}).get("RTGYM_INTERFACE", ""))
    if values.get("EVALUATION_EPISODES", 0) and not interface.upper().startswith("GYM"):
        raise ConfigError(f"{config_file}: {SECTION}.EVALUATION_EPISODES needs a gymnasium task (ENV.RTGYM_INTERFACE "
                          f"'GYM:<id>'): the trainer cannot drive {interface or 'this interface'} itself (the game "
                          "runs beside the worker); set it to 0")
    recurrent = values.get("RECURRENT", False)
    for dependent in ("SEQUENCE_BURN_IN", "SEQUENCE_LENGTH", "RECURRENT_HIDDEN_SIZE"):
        if dependent in values and not recurrent:
            raise conflict(dependent, "RECURRENT", "go together: set RECURRENT to true to train the recurrent agent")
    if recurrent and values.get("CRITIC_LAYER_NORM", False):
        raise conflict("RECURRENT", "CRITIC_LAYER_NORM", "do not go together: the recurrent critic has its own "
                       "layers (set CRITIC_LAYER_NORM to false)")
    if recurrent and bc > 0:
        raise conflict("RECURRENT", "DEMO_BC_COEF", "do not go together: the recurrent agent does not clone demos "
                       "(its demos are weighted in sampling; set DEMO_BC_COEF to 0)")
    _check_take_over(values, interface, config_file)
    algorithm = str(tmrl_config.get("ALG", {}).get("ALGORITHM", "SAC"))
    for key, on, agent in (("RECURRENT", recurrent, "the recurrent agent"),
                           ("DEMO_BC_COEF", bc > 0, "the demo-aware agent")):
        if on and algorithm != "SAC":
            raise ConfigError(f"{config_file}: {SECTION}.{key} needs ALG.ALGORITHM \"SAC\" ({agent} extends "
                              f"tmrl's SAC), not {algorithm!r}")


_TAKE_OVER_KEYS = {"keyboard": ("TAKE_OVER_KEY", "TAKE_OVER_STEP_SECONDS"),
                   "gamepad": ("TAKE_OVER_BUTTON", "TAKE_OVER_STICK", "TAKE_OVER_DEADZONE", "TAKE_OVER_STEP_SECONDS"),
                   "stand-in": ("TAKE_OVER_SKILL", "TAKE_OVER_BUDGET")}


def _check_take_over(values: dict[str, Any], interface: str, config_file: str) -> None:
    """The take-over keys fit the kind of take-over and the task."""
    kind = values.get("TAKE_OVER", "off")
    if "TAKE_OVER_RUNS_PATH" in values and kind == "off":
        raise ConfigError(f"{config_file}: {SECTION}.TAKE_OVER_RUNS_PATH and {SECTION}.TAKE_OVER go together: set "
                          "TAKE_OVER to save what a person drives")
    runs_path = values.get("TAKE_OVER_RUNS_PATH", PlayerRunsConfig.TAKE_OVER_RUNS_PATH)
    for key in ("SOURCE_PATH", "RECEIVED_PATH"):
        if runs_path is not None and _same_folder(runs_path, values.get(key, getattr(PlayerRunsConfig, key))):
            raise ConfigError(f"{config_file}: {SECTION}.TAKE_OVER_RUNS_PATH is the {key} folder: the trainer would "
                              "inject the person's steps a second time (they already reach it with the worker's "
                              "samples); choose another folder")
    for other, keys in _TAKE_OVER_KEYS.items():
        for key in keys:
            if key in values and other != kind and key not in _TAKE_OVER_KEYS.get(kind, ()):
                raise ConfigError(f"{config_file}: {SECTION}.{key} is for TAKE_OVER \"{other}\", but {SECTION}."
                                  f"TAKE_OVER is \"{kind}\" (remove the key, or set TAKE_OVER to \"{other}\")")
    if kind == "off":
        return
    if kind == "stand-in" and "MiniTrack" not in interface:
        raise ConfigError(f"{config_file}: {SECTION}.TAKE_OVER \"stand-in\" drives MiniTrack only, not {interface}; "
                          "use \"keyboard\" or \"gamepad\"")


def _same_folder(a: str, b: str) -> bool:
    return Path(os.path.expanduser(a)).resolve() == Path(os.path.expanduser(b)).resolve()


def wsl_hint(source_path: str) -> str | None:
    """For a Windows path given to a trainer on Linux: the /mnt/<drive>/... path probably meant."""
    if os.name == "nt":
        return None
    match = _WINDOWS_PATH.match(source_path.strip())
    if not match:
        return None
    drive, rest = match.groups()
    return f"/mnt/{drive.lower()}/" + rest.replace("\\", "/").strip("/")
