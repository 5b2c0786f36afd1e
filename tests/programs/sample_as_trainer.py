"""Builds the memory a trainer builds from data.pkl, draws a batch and prints its shapes as JSON (argv[1]:
the imported run folder)."""

import json
import sys
from pathlib import Path

import numpy as np

from playerruns.bridge.setup import load_setup
from playerruns.runs.runfile import load_run

setup = load_setup()
if setup.env_id:
    memory = setup.memory_cls(nb_steps=1, device="cpu")
else:
    import tmrl.config.config_objects as cfg_obj

    memory = cfg_obj.MEMORY(nb_steps=1, device="cpu")
prev_obs, act, rew, new_obs, terminated, truncated = memory.sample()


def shape(t):
    return [list(x.shape) for x in t] if isinstance(t, (tuple, list)) else list(t.shape)


infos = next(c for c in memory.data if isinstance(c[0], dict))
demo_rewards = {float(np.float32(s[2])) for p in Path(sys.argv[1]).glob("*.pkl") for s in load_run(p).samples}
raw = load_run(next(Path(sys.argv[1]).glob("*.pkl"))).samples[1][1]
print(json.dumps({"prev_obs": shape(prev_obs), "new_obs": shape(new_obs), "act": shape(act), "rew": shape(rew),
                  "raw_obs": shape(raw), "demo_infos": sum(bool(i.get("is_demo")) for i in infos),
                  "samples": len(infos), "memory": type(memory).__name__,
                  "rewards_from_demos": all(float(np.float32(r)) in demo_rewards for r in rew.numpy())}))
