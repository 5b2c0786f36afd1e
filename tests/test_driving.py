"""MiniTrack, the built-in driving task: its interface, physics, reward and endings, and its path through tmrl."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

from playerruns.envs import minitrack as driving
from playerruns.envs.drivers import line_follower
from playerruns.runs.runfile import load_run
from tests.helpers import make_home, run_cli

GAS, BRAKE = np.array([1.0, -1.0, 0.0], np.float32), np.array([-1.0, 1.0, 0.0], np.float32)


def _drive(env, policy, limit=5000):
    obs, info = env.reset(seed=3)
    total, steps = 0.0, 0
    while steps < limit:
        obs, reward, terminated, truncated, info = env.step(policy(obs))
        total += reward
        steps += 1
        if terminated or truncated:
            return total, steps, terminated, truncated, info
    raise AssertionError("the episode did not end")


def test_interface_mirrors_tmrls_lidar_interface():
    env = gymnasium.make("playerruns.envs.minitrack:MiniTrack-v0")
    obs, info = env.reset(seed=0)
    assert env.observation_space.shape == (26,) and env.observation_space.contains(obs)
    assert env.action_space.shape == (3,) and float(env.action_space.low[0]) == -1.0
    assert env.spec.max_episode_steps == driving.MAX_EPISODE_STEPS == 1000
    speed, beams, act_buf = obs[0], obs[1:20], obs[20:]
    assert speed == 0.0 and np.all(act_buf == 0.0)
    assert np.all(beams > 0) and np.all(beams <= 1.0)
    assert beams[0] < 0.2 and beams[-1] < 0.2 and beams[9] > beams[0]  # borders beside, road ahead
    obs, *_ = env.step(np.array([0.5, -1.0, 0.25], np.float32))
    np.testing.assert_array_equal(obs[20:23], [0.5, -1.0, 0.25])  # the action buffer, newest first
    obs, *_ = env.step(np.array([1.0, -1.0, 0.0], np.float32))
    np.testing.assert_array_equal(obs[20:26], [1.0, -1.0, 0.0, 0.5, -1.0, 0.25])
    assert set(info) >= {"x", "y", "speed", "lap_fraction"}


def test_gas_brake_and_steer_do_what_a_driver_expects():
    env = driving.MiniTrackEnv()
    env.reset(seed=0)
    for _ in range(20):
        obs, reward, *_ = env.step(GAS)
    fast = env.speed
    assert fast > 5.0 and obs[0] > 0 and reward > 0
    for _ in range(5):
        env.step(BRAKE)
    assert env.speed < fast - 3.0
    yaw = env.yaw
    env.step(np.array([1.0, -1.0, 1.0], np.float32))  # steer > 0: right, the heading turns clockwise
    assert (env.yaw - yaw + np.pi) % (2 * np.pi) - np.pi < 0


def test_a_lap_is_worth_400_and_ends_at_the_finish_line():
    env = driving.make()
    total, steps, terminated, truncated, info = _drive(env, line_follower(rng=np.random.default_rng(0)))
    assert terminated and not truncated and info.get("finished") is True
    assert total == pytest.approx(driving.LAP) and info["lap_fraction"] == pytest.approx(1.0)
    assert 600 < steps < 1000


def test_no_progress_ends_the_episode_and_the_limit_truncates():
    env = driving.make()
    total, steps, terminated, truncated, info = _drive(env, lambda obs: BRAKE)  # never moves
    assert terminated and info.get("stuck") is True and steps == driving.STUCK_STEPS and total == 0.0
    crawl = np.array([-0.9, -1.0, 0.0], np.float32)  # creeping: gas 0, brake 0, rolling to a stop
    _, steps, terminated, truncated, _ = _drive(env, lambda obs: crawl)
    assert terminated and steps == driving.STUCK_STEPS
    # driving in circles on the spot: progress stops, the episode ends as stuck, well before the limit
    _, steps, terminated, _, info = _drive(env, lambda obs: np.array([0.3, -1.0, 1.0], np.float32))
    assert terminated and info.get("stuck") is True


def test_walls_keep_the_car_on_the_track_and_cost_speed():
    env = driving.MiniTrackEnv()
    env.reset(seed=0)
    for _ in range(40):
        env.step(np.array([1.0, -1.0, 1.0], np.float32))  # full gas, full right: into the wall
        heading = env.track.heading[env.idx]
        normal = np.array([-np.sin(heading), np.cos(heading)])
        offset = float(np.dot(env.pos - env.track.centre[env.idx], normal))
        assert abs(offset) <= env.track.width / 2 - driving.CAR_RADIUS + 1e-6
    assert env.speed < 15.0


def test_random_driving_does_not_finish_a_lap_and_the_stand_in_does():
    env = driving.make()
    rng = np.random.default_rng(0)
    for _ in range(20):
        _, _, _, _, info = _drive(env, lambda obs: rng.uniform(-1, 1, 3).astype(np.float32))
        assert not info.get("finished") and info["lap_fraction"] < 0.05
    for track in driving.TRACKS:
        _, _, _, _, info = _drive(driving.make(track), line_follower(rng=np.random.default_rng(1)))
        assert info.get("finished") is True, track


def test_same_seed_same_episode_other_seed_other_start():
    """``reset(seed=...)`` varies the start by a little: one seed gives one start and so one episode, in
    any environment and again after other episodes; other seeds start elsewhere."""
    def start(env, seed):
        obs, info = env.reset(seed=seed)
        return obs, (info["x"], info["y"], env.unwrapped.yaw)

    a, b = driving.make(), driving.make()
    oa, start_a = start(a, 5)
    ob, start_b = start(b, 5)
    assert start_a == start_b
    np.testing.assert_array_equal(oa, ob)
    for k in range(80):  # gas, then a steady turn: a different start would show in the lidar and the reward
        action = GAS if k < 30 else np.array([0.6, -1.0, 0.4], np.float32)
        oa, ra, ta, tra, ia = a.step(action)
        ob, rb, tb, trb, ib = b.step(action)
        np.testing.assert_array_equal(oa, ob)
        assert (ra, ta, tra, ia) == (rb, tb, trb, ib)
    assert start(a, 5)[1] == start_a  # the seed, not the environment's history, sets the start
    starts = {seed: start(driving.make(), seed)[1] for seed in range(8)}
    assert len(set(starts.values())) == 8  # every seed its own start (position and heading)
    track = a.unwrapped.track
    for x, y, yaw in starts.values():  # by a little: near the start of the centre line, heading along it
        assert np.hypot(x - track.centre[0][0], y - track.centre[0][1]) <= 0.15 * track.width + 1e-9
        assert abs((yaw - track.heading[0] + np.pi) % (2 * np.pi) - np.pi) <= 0.05 + 1e-9
    c = driving.make()
    oc, _ = c.reset(seed=6)
    assert not np.array_equal(oc, start(a, 5)[0])  # another start: another first observation


def test_the_view_shows_the_track_and_the_car():
    env = driving.MiniTrackEnv(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (600, 600, 3) and frame.dtype == np.uint8
    pixels = frame.reshape(-1, 3).astype(int)
    assert np.all(np.abs(pixels - [90, 90, 96]) < 3, axis=1).mean() > 0.08  # road
    assert np.all(np.abs(pixels - [220, 30, 30]) < 3, axis=1).sum() > 10  # the car
    assert driving.MiniTrackEnv().render() is None  # no render mode: nothing drawn


@pytest.mark.slow
def test_recorded_and_imported_through_tmrls_generic_path(tmp_path):
    home = make_home(tmp_path, interface="GYM:playerruns.envs.minitrack:MiniTrack-v0",
                     RW_MAX_SAMPLES_PER_EPISODE=1000)
    out = tmp_path / "runs"
    recorded = run_cli(home, "--record-episode", "--record-episode-count", "2", "--record-input", "scripted",
                       "--record-auto-start", "--record-episode-output-dir", str(out), timeout=300)
    assert recorded.returncode == 0, recorded.stderr
    runs = [load_run(p) for p in sorted(out.glob("*.pkl"))]
    assert len(runs) == 2 and all(r.metadata["ended_by"] == "environment" for r in runs)
    assert all(r.samples[-1][5].get("finished") for r in runs)  # the stand-in finished both laps
    assert runs[0].metadata["input_device"] == "scripted:default"
    imported = run_cli(home, "--import-player-runs", "--player-runs-paths", str(out))
    assert imported.returncode == 0, imported.stderr
    assert "imported 2 run(s)" in imported.stdout


def test_scraping_along_a_wall_ends_as_stuck_though_it_gains_ground():
    # a car held against the outside wall with the gas on crawls along it: it gains a metre now and then,
    # which a car pinned to a wall in the game would not; touching the wall for STUCK_STEPS steps in a row
    # ends the episode as stuck
    env = driving.MiniTrackEnv()
    env.reset(seed=0)
    gained, steps, info, terminated = [], 0, {}, False
    while not terminated and steps < 1000:
        _, _, terminated, _, info = env.step(np.array([1.0, -1.0, 0.2], np.float32))  # gas, a little right
        gained.append(env.best)
        steps += 1
    assert terminated and info.get("stuck") is True and steps < 300
    assert env.on_wall >= driving.STUCK_STEPS
    touching = steps - driving.STUCK_STEPS  # the car's last STUCK_STEPS steps were all against the wall
    assert gained[-1] - gained[touching] >= 1.0  # ... and it gained ground meanwhile: scraping, not stopped
