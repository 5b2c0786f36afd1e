"""The episode-sequence memory against tmrl's stock memory: the cost of a batch of windows, and the footprint.

One TM20LIDAR ``SequenceMemoryTMLidar`` (windows of 10 burn-in + 30 training steps, demo weight 3) and
one stock ``MemoryTMLidar`` hold the same 200,000 compressed lidar samples (1,000-sample episodes,
every 10th a demo, plus some short episodes that give padded windows). Timed in interleaved blocks:

- sequence: ``memory.sample()``: draw BATCH_SIZE // 30 windows, fetch their 40 transitions each through
  tmrl's ``__getitem__`` and ``collate``, reshape to ``[windows, 40, ...]``, masks;
- stock: tmrl's ``Memory.sample`` path for the SAME number of transitions (windows x 40): uniform
  ``randint`` indices, ``memory[i]``, ``collate``.

Footprint: each memory is built from its own fresh copy of the samples under ``tracemalloc`` (samples,
columns, and for the sequence memory its demo flags and window index, built by one ``sample()``).
Targets: sequence / stock time per batch <= 1.5, footprint <= 1.2. Last line:
``sequence_sampling_ratio: <median ratio>``.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import pickle
import shutil
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

TARGET_RATIO = 1.5
TARGET_FOOTPRINT = 1.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200_000, help="raw samples in each memory")
    parser.add_argument("--batches", type=int, default=200, help="timed batches per memory")
    parser.add_argument("--block", type=int, default=20, help="batches per interleaved block")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="playerruns-bench-sequences-"))
    os.environ["HOME"] = str(home)  # tmrl reads ~/TmrlData/config/config.json at import
    try:
        run(home, args)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def build_samples(setup: Any, n: int) -> list[tuple]:
    from playerruns.runs.sample import split_episodes
    from playerruns.tools.synthetic import synthetic_run

    raw = synthetic_run(setup, episodes=4, steps=999, rng=np.random.default_rng(0))
    short = synthetic_run(setup, episodes=4, steps=12, rng=np.random.default_rng(1))  # padded windows
    episodes = split_episodes([setup.compress(s) for s in (*raw.samples, *short.samples)])
    demo_info = {"is_demo": True, "player_run_id": "bench"}
    samples: list[tuple] = []
    e = 0
    while len(samples) < n:
        ep = episodes[e % len(episodes)]
        samples.extend((*s[:5], demo_info if e % 10 == 0 else {}) for s in ep)
        e += 1
    return samples[:n]


def run(home: Path, args: argparse.Namespace) -> None:
    from playerruns.bridge.setup import append_samples, init_tmrl_data, load_setup

    init_tmrl_data(home, interface="TM20LIDAR", overrides={"MEMORY_SIZE": 1_000_000, "BATCH_SIZE": 256})
    setup = load_setup()

    from tmrl.custom.custom_memories import MemoryTMLidar
    from tmrl.memory import Memory

    from playerruns.trainer.sampling import DemoSchedule
    from playerruns.trainer.sequences import SequenceMemoryTMLidar, WindowShape

    samples = build_samples(setup, args.samples)
    blob = pickle.dumps(samples, protocol=4)  # each memory gets its own copy: nothing shared between them
    del samples
    keywords = dict(setup.memory_cls.keywords)
    scratch = home / "empty_dataset"
    scratch.mkdir()
    keywords.update(nb_steps=1, device="cpu", dataset_path=str(scratch))
    logging.disable(logging.INFO)  # tmrl's 'no data found, initializing empty replay memory'

    def built(make: Any) -> tuple[Any, int]:
        gc.collect()
        tracemalloc.start()
        memory = make()
        append_samples(memory, pickle.loads(blob))
        if hasattr(memory, "window_index"):
            memory.sample()  # builds the window index it keeps
        gc.collect()
        size = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return memory, size

    window = WindowShape(burn_in=10, length=30)
    stock, stock_bytes = built(lambda: MemoryTMLidar(**keywords))
    sequence, sequence_bytes = built(lambda: SequenceMemoryTMLidar(**keywords, window=window,
                                                                   demo_schedule=DemoSchedule(weight=3.0)))
    logging.disable(logging.NOTSET)
    transitions = sequence.windows_per_batch * window.size
    stock.batch_size = transitions  # tmrl's sampler draws batch_size indices
    print(f"memories: {len(stock)} transitions each; a batch: {sequence.windows_per_batch} windows of {window.size} "
          f"steps = {transitions} transitions; {len(sequence.window_index().starts)} window starts")
    gc.freeze()

    def stock_batch() -> Any:
        indices = Memory.sample_indices(stock)
        return stock.collate([stock[i] for i in indices], stock.device)

    times: dict[str, list[float]] = {"stock": [], "sequence": []}
    runners = {"stock": stock_batch, "sequence": sequence.sample}
    order = ["stock", "sequence"]
    for _ in range(3):  # warm-up
        stock_batch()
        sequence.sample()
    done = 0
    while done < args.batches:
        for name in order:
            for _ in range(args.block):
                t = time.perf_counter()
                runners[name]()
                times[name].append(time.perf_counter() - t)
        done += args.block
        order.reverse()
    stock_ms = statistics.median(times["stock"]) * 1e3
    sequence_ms = statistics.median(times["sequence"]) * 1e3
    ratio = sequence_ms / stock_ms
    footprint = sequence_bytes / stock_bytes
    print(f"time per batch: sequence {sequence_ms:.2f} ms, stock {stock_ms:.2f} ms (medians of {len(times['stock'])} "
          f"batches each); ratio {ratio:.3f} (target <= {TARGET_RATIO:g})")
    print(f"footprint: sequence {sequence_bytes / 2**20:.1f} MiB, stock {stock_bytes / 2**20:.1f} MiB; "
          f"ratio {footprint:.3f} (target <= {TARGET_FOOTPRINT:g})")
    print(f"sequence_sampling_ratio: {ratio:.3f}")


if __name__ == "__main__":
    main()
