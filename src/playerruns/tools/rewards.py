"""tmrl's TrackMania reward and player runs: reward trajectories from runs, stamps, relabelling.

tmrl rewards a TrackMania step by how far along a recorded trajectory the car got: ``reward.pkl``
holds (x, y, z) points 0.1 m apart, recorded today by a separate ``--record-reward`` drive, and
tmrl's ``RewardFunction`` counts the points passed (``REWARD_CONFIG`` sets its window, the finish
bonus and a constant penalty). A player run keeps every step's OpenPlanet telemetry
(``runs.telemetry``), positions included, so:

- ``reward_from_run`` writes ``reward.pkl`` from a run's positions, the way tmrl's recorder does:
  one drive gives both the reward and a demonstration;
- ``relabel_runs`` recomputes runs' rewards with tmrl's own reward function for the current file,
  into new run files, when the reward trajectory changed;
- a recording stamps its metadata with the trajectory and REWARD_CONFIG its rewards came from
  (``bridge.demo_path.reward_stamp``); import and injection warn when that differs from the current one.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np

from playerruns.bridge.demo_path import STAMP_KEY, reward_stamp
from playerruns.bridge.setup import TmrlSetup, tmrl_data_folder
from playerruns.runs.atomic_io import atomic_write, atomic_write_bytes, free_name
from playerruns.runs.demos import check_run, load_demo_run
from playerruns.runs.errors import PlayerRunsError
from playerruns.runs.runfile import RunFile, episode_returns, load_run, new_run_id, save_run
from playerruns.runs.sample import REW, Sample, split_episodes
from playerruns.runs.telemetry import FINISHED, POSITION, column, telemetry_table

log = logging.getLogger(__name__)

SPACING = 0.1  # metres between the points of a reward trajectory, as tmrl's recorder writes them


# -- a reward trajectory from a run ------------------------------------------------------------------
def trajectory_from_positions(positions: np.ndarray, spacing: float = SPACING) -> np.ndarray:
    """Points every ``spacing`` metres along the polyline through ``positions``, from the first one:
    what tmrl's reward recorder makes of the positions it captured (float64, shape (n, 3))."""
    positions = np.asarray(positions, dtype=np.float64)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(positions, axis=0), axis=1))])
    targets = np.arange(0.0, arc[-1] + spacing * 1e-6, spacing)
    return np.stack([np.interp(targets, arc, positions[:, k]) for k in range(positions.shape[1])], axis=1)


def _finished_episode(run: RunFile, source: str) -> tuple[int, np.ndarray]:
    """(episode index, telemetry table) of the first episode of ``run`` that reaches the finish line."""
    episodes = split_episodes(run.samples)
    tables = [telemetry_table(ep) for ep in episodes]
    if all(t is None for t in tables):
        raise PlayerRunsError(f"{source}: its samples carry no OpenPlanet telemetry (a TrackMania run "
                              "recorded with --record-episode has it)")
    for k, table in enumerate(tables):
        if table is not None and column(table, "finished").max() > 0:
            _check_positions(table, f"{source}: episode {k + 1}")
            return k, table
    raise PlayerRunsError(f"{source}: no episode reaches the finish line (telemetry 'finished' never set); "
                          "a reward trajectory must cover the whole track")


def _check_positions(table: np.ndarray, where: str) -> None:
    """Refuses telemetry whose positions hold NaN or infinity: a trajectory or reward made of them is garbage."""
    finite = np.isfinite(table[:, POSITION]).all(axis=1)
    if not finite.all():
        raise PlayerRunsError(f"{where}: the telemetry's position is not finite at sample {int(np.argmin(finite))}")


