"""PlayerRunsTraining as tmrl checkpoints it: the injection record, the memory with its demo flags and the
counters survive tmrl's checkpoint file, a resumed trainer does not inject twice, a fresh one does.
Runs tmrl's generic path in a subprocess."""

from __future__ import annotations

import json

import pytest

from tests.helpers import make_home, run_program

pytestmark = pytest.mark.slow  # starts tmrl in subprocesses


def test_checkpoint_round_trip(tmp_path):
    runs = tmp_path / "runs"
    home = make_home(tmp_path, interface="GYM:Pendulum-v1",
                     PLAYER_RUNS={"ONLINE_INJECTION": True, "SOURCE_PATH": str(runs), "CONSUME_ON_READ": False,
                                  "MAX_FILES_PER_UPDATE": 5, "DEMO_INJECTION_REPEAT": 2, "DEMO_SAMPLING_WEIGHT": 2.5})
    result = run_program(home, "checkpoint_round_trip.py")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["type"] == "DemoWeightedGenericTorchMemory"
    assert out["first"] == 2 * 31 * 2  # two files of 31 samples, repeated twice
    assert out["second"] == 0
    assert out["total_samples"] == 124  # injected samples count toward the trainer's total
    # what went into tmrl's checkpoint file came back: the record of both runs, the memory (124 injected
    # demo samples and 62 worker samples, byte for byte, with their demo flags) and the counters
    checkpointed, resumed = out["checkpointed"], out["resumed"]
    assert checkpointed["record"]["files"] == 2 and checkpointed["record"]["samples"] == 124
    assert checkpointed["record"]["file_names"] == ["run0.pkl", "run1.pkl"]
    assert len(checkpointed["record"]["run_ids"]) == 2
    assert checkpointed["demo_flags"] == [True] * 124 + [False] * 62
    assert resumed == checkpointed
    assert out["resumed_inject"] == 0 and out["resumed_weight"] == 2.5  # the record says both runs are in
    assert out["fresh_inject"] == 124
    assert out["files"] == ["run0.pkl", "run1.pkl"]  # CONSUME_ON_READ false: left in place
    upgraded = out["upgraded"]  # a stock tmrl trainer's checkpoint holding 62 worker samples
    assert (upgraded["type"], upgraded["memory"]) == ("PlayerRunsTraining", "DemoWeightedGenericTorchMemory")
    assert upgraded["same_data"] and upgraded["total_samples"] == 62 and upgraded["demo_flags"] == 0
    assert upgraded["inject"] == 124  # its record was empty: the runs are injected
