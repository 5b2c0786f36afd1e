"""The PLAYER_RUNS section: defaults, validation, typo warnings, the WSL path hint."""

from __future__ import annotations

import logging
import math

import pytest

from playerruns.runs.errors import ConfigError
from playerruns.trainer.config import PlayerRunsConfig, parse_player_runs, wsl_hint
from tests.helpers import make_home, run_cli, run_program


def test_defaults_when_absent():
    cfg = parse_player_runs({})
    assert cfg == PlayerRunsConfig()
    assert cfg.ONLINE_INJECTION is False and cfg.MAX_FILES_PER_UPDATE == 1 and cfg.DEMO_INJECTION_REPEAT == 1
    assert cfg.DEMO_SAMPLING_WEIGHT == 1.0 and str(cfg.source_path).endswith("TmrlData/player_runs")
    assert "~" not in str(cfg.source_path)


def test_spec_example_parses():
    section = {"ONLINE_INJECTION": True, "SOURCE_PATH": "/data/runs", "CONSUME_ON_READ": True,
               "MAX_FILES_PER_UPDATE": 1, "DEMO_INJECTION_REPEAT": 1, "DEMO_SAMPLING_WEIGHT": 1.0}
    cfg = parse_player_runs({"PLAYER_RUNS": section})
    assert cfg.ONLINE_INJECTION and cfg.SOURCE_PATH == "/data/runs"
    assert parse_player_runs({"PLAYER_RUNS": {"DEMO_SAMPLING_WEIGHT": 3}}).DEMO_SAMPLING_WEIGHT == 3.0


@pytest.mark.parametrize("key, value, allowed", [
    ("ONLINE_INJECTION", "yes", "true or false"),
    ("ONLINE_INJECTION", 1, "true or false"),
    ("CONSUME_ON_READ", None, "true or false"),
    ("SOURCE_PATH", "", "non-empty"),
    ("SOURCE_PATH", 5, "non-empty"),
    ("MAX_FILES_PER_UPDATE", 0, ">= 1"),
    ("MAX_FILES_PER_UPDATE", 1.5, "whole number"),
    ("MAX_FILES_PER_UPDATE", True, "whole number"),
    ("DEMO_INJECTION_REPEAT", -2, ">= 1"),
    ("DEMO_SAMPLING_WEIGHT", -0.5, ">= 0"),
    ("DEMO_SAMPLING_WEIGHT", "2", "number"),
    ("DEMO_SAMPLING_WEIGHT", float("inf"), "finite"),
    ("DEMO_SAMPLING_WEIGHT", 1e308, "at most 1,000,000"),  # inf / inf: a NaN share, no demo drawn at all
    ("DEMO_SAMPLING_WEIGHT", math.nan, "finite"),
    ("DEMO_BC_COEF", 1e308, "at most 100"),  # an infinite cloning loss: NaN weights
    ("DEMO_BC_COEF", math.nan, "finite"),
    ("DEMO_BC_COEF_FINAL", 1e308, "at most 100"),
    ("TENSORBOARD", "on", "true or false"),
    ("EVALUATION_EPISODES", -1, ">= 0"),
    ("EVALUATION_EPISODES", 2.5, "whole number"),
    ("EVALUATION_SEED", -1, "from 0 to 2**31"),
    ("EVALUATION_SEED", 3.0, "whole number"),
])
def test_bad_values_name_the_key_and_what_is_allowed(key, value, allowed):
    with pytest.raises(ConfigError) as err:
        parse_player_runs({"PLAYER_RUNS": {key: value}}, "cfg.json")
    message = str(err.value)
    assert f"PLAYER_RUNS.{key}" in message and allowed in message and "cfg.json" in message


def test_section_must_be_an_object():
    with pytest.raises(ConfigError, match="PLAYER_RUNS must be a JSON object"):
        parse_player_runs({"PLAYER_RUNS": [1, 2]})


def test_unknown_key_is_warned_with_a_hint(caplog):
    with caplog.at_level(logging.WARNING):
        cfg = parse_player_runs({"PLAYER_RUNS": {"MAXFILESPERUPDATE": 3, "COLOR": "red"}})
    assert cfg.MAX_FILES_PER_UPDATE == 1
    text = caplog.text
    assert "PLAYER_RUNS.MAXFILESPERUPDATE" in text and "did you mean MAX_FILES_PER_UPDATE" in text
    assert "PLAYER_RUNS.COLOR" in text


def test_wsl_hint():
    assert wsl_hint("C:\\Users\\Me\\TmrlData\\player_runs") == "/mnt/c/Users/Me/TmrlData/player_runs"
    assert wsl_hint("d:/runs") == "/mnt/d/runs"
    assert wsl_hint("/home/me/TmrlData/player_runs") is None


