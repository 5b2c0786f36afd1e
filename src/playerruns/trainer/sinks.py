"""Where the statistics channel goes besides its JSON-lines file: TensorBoard and Weights & Biases.

Every record of ``playerruns.trainer.statistics`` (start, pretrain, injection, epoch, ...) is turned into
named scalars (``scalars``): ``<event>/<field>`` for its numbers and ``tmrl/<name>`` for the means of what
tmrl reports each round (``tmrl/return_train``, ``tmrl/loss_critic``, ...), plotted against the environment
steps. ``progress`` records are left to the file (a time series of counters).

- ``TensorBoardSink`` (``PLAYER_RUNS.TENSORBOARD``): event files in ``TENSORBOARD_PATH/<RUN_NAME>``, written
  by torch's ``SummaryWriter`` (the ``tensorboard`` package); ``tensorboard --logdir ~/TmrlData/tensorboard``
  shows them.
- ``WandbSink`` (``--trainer --wandb``): one wandb run named by config.json's ``WANDB_RUN_ID`` in its
  ``WANDB_PROJECT`` / ``WANDB_ENTITY``, resumed after a restart; its local files go to ``TmrlData/wandb``
  (kept: ``WANDB_MODE=offline`` runs can be uploaded later with ``wandb sync``). ``WANDB_KEY`` of
  config.json is used when the environment has no ``WANDB_API_KEY``, as tmrl does.

A sink that fails is warned about once and dropped: watching never stops training.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from playerruns.trainer.config import PlayerRunsConfig

log = logging.getLogger(__name__)

_COUNTERS = ("epoch", "updates", "env_steps")
_SKIPPED = ("progress",)


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """A record's numbers under their scalar names (see the module docstring)."""
    event = record.get("event", "?")
    out: dict[str, float] = {}
    for key, value in record.items():
        if key in ("event", "time") or key in _COUNTERS:
            continue
        if isinstance(value, dict):
            prefix = "tmrl" if key == "tmrl" else f"{event}/{key}"
            out.update({f"{prefix}/{k}": float(v) for k, v in value.items() if _is_number(v)})
        elif _is_number(value):
            out[f"{event}/{key}"] = float(value)
    if event == "epoch":
        out["epoch/updates"] = float(record.get("updates", 0))
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class StatisticsSink(Protocol):
    def write(self, record: dict[str, Any]) -> None: ...
    def close(self) -> None: ...


class TensorBoardSink:
    """Scalars of each record as TensorBoard events, at the record's environment step."""

    def __init__(self, folder: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.writer = SummaryWriter(log_dir=str(folder), flush_secs=10)

    def write(self, record: dict[str, Any]) -> None:
        if record.get("event") in _SKIPPED:
            return
        step = int(record.get("env_steps", 0))
        for name, value in scalars(record).items():
            self.writer.add_scalar(name, value, global_step=step)
        if record.get("event") == "epoch":
            self.writer.flush()  # an epoch is worth seeing at once

    def close(self) -> None:
        self.writer.close()


class WandbSink:
    """Scalars of each record as one wandb log call (with the environment steps, its x axis)."""

    def __init__(self, folder: Path, *, project: str, entity: str | None, run_id: str, key: str | None,
                 config: dict[str, Any]) -> None:
        import wandb

        if key and not os.environ.get("WANDB_API_KEY") and os.environ.get("WANDB_MODE") not in ("offline",
                                                                                                 "disabled"):
            os.environ["WANDB_API_KEY"] = key
        folder.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(dir=str(folder), project=project, entity=entity or None, id=run_id, name=run_id,
                              resume="allow", config=config)
        self.run.define_metric("env_steps")
        self.run.define_metric("*", step_metric="env_steps")

    def write(self, record: dict[str, Any]) -> None:
        if record.get("event") in _SKIPPED:
            return
        values = scalars(record)
        if values:
            self.run.log({**values, "env_steps": int(record.get("env_steps", 0))})

    def close(self) -> None:
        self.run.finish()


class Sinks:
    """The sinks of one trainer, fed each record; a sink that raises is warned about once and dropped."""

    def __init__(self, sinks: list[StatisticsSink]) -> None:
        self.sinks = sinks

    def __call__(self, record: dict[str, Any]) -> None:
        for sink in list(self.sinks):
            try:
                sink.write(record)
            except Exception as err:  # a full disk, a network error of wandb: training goes on
                log.warning(f"Player runs: {type(sink).__name__} stopped ({type(err).__name__}: {err}); "
                            "the statistics file goes on")
                self.sinks.remove(sink)

    def close(self) -> None:
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as err:
                log.warning(f"Player runs: {type(sink).__name__} did not close ({type(err).__name__}: {err})")
        self.sinks = []


def build_sinks(config: PlayerRunsConfig, *, wandb: bool, run_name: str) -> Sinks:
    """The sinks the configuration and the command line ask for; one that cannot start is warned about and
    left out (TensorBoard without its package, wandb without a login): training goes on without it."""
    sinks: list[StatisticsSink] = []
    if config.TENSORBOARD:
        folder = config.tensorboard_path / run_name
        try:
            sinks.append(TensorBoardSink(folder))
            log.info(f"Player runs: statistics go to TensorBoard too: tensorboard --logdir {config.tensorboard_path}")
        except Exception as err:
            log.warning(f"Player runs: PLAYER_RUNS.TENSORBOARD is on, but {folder} cannot be written by TensorBoard "
                        f"({type(err).__name__}: {err}); the statistics file goes on")
    if wandb:
        import tmrl.config.config_constants as cfg

        try:
            sinks.append(WandbSink(Path(cfg.TMRL_FOLDER) / "wandb", project=cfg.WANDB_PROJECT,
                                   entity=cfg.WANDB_ENTITY, run_id=cfg.WANDB_RUN_ID, key=cfg.WANDB_KEY,
                                   config=asdict(config)))
        except Exception as err:
            log.warning(f"Player runs: --wandb could not start a wandb run ({type(err).__name__}: {err}); "
                        "the statistics file goes on")
    return Sinks(sinks)
