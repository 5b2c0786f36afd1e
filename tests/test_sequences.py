"""The episode-sequence memory: windows of consecutive transitions of one episode, property-checked on
random episode streams through tmrl's generic memory (trimming included), padded short episodes, and
the demo share of windows against the formula, across trimming and a reload of data.pkl."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playerruns.bridge.setup import append_samples, raw_sample_count
from playerruns.runs.demos import DEMO_FLAG, RUN_ID_KEY
from playerruns.trainer.sampling import DemoSchedule, expected_demo_fraction
from playerruns.trainer.sequences import SequenceGenericTorchMemory
from playerruns.trainer.windows import WindowIndex, WindowShape


def _episode(episode: int, steps: int, demo: bool) -> list:
    """Observations [episode, t]: window steps are real when t goes up by one within one episode."""
    info = {DEMO_FLAG: True, RUN_ID_KEY: f"d{episode}"} if demo else {}
    obs = [np.array([episode, t], dtype=np.float32) for t in range(steps + 1)]
    samples = [(None, obs[0], 0.0, False, False, dict(info))]
    for t in range(1, steps + 1):
        samples.append((np.array([0.5], np.float32), obs[t], float(demo), t == steps, False, dict(info)))
    return samples


def _memory(tmp_path, window, memory_size=10_000, batch_size=64, schedule=None, dataset="none"):
    return SequenceGenericTorchMemory(memory_size=memory_size, batch_size=batch_size,
                                      dataset_path=str(tmp_path / dataset), window=window,
                                      demo_schedule=schedule or DemoSchedule())


episodes_strategy = st.lists(st.tuples(st.integers(1, 25), st.booleans()), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(episodes=episodes_strategy, memory_size=st.integers(10, 300), burn_in=st.integers(0, 4),
       length=st.integers(1, 8), weight=st.sampled_from([0.0, 1.0, 4.0]))
def test_windows_stay_in_one_episode_and_after_the_trimming_point(tmp_path, episodes, memory_size, burn_in, length,
                                                                   weight):
    window = WindowShape(burn_in=burn_in, length=length)
    memory = _memory(tmp_path, window, memory_size=memory_size, batch_size=3 * length,
                     schedule=DemoSchedule(weight=weight))
    for k, (steps, demo) in enumerate(episodes):
        append_samples(memory, _episode(k, steps, demo))
    held = {(int(o[0]), int(o[1])) for o in memory.data[1]}  # (episode, t) of every sample still held
    index = memory.window_index()
    if len(index.starts) == 0:
        with pytest.raises(ValueError):
            memory.sample()
        return
    batch = memory.sample()
    n, size = 3, window.size
    assert batch.act.shape[:2] == (n, size) and batch.valid.shape == (n, size) and batch.demo.shape == (n,)
    for w in range(n):
        real = int(batch.valid[w].sum())
        assert bool(batch.valid[w, :real].all()) and not bool(batch.valid[w, real:].any())  # padding at the end
        episode, t = batch.obs[w, :real, 0], batch.obs[w, :real, 1]
        nxt_episode, nxt_t = batch.next_obs[w, :real, 0], batch.next_obs[w, :real, 1]
        assert bool((episode == episode[0]).all()) and bool((nxt_episode == episode[0]).all())
        assert bool((nxt_t == t + 1).all())  # each real step is a transition inside the episode
        assert bool((t[1:] == t[:-1] + 1).all())  # consecutive
        assert (int(episode[0]), int(t[0])) in held  # nothing from before the trimming point
        ends = batch.terminated[w, :real] + batch.truncated[w, :real]
        assert not bool(ends[:-1].any())  # never crosses an episode end
        if real < size:  # padded: the window starts the episode's first held transition and runs to its end
            assert bool(ends[-1]) or int(nxt_t[-1]) == max(s for e, s in held if e == int(episode[0]))
            assert (int(episode[0]), int(t[0]) - 1) not in held
            assert bool((batch.obs[w, real:] == batch.obs[w, real - 1]).all())  # repeats its last step
        expected_train = np.arange(size) >= burn_in
        assert np.array_equal(batch.train[w].numpy(), expected_train & batch.valid[w].numpy())
        demo_episode = bool(batch.rew[w, 0] == 1.0)
        assert batch.demo[w] == demo_episode


def test_window_index_by_hand():
    # two episodes of raw samples: reset + 5 steps (ends at raw 5), reset + 2 steps (ends at raw 8)
    done = np.array([0, 0, 0, 0, 0, 1, 0, 0, 1], dtype=bool)
    index = WindowIndex.build(done, n_items=8, offset=1, size=3)
    # transitions 0-4 are episode 1, 5 joins the episodes (skipped), 6-7 are episode 2 (short: padded)
    assert index.starts.tolist() == [0, 1, 2, 6] and index.real.tolist() == [3, 3, 3, 2]


@pytest.mark.parametrize("schedule", [DemoSchedule(weight=4.0), DemoSchedule(fraction=0.3)], ids=["weight", "fraction"])
def test_demo_share_of_windows_matches_the_formula_across_trimming_and_reloading(tmp_path, schedule):
    window = WindowShape(burn_in=4, length=8)
    memory = _memory(tmp_path, window, memory_size=3_000, batch_size=8 * 32, schedule=schedule)
    rng = np.random.default_rng(0)
    for k in range(200):  # ~6,000 samples through a 3,000-sample memory: trimmed many times
        append_samples(memory, _episode(k, int(rng.integers(5, 60)), demo=k % 7 == 0))
    assert raw_sample_count(memory.data) <= 3_000 + 60

    def share(mem) -> tuple[float, float]:
        index = mem.window_index()
        is_demo = mem.demo_index.demo[index.starts + mem.transition_offset]
        expected = (schedule.fraction if schedule.fraction is not None
                    else expected_demo_fraction(schedule.weight, int(is_demo.sum()), int((~is_demo).sum())))
        before = (mem.sampled_demos, mem.sampled_total)
        demo_windows = 0
        for _ in range(150):
            batch = mem.sample()
            demo_rows = (batch.rew[:, 0] == 1.0).numpy()  # a demo episode's rewards are 1, others' 0
            assert np.array_equal(batch.demo, demo_rows)
            demo_windows += int(demo_rows.sum())
        # the share measured on the windows returned; the memory's own counters agree with it
        assert (mem.sampled_demos - before[0], mem.sampled_total - before[1]) == (demo_windows, 150 * len(demo_rows))
        return demo_windows / (150 * len(demo_rows)), expected

    measured, expected = share(memory)
    windows = 150 * memory.windows_per_batch
    assert abs(measured - expected) < 5 * np.sqrt(expected * (1 - expected) / windows) + 1e-9
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    (dataset / "data.pkl").write_bytes(pickle.dumps(memory.data))  # what an import or tmrl's dataset holds
    reloaded = _memory(tmp_path, window, memory_size=3_000, batch_size=8 * 32, schedule=schedule, dataset="dataset")
    assert np.array_equal(reloaded.window_index().starts, memory.window_index().starts)
    measured, expected_again = share(reloaded)
    assert expected_again == expected
    assert abs(measured - expected) < 5 * np.sqrt(expected * (1 - expected) / windows) + 1e-9
