"""``--plot``: one PNG per run, what people look at before they trust a recording.

Four panels, episodes one after the other on a common step axis (dotted lines between them):
the actions over time (gas, brake and steer for TrackMania and the driving task), the reward per
step with the cumulative return, the speed, and the trajectory seen from above. Speed and positions
come from the samples' ``info``: the OpenPlanet telemetry of a TrackMania recording
(``runs.telemetry``; the top view is x/z, TrackMania's ground plane) or the driving task's
``x``/``y``/``speed``; a run without them says so in its panel. MiniTrack runs are drawn on their track.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from playerruns.bridge.setup import TmrlSetup, tmrl_data_folder
from playerruns.runs.demos import check_run
from playerruns.runs.runfile import RunFile, load_run
from playerruns.runs.sample import ACT, INFO, REW, split_episodes
from playerruns.runs.telemetry import column, telemetry_table

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from playerruns.envs.minitrack import Track

CAR_ACTIONS = ("gas", "brake", "steer")  # tmrl's TrackMania action, and the driving task's
SIZE_INCHES, DPI = (12.0, 8.0), 100  # a 1200 x 800 picture


def _series(run: RunFile) -> dict[str, Any]:
    """What the panels draw, per episode: actions, rewards, speed and (x, y) positions (None if absent)."""
    episodes = []
    telemetry = False
    for ep in split_episodes(run.samples):
        steps = ep[1:] or ep  # the reset sample holds no decision and no reward
        acts = np.array([np.asarray(s[ACT], dtype=np.float64).reshape(-1) for s in steps if s[ACT] is not None])
        rewards = np.array([float(s[REW]) for s in steps])
        table = telemetry_table(ep)
        speed: np.ndarray | None
        xy: np.ndarray | None
        if table is not None:  # TrackMania: the packet of each step
            telemetry = True
            speed, xy = column(table, "speed"), np.stack([column(table, "x"), column(table, "z")], axis=1)
        else:
            infos = [s[INFO] for s in ep]
            speed = _info_column(infos, "speed")
            x, y = _info_column(infos, "x"), _info_column(infos, "y")
            xy = np.stack([x, y], axis=1) if x is not None and y is not None else None
        episodes.append({"acts": acts, "rewards": rewards, "speed": speed, "xy": xy})
    return {"episodes": episodes, "telemetry": telemetry}


def _info_column(infos: list[Any], key: str) -> np.ndarray | None:
    values = [i.get(key) if isinstance(i, dict) else None for i in infos]
    if not values or any(not isinstance(v, (int, float, np.floating, np.integer)) for v in values):
        return None
    return np.asarray(values, dtype=np.float64)


def _track_of(run: RunFile) -> Track | None:
    """The MiniTrack track a run was driven on, if it was (to draw its borders)."""
    env_id = str(run.metadata.get("env_id") or run.metadata.get("interface") or "")
    from playerruns.envs.minitrack import TRACK_IDS, Track

    for name, track_id in TRACK_IDS.items():
        if env_id.endswith(track_id):
            return Track.build(name)
    return None


def pyplot() -> Any:
    """matplotlib's pyplot drawing off screen (no display needed), without its font-cache notice on a first run."""
    import logging

    import matplotlib

    matplotlib.use("Agg")
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, target: Path) -> Path:
    """Writes the figure ``fig`` to the PNG ``target`` whole or not at all, closes it, returns ``target``."""
    from playerruns.runs.atomic_io import atomic_write

    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, lambda f: fig.savefig(f, format="png"))
    pyplot().close(fig)
    return target


