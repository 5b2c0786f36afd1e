"""What saving a person's take-overs as run files costs a TrackMania worker, at TM20FULL's sizes (images).

With ``PLAYER_RUNS.TAKE_OVER_RUNS_PATH`` set, the take-over worker hands each raw sample to
``playerruns.takeover.saving.TakeOverRuns``: ``add`` runs inside the worker's 20 Hz control loop (a step
lasts 50 ms), and the run file is handed, when the episode ends, to a writer thread, so that tmrl resets
the race without waiting for the disk. This script feeds ``TakeOverRuns`` samples of TM20FULL's shapes
(4 grey 64x64 frames, speed, gear, rpm, the action buffer; the frames as uint8, as the game's screenshots
are) in episodes where the person drives ``--person-share`` of the steps in stretches of ``--stretch``
steps, and times, as the worker runs (the writer busy beside the loop): ``add`` per step (target: under
1 ms in the worst step, as the recorder's) and the ``add`` that ends the episode (what holds the worker
before its reset); then, in a second pass, each file's write (waited for), with its size. Last line:
``take_over_add_worst_ms: <ms>``.

    python benchmarks/take_over_save.py --episodes 10 --steps 1000 --person-share 0.3
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--steps", type=int, default=1000, help="steps per episode (tmrl's default episode cap)")
    parser.add_argument("--person-share", type=float, default=0.3, help="share of the steps the person drives")
    parser.add_argument("--stretch", type=int, default=100, help="steps per take-over")
    parser.add_argument("--gap-ms", type=float, default=5.0, help="the loop sleeps this long after each step, as "
                        "the worker waits for the game most of its 50 ms step (the writer thread works in the gaps)")
    args = parser.parse_args()
    if not 0.0 < args.person_share <= 1.0 or args.stretch < 1 or args.steps < 2:
        parser.error("--person-share must be in (0, 1], --stretch >= 1 and --steps >= 2")

    home = Path(tempfile.mkdtemp(prefix="playerruns-bench-take-over-save-"))
    os.environ["HOME"] = str(home)  # tmrl reads ~/TmrlData at import
    try:
        run(args, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run(args: argparse.Namespace, home: Path) -> None:
    from playerruns.bridge.setup import init_tmrl_data, load_setup
    from playerruns.runs.demos import DEMO_FLAG, INTERVENTION_FLAG
    from playerruns.takeover.saving import TakeOverRuns

    init_tmrl_data(home, interface="TM20FULL")
    setup = load_setup()
    rng = np.random.default_rng(0)
    spaces = setup.observation_space.spaces

    def observation() -> tuple[np.ndarray, ...]:
        """A fresh observation: the frames as the game's screenshots give them (uint8 greys, whatever the space's
        dtype says), every step its own arrays (pickle would store a repeated array once)."""
        return tuple(rng.integers(0, 256, s.shape, dtype=np.uint8) if len(s.shape) > 1
                     else rng.uniform(0, 100, s.shape).astype(s.dtype) for s in spaces)

    act_buf = [np.asarray(setup.default_action, np.float32)] * setup.act_buf_len
    period = max(args.stretch, round(args.stretch / args.person_share))  # one take-over of `stretch` per period

    add_seconds: list[float] = []  # the episodes' steps, while the previous episode's file is being written
    held_seconds: list[float] = []
    write_seconds: list[float] = []
    person_steps = 0
    # two passes: as the worker runs (the writer thread busy beside the loop), then each file waited for (its write)
    for pass_name in ("as the worker runs", "each write waited for"):
        saver = TakeOverRuns(home / pass_name.replace(" ", "-"), interface=setup.interface, kind="bench")
        for _ in range(args.episodes):
            for t in range(args.steps):
                act = np.array([1.0, 0.0, rng.uniform(-1, 1)], np.float32)
                act_buf = [*act_buf[1:], act]
                obs = (*observation(), *act_buf)
                person = 0 < t and (t % period) < args.stretch
                info = {INTERVENTION_FLAG: True, DEMO_FLAG: True} if person else {}
                last = t == args.steps - 1
                sample = (act if t else None, obs, 0.1, False, last, info)
                t0 = time.perf_counter()
                saver.add(sample, person)  # the last sample ends the episode: the file goes to the writer thread
                elapsed = time.perf_counter() - t0
                if pass_name == "each write waited for":
                    if last:
                        saver.wait()
                        write_seconds.append(time.perf_counter() - t0)
                    continue
                (held_seconds if last else add_seconds).append(elapsed)
                person_steps += int(person)
                time.sleep(args.gap_ms / 1000)
        saver.close()
    files = sorted((home / "as-the-worker-runs").glob("*.pkl"))
    sizes = [f.stat().st_size / 1e6 for f in files]
    if len(files) != args.episodes or len(list((home / "each-write-waited-for").glob("*.pkl"))) != args.episodes:
        raise SystemExit(f"expected {args.episodes} run files per pass")

    worst_ms = 1000 * max(add_seconds)
    print(f"episodes: {args.episodes} x {args.steps} steps, TM20FULL sizes (obs {setup.compat.describe_obs()}), "
          f"the person drove {person_steps / (args.episodes * args.steps):.0%} of the steps in stretches of "
          f"{args.stretch}")
    print(f"TakeOverRuns.add per step, in the 20 Hz control loop: median {1e6 * float(np.median(add_seconds)):.1f} us, "
          f"worst {worst_ms:.3f} ms (budget 50 ms; target under 1 ms)")
    print(f"the episode's end holds the worker before its reset: median "
          f"{1000 * float(np.median(held_seconds)):.1f} ms, worst {1000 * max(held_seconds):.1f} ms")
    print(f"writing the run file, in the writer thread: median {1000 * float(np.median(write_seconds)):.0f} ms, "
          f"worst {1000 * max(write_seconds):.0f} ms, {float(np.median(sizes)):.1f} MB per file")
    print(f"take_over_add_worst_ms: {worst_ms:.4f}")


if __name__ == "__main__":
    main()
