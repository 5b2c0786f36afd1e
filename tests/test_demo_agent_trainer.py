"""The learning-side levers inside tmrl's trainer: demo-only pretraining happens once, before any worker
sample is used, and survives tmrl's checkpoint; the agent sees which batch rows are demos."""

from __future__ import annotations

import json

import pytest

from tests.helpers import make_home, run_program

pytestmark = pytest.mark.slow  # starts tmrl in a subprocess


def test_pretraining_once_and_resumed_from_the_checkpoint(tmp_path):
    home = make_home(tmp_path, interface="GYM:Pendulum-v1", TRAINING_STEPS_PER_ROUND=8,
                     PLAYER_RUNS={"DEMO_BC_COEF": 0.4, "DEMO_BC_DECAY_STEPS": 10, "DEMO_BC_COEF_FINAL": 0.1,
                                  "DEMO_PRETRAIN_STEPS": 25,
                                  "DEMO_SAMPLING_FRACTION": 0.5, "KEEP_DEMOS": True, "DEMO_ACTOR_WARMUP_STEPS": 4})
    result = run_program(home, "demo_agent_round_trip.py")
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["agent"] == "DemoSacAgent" and out["pretrained_steps"] == 25
    log = result.stdout + result.stderr  # tmrl configures logging itself
    assert log.count("Player runs: pretraining on 62 demo samples for 25 steps") == 1  # 2 episodes of 31 samples
    assert "Player runs: pretraining done in" in log
    assert "(DEMO_SAMPLING_FRACTION=0.5, KEEP_DEMOS)" in log
    # half of each batch (16 of 32 rows) is demos and the agent knows which rows: in the 4 warm-up steps it
    # clones every demo row; after them the Q-filter may drop some
    assert len(out["bc_rows"]) == 8 and out["bc_rows"][:4] == [0.5] * 4
    assert all(0.0 <= r <= 0.5 for r in out["bc_rows"][4:])
    assert out["bc_steps"] == 8
    assert out["resumed_agent"] == "DemoSacAgent" and out["resumed_pretrained_steps"] == 25
    assert out["resumed_bc_steps"] == 8 and out["resumed_rows_needed"]  # the decay goes on where it was
    assert out["resumed_same_actor"]  # the trained policy came back from the checkpoint file
    assert out["resumed_bc_coef_now"] == pytest.approx(0.1 + 0.3 * (1 - 8 / 10))  # 8 of 10 decay steps to the floor
    assert "replay memory resumes with 62 demo samples" in log
    # a stock agent's checkpoint: the same networks, and cloning from its first step with the config's
    # settings (a warm-up step: every demo row of the batch, 16 of 32, no Q-filter)
    assert out["upgraded"] == {"agent": "DemoSacAgent", "same_actor": True, "bc_coef": 0.4, "bc_coef_final": 0.1,
                               "warmup": 4,
                               "bc_rows": 0.5, "bc_steps": 1}
