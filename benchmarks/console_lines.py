"""What the trainer's console shows per minute of MiniTrack training: tmrl's table against one line per epoch.

What it measures. One HOME set up as the demo's player-runs arm (``tasks.LEVERS[BEST]``, the paced
MiniTrack, tmrl's hyperparameters of the demo), no player run: a server, a trainer and a worker
(``python -m playerruns``) run for ``--seconds`` each time, twice in turn: once with ``--tmrl-log`` (the
trainer prints what ``python -m tmrl --trainer`` prints) and once without (playerruns' one line per
epoch). Each time a fresh TmrlData (no checkpoint to resume). Printed: the trainer's lines per minute
(and how many are tmrl's round banner and table), the epochs done, and the lines of the epoch summary.

Run: ``python benchmarks/console_lines.py [--seconds 180]``. Last line: ``console_lines_per_minute:
<with --tmrl-log> -> <without>``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(folder: Path, seconds: float, tmrl_log: bool) -> dict[str, float]:
    from playerruns.builtin import tasks
    from playerruns.builtin.harness import arm_home, assign_free_ports
    from playerruns.trainer.statistics import read_statistics, statistics_file

    task = tasks.TASKS["minitrack"]
    home = arm_home(folder, task, levers=tasks.LEVERS[tasks.BEST])
    assign_free_ports(home)
    env = {**os.environ, "HOME": str(home), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    logs = {role: folder / f"{role}.log" for role in ("server", "trainer", "worker")}
    procs = {}
    try:
        for role in ("server", "trainer", "worker"):
            args = [f"--{role}"] + (["--tmrl-log"] if role == "trainer" and tmrl_log else [])
            with open(logs[role], "wb") as out:
                procs[role] = subprocess.Popen([sys.executable, "-m", "playerruns", *args], env=env, stdout=out,
                                               stderr=subprocess.STDOUT, start_new_session=True)
            time.sleep(2.0 if role == "server" else 0.0)
        time.sleep(seconds)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
        for proc in procs.values():
            proc.wait()
    text = logs["trainer"].read_text(errors="replace")
    lines = text.splitlines()
    config = json.loads((home / "TmrlData" / "config" / "config.json").read_text(encoding="utf-8"))
    epochs = read_statistics(statistics_file(home / "TmrlData" / "statistics", config["RUN_NAME"]), "epoch")
    return {"lines": len(lines), "per_minute": 60 * len(lines) / seconds,
            "banners": len(re.findall(r"=== epoch \d+/\d+ =+ round", text)),
            "epoch_lines": sum("Player runs: epoch " in line for line in lines), "epochs": len(epochs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="how long each run trains")
    args = parser.parse_args()
    results = {}
    for tmrl_log in (True, False):
        folder = Path(tempfile.mkdtemp(prefix="playerruns-console-"))
        try:
            results[tmrl_log] = run_once(folder, args.seconds, tmrl_log)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        r = results[tmrl_log]
        print(f"{'with --tmrl-log' if tmrl_log else 'default':16s}: {r['lines']} trainer lines in {args.seconds:.0f} s "
              f"({r['per_minute']:.0f} per minute; {r['banners']} round banners of tmrl), {r['epochs']} epochs, "
              f"{r['epoch_lines']} epoch lines", flush=True)
    print(f"console_lines_per_minute: {results[True]['per_minute']:.0f} -> {results[False]['per_minute']:.0f}")


if __name__ == "__main__":
    main()
