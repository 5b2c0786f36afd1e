"""Looking at runs and keeping them useful: --inspect, --plot, --reward-from-run, --relabel-rewards,
and the warnings on runs whose rewards came from another reward trajectory."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from playerruns.bridge.demo_path import reward_stamp
from playerruns.runs.runfile import RunFile, build_metadata, load_run, read_header, save_run
from playerruns.runs.sample import split_episodes
from playerruns.runs.telemetry import TELEMETRY_KEY
from playerruns.tools.inspection import inspect_row
from playerruns.tools.plotting import plot_runs
from playerruns.tools.synthetic import synthetic_run
from tests.helpers import file_digests, make_home, run_cli, run_program


def telemetry_run(setup, positions: np.ndarray, *, finish: bool = True, rng=None, **metadata) -> RunFile:
    """A TrackMania run whose every sample carries an OpenPlanet packet at ``positions[i]`` (one episode,
    the last step at the finish line when ``finish``), observations from the configured interface."""
    rng = rng or np.random.default_rng(0)
    run = synthetic_run(setup, steps=len(positions) - 1, rng=rng)
    samples = []
    for i, (act, obs, rew, _, _, info) in enumerate(run.samples):
        last = i == len(positions) - 1
        x, y, z = positions[i]
        gas, brake, steer = (0.0, 0.0, 0.0) if act is None else act
        packet = np.array([30.0, i, x, y, z, steer, gas, brake, 1.0 if (finish and last) else 0.0, 3, 6000],
                          dtype=np.float32)
        samples.append((act, obs, rew, bool(finish and last), bool(last and not finish),
                        {**info, TELEMETRY_KEY: packet}))
    return RunFile(samples=samples, metadata=build_metadata(samples, interface=setup.interface, **metadata))


# -- inspect ------------------------------------------------------------------------------------------
def test_headers_are_read_without_the_samples_and_match_the_whole_file(tmp_path, lidar_setup, rng):
    run = synthetic_run(lidar_setup, episodes=3, steps=40, rng=rng)
    path = save_run(tmp_path / "a.pkl", run)
    header = read_header(path)
    whole = load_run(path)
    assert header is not None and (header.run_id, header.recorded_at) == (whole.run_id, whole.recorded_at)
    assert header.metadata == whole.metadata and header.metadata["episode_ends"] == \
        ["terminated" if ep[-1][3] else "truncated" for ep in split_episodes(run.samples)]
    # layouts the header reader does not take are left to a whole read (None), never misread
    bare = tmp_path / "bare.pkl"
    bare.write_bytes(pickle.dumps(run.samples))
    assert read_header(bare) is None
    for metadata in ({"samples": 1}, {"samples": 1, "x": [1, 2]}, {"a": {"samples": 2}}):
        odd = tmp_path / "odd.pkl"
        odd.write_bytes(pickle.dumps({"format": "tmrl_player_run_v1", "run_id": "odd", "recorded_at": "2026-01-01",
                                      "metadata": metadata, "samples": run.samples}, protocol=4))
        found = read_header(odd)
        assert found is None or found.metadata == metadata
        row = inspect_row(odd, lidar_setup, None)  # still an exact row, from the samples
        assert (row.episodes, row.steps, row.read) == (3, 120, "whole file")


def test_inspect_lists_runs_whose_contents_are_known(tmp_path, lidar_setup, rng):
    home = make_home(tmp_path)
    setup_stamp = reward_stamp(lidar_setup)  # no reward file in either HOME: the same stamp
    runs = tmp_path / "runs"
    runs.mkdir()
    known = {}
    two = synthetic_run(lidar_setup, episodes=2, steps=15, rng=rng)
    two.metadata.update(input_device="gamepad", duration_s=3.5, reward_stamp=setup_stamp)
    known["two"] = (save_run(runs / "two.pkl", two), two)
    stale = synthetic_run(lidar_setup, steps=10, rng=rng)
    stale.metadata["reward_stamp"] = {"trajectory": "0123456789abcdef", "config": setup_stamp["config"]}
    known["stale"] = (save_run(runs / "stale.pkl", stale), stale)
    compressed = synthetic_run(lidar_setup, steps=10, rng=rng)
    compressed.metadata["raw"] = False
    known["compressed"] = (save_run(runs / "compressed.pkl", compressed), compressed)
    other = RunFile(samples=[(None, np.zeros(3, np.float32), 0.0, False, False, {}),
                             (np.zeros(1, np.float32), np.ones(3, np.float32), 1.5, True, False, {})])
    other.metadata = build_metadata(other.samples, interface="GYM:Pendulum-v1")
    known["other"] = (save_run(runs / "other.pkl", other), other)
    legacy = synthetic_run(lidar_setup, steps=12, rng=rng)
    (runs / "legacy.pkl").write_bytes(pickle.dumps(legacy.samples))
    (runs / "broken.pkl").write_bytes(b"\x80\x04this is not a pickle")
    whole = (runs / "two.pkl").read_bytes()  # a copy cut short: its header is all there, its samples are not
    (runs / "cut.pkl").write_bytes(whole[: len(whole) * 2 // 3])
    before = file_digests(runs)

    result = run_cli(home, "--inspect", "--json", "--player-runs-paths", str(runs))
    assert result.returncode == 1  # one file unreadable: said on stderr, the others listed
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and "broken.pkl" in errors[0] and errors[0].startswith("playerruns: error:")
    rows = {Path(r["path"]).stem: r for r in map(json.loads, result.stdout.strip().splitlines())}
    assert set(rows) == {"two", "stale", "compressed", "other", "legacy", "cut"}
    assert (rows["cut"]["fits"], rows["cut"]["read"]) == (False, "header")
    assert rows["cut"]["why"] == "the file is incomplete: it ends inside its samples (cut short, or still copying)"
    refused = run_cli(home, "--import-player-runs", "--player-runs-paths", str(runs / "cut.pkl"))
    assert refused.returncode == 2  # what the import decides too
    for name, (_, run) in known.items():
        row, episodes = rows[name], split_episodes(run.samples)
        assert row["run_id"] == run.run_id and row["episodes"] == len(episodes)
        assert row["steps"] == sum(len(ep) - 1 for ep in episodes) and row["samples"] == len(run.samples)
        assert row["episode_returns"] == pytest.approx([sum(float(s[2]) for s in ep) for ep in episodes])
        assert row["episode_ends"] == ["terminated" if ep[-1][3] else "truncated" for ep in episodes]
        assert row["read"] == "header"
    assert (rows["two"]["fits"], rows["two"]["why"], rows["two"]["duration_s"], rows["two"]["input_device"]) == \
        (True, None, 3.5, "gamepad")
    assert (rows["stale"]["fits"], rows["stale"]["why"]) == (True, "rewards from another reward trajectory")
    assert (rows["compressed"]["fits"], rows["compressed"]["why"]) == (False, "samples stored compressed")
    assert not rows["other"]["fits"] and rows["other"]["why"].startswith("observations float32[3], config wants")
    assert rows["legacy"]["read"] == "whole file" and rows["legacy"]["fits"] and rows["legacy"]["steps"] == 12

    table = run_cli(home, "--inspect", "--player-runs-paths", f"{runs}/two.pkl,{runs}/other.pkl,{runs}/stale.pkl")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["run", "id", "recorded"] and set(lines[1]) == {"-", " "}
    assert two.run_id in lines[2] and "gamepad" in lines[2] and "3.5s" in lines[2] and lines[2].endswith("yes")
    assert other.run_id in lines[3] and "no: observations float32[3]" in lines[3]
    assert lines[4].endswith("yes (rewards from another reward trajectory)")
    assert lines[-2] == ("3 run(s), 4 episode(s), 41 steps (45 samples with each episode's reset sample, as an "
                         "import counts them); 2 fit the current config (TM20LIDAR)")
    assert lines[-1] == ("3 run(s) read by their header: the file's end checked, not its samples (an import checks "
                         "every sample; --import-player-runs --player-runs-dry-run does without writing)")
    counted = run_cli(home, "--import-player-runs", "--player-runs-paths", f"{runs}/two.pkl,{runs}/stale.pkl",
                      "--player-runs-dry-run")
    assert counted.returncode == 0 and f"{len(two.samples) + len(stale.samples)} samples" in counted.stdout
    assert file_digests(runs) == before  # nothing read was changed


# -- plot ---------------------------------------------------------------------------------------------
def _trajectory_pixels(png: Path) -> int:
    """Pixels of the top view (upper right quarter) in matplotlib's first line colour (#1f77b4)."""
    import matplotlib.image

    image = matplotlib.image.imread(png)[..., :3]
    h, w = image.shape[:2]
    top_view = image[: h // 2, w // 2:]
    return int((np.abs(top_view - np.array([0x1F, 0x77, 0xB4]) / 255).max(axis=-1) < 0.1).sum())


def test_plot_writes_a_picture_per_run(tmp_path, lidar_setup, rng):
    folder = tmp_path / "runs"
    folder.mkdir()
    angle = np.linspace(0, 1.5 * np.pi, 200)
    circle = np.stack([80 * np.cos(angle), np.zeros_like(angle), 80 * np.sin(angle)], axis=1)
    with_positions = save_run(folder / "lap.pkl", telemetry_run(lidar_setup, circle, rng=rng))
    without = save_run(folder / "plain.pkl", synthetic_run(lidar_setup, episodes=2, steps=30, rng=rng))
    before = file_digests(folder)
    said: list[str] = []
    assert plot_runs([with_positions, without], lidar_setup, output_dir=tmp_path / "plots", say=said.append) == 0
    import matplotlib.image

    for name in ("lap", "plain"):
        image = matplotlib.image.imread(tmp_path / "plots" / f"{name}.png")
        assert image.shape[:2] == (800, 1200)
        assert (image[..., :3] < 0.9).any(axis=-1).mean() > 0.02  # far from blank
    assert _trajectory_pixels(tmp_path / "plots" / "lap.png") > 300  # the lap drawn from above
    assert _trajectory_pixels(tmp_path / "plots" / "plain.png") == 0  # no positions: nothing drawn there
    assert said[-1] == f"Plotted 2 run(s) into {tmp_path / 'plots'}"
    assert file_digests(folder) == before


# -- a reward trajectory from a run -------------------------------------------------------------------
def _tmrl_recorder_trajectory(positions: np.ndarray, target: Path, monkeypatch) -> np.ndarray:
    """What tmrl's own reward recorder (``tmrl.tools.record.record_reward_dist``) writes for a drive through
    ``positions``: its OpenPlanet client replaced by one that replays them, then a finish packet."""
    import tmrl.tools.record as record

    packets = [[30.0, 0.0, x, y, z, 0.0, 1.0, 0.0, 0.0, 3.0, 6000.0] for x, y, z in positions]
    packets.append([30.0, 0.0, *positions[-1], 0.0, 1.0, 0.0, 1.0, 3.0, 6000.0])

    class ReplayClient:
        def retrieve_data(self, sleep_if_empty=0.0, timeout=None):
            return packets.pop(0)

    monkeypatch.setattr(record, "TM2020OpenPlanetClient", ReplayClient)
    record.record_reward_dist(path_reward=str(target), use_keyboard=False)
    with open(target, "rb") as f:
        return pickle.load(f)


def test_reward_from_run_writes_what_tmrls_recorder_writes(tmp_path, lidar_setup, rng, monkeypatch):
    home = make_home(tmp_path)
    reward_file = home / "TmrlData" / "reward" / "reward.pkl"
    reward_file.write_bytes(pickle.dumps(np.zeros((2, 3))))
    t = np.linspace(0, 1, 300)
    drive = np.stack([300 * t, 5 * np.sin(6 * t), 60 * np.sin(3 * t)], axis=1).astype(np.float32).astype(np.float64)
    runs = tmp_path / "runs"
    runs.mkdir()
    lap = save_run(runs / "lap.pkl", telemetry_run(lidar_setup, drive, rng=rng))
    before = file_digests(runs)
    result = run_cli(home, "--reward-from-run", str(lap))
    assert result.returncode == 0, result.stderr
    assert f"Wrote {reward_file}" in result.stdout and "reward.pkl.old" in result.stdout
    assert pickle.loads((reward_file.parent / "reward.pkl.old").read_bytes()).shape == (2, 3)  # the old file kept
    ours = pickle.loads(reward_file.read_bytes())
    theirs = _tmrl_recorder_trajectory(drive, tmp_path / "tmrl-reward.pkl", monkeypatch)
    assert ours.dtype == theirs.dtype == np.float64 and ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    # tmrl's reward function loads it and rewards driving the same line: 1 per 10 m (100 points of 0.1 m)
    from tmrl.custom.tm.utils.compute_reward import RewardFunction

    function = RewardFunction(str(reward_file), nb_obs_forward=500)
    total = sum(function.compute_reward(pos=p)[0] for p in drive[1:])
    length = np.linalg.norm(np.diff(drive, axis=0), axis=1).sum()
    assert function.datalen == len(ours) and total == pytest.approx(length / 10, abs=0.02)
    assert file_digests(runs) == before


def test_reward_from_run_refuses_what_cannot_give_a_trajectory(tmp_path, lidar_setup, rng):
    home = make_home(tmp_path)
    reward_file = home / "TmrlData" / "reward" / "reward.pkl"
    reward_file.write_bytes(b"kept")
    line = np.stack([np.arange(50.0), np.zeros(50), np.zeros(50)], axis=1)
    unfinished = save_run(tmp_path / "unfinished.pkl", telemetry_run(lidar_setup, line, finish=False, rng=rng))
    plain = save_run(tmp_path / "plain.pkl", synthetic_run(lidar_setup, steps=10, rng=rng))
    holed = line.copy()
    holed[7, 2] = np.nan
    nan = save_run(tmp_path / "nan.pkl", telemetry_run(lidar_setup, holed, rng=rng))
    for path, words in ((unfinished, "no episode reaches the finish line"), (plain, "no OpenPlanet telemetry"),
                        (nan, "position is not finite at sample 7"),
                        (tmp_path / "missing.pkl", "no such file")):
        result = run_cli(home, "--reward-from-run", str(path))
        assert result.returncode == 2 and words in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert reward_file.read_bytes() == b"kept"
    gym_home = make_home(tmp_path / "gym", interface="GYM:Pendulum-v1")
    result = run_cli(gym_home, "--reward-from-run", str(unfinished))
    assert result.returncode == 2 and "not TrackMania" in result.stderr


# -- relabelling and the stale-reward warnings ---------------------------------------------------------
def _independent_rewards(xs: np.ndarray, spacing: float, n_points: int, end: float, penalty: float) -> list:
    """Rewards of a drive straight along the x axis of a trajectory of points every ``spacing`` metres:
    the nearest point's index advances, 1/100 per point, as tmrl's TrackMania reward counts them."""
    nearest = np.minimum(np.floor(xs / spacing + 0.5), n_points - 1).astype(int)
    out = [0.0]
    for i in range(1, len(xs)):
        rew = (nearest[i] - nearest[i - 1]) / 100.0
        if i == len(xs) - 1:
            rew += end
        rew += penalty
        out.append(float(np.float32(rew)))
    return out


def test_relabel_recomputes_rewards_and_import_warns_about_stale_ones(tmp_path, lidar_setup, rng):
    home = make_home(tmp_path)
    config_file = home / "TmrlData" / "config" / "config.json"
    config = json.loads(config_file.read_text())
    config["ENV"]["REWARD_CONFIG"].update(END_OF_TRACK=50.0, CONSTANT_PENALTY=-0.25)
    config_file.write_text(json.dumps(config))
    (home / "TmrlData" / "reward" / "reward.pkl").write_bytes(
        pickle.dumps(np.stack([np.arange(0, 400.0, 2.0), np.zeros(200), np.zeros(200)], axis=1)))
    runs = tmp_path / "runs"
    runs.mkdir()
    xs = 0.3 + 1.3 * np.arange(120)  # never halfway between two points: the nearest one is clear
    drive = np.stack([xs, np.zeros_like(xs), np.zeros_like(xs)], axis=1)
    old_stamp = {"trajectory": "0123456789abcdef", "config": {}}
    originals = [telemetry_run(lidar_setup, drive, rng=rng, reward_stamp=old_stamp) for _ in range(2)]
    for k, run in enumerate(originals):
        save_run(runs / f"r{k}.pkl", run)
    before = file_digests(runs)
    out = tmp_path / "relabeled"
    result = run_cli(home, "--relabel-rewards", "--player-runs-paths", str(runs), "--output-dir", str(out))
    assert result.returncode == 0, result.stderr
    assert file_digests(runs) == before
    expected = _independent_rewards(xs, 2.0, 200, end=50.0, penalty=-0.25)
    relabeled = {load_run(p).metadata["relabeled_from"]: load_run(p) for p in out.glob("*.pkl")}
    assert set(relabeled) == {r.run_id for r in originals}
    for run in originals:
        new = relabeled[run.run_id]
        assert [float(s[2]) for s in new.samples] == expected
        assert new.metadata["episode_returns"] == [pytest.approx(sum(expected))]
        for a, b in zip(run.samples, new.samples, strict=True):  # nothing but the rewards changed
            assert a[0] is None and b[0] is None or np.array_equal(a[0], b[0])
            assert all(np.array_equal(x, y) for x, y in zip(a[1], b[1], strict=True)) and a[3:5] == b[3:5]
    # the import warns about the stale originals, not about the relabelled runs
    stale = run_cli(home, "--import-player-runs", "--player-runs-paths", str(runs / "r0.pkl"))
    assert stale.returncode == 0 and "rewards from another reward trajectory" in stale.stdout
    fresh = run_cli(home, "--import-player-runs", "--player-runs-paths", str(out))
    assert fresh.returncode == 0 and "imported 2 run(s)" in fresh.stdout and "rewards from another" not in fresh.stdout
    # a run without telemetry stops the relabelling before anything is written
    save_run(runs / "plain.pkl", synthetic_run(lidar_setup, steps=10, rng=rng))
    refused = run_cli(home, "--relabel-rewards", "--player-runs-paths", str(runs), "--output-dir", str(tmp_path / "no"))
    assert refused.returncode == 2 and "plain.pkl" in refused.stderr and "telemetry" in refused.stderr
    assert not (tmp_path / "no").exists()


def test_trainer_warns_when_it_injects_a_run_with_stale_rewards(tmp_path):
    home = make_home(tmp_path)
    (home / "TmrlData" / "reward" / "reward.pkl").write_bytes(pickle.dumps(np.zeros((10, 3))))
    result = run_program(home, "inject_stale_run.py", timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    warnings = [line for line in result.stdout.splitlines() if "rewards from another reward trajectory" in line]
    assert out["injected"] == 2 * 21 and len(warnings) == 1 and out["ids"]["stale"] in warnings[0]
    assert out["ids"]["fresh"] not in warnings[0]
