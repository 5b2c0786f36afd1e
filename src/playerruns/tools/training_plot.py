"""``--plot-training PATH``: the curves of a training run, drawn from its statistics file as a PNG.

PATH is a trainer's statistics file (``PLAYER_RUNS.STATISTICS_PATH/<RUN_NAME>.jsonl``, by default in
``~/TmrlData/statistics``) or a folder of them (one picture each). Four panels against the environment
steps (the training steps when no worker sample came, e.g. a trainer that only trained on data.pkl):

- **returns**: the workers' episode return (tmrl's ``return_train``, mean over each epoch's rounds, once an
  episode has ended) and, with
  ``EVALUATION_EPISODES``, the trainer's evaluation (mean and lowest of its episodes);
- **demos**: their share of the replay memory and of the sampled batches, and, once a person has taken the
  wheel (``PLAYER_RUNS.TAKE_OVER``), the share of the worker's steps they drove; a dotted line at each
  injection;
- **critic and cloning**: the critic's mean Q on demo rows and on the others, and the share of batch rows
  cloned (with ``DEMO_BC_COEF``);
- **losses**: tmrl's critic and actor losses.

The file is read as data it must check: lines that are not JSON objects, and values that are not finite
numbers, are left out (a statistics file may be cut short, or written by something else); a file without
a single epoch record is refused in one line. The picture is written whole or not at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playerruns.runs.errors import PlayerRunsError
from playerruns.tools.plotting import pyplot, save_png
from playerruns.trainer.statistics import SUFFIX, iter_statistics

DPI = 100
SIZE_INCHES = (12.0, 7.5)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _tmrl(record: dict[str, Any], key: str) -> Any:
    """tmrl's number ``key`` in a record (None when the record's ``tmrl`` is not a dict of them)."""
    means = record.get("tmrl")
    return means.get(key) if isinstance(means, dict) else None


def _series(records: list[dict[str, Any]], x_key: str, get: Callable[[dict[str, Any]], Any]) -> tuple[list, list]:
    xs, ys = [], []
    for record in records:
        x, y = _number(record.get(x_key)), _number(get(record))
        if x is not None and y is not None:
            xs.append(x)
            ys.append(y)
    return xs, ys


def statistics_files(path: Path) -> list[Path]:
    """The statistics files ``--plot-training`` draws for ``path`` (a file, or the ``*.jsonl`` of a folder)."""
    if path.is_dir():
        files = sorted(path.glob(f"*{SUFFIX}"))
        if not files:
            raise PlayerRunsError(f"--plot-training: {path} holds no *{SUFFIX} statistics file (a trainer writes "
                                  "PLAYER_RUNS.STATISTICS_PATH/<RUN_NAME>.jsonl, by default in ~/TmrlData/statistics)")
        return files
    if not path.is_file():
        raise PlayerRunsError(f"--plot-training: {path}: no such file or folder")
    return [path]


def plot_training(statistics: Path, target: Path) -> Path:
    """Draws the statistics file ``statistics`` into the PNG ``target``; returns it. Raises PlayerRunsError
    for a file without an epoch record."""
    records = list(iter_statistics(statistics))
    epochs = [r for r in records if r.get("event") == "epoch"]
    if not epochs:
        raise PlayerRunsError(f"--plot-training: {statistics} holds no epoch record yet (the trainer writes one "
                              "after each epoch)")
    steps = {_number(r.get("env_steps")) for r in epochs}
    x_key, x_label = ("env_steps", "environment steps") if len(steps) > 1 else ("updates", "training steps")
    injections = [x for r in records if r.get("event") == "injection" and (x := _number(r.get(x_key))) is not None]

    plt = pyplot()
    fig, ((ax_ret, ax_demo), (ax_q, ax_loss)) = plt.subplots(2, 2, figsize=SIZE_INCHES, dpi=DPI)

    def line(ax: Any, get: Callable[[dict[str, Any]], Any], label: str, **style: Any) -> bool:
        xs, ys = _series(epochs, x_key, get)
        if xs:
            ax.plot(xs, ys, label=label, **style)
        return bool(xs)

    drawn = line(ax_ret, lambda r: _tmrl(r, "return_train") if _number(_tmrl(r, "episode_length_train")) else None,
                 "workers' episodes", lw=1.2)  # tmrl says 0 until a worker's episode has ended
    drawn |= line(ax_ret, lambda r: r.get("evaluation_mean"), "evaluation (mean)", lw=2)
    drawn |= line(ax_ret, lambda r: r.get("evaluation_lowest"), "evaluation (lowest)", lw=1, ls="--")
    ax_ret.set(title="returns", xlabel=x_label, ylabel="episode return")
    line(ax_demo, lambda r: r.get("demo_fraction_memory"), "share of the replay memory")
    line(ax_demo, lambda r: r.get("demo_fraction_sampled"), "share of sampled batches")
    line(ax_demo, lambda r: r.get("intervention_rate"), "share of the worker's steps a person drove")
    ax_demo.set(title="demos", xlabel=x_label, ylabel="share", ylim=(-0.02, 1.02))
    for x in injections:
        ax_demo.axvline(x, color="0.6", ls=":", lw=1)
    line(ax_q, lambda r: r.get("q_demo"), "critic's Q on demo rows")
    line(ax_q, lambda r: r.get("q_other"), "critic's Q on other rows")
    ax_q.set(title="critic and cloning", xlabel=x_label, ylabel="mean Q")
    ax_rows = ax_q.twinx()
    xs, ys = _series(epochs, x_key, lambda r: r.get("bc_rows"))
    if xs:
        ax_rows.plot(xs, ys, color="tab:green", lw=1, ls="--", label="share of rows cloned")
        ax_rows.set_ylabel("share of rows cloned")
    line(ax_loss, lambda r: _tmrl(r, "loss_critic"), "critic loss")
    line(ax_loss, lambda r: _tmrl(r, "loss_actor"), "actor loss")
    ax_loss.set(title="losses", xlabel=x_label)
    for ax in (ax_ret, ax_demo, ax_q, ax_loss):
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        if ax is ax_q:  # the cloned share is on the twin axis
            more = ax_rows.get_legend_handles_labels()
            handles, labels = handles + more[0], labels + more[1]
        if handles:
            ax.legend(handles, labels, fontsize=8, loc="best")
        elif ax is not ax_q:
            ax.text(0.5, 0.5, "not in this statistics file", ha="center", va="center", transform=ax.transAxes)
    if not drawn:
        ax_ret.text(0.5, 0.5, "no return yet", ha="center", va="center", transform=ax_ret.transAxes)
    env_steps = max((v for r in epochs if (v := _number(r.get("env_steps"))) is not None), default=0.0)
    updates = max((v for r in epochs if (v := _number(r.get("updates"))) is not None), default=0.0)
    fig.suptitle(f"{statistics.stem}: {len(epochs)} epoch record(s), {int(env_steps):,} environment steps, "
                 f"{int(updates):,} training steps", fontsize=10)
    return save_png(fig, target)


def plot_training_runs(path: Path, *, output_dir: Path | None, say: Callable[[str], None]) -> int:
    """``--plot-training``: ``<RUN_NAME>.png`` beside each statistics file, or in ``output_dir``."""
    files = statistics_files(path)
    for statistics in files:
        target = (output_dir or statistics.parent) / f"{statistics.stem}.png"
        say(f"{statistics} -> {plot_training(statistics, target)}")
    return 0
