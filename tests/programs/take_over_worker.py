"""A rollout worker of the current config built as ``python -m playerruns --worker`` builds it
(``playerruns.trainer.roles.make_worker``), run for EPISODES training episodes against the server, then its
take-over counts printed as JSON: ``{"class", "steps", "person_steps", "take_overs", "episodes",
"mid_episode_sends"}`` (the last: buffers sent inside an episode, PLAYER_RUNS.WORKER_SYNC_STEPS). It then
waits to be killed (tlspyo's client process, which sends the last buffers, lives as long as it does)."""

import json
import sys
import time

import tmrl.config.config_constants as cfg

from playerruns.bridge.setup import load_setup
from playerruns.trainer.config import parse_player_runs
from playerruns.trainer.roles import make_worker

episodes = int(sys.argv[1])
worker = make_worker("worker", load_setup(), parse_player_runs(cfg.TMRL_CONFIG))
worker.run(nb_episodes=episodes, verbose=False)
if getattr(worker, "runs", None) is not None:  # the last episode's run file is written on the saver's own thread:
    worker.runs.wait()  # let it land before the counts, or a test that kills this process next can miss it
totals = worker.totals() if hasattr(worker, "totals") else (0, 0, 0)
print(json.dumps({"class": type(worker).__name__, "steps": totals[0], "person_steps": totals[1],
                  "take_overs": totals[2], "episodes": episodes,
                  "mid_episode_sends": getattr(worker, "mid_episode_sends", 0)}), flush=True)
while True:
    time.sleep(60)
