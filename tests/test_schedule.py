"""The sampling schedule and demo retention, measured on the transitions tmrl's own memories return.

As in test_sampling: demo samples carry reward 1 and worker samples reward 0, so the rewards of a
batch from ``memory.sample()`` say exactly how many demos it holds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from playerruns.bridge.setup import append_samples, raw_sample_count
from playerruns.runs.demos import DEMO_FLAG, RUN_ID_KEY
from playerruns.runs.errors import ConfigError
from playerruns.trainer.config import parse_player_runs
from playerruns.trainer.sampling import DemoSchedule, expected_demo_fraction
from tests.helpers import demo_episodes, lidar_memory, valid_counts


def _demos_in(batch) -> int:
    return int(round(float(batch[2].sum())))


# --- the schedule as numbers


def test_weight_decays_linearly_to_one_over_the_samples_in_memory():
    schedule = DemoSchedule(weight=9.0, weight_decay_samples=1000)
    assert schedule.weight_at(0) == 9.0
    assert schedule.weight_at(250) == pytest.approx(7.0)
    assert schedule.weight_at(500) == pytest.approx(5.0)
    assert schedule.weight_at(1000) == 1.0 and schedule.weight_at(10_000) == 1.0
    assert DemoSchedule(weight=9.0).weight_at(10**9) == 9.0  # no decay unless asked


def test_fraction_anneals_linearly_to_its_floor_over_training_steps():
    schedule = DemoSchedule(fraction=0.25, fraction_final=0.05, anneal_steps=100_000)
    assert schedule.fraction_at(0) == 0.25
    assert schedule.fraction_at(50_000) == pytest.approx(0.15)
    assert schedule.fraction_at(100_000) == pytest.approx(0.05) and schedule.fraction_at(500_000) == pytest.approx(0.05)
    assert DemoSchedule(fraction=0.3).fraction_at(10**9) == 0.3
    assert DemoSchedule().is_uniform and not DemoSchedule(fraction=0.0).is_uniform


# --- the schedule in tmrl's lidar memory


@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.0, 1.0])
def test_fixed_share_is_exact_in_every_batch(lidar_setup, tmp_path, rng, fraction):
    memory = lidar_memory(lidar_setup, tmp_path, 1.0, memory_size=100_000, batch_size=32)
    memory.demo_schedule = DemoSchedule(fraction=fraction)
    append_samples(memory, demo_episodes(lidar_setup, rng, 2, 20, demo=True))
    append_samples(memory, demo_episodes(lidar_setup, rng, 30, 20, demo=False))
    counts = [_demos_in(memory.sample()) for _ in range(40)]
    assert counts == [round(fraction * 32)] * 40  # 32 x 0.25 = 8: no randomness in the count
    assert memory.sampled_demos == sum(counts)


def test_fractional_share_is_right_on_average(lidar_setup, tmp_path, rng):
    memory = lidar_memory(lidar_setup, tmp_path, 1.0, memory_size=100_000, batch_size=32)
    memory.demo_schedule = DemoSchedule(fraction=0.1)  # 3.2 demos a batch: 3 or 4
    append_samples(memory, demo_episodes(lidar_setup, rng, 2, 20, demo=True))
    append_samples(memory, demo_episodes(lidar_setup, rng, 30, 20, demo=False))
    counts = [_demos_in(memory.sample()) for _ in range(400)]
    assert set(counts) == {3, 4}
    assert abs(np.mean(counts) - 3.2) <= 5 * math.sqrt(0.16 / 400)


def test_share_follows_the_anneal_as_training_steps_pass(lidar_setup, tmp_path, rng):
    memory = lidar_memory(lidar_setup, tmp_path, 1.0, memory_size=100_000, batch_size=40)
    memory.demo_schedule = DemoSchedule(fraction=0.5, fraction_final=0.1, anneal_steps=40)
    append_samples(memory, demo_episodes(lidar_setup, rng, 2, 20, demo=True))
    append_samples(memory, demo_episodes(lidar_setup, rng, 30, 20, demo=False))
    counts = [_demos_in(memory.sample()) for _ in range(60)]
    # step 0: 20 of 40; step 20: 0.3 -> 12; from step 40 on: the floor, 4 of 40
    assert counts[0] == 20 and counts[20] == 12 and set(counts[40:]) == {4}
    for step, count in enumerate(counts):  # in between: the exact share, rounded down or up
        share = memory.demo_schedule.fraction_at(step) * 40
        assert math.floor(share) <= count <= math.ceil(share)


def test_decaying_weight_follows_the_formula_as_the_memory_fills(lidar_setup, tmp_path, rng):
    memory = lidar_memory(lidar_setup, tmp_path, 1.0, memory_size=100_000, batch_size=64)
    append_samples(memory, demo_episodes(lidar_setup, rng, 2, 20, demo=True))
    append_samples(memory, demo_episodes(lidar_setup, rng, 10, 20, demo=False))
    n_raw = raw_sample_count(memory.data)
    memory.demo_schedule = DemoSchedule(weight=11.0, weight_decay_samples=2 * n_raw)  # half decayed: weight 6
    n_demo, n_other = valid_counts(memory)
    expected = expected_demo_fraction(6.0, n_demo, n_other)
    measured = np.mean([_demos_in(memory.sample()) / 64 for _ in range(300)])
    assert abs(measured - expected) <= 5 * math.sqrt(expected * (1 - expected) / (300 * 64))
    undecayed = expected_demo_fraction(11.0, n_demo, n_other)
    assert abs(measured - undecayed) > 5 * math.sqrt(undecayed * (1 - undecayed) / (300 * 64))


# --- retention


def _demo_rewards_in_memory(memory) -> int:
    return sum(1 for r in memory.data[5] if r == 1.0)


@pytest.mark.parametrize("keep", [True, False])
def test_keep_demos_through_trimming(lidar_setup, tmp_path, rng, keep):
    memory = lidar_memory(lidar_setup, tmp_path, 1.0, memory_size=300, batch_size=32)
    memory.keep_demos = keep
    memory.demo_schedule = DemoSchedule(fraction=0.25)
    demos = demo_episodes(lidar_setup, rng, 2, 20, demo=True)
    append_samples(memory, demo_episodes(lidar_setup, rng, 3, 20, demo=False))
    append_samples(memory, demos)  # in the middle: the trimming reaches them after a while
    for _ in range(20):
        append_samples(memory, demo_episodes(lidar_setup, rng, 2, 20, demo=False))
        assert len(memory) <= memory.memory_size  # tmrl's own size rule, demos counted
    if not keep:
        assert _demo_rewards_in_memory(memory) == 0 and memory.demo_index.n_demo_samples == 0
        return
    assert _demo_rewards_in_memory(memory) == len(demos) == memory.demo_index.n_demo_samples
    # the demo episodes sit whole at the front, in their order, and the index agrees with the data
    assert [bool(f) for f in memory.data[4][:len(demos)]] == [bool(s[3] or s[4]) for s in demos]
    flags = memory.demo_index.demo.copy()
    memory.rebuild_demo_index()
    assert np.array_equal(flags, memory.demo_index.demo)
    # every demo transition drawn is a real one: observation and next observation of one demo episode
    for _ in range(20):
        batch = memory.sample()
        assert _demos_in(batch) == 8
    demo_items, _ = memory.demo_index.groups(len(memory), memory.transition_offset)
    # each episode's reset sample ends no transition, nor do the first samples of the memory (tmrl's
    # memories need ``transition_offset`` samples of history before the first transition)
    assert len(demo_items) == len(demos) - 2 - (memory.transition_offset - 1)


def test_demos_alone_overflowing_the_memory_are_trimmed_oldest_first(lidar_setup, tmp_path, rng, caplog):
    memory = lidar_memory(lidar_setup, tmp_path, 1.0, memory_size=50, batch_size=8)
    memory.keep_demos = True
    demos = demo_episodes(lidar_setup, rng, 4, 20, demo=True)  # 84 samples for a memory of 50
    others = demo_episodes(lidar_setup, rng, 1, 20, demo=False)
    append_samples(memory, demos)
    append_samples(memory, others)
    assert len(memory) <= memory.memory_size
    assert "demos alone fill MEMORY_SIZE" in caplog.text
    # what is left is the newest of all that came, in order: the oldest demos went first
    held = raw_sample_count(memory.data)
    came = [s[0] for s in demos + others]  # the actions, one per sample
    assert 0 < held < len(demos) and len(memory.data[1]) == held
    assert all(np.array_equal(a, b) for a, b in zip(memory.data[1], came[-held:], strict=True))
    assert memory.demo_index.n_demo_samples == held - len(others) == _demo_rewards_in_memory(memory)


# --- the config keys


def _cfg(**section):
    return {"PLAYER_RUNS": section}


def test_schedule_keys_are_read():
    cfg = parse_player_runs(_cfg(DEMO_SAMPLING_FRACTION=0.25, DEMO_SAMPLING_FRACTION_FINAL=0.05,
                                 DEMO_SAMPLING_ANNEAL_STEPS=100_000, KEEP_DEMOS=True))
    assert cfg.schedule == DemoSchedule(fraction=0.25, fraction_final=0.05, anneal_steps=100_000)
    assert cfg.KEEP_DEMOS and not cfg.uses_demo_agent
    assert parse_player_runs(_cfg(DEMO_SAMPLING_WEIGHT=4, DEMO_WEIGHT_DECAY_SAMPLES=200_000)).schedule == \
        DemoSchedule(weight=4.0, weight_decay_samples=200_000)
    assert parse_player_runs(_cfg(DEMO_BC_COEF=0.4)).uses_demo_agent
    assert parse_player_runs({}).schedule.is_uniform  # all off: tmrl's own sampler


@pytest.mark.parametrize("section, both", [
    ({"DEMO_SAMPLING_FRACTION": 0.2, "DEMO_SAMPLING_WEIGHT": 3}, ("DEMO_SAMPLING_FRACTION", "DEMO_SAMPLING_WEIGHT")),
    ({"DEMO_SAMPLING_FRACTION": 0.2, "DEMO_WEIGHT_DECAY_SAMPLES": 10},
     ("DEMO_SAMPLING_FRACTION", "DEMO_WEIGHT_DECAY_SAMPLES")),
    ({"DEMO_SAMPLING_FRACTION_FINAL": 0.1}, ("DEMO_SAMPLING_FRACTION_FINAL", "DEMO_SAMPLING_FRACTION")),
    ({"DEMO_SAMPLING_ANNEAL_STEPS": 10}, ("DEMO_SAMPLING_ANNEAL_STEPS", "DEMO_SAMPLING_FRACTION")),
    ({"DEMO_SAMPLING_FRACTION": 0.2, "DEMO_SAMPLING_FRACTION_FINAL": 0.1},
     ("DEMO_SAMPLING_FRACTION_FINAL", "DEMO_SAMPLING_ANNEAL_STEPS")),
    ({"DEMO_SAMPLING_FRACTION": 0.2, "DEMO_SAMPLING_FRACTION_FINAL": 0.3, "DEMO_SAMPLING_ANNEAL_STEPS": 10},
     ("DEMO_SAMPLING_FRACTION_FINAL", "DEMO_SAMPLING_FRACTION")),
    ({"DEMO_BC_DECAY_STEPS": 100}, ("DEMO_BC_DECAY_STEPS", "DEMO_BC_COEF")),
    ({"DEMO_BC_COEF_FINAL": 0.1}, ("DEMO_BC_COEF_FINAL", "DEMO_BC_COEF")),
    ({"DEMO_BC_COEF": 0.4, "DEMO_BC_COEF_FINAL": 0.1}, ("DEMO_BC_COEF_FINAL", "DEMO_BC_DECAY_STEPS")),
    ({"DEMO_BC_COEF": 0.4, "DEMO_BC_DECAY_STEPS": 100, "DEMO_BC_COEF_FINAL": 0.5},
     ("DEMO_BC_COEF_FINAL", "DEMO_BC_COEF")),
    ({"ROLLBACK_TOLERANCE": 0.03, "KEEP_BEST_POLICY": False}, ("ROLLBACK_TOLERANCE", "KEEP_BEST_POLICY")),
    ({"ROLLBACK_LONGER_EPISODES": True}, ("ROLLBACK_LONGER_EPISODES", "ROLLBACK_TOLERANCE")),
    ({"ROLLBACK_PATIENCE": 2}, ("ROLLBACK_PATIENCE", "ROLLBACK_TOLERANCE")),
    ({"SEQUENCE_LENGTH": 20}, ("SEQUENCE_LENGTH", "RECURRENT")),
    ({"RECURRENT_HIDDEN_SIZE": 32}, ("RECURRENT_HIDDEN_SIZE", "RECURRENT")),
    ({"RECURRENT": True, "DEMO_BC_COEF": 0.4}, ("RECURRENT", "DEMO_BC_COEF")),
])
def test_contradicting_keys_name_each_other(section, both):
    with pytest.raises(ConfigError) as err:
        parse_player_runs({"PLAYER_RUNS": section})
    message = str(err.value)
    assert "\n" not in message and all(f"PLAYER_RUNS.{key}" in message for key in both)


@pytest.mark.parametrize("key, value", [("DEMO_SAMPLING_FRACTION", 1.5), ("DEMO_SAMPLING_FRACTION", "0.2"),
                                        ("DEMO_WEIGHT_DECAY_SAMPLES", -1), ("KEEP_DEMOS", 1),
                                        ("DEMO_BC_COEF", float("nan")), ("DEMO_PRETRAIN_STEPS", 2.5),
                                        ("DEMO_BC_COEF_FINAL", -0.1), ("DEMO_BC_COEF_FINAL", float("inf")),
                                        ("ROLLBACK_TOLERANCE", 1.5), ("ROLLBACK_TOLERANCE", "3 %"),
                                        ("ROLLBACK_LONGER_EPISODES", 1),
                                        ("ROLLBACK_PATIENCE", 0), ("ROLLBACK_PATIENCE", 1.5),
                                        ("ROLLBACK_PATIENCE", True), ("ROLLBACK_PATIENCE", "2"),
                                        ("RECURRENT", "yes"), ("SEQUENCE_LENGTH", 0), ("SEQUENCE_BURN_IN", -1)])
def test_bad_values_are_refused_by_name(key, value):
    with pytest.raises(ConfigError, match=f"PLAYER_RUNS.{key} is"):
        parse_player_runs(_cfg(**{key: value}))


def test_cloning_needs_tmrl_sac():
    with pytest.raises(ConfigError, match=r"DEMO_BC_COEF needs ALG.ALGORITHM \"SAC\""):
        parse_player_runs({"ALG": {"ALGORITHM": "REDQSAC"}, "PLAYER_RUNS": {"DEMO_BC_COEF": 0.4}})


def test_demo_rows_are_flagged_in_every_batch(lidar_setup, tmp_path, rng):
    memory = lidar_memory(lidar_setup, tmp_path, 1.0, memory_size=100_000, batch_size=32)
    memory.demo_schedule = DemoSchedule(fraction=0.25)
    append_samples(memory, demo_episodes(lidar_setup, rng, 2, 20, demo=True))
    append_samples(memory, demo_episodes(lidar_setup, rng, 10, 20, demo=False))
    for _ in range(10):
        batch = memory.sample()
        assert np.array_equal(np.asarray(batch.demo), np.asarray(batch[2]) == 1.0)
    only = memory.sample_demos_only()
    assert bool(np.all(np.asarray(only[2]) == 1.0)) and bool(np.all(only.demo))


def _generic_episode(episode: int, steps: int, demo: bool) -> list:
    """Observations [episode, t, 0]: a transition is real when its next observation is t + 1 of the same episode."""
    info = {DEMO_FLAG: True, RUN_ID_KEY: f"d{episode}"} if demo else {}
    rew = 1.0 if demo else 0.0
    obs = [np.array([episode, t, 0.0], dtype=np.float32) for t in range(steps + 1)]
    samples = [(None, obs[0], 0.0, False, False, dict(info))]
    for t in range(1, steps + 1):
        samples.append((np.array([0.5], np.float32), obs[t], rew, False, t == steps, dict(info)))
    return samples


def test_generic_memory_keeps_whole_demo_episodes(tmp_path):
    from playerruns.trainer.memories import DemoWeightedGenericTorchMemory

    memory = DemoWeightedGenericTorchMemory(memory_size=60, batch_size=40, dataset_path=str(tmp_path / "none"),
                                            demo_schedule=DemoSchedule(fraction=0.5), keep_demos=True)
    append_samples(memory, _generic_episode(0, 9, demo=False))
    append_samples(memory, _generic_episode(1, 9, demo=True) + _generic_episode(2, 9, demo=True))
    for episode in range(3, 20):
        append_samples(memory, _generic_episode(episode, 9, demo=False))
        assert len(memory) <= memory.memory_size
    assert memory.demo_index.n_demo_samples == 20  # both demo episodes, 10 samples each
    for _ in range(20):
        obs, _, rew, next_obs, _, _ = memory.sample()
        assert int(rew.sum()) == 20  # half of 40
        demo_rows = rew == 1.0
        assert bool(((next_obs[:, 1] == obs[:, 1] + 1) & (next_obs[:, 0] == obs[:, 0]))[demo_rows].all())
        assert set(next_obs[demo_rows, 0].tolist()) <= {1.0, 2.0}
