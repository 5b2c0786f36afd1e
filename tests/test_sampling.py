"""Demo-weighted sampling measured on the transitions tmrl's own memories return.

Demo samples carry reward 1 and worker samples reward 0, so the mean reward of a batch drawn with
``memory.sample()`` IS the demo fraction of the transitions actually returned (any re-draw or shift
inside tmrl would show). Tolerances are 5 standard errors of the estimate; the formula's competitors
(uniform sampling, or w / (1 + w)) sit many standard errors away for the chosen sizes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from playerruns.bridge.dataset import import_runs
from playerruns.bridge.setup import append_samples
from playerruns.runs.demos import DEMO_FLAG, RUN_ID_KEY
from playerruns.runs.runfile import save_run
from playerruns.tools.synthetic import synthetic_run
from playerruns.trainer.sampling import DemoSchedule, expected_demo_fraction
from tests.helpers import demo_episodes, lidar_memory, valid_counts

BATCHES = 150


def _measured_fraction(memory, batches=BATCHES):
    total = 0.0
    for _ in range(batches):
        total += float(memory.sample()[2].mean())
    return total / batches


def _assert_fraction(memory, weight):
    n_demo, n_other = valid_counts(memory)
    expected = expected_demo_fraction(weight, n_demo, n_other)
    measured = _measured_fraction(memory)
    draws = BATCHES * memory.batch_size
    tolerance = 5 * math.sqrt(max(expected * (1 - expected), 1e-4) / draws) + 1e-9
    assert abs(measured - expected) <= tolerance, (weight, measured, expected, tolerance)
    return measured, expected


@pytest.mark.parametrize("weight", [0.0, 0.5, 1.0, 3.0, 10.0])
def test_lidar_memory_fraction_follows_the_formula(lidar_setup, tmp_path, rng, weight):
    memory = lidar_memory(lidar_setup, tmp_path, weight)
    for k in range(12):  # 2 demo episodes among 12, interleaved, episodes of 20 samples
        append_samples(memory, demo_episodes(lidar_setup, rng, 1, 19, demo=k in (3, 8)))
    measured, expected = _assert_fraction(memory, weight)
    if weight == 0.0:
        assert measured == 0.0
    if weight == 10.0:  # far from the uniform fraction (~1/6) and from w/(1+w)
        assert expected > 0.6 and abs(expected - 10 / 11) > 0.2


def test_weight_one_is_tmrls_own_sampler(lidar_setup, tmp_path, rng, monkeypatch):
    from tmrl.custom.custom_memories import MemoryTMLidar

    memory = lidar_memory(lidar_setup, tmp_path, 1.0)
    append_samples(memory, demo_episodes(lidar_setup, rng, 3, 19, demo=True))
    calls = []
    original = MemoryTMLidar.sample_indices

    def spy(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(MemoryTMLidar, "sample_indices", spy)
    memory.sample()
    assert calls == [1]


def test_fraction_stays_right_as_the_memory_trims(lidar_setup, tmp_path, rng):
    memory = lidar_memory(lidar_setup, tmp_path, 4.0, memory_size=300)
    for k in range(30):  # 600 samples through a memory of ~305: the oldest are trimmed
        append_samples(memory, demo_episodes(lidar_setup, rng, 1, 19, demo=k % 5 == 0))
        assert len(memory.demo_index.demo) == len(memory.data[0])
    demo_flags = np.array([bool(i.get(DEMO_FLAG)) for i in memory.data[6]])
    np.testing.assert_array_equal(memory.demo_index.demo, demo_flags)
    _assert_fraction(memory, 4.0)


def test_flags_come_back_from_data_pkl(lidar_setup, clean_dataset, tmp_path, rng):
    runs = tmp_path / "runs"
    runs.mkdir()
    paths = []
    for k in range(2):
        run = synthetic_run(lidar_setup, episodes=2, steps=19, rng=rng)
        run.samples = [(a, o, np.float32(1.0), t, tr, i) for a, o, _, t, tr, i in run.samples]
        paths.append(str(save_run(runs / f"d{k}.pkl", run)))
    import_runs(paths, lidar_setup)
    memory = lidar_memory(lidar_setup, tmp_path, 3.0, dataset_path=clean_dataset)
    assert memory.demo_index.n_demo_samples == 80
    for _ in range(8):
        append_samples(memory, demo_episodes(lidar_setup, rng, 1, 19, demo=False))
    _assert_fraction(memory, 3.0)


@pytest.mark.parametrize("weight", [0.0, 1.0, 5.0])
def test_generic_memory_fraction_despite_its_redraw_trap(tmp_path, weight):
    from playerruns.trainer.memories import DemoWeightedGenericTorchMemory

    memory = DemoWeightedGenericTorchMemory(memory_size=10_000, batch_size=64, dataset_path=str(tmp_path / "none"),
                                            demo_schedule=DemoSchedule(weight=weight))
    gen = np.random.default_rng(5)
    for k in range(10):  # short episodes: many episode ends for the generic memory to trip on
        demo = k in (2, 7)
        info = {DEMO_FLAG: True, RUN_ID_KEY: "d"} if demo else {}
        rew = 1.0 if demo else 0.0
        samples = [(None, gen.normal(size=3).astype(np.float32), 0.0 if not demo else rew, False, False, dict(info))]
        for t in range(6):
            samples.append((gen.normal(size=1).astype(np.float32), gen.normal(size=3).astype(np.float32), rew,
                            False, t == 5, dict(info)))
        append_samples(memory, samples)
    # transitions: item -> (item, item + 1); valid when sample `item` does not end an episode
    done, rewards = memory.data[6], memory.data[2]
    n_demo = sum(1 for i in range(len(memory)) if not done[i] and rewards[i + 1] == 1.0)
    n_other = sum(1 for i in range(len(memory)) if not done[i] and rewards[i + 1] != 1.0)
    expected = expected_demo_fraction(weight, n_demo, n_other)
    measured = sum(float(memory.sample()[2].mean()) for _ in range(BATCHES)) / BATCHES
    tolerance = 5 * math.sqrt(max(expected * (1 - expected), 1e-4) / (BATCHES * 64))
    assert abs(measured - expected) <= tolerance, (measured, expected)


def test_only_demos_with_weight_zero_still_samples(lidar_setup, tmp_path, rng):
    memory = lidar_memory(lidar_setup, tmp_path, 0.0)
    append_samples(memory, demo_episodes(lidar_setup, rng, 3, 19, demo=True))
    assert float(memory.sample()[2].mean()) == 1.0
