"""The cost of demo-weighted replay sampling against tmrl's stock uniform sampler, on the same memory.

Demo weighting (DEMO_SAMPLING_WEIGHT) replaces only the INDEX sampler of tmrl's replay memory; the
transitions are then fetched (``memory[i]``) and collated into torch tensors exactly as tmrl does.
A training step draws one batch, so whatever the weighting adds is paid on every step. This script
builds ONE demo-weighted TM20LIDAR memory (``weighted_memory_cls(setup.memory_cls, DemoSchedule(weight=3.0))``) holding
1,000,000 compressed lidar samples, 10% of them demos (whole 1,000-sample episodes, every 10th), and
times drawing AND collating a batch of 256 two ways on that memory:

- stock:    ``tmrl.memory.Memory.sample_indices(memory)`` (tmrl's uniform ``randint`` sampler), then
            ``memory.collate([memory[i] for i in indices], memory.device)`` - i.e. ``Memory.sample()``;
- weighted: ``memory.sample()`` (the demo-weighted index sampler, weight 3).

Batches are timed in interleaved blocks (the order alternating) to cancel machine noise. The demo
fraction of the weighted batches is checked against ``w*n_demo / (w*n_demo + n_other)``. The weighted
sampler also rebuilds its demo/other index groups once after each buffer update (lazily, on the next
draw); that one-off cost is measured after real appends and shown amortized over UPDATE_BUFFER_INTERVAL.
The 1M samples are 20,000 raw synthetic samples compressed once and repeated (objects shared, which
keeps memory use and build time low; fetching and collating cost the same).
Target: weighted median / stock median <= 1.10. Last line: ``sampling_ratio: <ratio>``.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

TARGET_RATIO = 1.10
DEMO_WEIGHT = 3.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000, help="raw samples in the memory")
    parser.add_argument("--raw-episodes", type=int, default=20, help="1,000-sample episodes actually generated")
    parser.add_argument("--demo-every", type=int, default=10, help="every n-th episode is a demo")
    parser.add_argument("--batches", type=int, default=300, help="timed batches per sampler")
    parser.add_argument("--block", type=int, default=20, help="batches per interleaved block")
    parser.add_argument("--appends", type=int, default=5, help="appends after which the group rebuild is timed")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="playerruns-bench-sampling-"))
    os.environ["HOME"] = str(home)  # tmrl reads ~/TmrlData/config/config.json at import
    try:
        run(home, args)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run(home: Path, args: argparse.Namespace) -> None:
    from playerruns.bridge.setup import append_samples, init_tmrl_data, load_setup, raw_sample_count

    init_tmrl_data(home, interface="TM20LIDAR", overrides={"MEMORY_SIZE": 1_000_000, "BATCH_SIZE": 256})
    setup = load_setup()

    import tmrl.config.config_constants as cfg
    from tmrl.memory import Memory

    from playerruns.runs.sample import split_episodes
    from playerruns.tools.synthetic import synthetic_run
    from playerruns.trainer.memories import weighted_memory_cls
    from playerruns.trainer.sampling import DemoIndex, DemoSchedule, expected_demo_fraction

    # --- data: compress raw episodes once, repeat them, tag every n-th episode as a demo
    t0 = time.perf_counter()
    raw = synthetic_run(setup, episodes=args.raw_episodes, steps=999, rng=np.random.default_rng(0))
    compressed = [setup.compress(s) for s in raw.samples]
    episodes = split_episodes(compressed)
    t_gen = time.perf_counter() - t0

    demo_info = {"is_demo": True, "player_run_id": "bench"}
    samples: list[tuple] = []
    e = 0
    while len(samples) < args.samples:
        ep = episodes[e % len(episodes)]
        if e % args.demo_every == 0:
            samples.extend((*s[:5], demo_info) for s in ep)
        else:
            samples.extend((*s[:5], {}) for s in ep)
        e += 1
    del samples[args.samples:]
    n_demo_raw = sum(1 for s in samples if s[5] is demo_info)

    scratch = home / "empty_dataset"
    scratch.mkdir()
    logging.disable(logging.INFO)  # tmrl's 'no data found, initializing empty replay memory'
    memory = weighted_memory_cls(setup.memory_cls, DemoSchedule(weight=DEMO_WEIGHT))(
        nb_steps=1, device="cpu", dataset_path=str(scratch))
    logging.disable(logging.NOTSET)
    t0 = time.perf_counter()
    append_samples(memory, samples)
    t_fill = time.perf_counter() - t0
    assert raw_sample_count(memory.data) == len(samples) == len(memory.demo_index.demo)
    offset = memory.transition_offset
    n_raw, n_transitions = raw_sample_count(memory.data), len(memory)
    demo_items, other_items = memory.demo_index.groups(len(memory), offset)
    expected = expected_demo_fraction(DEMO_WEIGHT, len(demo_items), len(other_items))
    del samples
    gc.collect()
    gc.freeze()  # the 1M-sample memory is long-lived: keep full GC passes over it out of both timings

    def stock_batch() -> tuple[Any, list[int]]:
        indices = list(Memory.sample_indices(memory))  # tmrl's own uniform sampler
        batch = [memory[i] for i in indices]
        return memory.collate(batch, memory.device), indices

    def weighted_batch() -> Any:
        return memory.sample()

    for _ in range(10):  # warm-up
        stock_batch()
        weighted_batch()

    times: dict[str, list[float]] = {"stock": [], "weighted": []}
    stock_demos = stock_total = 0
    demos0, total0 = memory.sampled_demos, memory.sampled_total
    blocks = max(1, args.batches // args.block)
    for b in range(blocks):
        for which in (("stock", "weighted") if b % 2 == 0 else ("weighted", "stock")):
            out = times[which]
            for _ in range(args.block):
                if which == "stock":
                    t0 = time.perf_counter()
                    _, indices = stock_batch()
                    out.append(time.perf_counter() - t0)
                    stock_demos += memory.demo_index.count_demos(indices, offset)
                    stock_total += len(indices)
                else:
                    t0 = time.perf_counter()
                    weighted_batch()
                    out.append(time.perf_counter() - t0)
    weighted_fraction = (memory.sampled_demos - demos0) / (memory.sampled_total - total0)
    stock_fraction = stock_demos / stock_total

    # --- one-off cost after a buffer update: a real append (with tmrl's trimming), then the group rebuild
    append_ms, extend_ms, groups_ms = [], [], []
    for k in range(args.appends):
        ep = [(*s[:5], demo_info if k % 2 == 0 else {}) for s in episodes[k % len(episodes)]]
        flags = (np.fromiter((s[5] is demo_info for s in ep), bool, len(ep)),
                 np.fromiter((bool(s[3] or s[4]) for s in ep), bool, len(ep)))
        probe = DemoIndex()  # the index bookkeeping alone, on a copy
        probe.reset(memory.demo_index.demo.copy(), memory.demo_index.done.copy())
        t0 = time.perf_counter()
        probe.extend(*flags, len(ep))
        extend_ms.append(1000 * (time.perf_counter() - t0))
        t0 = time.perf_counter()
        append_samples(memory, ep)
        append_ms.append(1000 * (time.perf_counter() - t0))
        assert memory.demo_index._groups is None  # invalidated by the append
        t0 = time.perf_counter()
        memory.demo_index.groups(len(memory), memory.transition_offset)
        groups_ms.append(1000 * (time.perf_counter() - t0))
        assert raw_sample_count(memory.data) == len(memory.demo_index.demo)  # the index followed tmrl's trim
        assert len(memory) <= memory.memory_size
    gc.unfreeze()

    stock_ms = 1000 * float(np.median(times["stock"]))
    weighted_ms = 1000 * float(np.median(times["weighted"]))
    ratio = weighted_ms / stock_ms
    interval = int(cfg.TMRL_CONFIG["UPDATE_BUFFER_INTERVAL"])
    groups_med = float(np.median(groups_ms))
    amortized = (interval * weighted_ms + groups_med) / (interval * stock_ms)

    print(f"memory: {type(memory).__name__}, {n_raw:,} raw samples, len {n_transitions:,} transitions, "
          f"{n_demo_raw:,} demo samples ({n_demo_raw / n_raw:.1%}), demo weight {DEMO_WEIGHT:g}, "
          f"batch {memory.batch_size}")
    print(f"  valid transitions: {len(demo_items):,} demo + {len(other_items):,} other "
          f"(built in {t_gen:.1f} s generate+compress, {t_fill:.1f} s append)")
    print(f"draw + collate one batch, {len(times['stock'])} batches each, interleaved blocks of {args.block}:")
    for key, label in (("stock", "stock uniform (Memory.sample_indices)"), ("weighted", "demo-weighted (sample())")):
        v = 1000 * np.asarray(times[key])
        print(f"  {label:38s}: median {np.median(v):.3f} ms, p95 {np.percentile(v, 95):.3f} ms, "
              f"min {v.min():.3f} ms")
    print(f"  demo fraction of weighted batches: {weighted_fraction:.4f} (expected w*n_demo/(w*n_demo+n_other) = "
          f"{expected:.4f}); stock batches: {stock_fraction:.4f}")
    print(f"after each buffer update ({args.appends} real appends of 1,000 samples into the full memory, "
          f"which tmrl trims to {raw_sample_count(memory.data):,} raw samples):")
    print(f"  memory.append_buffer incl. tmrl's trim: median {np.median(append_ms):.2f} ms "
          f"(demo-index bookkeeping part: {np.median(extend_ms):.2f} ms)")
    print(f"  demo index groups rebuild (first weighted draw after an append): median {groups_med:.2f} ms, "
          f"max {max(groups_ms):.2f} ms")
    print(f"  amortized over UPDATE_BUFFER_INTERVAL={interval} batches: ratio {amortized:.3f}")
    verdict = "OK" if ratio <= TARGET_RATIO else "OVER TARGET"
    print(f"target: weighted / stock median per batch <= {TARGET_RATIO:.2f} -> {ratio:.3f} {verdict}")
    print(f"sampling_ratio: {ratio:.3f}")


if __name__ == "__main__":
    main()
