"""The one demo path: a TrackMania lidar run imported, injected from SOURCE_PATH and sent through the
server holds the same bytes in a real trainer's replay memory, and none of it views a raw array."""

import pytest

from tests.helpers import make_home, program_json, run_program, trainer_statistics


@pytest.mark.slow
def test_imported_injected_and_sent_runs_hold_the_same_bytes_in_the_trainers_memory(tmp_path):
    home = make_home(tmp_path, PLAYER_RUNS={"ONLINE_INJECTION": True})
    out = program_json(run_program(home, "demo_paths_memory.py", "0", timeout=300))
    # 2 episodes of 30 steps and a reset sample each: 62 samples in every memory
    assert out["samples"] == {"imported": 62, "injected": 62, "sent": 62}
    assert out["same_bytes"] is True
    # the lidar compressor keeps the newest of 4 scans as a view; every path copies it out
    assert out["views"]["undetached"] == 62
    assert out["views"]["imported"] == out["views"]["injected"] == out["views"]["sent"] == 0
    [(status, _detail, _sender)] = out["receipt"].values()
    assert status == "taken"
    # the three trainers reported it on their statistics channel
    assert [r["demo_samples"] for r in trainer_statistics(home, "start")] == [62, 0, 0]
    injections = trainer_statistics(home, "injection")
    assert [(r["origin"], r["samples"], r["repeat"], r["appended"]) for r in injections] == \
        [("SOURCE_PATH", 62, 1, 62), ("sent from test", 62, 1, 62)]
    assert all(r["env_steps"] == 62 for r in injections)
