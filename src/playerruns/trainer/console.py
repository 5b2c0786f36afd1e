"""What the trainer's console shows: one line per epoch a person can read, instead of tmrl's table.

tmrl's trainer logs a banner and a table of every statistic each round, and "Waiting for new samples" /
"Resuming training" around each wait: some ten lines a second on a small task. ``QuietTmrl`` holds those
back (``--tmrl-log`` lets them through, as ``python -m tmrl`` prints them); everything else tmrl says
(start, checkpoints loaded, warnings, errors) is shown. ``epoch_line`` is the one line per epoch, made from
the statistics channel's epoch record, so the console, the statistics file, TensorBoard and wandb say the
same numbers.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import tmrl

_TMRL_FOLDER = os.path.dirname(os.path.abspath(tmrl.__file__))
_PER_ROUND = {("training_offline.py", "run_epoch"), ("training_offline.py", "check_ratio"),
              ("networking.py", "iterate_epochs")}  # tmrl 0.7.1's per-round and per-checkpoint output
_KEPT_FROM_ITERATE = ("=== specification", "Loading checkpoint", "Updating checkpoint", "Checkpoint updated",
                      "Loaded checkpoint")


@dataclass(frozen=True)
class Watch:
    """How this trainer is watched, from its command line: tmrl's own per-round output (``--tmrl-log``) and
    wandb (``--wandb``). The PLAYER_RUNS keys say the rest (TensorBoard, the evaluation)."""

    tmrl_log: bool = False
    wandb: bool = False


class QuietTmrl(logging.Filter):
    """Drops tmrl's per-round INFO output (see the module docstring); warnings and errors always pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        path = os.path.abspath(record.pathname)
        if not path.startswith(_TMRL_FOLDER):
            return True
        where = (os.path.basename(path), record.funcName)
        if where not in _PER_ROUND:
            return True
        return where[1] == "iterate_epochs" and record.getMessage().lstrip().startswith(_KEPT_FROM_ITERATE)


def quiet_tmrl() -> QuietTmrl:
    """Installs the filter on the root logger, where tmrl logs (``logging.info``); returns it."""
    quiet = QuietTmrl()
    logging.getLogger().addFilter(quiet)
    return quiet


def epoch_line(record: dict[str, Any]) -> str:
    """One epoch record of the statistics channel as one line (fields absent from it are left out)."""
    parts = [f"epoch {record['epoch']}", f"{record['env_steps']:,} env steps, {record['updates']:,} updates"]
    if "memory_samples" in record:
        memory = record["memory_samples"]
        share = record.get("demo_fraction_memory") or 0.0
        parts.append(f"memory {memory:,} samples, {100 * share:.0f} % demos, "
                     f"{100 * (record.get('demo_fraction_sampled') or 0.0):.0f} % of batches")
    means = record.get("tmrl") or {}
    if means.get("episode_length_train"):  # tmrl says 0 until a worker's episode has ended
        parts.append(f"worker return {means.get('return_train', 0.0):.1f}")
    else:
        parts.append("no worker episode yet")
    if "intervention_rate" in record:
        parts.append(f"the person drove {100 * (record['intervention_rate'] or 0.0):.1f} % of the worker's steps "
                     f"({record.get('take_overs', 0)} take-over(s))")
    if "evaluation_mean" in record:
        parts.append(f"evaluation {record['evaluation_mean']:.1f} (lowest {record['evaluation_lowest']:.1f} of "
                     f"{record['evaluation_episodes']}, {record['evaluation_steps']:.0f} steps)")
    if "bc_coef" in record and record["bc_coef"] is not None:
        parts.append(f"cloning {record['bc_coef']:.2g} on {100 * (record.get('bc_rows') or 0.0):.1f} % of rows, "
                     f"Q demo {_number(record.get('q_demo'))} / other {_number(record.get('q_other'))}")
    if record.get("best_policy"):
        parts.append("best policy so far, kept")
    if record.get("rolled_back"):
        parts.append(f"below the best: the best policy (epoch {record.get('rolled_back_to_epoch')}) put back")
    if record.get("rollback_given_up"):
        parts.append("below the best, not put back: learning on (ROLLBACK_PATIENCE)")
    return "Player runs: " + " | ".join(parts)


def _number(value: Any) -> str:
    return "n/a" if value is None else f"{value:.1f}"