def plot_run(run: RunFile, target: Path, *, action_names: tuple[str, ...] | None = None) -> Path:
    """Draws ``run`` into the PNG ``target`` (written whole or not at all) and returns its path."""
    plt = pyplot()
    data = _series(run)
    fig, axes = plt.subplots(2, 2, figsize=SIZE_INCHES, dpi=DPI)
    (ax_act, ax_top), (ax_rew, ax_speed) = axes
    ax_return = ax_rew.twinx()
    offset = 0
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, ep in enumerate(data["episodes"]):
        n = len(ep["rewards"])
        t = np.arange(offset, offset + n)
        acts = ep["acts"]
        if len(acts):
            names = action_names if action_names and len(action_names) == acts.shape[1] else \
                tuple(f"action[{i}]" for i in range(acts.shape[1]))
            for i, name in enumerate(names):
                ax_act.plot(t[-len(acts):], acts[:, i], color=colours[i % len(colours)], lw=1,
                            label=name if k == 0 else None)
        ax_rew.plot(t, ep["rewards"], color=colours[0], lw=1, label="reward per step" if k == 0 else None)
        ax_return.plot(t, np.cumsum(ep["rewards"]), color=colours[1], lw=1.5, label="return" if k == 0 else None)
        if ep["speed"] is not None:
            ax_speed.plot(np.arange(offset - 1, offset + n)[-len(ep["speed"]):], ep["speed"], color=colours[2], lw=1)
        if ep["xy"] is not None:
            xy = ep["xy"]
            ax_top.plot(xy[:, 0], xy[:, 1], color=colours[k % len(colours)], lw=1.5, label=f"episode {k + 1}")
            ax_top.plot(*xy[0], "o", color=colours[k % len(colours)], ms=5)
        if k:
            for ax in (ax_act, ax_rew, ax_speed):
                ax.axvline(offset - 0.5, color="grey", ls=":", lw=1)
        offset += n
    ax_act.set(title="actions", xlabel="step", ylim=(-1.1, 1.1))
    ax_act.legend(loc="lower right", fontsize=8)
    ax_rew.set(title="reward and return", xlabel="step", ylabel="reward per step")
    ax_return.set_ylabel("cumulative return")
    handles, labels = ax_rew.get_legend_handles_labels()
    more_handles, more_labels = ax_return.get_legend_handles_labels()
    ax_rew.legend(handles + more_handles, labels + more_labels, loc="upper left", fontsize=8)
    have_speed = any(ep["speed"] is not None for ep in data["episodes"])
    ax_speed.set(title="speed", xlabel="step", ylabel="speed (telemetry)" if data["telemetry"] else "speed (m/s)")
    if not have_speed:
        ax_speed.text(0.5, 0.5, "no speed in this run's info", ha="center", va="center", transform=ax_speed.transAxes)
    _draw_top_view(ax_top, run, data)
    fig.suptitle(f"{run.run_id}  ({run.metadata.get('interface', '?')}, {len(data['episodes'])} episode(s), "
                 f"return {sum(float(ep['rewards'].sum()) for ep in data['episodes']):.2f})", fontsize=10)
    return save_png(fig, target)


def _draw_top_view(ax: Axes, run: RunFile, data: dict[str, Any]) -> None:
    if not any(ep["xy"] is not None for ep in data["episodes"]):
        ax.set(title="trajectory from above")
        ax.text(0.5, 0.5, "no positions in this run's info", ha="center", va="center", transform=ax.transAxes)
        return
    track = _track_of(run)
    if track is not None:
        for border in (track.left, track.right):
            closed = np.vstack([border, border[:1]])
            ax.plot(closed[:, 0], closed[:, 1], color="0.55", lw=0.8)
    ax.set(title="trajectory from above (o: start)", xlabel="x", ylabel="z" if data["telemetry"] else "y")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="best", fontsize=8)


def plot_runs(paths: list[Path], setup: TmrlSetup, *, output_dir: Path | None, say: Callable[[str], None]) -> int:
    """``--plot``: ``<run file name>.png`` per run in ``output_dir`` (default ~/TmrlData/player_runs/plots).

    Every file is read and checked (schema and finite numbers) before the first picture is drawn.
    """
    runs = []
    for path in paths:
        run = load_run(path)
        check_run(run, None, str(path))
        runs.append(run)
    folder = output_dir or tmrl_data_folder() / "player_runs" / "plots"
    car = setup.action_space.shape == (3,) and (setup.env_id is None or "MiniTrack" in setup.env_id)
    for path, run in zip(paths, runs, strict=True):
        target = plot_run(run, folder / f"{path.stem}.png", action_names=CAR_ACTIONS if car else None)
        say(f"{path} -> {target}")
    say(f"Plotted {len(runs)} run(s) into {folder}")
    return 0
