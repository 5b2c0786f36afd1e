"""The trainer's cost of one SOURCE_PATH poll when nothing is new, with 1,000 files already handled.

With ONLINE_INJECTION the trainer calls ``SourcePoller.poll()`` on EVERY buffer update, between
training steps, for the whole training run; the folder only grows (no file is ever deleted). An
idle poll must therefore stay cheap however many runs were injected before. This script times one
idle poll in the two folder states a long training run ends up in:

(a) CONSUME_ON_READ true: 1,000 files renamed ``*.pkl.imported`` (ignored by their suffix);
(b) CONSUME_ON_READ false: 1,000 ``*.pkl`` files whose names are in the InjectionRecord
    (``record.file_names``), skipped without being read.

The files are copies of one small real run file (their content never matters: they are never read).
Both states are timed in alternating blocks to cancel machine noise; a sanity check then drops a
new run file in each folder and asserts that the next poll finds it (and that it is then handled).
Target: median at most 1 ms per poll. Last line: ``poll_ms: <worse of the two medians, ms>``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_MS = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000, help="handled files already in the folder")
    parser.add_argument("--polls", type=int, default=2000, help="timed polls per folder state")
    parser.add_argument("--block", type=int, default=100, help="polls per block (the states alternate blocks)")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="playerruns-bench-poll-"))
    os.environ["HOME"] = str(home)  # tmrl reads ~/TmrlData/config/config.json at import
    try:
        run(home, args)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run(home: Path, args: argparse.Namespace) -> None:
    from playerruns.builtin.synthetic import synthetic_run
    from playerruns.runs.runfile import save_run
    from playerruns.tmrl_bridge import init_tmrl_data, load_setup
    from playerruns.trainer.injection import InjectionRecord, SourcePoller

    init_tmrl_data(home, interface="TM20LIDAR", overrides={"MEMORY_SIZE": 1_000_000, "BATCH_SIZE": 256})
    setup = load_setup()

    template = home / "template.pkl"
    save_run(template, synthetic_run(setup, episodes=1, steps=20, rng=np.random.default_rng(0)))
    content = template.read_bytes()

    # (a) CONSUME_ON_READ true: handled files were renamed *.pkl.imported
    consumed_dir = home / "source_consumed"
    consumed_dir.mkdir()
    for i in range(args.files):
        (consumed_dir / f"run_{i:05d}.pkl.imported").write_bytes(content)
    consumed_record = InjectionRecord()
    consumed = SourcePoller(consumed_dir, consumed_record, setup.compat, consume=True, max_files=1,
                            reject_after=60)

    # (b) CONSUME_ON_READ false: handled *.pkl files stay, their names are in the record
    kept_dir = home / "source_kept"
    kept_dir.mkdir()
    kept_record = InjectionRecord()
    for i in range(args.files):
        name = f"run_{i:05d}.pkl"
        (kept_dir / name).write_bytes(content)
        kept_record.file_names.add(name)
    kept = SourcePoller(kept_dir, kept_record, setup.compat, consume=False, max_files=1, reject_after=60)

    pollers = {"consume": consumed, "keep": kept}
    times: dict[str, list[float]] = {k: [] for k in pollers}

    for poller in pollers.values():  # warm-up (directory cache, code paths)
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

    # sanity: a new run file dropped in is found by the next poll, then handled
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
    assert (consumed_dir / "new_run.pkl.imported").exists() and not (consumed_dir / "new_run.pkl").exists()
    assert "new_run.pkl" in kept_record.file_names and (kept_dir / "new_run.pkl").exists()

    stats = {k: (1000 * float(np.median(v)), 1000 * float(np.percentile(v, 95)), 1000 * float(np.max(v)))
             for k, v in times.items()}
    labels = {"consume": f"(a) CONSUME_ON_READ true : {args.files} *.pkl.imported files",
              "keep": f"(b) CONSUME_ON_READ false: {args.files} *.pkl files in record.file_names"}
    print(f"SourcePoller.poll() with nothing new, {len(times['consume'])} timed polls per state "
          f"(alternating blocks of {args.block}), folder on {home.parent}")
    for key, (med, p95, worst) in stats.items():
        print(f"  {labels[key]}: median {med:.3f} ms, p95 {p95:.3f} ms, max {worst:.3f} ms")
    print(f"sanity: a new run file is found by the next poll in both states (that poll, which reads and "
          f"validates a {len(content)}-byte run: a {first_find_ms['consume']:.2f} ms, "
          f"b {first_find_ms['keep']:.2f} ms), then never found again")
    worse = max(med for med, _, _ in stats.values())
    verdict = "OK" if worse <= TARGET_MS else "OVER TARGET"
    print(f"target: median <= {TARGET_MS:g} ms per poll (paid on every buffer update) -> {verdict}")
    print(f"poll_ms: {worse:.3f}")


if __name__ == "__main__":
    main()
