"""Commands and options that cannot go together are refused with one line, before anything runs."""

from __future__ import annotations

import json

import pytest

from playerruns.cli import main
from tests.helpers import make_home, one_line_error, run_cli


@pytest.mark.parametrize(("argv", "message"), [
    (["--server", "--trainer"], "choose one command, not --server and --trainer"),
    (["--import-player-runs", "--player-runs-paths", "x.pkl", "--record-episode"],
     "choose one command, not --import-player-runs and --record-episode"),
    (["--demo", "--init-tmrl-data"], "choose one command, not --init-tmrl-data and --demo"),
    (["--record-episode", "--player-runs-dry-run"], "--player-runs-dry-run goes with --import-player-runs, "
                                                    "not --record-episode"),
    (["--import-player-runs", "--player-runs-paths", "x.pkl", "--record-episode-count", "3"],
     "--record-episode-count goes with --record-episode, not --import-player-runs"),
    (["--player-runs-paths", "x.pkl"], "--player-runs-paths goes with --import-player-runs or --send-player-runs "
                                       "or --inspect or --plot or --relabel-rewards or --export-minari"),
    (["--json"], "--json goes with --inspect"),
    (["--inspect", "--player-runs-paths", "x.pkl", "--output-dir", "d"],
     "--output-dir goes with --plot or --plot-training or --relabel-rewards or --import-minari, not --inspect"),
    (["--plot", "--import-minari", "a-v0"], "choose one command, not --plot and --import-minari"),
    (["--inspect"], '--inspect needs --player-runs-paths "run1.pkl,folder,*.pkl"'),
    (["--relabel-rewards", "--player-runs-paths", "missing.pkl"], "--player-runs-paths: missing.pkl: no such file or "
                                                                  "folder"),
    (["--import-minari", "x-v0", "--player-runs-paths", "a.pkl"],
     "--player-runs-paths goes with --import-player-runs or --send-player-runs or --inspect or --plot or "
     "--relabel-rewards or --export-minari, not --import-minari"),
    (["--send-player-runs", "--player-runs-paths", "x.pkl", "--player-runs-dry-run"],
     "--player-runs-dry-run goes with --import-player-runs, not --send-player-runs"),
    (["--send-player-runs", "--import-player-runs"], "choose one command, not --import-player-runs and "
                                                     "--send-player-runs"),
    (["--import-player-runs", "--send"], "--send goes with --record-episode, not --import-player-runs"),
    (["--record-episode", "--send-timeout", "5"],
     "--send-timeout goes with --send-player-runs or --record-episode --send"),
    (["--trainer", "--send-timeout", "5"], "--send-timeout goes with --send-player-runs or --record-episode, "
                                           "not --trainer"),
    (["--worker", "--wandb"], "--wandb goes with --trainer, not --worker"),
    (["--trainer", "-d", "{}"], "-d/--config goes with --worker or --expert or --test or --benchmark, not --trainer"),
    (["--import-player-runs", "--player-runs-paths", "x.pkl", "--quick"],
     "--quick goes with --demo, not --import-player-runs"),
    (["--demo", "--interface", "TM20LIDAR"], "--interface goes with --init-tmrl-data, not --demo"),
    (["--import-player-runs", "--player-runs-paths", "x.pkl", "--demo-steps", "5000"],
     "--demo-steps goes with --demo, not --import-player-runs"),

    (["--record-episode", "--record-driver", "m:f"], "--record-driver goes with --record-input scripted"),
])
def test_refused_combinations(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # nothing may be created there
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0] == f"playerruns: error: {message}"
    assert list(tmp_path.iterdir()) == []


def test_a_default_value_typed_explicitly_still_counts(capsys):
    # --record-episode-count 1 is the default: typing it beside --import-player-runs is still refused
    assert main(["--import-player-runs", "--player-runs-paths", "x.pkl", "--record-episode-count", "1"]) == 2
    assert "--record-episode-count goes with --record-episode" in capsys.readouterr().err


@pytest.mark.parametrize(("value", "message"), [
    ("ten", "expected a whole number of environment steps, got 'ten'"),
    ("999", "expected 1,000 to 1,000,000 environment steps, got 999"),
    ("30000000", "expected 1,000 to 1,000,000 environment steps, got 30,000,000"),
])
def test_a_bad_demo_budget_is_one_line(value, message, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no demo folder either
    with pytest.raises(SystemExit) as exit_info:
        main(["--demo", "--demo-steps", value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"playerruns: error: argument --demo-steps: {message} (see --help)"]
    assert list(tmp_path.iterdir()) == []


def test_bad_json_modifier_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--worker", "-d", "[1]"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "expected a JSON object" in err[0]


def test_negative_step_seconds_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--record-episode", "--record-step-seconds", "-1"])
    assert exit_info.value.code == 2
    assert "expected a number of seconds >= 0, got '-1'" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "--import-player-runs" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    # an abbreviation is not the flag it abbreviates (argparse would take it): named, with the flag meant
    (["--import-player-runs", "--player-runs-path", "a.pkl"],
     "unrecognized arguments: --player-runs-path a.pkl (--player-runs-path: did you mean --player-runs-paths?)"),
    (["--inspect", "--player-runs-paths", "a.pkl", "--jsn"], "unrecognized arguments: --jsn (--jsn: did you mean "
                                                              "--json?)"),
    (["--record-episode", "--record-episod-count=3"],
     "unrecognized arguments: --record-episod-count=3 (--record-episod-count: did you mean --record-episode-count?)"),
    (["--trainer", "--nothing-like-it"], "unrecognized arguments: --nothing-like-it"),
])
def test_a_mistyped_flag_is_refused_with_the_flag_it_may_mean(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"playerruns: error: {message} (see --help)"]


def test_a_missing_config_names_the_command_that_makes_one(tmp_path):
    home = tmp_path / "home"
    (home / "TmrlData" / "config").mkdir(parents=True)
    done = run_cli(home, "--import-minari", "some-dataset-v0")
    one_line_error(done, "config.json: tmrl config file not found", "python -m playerruns --init-tmrl-data")
    assert not (home / "TmrlData" / "config" / "config.json").exists()


def test_init_tmrl_data_says_it_kept_an_existing_config_of_another_interface(tmp_path):
    home = make_home(tmp_path, interface="GYM:Pendulum-v1")
    config = home / "TmrlData" / "config" / "config.json"
    before = config.read_bytes()
    done = run_cli(home, "--init-tmrl-data", "--interface", "TM20LIDAR")
    assert done.returncode == 0, done.stderr
    assert "kept the existing config (interface GYM:Pendulum-v1), not TM20LIDAR" in done.stdout
    assert config.read_bytes() == before
    same = run_cli(home, "--init-tmrl-data", "--interface", "GYM:Pendulum-v1")
    assert same.returncode == 0 and "kept" not in same.stdout
    fresh = run_cli(tmp_path / "fresh", "--init-tmrl-data", "--interface", "GYM:Pendulum-v1")
    assert fresh.returncode == 0 and "kept" not in fresh.stdout
    made = json.loads((tmp_path / "fresh" / "TmrlData" / "config" / "config.json").read_text())
    assert made["ENV"]["RTGYM_INTERFACE"] == "GYM:Pendulum-v1"
