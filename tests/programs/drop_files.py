"""Drops a half-copied, a malicious and a good run file into SOURCE_PATH (argv[1]); argv[2] is the file
the malicious one would create if it ever ran."""

import os
import pickle
import sys
from pathlib import Path

from playerruns.bridge.setup import load_setup
from playerruns.runs.runfile import save_run
from playerruns.tools.synthetic import gym_run

source, marker = Path(sys.argv[1]), sys.argv[2]
run = gym_run(load_setup(), episodes=2, max_steps=60, seed=3)
data = pickle.dumps(run.to_dict())
(source / "copying.pkl").write_bytes(data[: len(data) // 2])


class Evil:
    def __reduce__(self):
        return (os.system, (f"touch {marker}",))


(source / "evil.pkl").write_bytes(pickle.dumps({"format": "tmrl_player_run_v1", "samples": [Evil()]}))
save_run(source / "good.pkl", run)
print(run.run_id, len(run.samples))