def reward_from_run(path: Path, setup: TmrlSetup, *, say: Callable[[str], None]) -> int:
    """``--reward-from-run RUN``: writes tmrl's reward file for the current map from ``RUN``'s positions.

    The first episode that reaches the finish line is used. An existing reward file is copied to
    ``reward.pkl.old`` (or ``.old.1``...) first, and the new one replaces it atomically.
    """
    if setup.reward_path is None:
        raise PlayerRunsError(f"--reward-from-run: the current interface {setup.interface} is not TrackMania "
                              "(tmrl's reward file serves the TrackMania interfaces)")
    run = load_run(path)
    check_run(run, None, str(path))
    episode, table = _finished_episode(run, str(path))
    points = trajectory_from_positions(table[:, POSITION])
    target = setup.reward_path
    target.parent.mkdir(parents=True, exist_ok=True)
    kept = ""
    if target.exists():
        old = free_name(target.with_name(target.name + ".old"))
        atomic_write_bytes(old, target.read_bytes())
        kept = f"; the previous file is kept as {old}"
    atomic_write(target, lambda f: pickle.dump(points, f))
    length = float(np.linalg.norm(np.diff(table[:, POSITION], axis=0), axis=1).sum())
    say(f"Wrote {target}: {len(points)} points every {SPACING:g} m along {length:.1f} m driven in episode "
        f"{episode + 1} of {run.run_id}{kept}")
    say("Runs recorded with the previous reward now have stale rewards: python -m playerruns --relabel-rewards "
        "--player-runs-paths ... recomputes them")
    return 0


# -- relabelling -----------------------------------------------------------------------------------
def relabel_samples(samples: list[Sample], table: np.ndarray, setup: TmrlSetup) -> list[Sample]:
    """``samples`` with each step's reward recomputed from its telemetry by tmrl's reward function for the
    current reward file and REWARD_CONFIG, exactly as tmrl's TrackMania interfaces compute it (the
    finish bonus on the step that finishes, the constant penalty on every step). Reset samples, and
    everything but the rewards, are kept as they are."""
    config = setup.reward_config or {}
    function = setup.reward_function()
    out: list[Sample] = []
    start = 0
    for episode in split_episodes(samples):
        function.reset()
        out.append(episode[0])  # the reset sample: tmrl computes no reward for it
        for i, sample in enumerate(episode[1:], start=start + 1):
            rew, _ = function.compute_reward(pos=table[i, POSITION].copy())
            if table[i, FINISHED] > 0:
                rew += config["END_OF_TRACK"]
            rew += config["CONSTANT_PENALTY"]
            out.append((*sample[:REW], np.float32(rew), *sample[REW + 1:]))
        start += len(episode)
    return out


def relabel_runs(paths: list[Path], setup: TmrlSetup, *, output_dir: Path | None,
                 say: Callable[[str], None]) -> int:
    """``--relabel-rewards``: a new run file (new run id) per run, rewards recomputed; originals untouched.

    Every file is read and checked first (the current configuration, telemetry on every sample):
    one that fails stops the command before anything is written.
    """
    stamp = reward_stamp(setup)
    if stamp is None:
        raise PlayerRunsError(f"--relabel-rewards: the current interface {setup.interface} is not TrackMania "
                              "(only TrackMania rewards come from a reward trajectory)")
    runs: list[tuple[RunFile, np.ndarray]] = []
    for path in paths:
        run = load_demo_run(path, setup.compat)
        table = telemetry_table(run.samples)
        if table is None:
            raise PlayerRunsError(f"{path}: some samples carry no OpenPlanet telemetry, so their rewards cannot be "
                                  "recomputed (a TrackMania run recorded with --record-episode has it)")
        _check_positions(table, str(path))
        runs.append((run, table))
    folder = output_dir or tmrl_data_folder() / "player_runs" / "relabeled"
    folder.mkdir(parents=True, exist_ok=True)
    for run, table in runs:
        samples = relabel_samples(run.samples, table, setup)
        returns = episode_returns(split_episodes(samples))
        metadata = {**run.metadata, "episode_returns": returns, STAMP_KEY: stamp, "relabeled_from": run.run_id}
        new = RunFile(samples=samples, run_id=new_run_id(), recorded_at=run.recorded_at, metadata=metadata)
        target = save_run(folder / f"{new.run_id}.pkl", new)
        before = sum(run.metadata.get("episode_returns") or [float(s[REW]) for s in run.samples])
        say(f"{run.source} -> {target}: return {before:.2f} -> {sum(returns):.2f}")
    say(f"Relabelled {len(runs)} run(s) into {folder} with the current reward (trajectory {stamp['trajectory']}); "
        "the original files are unchanged")
    return 0
