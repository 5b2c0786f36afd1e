"""How fast ``--inspect`` lists a folder of many TrackMania runs, against reading every file whole.

What it measures. ``--runs`` (1,000) TM20LIDAR run files of ``--steps`` (1,000) steps each, one
episode, the OpenPlanet telemetry in every sample's info (what a recording writes today: about 0.6 MB
a file), are listed two ways, interleaved ``--repeats`` times in one process:
- ``inspect``: ``playerruns.tools.inspection.inspect_row`` per file, what ``--inspect`` does (the header
  is read without unpickling the samples; ``runfile.read_header``);
- ``whole``: what a listing without headers must do: ``load_run`` (the restricted unpickler) and the
  schema check of every sample, then the same statistics from the samples (``build_metadata``).
- ``end check``: what ``--inspect`` adds to tell a complete file from one cut short
  (``RunHeader.ends_complete``): opening each file and reading its last two bytes, timed alone.
Then ``python -m playerruns --inspect --json`` is run once on the folder as a user would, start-up
(importing tmrl, loading the configuration) included. The files are in the page cache (just
written, then read once before timing): a cold disk adds its read time to both ways, far more to
``whole``, which reads every byte.

Why. The issue asks for a folder of 1,000 runs listed in seconds.

Run: ``python benchmarks/inspect_speed.py [--runs 1000] [--steps 1000] [--repeats 3]``. Last line:
``inspect_speedup: <median whole / median inspect>``; the line before it gives the end check's share of
the listing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="run files in the folder")
    parser.add_argument("--steps", type=int, default=1000, help="steps per run (20 per second of driving)")
    parser.add_argument("--repeats", type=int, default=3, help="timed listings of each kind")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="playerruns-bench-inspect-"))
    os.environ["HOME"] = str(home)  # tmrl reads ~/TmrlData/config/config.json at import
    try:
        run(home, args)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def make_runs(setup: Any, folder: Path, runs: int, steps: int) -> int:
    """Writes the run files (the same driving under new run ids) and returns the bytes written."""
    from playerruns.runs.runfile import RunFile, build_metadata, new_run_id, save_run
    from playerruns.runs.telemetry import TELEMETRY_KEY
    from playerruns.tools.synthetic import synthetic_run

    rng = np.random.default_rng(0)
    base = synthetic_run(setup, steps=steps, rng=rng)
    samples = [(a, o, r, te, tr, {**i, TELEMETRY_KEY: rng.normal(size=11).astype(np.float32)})
               for a, o, r, te, tr, i in base.samples]
    metadata = build_metadata(samples, interface=setup.interface, input_device="gamepad", duration_s=steps / 20)
    total = 0
    for _ in range(runs):
        run = RunFile(samples=samples, run_id=new_run_id(), metadata=metadata)
        total += save_run(folder / f"{run.run_id}.pkl", run).stat().st_size
    return total


def run(home: Path, args: argparse.Namespace) -> None:
    from playerruns.bridge.demo_path import reward_stamp
    from playerruns.bridge.setup import init_tmrl_data, load_setup
    from playerruns.runs.runfile import build_metadata, load_run
    from playerruns.runs.validation import check_samples
    from playerruns.tools.inspection import inspect_row

    init_tmrl_data(home, interface="TM20LIDAR")
    setup = load_setup()
    stamp = reward_stamp(setup)
    folder = home / "runs"
    folder.mkdir()
    t = time.perf_counter()
    size = make_runs(setup, folder, args.runs, args.steps)
    print(f"wrote {args.runs} runs of {args.steps} steps ({size / 2**20:.0f} MiB) in {time.perf_counter() - t:.1f} s")
    paths = sorted(folder.glob("*.pkl"))

    def inspect() -> None:
        for p in paths:
            inspect_row(p, setup, stamp)

    def whole() -> None:
        for p in paths:
            run = load_run(p)
            check_samples(run.samples, None, str(p))
            build_metadata(run.samples, interface=setup.interface)

    def end_check() -> None:
        for p in paths:
            with open(p, "rb") as f:
                f.seek(-2, os.SEEK_END)
                f.read()

    for p in paths:  # the same page cache for every way
        p.read_bytes()
    times: dict[str, list[float]] = {"inspect": [], "whole": [], "end check": []}
    for _ in range(args.repeats):
        for name, listing in (("inspect", inspect), ("whole", whole), ("end check", end_check)):
            t = time.perf_counter()
            listing()
            times[name].append(time.perf_counter() - t)
    inspect_s, whole_s = statistics.median(times["inspect"]), statistics.median(times["whole"])
    t = time.perf_counter()
    cli = subprocess.run([sys.executable, "-m", "playerruns", "--inspect", "--json", "--player-runs-paths",
                          str(folder)], capture_output=True, text=True, env={**os.environ, "HOME": str(home)})
    cli_s = time.perf_counter() - t
    assert cli.returncode == 0 and len(cli.stdout.splitlines()) == args.runs, cli.stderr[-2000:]
    print(f"listing {args.runs} runs: inspect {inspect_s:.2f} s, whole files {whole_s:.2f} s (medians of "
          f"{args.repeats}: inspect {', '.join(f'{x:.2f}' for x in times['inspect'])}; whole "
          f"{', '.join(f'{x:.2f}' for x in times['whole'])})")
    print(f"python -m playerruns --inspect --json on the folder: {cli_s:.2f} s wall, start-up included")
    end_s = statistics.median(times["end check"])
    print(f"the end check (complete or cut short) alone: {end_s * 1000:.1f} ms for {args.runs} files, "
          f"{100 * end_s / inspect_s:.1f} % of the listing")
    print(f"inspect_speedup: {whole_s / inspect_s:.1f}")


if __name__ == "__main__":
    main()
