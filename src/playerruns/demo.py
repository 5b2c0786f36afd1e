"""The main job on the built-in default: no game, no existing TmrlData needed.

It makes its own TmrlData in a folder of its own (tmrl reads ``~/TmrlData``, so HOME points
there for this process), drives a few MountainCarContinuous runs with a scripted stand-in for a
person, imports them into data.pkl and checks that tmrl's own memory loads and samples them.
"""

from __future__ import annotations

import os
from pathlib import Path

DEMO_ENV = "MountainCarContinuous-v0"


def run_demo(folder: Path, runs: int = 3) -> int:
    if "tmrl" in __import__("sys").modules:
        raise RuntimeError("run_demo must run before tmrl is imported (tmrl reads HOME at import)")
    folder = folder.resolve()
    os.environ["HOME"] = str(folder)
    from playerruns.dataset import import_runs
    from playerruns.drivers import momentum_driver
    from playerruns.runfile import save_run
    from playerruns.synthetic import gym_run
    from playerruns.tmrl_bridge import init_tmrl_data, load_setup

    tmrl_data = init_tmrl_data(folder, interface=f"GYM:{DEMO_ENV}",
                               overrides={"RW_MAX_SAMPLES_PER_EPISODE": 999, "MEMORY_SIZE": 100000,
                                          "BATCH_SIZE": 256})
    print(f"[1/3] TmrlData for the demo: {tmrl_data} (environment {DEMO_ENV})")
    setup = load_setup()
    run_dir = tmrl_data / "player_runs"
    files = []
    for k in range(runs):
        run = gym_run(setup, momentum_driver(seed=k), seed=k)
        path = save_run(run_dir / f"{run.run_id}.pkl", run)
        files.append(str(path))
        meta = run.metadata
        print(f"[2/3] run {k + 1}/{runs}: {path.name}: {meta['episode_steps'][0]} steps, "
              f"return {meta['episode_returns'][0]:.1f}")
    report = import_runs(files, setup)
    print(f"[3/3] {report.summary()}")
    memory = setup.make_memory()  # exactly what the trainer builds at startup: it loads data.pkl
    batch = memory.sample()
    shapes = ", ".join(str(tuple(t.shape)) for t in batch)
    print(f"tmrl {type(memory).__name__} loaded {len(memory)} transitions; a sampled batch has shapes {shapes}")
    print(f"Everything the demo wrote is in {folder}")
    return 0
