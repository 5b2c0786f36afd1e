"""The trainer's cost of one SOURCE_PATH poll when nothing is new, with 1,000 and 10,000 files handled.

With ONLINE_INJECTION the trainer calls ``SourcePoller.poll()`` on EVERY buffer update, between
training steps, for the whole training run; the folder only grows (no file is ever deleted). An
idle poll must therefore stay cheap however many runs were injected before. This script times one
idle poll in the two folder states a long training run ends up in, for each folder size:

(a) CONSUME_ON_READ true: N files renamed ``*.pkl.imported`` (ignored by their suffix);
(b) CONSUME_ON_READ false: N ``*.pkl`` files whose names are in the InjectionRecord
    (``record.file_names``), skipped without being read.

The files are hard links to one small real run file (their content never matters: they are never
read; a folder entry is what a listing pays for), copies where hard links are not supported. As in
a long training run, the folders are then left alone for longer than the poller's
MTIME_GRANULARITY_SECONDS (a folder time more recent than that is not trusted, and every poll lists
the folder). Both states are timed in alternating blocks to cancel machine noise. The full scan an
idle poll avoids (paid anyway every FULL_SCAN_SECONDS, and on any change of the folder) is timed
too: the first poll of a fresh poller. A sanity check then drops a new run file in each folder and
asserts that the next poll finds it (and that it is then handled).
Target: median at most 0.1 ms per idle poll. Last line: ``poll_ms: <worse of the two medians at the
largest size (10,000 files by default), ms>``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

TARGET_MS = 0.1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default="1000,10000", help="handled files already in the folder (comma-separated "
                                                              "sizes; the last line reports the largest)")
    parser.add_argument("--polls", type=int, default=2000, help="timed polls per folder state")
    parser.add_argument("--block", type=int, default=100, help="polls per block (the states alternate blocks)")
    parser.add_argument("--full-scans", type=int, default=20, help="timed full scans per folder state")
    args = parser.parse_args()
    sizes = sorted({int(n) for n in args.files.split(",") if n.strip()})

    home = Path(tempfile.mkdtemp(prefix="playerruns-bench-poll-"))
    os.environ["HOME"] = str(home)  # tmrl reads ~/TmrlData/config/config.json at import
    try:
        run(home, args, sizes)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _link_or_copy(template: Path, target: Path, content: bytes) -> None:
    try:
        os.link(template, target)
    except OSError:
        target.write_bytes(content)


def run(home: Path, args: argparse.Namespace, sizes: list[int]) -> None:
    from playerruns.bridge.setup import init_tmrl_data, load_setup
    from playerruns.runs.runfile import save_run
    from playerruns.tools.synthetic import synthetic_run
    from playerruns.trainer.injection import (
        FULL_SCAN_SECONDS,
        MTIME_GRANULARITY_SECONDS,
        InjectionRecord,
        SourcePoller,
    )

    init_tmrl_data(home, interface="TM20LIDAR", overrides={"MEMORY_SIZE": 1_000_000, "BATCH_SIZE": 256})
    setup = load_setup()

    template = home / "template.pkl"
    save_run(template, synthetic_run(setup, episodes=1, steps=20, rng=np.random.default_rng(0)))
    content = template.read_bytes()

    folders: dict[int, dict[str, tuple[Path, InjectionRecord, bool]]] = {}
    for n in sizes:
        # (a) CONSUME_ON_READ true: handled files were renamed *.pkl.imported
        consumed_dir = home / f"source_consumed_{n}"
        consumed_dir.mkdir()
        for i in range(n):
            _link_or_copy(template, consumed_dir / f"run_{i:05d}.pkl.imported", content)
        # (b) CONSUME_ON_READ false: handled *.pkl files stay, their names are in the record
        kept_dir = home / f"source_kept_{n}"
        kept_dir.mkdir()
        kept_record = InjectionRecord()
        for i in range(n):
            name = f"run_{i:05d}.pkl"
            _link_or_copy(template, kept_dir / name, content)
            kept_record.file_names.add(name)
        folders[n] = {"consume": (consumed_dir, InjectionRecord(), True), "keep": (kept_dir, kept_record, False)}
    time.sleep(MTIME_GRANULARITY_SECONDS + 0.5)  # the folders are now as quiet as in a long training run

    labels = {"consume": "(a) CONSUME_ON_READ true : {n} *.pkl.imported files",
              "keep": "(b) CONSUME_ON_READ false: {n} *.pkl files in record.file_names"}
    print(f"SourcePoller.poll() with nothing new, {args.polls} timed polls per state (alternating blocks of "
          f"{args.block}), folders on {home.parent}; a full scan every {FULL_SCAN_SECONDS:g} s and on any change")
    worse = 0.0
    for n in sizes:
        pollers = {key: SourcePoller(folder, record, setup.compat, consume=consume, max_files=1, reject_after=60)
                   for key, (folder, record, consume) in folders[n].items()}
        full_ms = {key: time_full_scans(SourcePoller, folders[n][key], setup, args.full_scans) for key in pollers}
        times = time_idle_polls(pollers, args)
        first_find_ms = sanity_check(pollers, content)
        stats = {k: (1000 * float(np.median(v)), 1000 * float(np.percentile(v, 95)), 1000 * float(np.max(v)))
                 for k, v in times.items()}
        print(f"{n:,} handled files:")
        for key, (med, p95, most) in stats.items():
            print(f"  {labels[key].format(n=n)}: median {med:.4f} ms, p95 {p95:.4f} ms, max {most:.3f} ms; "
                  f"full scan (avoided when idle): median {full_ms[key]:.3f} ms")
        print(f"  sanity: a new run file is found by the next poll in both states (that poll, which lists the "
              f"folder, reads and validates a {len(content)}-byte run: a {first_find_ms['consume']:.2f} ms, "
              f"b {first_find_ms['keep']:.2f} ms), then never found again")
        worse = max(med for med, _, _ in stats.values())
        verdict = "OK" if worse <= TARGET_MS else "OVER TARGET"
        print(f"  target: median <= {TARGET_MS:g} ms per idle poll (paid on every buffer update) -> {verdict}")
    print(f"poll_ms: {worse:.4f}")


def time_full_scans(poller_cls: Any, state: tuple[Path, Any, bool], setup: Any, count: int) -> float:
    """Median ms of a full scan: the first poll of a fresh poller always lists the folder."""
    folder, record, consume = state
    samples = []
    for _ in range(count):
        poller = poller_cls(folder, record, setup.compat, consume=consume, max_files=1, reject_after=60)
        t0 = time.perf_counter()
        assert poller.poll() == []
        samples.append(time.perf_counter() - t0)
    return 1000 * float(np.median(samples))


def time_idle_polls(pollers: dict[str, Any], args: argparse.Namespace) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in pollers}
    for poller in pollers.values():  # warm-up (the first poll lists the folder; code paths)
        for _ in range(200):
            assert poller.poll() == []
    blocks = max(1, args.polls // args.block)
    for b in range(blocks):
        order = list(pollers) if b % 2 == 0 else list(reversed(pollers))
        for key in order:
            poll = pollers[key].poll
            out = times[key]
            for _ in range(args.block):
                t0 = time.perf_counter()
                found = poll()
                out.append(time.perf_counter() - t0)
                assert not found
    return times


def sanity_check(pollers: dict[str, Any], content: bytes) -> dict[str, float]:
    """A new run file dropped in is found by the next poll, then handled and never found again."""
    first_find_ms: dict[str, float] = {}
    for key, poller in pollers.items():
        new = poller.source / "new_run.pkl"
        new.write_bytes(content)
        t0 = time.perf_counter()
        found = poller.poll()
        first_find_ms[key] = 1000 * (time.perf_counter() - t0)
        assert len(found) == 1 and found[0].source is not None and found[0].source.name == new.name, found
        poller.mark_injected(found[0], len(found[0].samples))
        assert poller.poll() == [], "an injected file was found again"
    consumed, kept = pollers["consume"], pollers["keep"]
    assert (consumed.source / "new_run.pkl.imported").exists() and not (consumed.source / "new_run.pkl").exists()
    assert "new_run.pkl" in kept.record.file_names and (kept.source / "new_run.pkl").exists()
    return first_find_ms


if __name__ == "__main__":
    main()