def test_trainer_stops_on_a_bad_value(tmp_path):
    home = make_home(tmp_path, interface="GYM:Pendulum-v1",
                     PLAYER_RUNS={"ONLINE_INJECTION": True, "DEMO_SAMPLING_WEIGHT": -1})
    result = run_cli(home, "--trainer", timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "PLAYER_RUNS.DEMO_SAMPLING_WEIGHT" in lines[0] and ">= 0" in lines[0]


def test_trainer_stops_on_cloning_weights_that_do_not_fit_the_tasks_actions(tmp_path):
    home = make_home(tmp_path, interface="GYM:Pendulum-v1",
                     PLAYER_RUNS={"DEMO_BC_COEF": 0.4, "DEMO_BC_ACTION_WEIGHTS": [1.0, 0.5]})
    result = run_cli(home, "--trainer", timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "PLAYER_RUNS.DEMO_BC_ACTION_WEIGHTS has 2 weights" in lines[0], result.stderr[-500:]
    assert "(1)" in lines[0]


_FLOOR = {"DEMO_BC_COEF": 0.4, "DEMO_BC_DECAY_STEPS": 100, "DEMO_BC_COEF_FINAL": 0.01}


@pytest.mark.parametrize(("section", "fragments"), [
    *[({"DEMO_BC_COEF": 0.4, "DEMO_BC_ACTION_WEIGHTS": bad}, ("PLAYER_RUNS.DEMO_BC_ACTION_WEIGHTS", "a list of 1-64"))
      for bad in ([], [0.0, 0.0], [1, -1], [1, "1"], [1, True], [1, math.nan], [1e308], "1,1", 1.0, [[1.0]],
                  [1.0] * 65)],
    ({"DEMO_BC_ACTION_WEIGHTS": [0, 0, 1]}, ("DEMO_BC_ACTION_WEIGHTS", "DEMO_BC_COEF", "go together")),
    ({"DEMO_BC_COEF": 0.4, "DEMO_BC_JOINT": True}, ("DEMO_BC_JOINT", "DEMO_RETURN_BOUND", "go together")),
    ({"DEMO_BC_COEF": 0.4, "DEMO_RETURN_BOUND": True, "DEMO_BC_JOINT": "yes"}, ("PLAYER_RUNS.DEMO_BC_JOINT",
                                                                              "true or false")),
    *[({**_FLOOR, "ROLLBACK_TOLERANCE": 0.03, "DEMO_BC_FLOOR_RAISE": bad}, ("PLAYER_RUNS.DEMO_BC_FLOOR_RAISE",
                                                                           "above 1 and at most 10"))
      for bad in (1, 1.0, 0.5, -2, 11, math.inf, math.nan, "2", True, [2])],
    ({**_FLOOR, "DEMO_BC_FLOOR_RAISE": 2}, ("DEMO_BC_FLOOR_RAISE", "ROLLBACK_TOLERANCE", "go together")),
    ({"DEMO_BC_COEF": 0.4, "ROLLBACK_TOLERANCE": 0.03, "DEMO_BC_FLOOR_RAISE": 2},
     ("DEMO_BC_FLOOR_RAISE", "DEMO_BC_COEF_FINAL", "go together")),
])
def test_cloning_keys_name_what_they_need(section, fragments):
    with pytest.raises(ConfigError) as err:
        parse_player_runs({"PLAYER_RUNS": section}, "cfg.json")
    assert all(f in str(err.value) for f in fragments), str(err.value)
    cfg = parse_player_runs({"PLAYER_RUNS": {"DEMO_BC_COEF": 0.4, "DEMO_BC_ACTION_WEIGHTS": [0, 0, 1]}})
    assert cfg.DEMO_BC_ACTION_WEIGHTS == (0.0, 0.0, 1.0)
    raised = parse_player_runs({"PLAYER_RUNS": {**_FLOOR, "ROLLBACK_TOLERANCE": 0.03, "DEMO_BC_FLOOR_RAISE": 2}})
    assert raised.DEMO_BC_FLOOR_RAISE == 2.0 and isinstance(raised.DEMO_BC_FLOOR_RAISE, float)


def test_wandb_without_the_package_is_one_line(tmp_path):
    home = make_home(tmp_path, interface="GYM:Pendulum-v1")
    result = run_program(home, "without_wandb.py", "--trainer", "--wandb", timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "playerruns: error: --wandb: the wandb package is not installed here (pip install wandb), "
        "or train without --wandb"]


@pytest.mark.parametrize(("section", "interface", "fragments"), [
    ({"TENSORBOARD_PATH": "/tmp/tb"}, "GYM:Pendulum-v1", ("TENSORBOARD_PATH", "TENSORBOARD", "go together")),
    ({"EVALUATE_EVERY_EPOCHS": 2}, "GYM:Pendulum-v1", ("EVALUATE_EVERY_EPOCHS", "EVALUATION_EPISODES")),
    ({"EVALUATION_SEED": 5}, "GYM:Pendulum-v1", ("EVALUATION_SEED", "EVALUATION_EPISODES", "go together")),
    ({"EVALUATION_SCORE": "lowest"}, "GYM:Pendulum-v1", ("EVALUATION_SCORE", "EVALUATION_EPISODES", "go together")),
    *[({"EVALUATION_EPISODES": 3, "EVALUATION_SCORE": bad}, "GYM:Pendulum-v1",
       ("PLAYER_RUNS.EVALUATION_SCORE", '"mean" (the episodes\' mean return) or "lowest"'))
      for bad in ("Lowest", "min", "median", "", None, 1, True, ["lowest"], {"lowest": 1})],
    ({"EVALUATION_EPISODES": 3}, "TM20LIDAR", ("EVALUATION_EPISODES needs a gymnasium task", "TM20LIDAR")),
    ({"DEMO_BC_COEF": 0.4, "EVALUATION_EPISODES": 3, "POLICY_AVERAGING_CATCH_UP": True}, "GYM:Pendulum-v1",
     ("POLICY_AVERAGING_CATCH_UP", "POLICY_AVERAGING", "go together")),
    ({"DEMO_BC_COEF": 0.4, "POLICY_AVERAGING": 0.999, "POLICY_AVERAGING_CATCH_UP": True}, "GYM:Pendulum-v1",
     ("POLICY_AVERAGING_CATCH_UP", "EVALUATION_EPISODES", "go together")),
    ({"DEMO_BC_COEF": 0.4, "POLICY_AVERAGING": 0.999, "EVALUATION_EPISODES": 3, "POLICY_AVERAGING_CATCH_UP": 1},
     "GYM:Pendulum-v1", ("PLAYER_RUNS.POLICY_AVERAGING_CATCH_UP", "true or false")),
    ({"DEMO_BC_COEF": 0.4, "CRITIC_CONSERVATISM": 1.0}, "GYM:Pendulum-v1",
     ("CRITIC_CONSERVATISM", "DEMO_RETURN_BOUND", "go together")),
    *[({"DEMO_BC_COEF": 0.4, "DEMO_RETURN_BOUND": True, "CRITIC_CONSERVATISM": bad}, "GYM:Pendulum-v1",
       ("PLAYER_RUNS.CRITIC_CONSERVATISM", "a number from 0 (off) to 100"))
      for bad in (-1, "1", True, 1e308, math.nan)],
    ({"DEMO_BC_COEF": 0.4, "DEMO_RETURN_BOUND": True, "CRITIC_CONSERVATISM_DECAY_STEPS": 1000}, "GYM:Pendulum-v1",
     ("CRITIC_CONSERVATISM_DECAY_STEPS", "CRITIC_CONSERVATISM", "go together")),
    *[({"DEMO_BC_COEF": 0.4, "DEMO_RETURN_BOUND": True, "CRITIC_CONSERVATISM": 2.0,
        "CRITIC_CONSERVATISM_DECAY_STEPS": bad}, "GYM:Pendulum-v1",
       ("PLAYER_RUNS.CRITIC_CONSERVATISM_DECAY_STEPS", "a whole number >= 0"))
      for bad in (-1, 1.5, "1000", True, math.nan, None)],
])
def test_watching_keys_that_mean_nothing_alone_name_each_other(section, interface, fragments):
    with pytest.raises(ConfigError) as err:
        parse_player_runs({"PLAYER_RUNS": section, "ENV": {"RTGYM_INTERFACE": interface}}, "cfg.json")
    assert all(f in str(err.value) for f in fragments), str(err.value)


@pytest.mark.parametrize(("section", "fragments"), [
    ({"DEMO_BC_COEF": 0.4, "DEMO_TARGET_ENTROPY": "low"}, ("PLAYER_RUNS.DEMO_TARGET_ENTROPY", "a finite number")),
    ({"DEMO_BC_COEF": 0.4, "DEMO_TARGET_ENTROPY": float("inf")}, ("DEMO_TARGET_ENTROPY", "a finite number")),
    ({"DEMO_TARGET_ENTROPY": -6}, ("DEMO_TARGET_ENTROPY", "DEMO_BC_COEF", "go together")),
])
def test_the_cloning_agents_entropy_target_is_a_finite_number_and_needs_cloning(section, fragments):
    with pytest.raises(ConfigError) as err:
        parse_player_runs({"PLAYER_RUNS": section}, "cfg.json")
    assert all(f in str(err.value) for f in fragments), str(err.value)
    cfg = parse_player_runs({"PLAYER_RUNS": {"DEMO_BC_COEF": 0.4, "DEMO_TARGET_ENTROPY": -6}}, "cfg.json")
    assert cfg.DEMO_TARGET_ENTROPY == -6.0 and isinstance(cfg.DEMO_TARGET_ENTROPY, float)
    assert parse_player_runs({"PLAYER_RUNS": {"DEMO_BC_COEF": 0.4}}, "cfg.json").DEMO_TARGET_ENTROPY is None


def test_every_lever_setting_of_the_benchmark_is_a_valid_config():
    """The benchmark's and the demo's settings (builtin.tasks.LEVERS) go through the same checks as a user's."""
    from playerruns.builtin.tasks import LEVERS

    for name, levers in LEVERS.items():
        cfg = parse_player_runs({"ENV": {"RTGYM_INTERFACE": "GYM:playerruns.envs.minitrack:MiniTrack-v0"},
                                 "ALG": {"ALGORITHM": "SAC"}, "PLAYER_RUNS": levers}, f"LEVERS[{name!r}]")
        expected = {key: tuple(value) if isinstance(value, list) else value for key, value in levers.items()}
        assert all(getattr(cfg, key) == value for key, value in expected.items()), name
