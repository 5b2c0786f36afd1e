"""Every stock configuration, end to end, each in processes of its own (tmrl fixes its config at import):
synthetic runs from the configured observation path -> CLI import -> the memory the trainer builds -> a batch."""

from __future__ import annotations

import json

import pytest

from tests.helpers import make_home, run_cli, run_python

MAKE_RUNS = """
import sys
import numpy as np
from pathlib import Path
from playerruns.runs.runfile import save_run
from playerruns.builtin.synthetic import gym_run, synthetic_run
from playerruns.tmrl_bridge import load_setup
setup = load_setup()
out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(7)
for k in range(3):
    if setup.env_id:
        run = gym_run(setup, episodes=2, max_steps=40, seed=k)
    else:
        run = synthetic_run(setup, episodes=2, steps=40, rng=rng)
    save_run(out / f"run{k}.pkl", run)
"""

SAMPLE_AS_TRAINER = """
import json
import numpy as np
from playerruns.tmrl_bridge import load_setup
from playerruns.runs.runfile import load_run
from pathlib import Path
import sys
setup = load_setup()
if setup.env_id:
    memory = setup.memory_cls(nb_steps=1, device="cpu")
else:
    import tmrl.config.config_objects as cfg_obj
    memory = cfg_obj.MEMORY(nb_steps=1, device="cpu")
prev_obs, act, rew, new_obs, terminated, truncated = memory.sample()
shape = lambda t: [list(x.shape) for x in t] if isinstance(t, (tuple, list)) else list(t.shape)
infos = next(c for c in memory.data if isinstance(c[0], dict))
demo_rewards = {float(np.float32(s[2])) for p in Path(sys.argv[1]).glob("*.pkl") for s in load_run(p).samples}
raw = load_run(next(Path(sys.argv[1]).glob("*.pkl"))).samples[1][1]
print(json.dumps({"prev_obs": shape(prev_obs), "new_obs": shape(new_obs), "act": shape(act), "rew": shape(rew),
                  "raw_obs": shape(raw), "demo_infos": sum(bool(i.get("is_demo")) for i in infos),
                  "samples": len(infos), "memory": type(memory).__name__,
                  "rewards_from_demos": all(float(np.float32(r)) in demo_rewards for r in rew.numpy())}))
"""

CONFIGS = {
    "TM20LIDAR": ("MemoryTMLidar", 3),
    "TM20LIDARPROGRESS": ("MemoryTMLidarProgress", 3),
    "TM20FULL": ("MemoryTMFull", 3),
    "GYM:Pendulum-v1": ("GenericTorchMemory", 1),
}


@pytest.mark.parametrize("interface", list(CONFIGS))
def test_import_then_sample_like_the_trainer(tmp_path, interface):
    memory_name, act_dim = CONFIGS[interface]
    home = make_home(tmp_path, interface=interface)
    runs = tmp_path / "runs"
    made = run_python(home, MAKE_RUNS, str(runs))
    assert made.returncode == 0, made.stderr

    result = run_cli(home, "--import-player-runs", "--player-runs-paths", str(runs))
    assert result.returncode == 0, result.stderr
    assert "player runs import: 3 file(s), imported 3 run(s) / 246 samples" in result.stdout
    assert (home / "TmrlData" / "dataset" / "data.pkl").is_file()

    sampled = run_python(home, SAMPLE_AS_TRAINER, str(runs))
    assert sampled.returncode == 0, sampled.stderr
    out = json.loads(sampled.stdout.strip().splitlines()[-1])
    assert out["memory"] == memory_name
    assert out["samples"] == out["demo_infos"] == 246
    assert out["rewards_from_demos"]
    batch = 32
    # the memory rebuilds exactly the preprocessed observation a worker's policy sees
    expected_obs = [[batch, *s] for s in out["raw_obs"]] if interface.startswith("TM") else [batch, *out["raw_obs"]]
    assert out["prev_obs"] == expected_obs and out["new_obs"] == expected_obs
    assert out["act"] == [batch, act_dim] and out["rew"] == [batch]
