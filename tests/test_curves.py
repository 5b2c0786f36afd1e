"""The figures of a whole learning curve, and the arms and drivers of the benchmark."""

from __future__ import annotations

import numpy as np
import pytest

from playerruns.builtin.curves import CurveFigures, Evaluation, PlayerLaps, faster_by, lap_sentence
from playerruns.builtin.tasks import BEST, DRIVERS, Arm

T = 399.0


def curve(*points):
    return [Evaluation(500 * (i + 1), s, lap) for i, (s, lap) in enumerate(points)]


def test_a_curve_that_laps_dips_and_comes_back():
    f = CurveFigures.of(curve((120, None), (400, 900), (400, 850), (301, None), (400, 760), (400, 780)), T)
    assert f.steps_to_threshold == 1000
    assert f.kept_after_first == 3 / 4  # of the 4 evaluations after the first lap, 3 still lap
    assert f.lowest_after_first == 301
    assert f.mean_score == pytest.approx((120 + 400 * 4 + 301) / 6)
    assert f.final_return == 400 and f.lap_steps_final == 780 and f.lap_steps_best == 760


def test_a_curve_that_never_laps_gives_no_lap_figures():
    f = CurveFigures.of(curve((100, None), (250, None)), T)
    assert f.steps_to_threshold is None and f.kept_after_first is None and f.lowest_after_first is None
    assert f.lap_steps_final is None and f.lap_steps_best is None and f.mean_score == 175


def test_a_first_lap_at_the_last_evaluation_is_kept_by_definition():
    f = CurveFigures.of(curve((100, None), (400, 800)), T)
    assert f.kept_after_first == 1.0 and f.lowest_after_first == 400


def test_old_saved_points_without_lap_steps_still_read():
    assert Evaluation.from_point([500, 12.5]) == Evaluation(500, 12.5, None)
    assert Evaluation.from_point((500, 400.0, 811)) == Evaluation(500, 400.0, 811.0)


def test_the_lap_sentence_a_person_reads():
    assert lap_sentence(726, 817) == "your median lap 817 steps, the agent's 726: 11 % faster"
    assert lap_sentence(900, 817).endswith("10 % slower")
    assert "does not finish a lap" in lap_sentence(None, 817)
    assert lap_sentence(817, 817, who="the kept policy") == "your median lap 817 steps, the kept policy's 817: as fast"
    assert lap_sentence(None, 817, policy="it") == \
        "your median lap 817 steps; it does not finish a lap in every episode"
    assert faster_by(None, 817) is None and faster_by(735.3, 817) == pytest.approx(0.1, abs=1e-3)


def test_arm_names():
    assert Arm.parse("scratch", 10) == Arm("scratch", None, None, 0)
    assert Arm.parse("practised-10", 10) == Arm("practised-10", BEST, DRIVERS["practised"], 10)
    assert Arm.parse("less-practised-2", 10).driver == DRIVERS["less-practised"]
    assert Arm.parse("weight", 10) == Arm("weight", "weight", DRIVERS["practised"], 10)
    assert Arm.parse("weight@less-practised-2", 10).levers == "weight"
    for bad in ("practised", "nobody-10", "practised-0", "nothing@practised-2"):
        with pytest.raises(ValueError, match="arm"):
            Arm.parse(bad, 10)


def test_driver_skill_is_one_parameter_and_the_less_practised_driver_is_slower(tmp_path):
    import gymnasium

    from playerruns.envs.drivers import LESS_PRACTISED, PRACTISED, Skill, line_follower

    assert Skill.at(1.0) == PRACTISED and LESS_PRACTISED.noise > PRACTISED.noise
    with pytest.raises(ValueError):
        Skill.at(1.5)
    env = gymnasium.make("playerruns.envs.minitrack:MiniTrack-v0")

    def laps(skill):
        out = []
        for k in range(4):
            drive = line_follower(rng=np.random.default_rng(k), skill=skill)
            obs, _ = env.reset(seed=k)
            done, steps, info = False, 0, {}
            while not done:
                obs, _, terminated, truncated, info = env.step(drive(obs))
                steps += 1
                done = terminated or truncated
            out.append(steps if info.get("finished") else None)
        return out

    good, shaky = laps(PRACTISED), laps(LESS_PRACTISED)
    assert all(n is not None for n in good)
    assert np.median([n or 1000 for n in shaky]) > 1.1 * np.median(good)  # slower by design (caution 0.82)


def test_player_laps_from_run_headers(tmp_path, lidar_setup):
    from playerruns.runs import RunFile, build_metadata, save_run

    for k, (ret, steps) in enumerate([(400.0, 810), (400.0, 830), (250.0, 1000)]):
        samples = [(np.zeros(3, np.float32), np.zeros(2, np.float32), 0.0, False, False, {})]
        run = RunFile(samples=samples, metadata={**build_metadata(samples, interface="x"),
                                                 "episode_returns": [ret], "episode_steps": [steps]})
        save_run(tmp_path / f"run{k}.pkl", run)
    laps = PlayerLaps.of_runs(tmp_path, T)
    assert laps == PlayerLaps(episodes=3, laps_finished=2, median_lap_steps=820.0)
    assert laps.describe("x", "y")["laps_finished_of_10"] == pytest.approx(6.7)
