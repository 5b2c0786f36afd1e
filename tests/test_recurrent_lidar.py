"""The recurrent agent on TrackMania's lidar configuration (TM20LIDAR, no game needed): the trainer's
memory and agent as ``training_cls`` builds them from config.json, on synthetic lidar runs."""

from __future__ import annotations

import numpy as np

from playerruns.bridge.setup import append_samples
from playerruns.runs.demos import demo_samples
from playerruns.tools.synthetic import synthetic_run
from playerruns.trainer.config import PlayerRunsConfig
from playerruns.trainer.roles import training_cls


def test_lidar_windows_and_a_recurrent_update(lidar_setup, tmp_path, rng):
    from gymnasium.spaces import Tuple

    from playerruns.trainer.recurrent_sac import RecurrentSacAgent
    from playerruns.trainer.sequences import SequenceMemoryTMLidar

    config = PlayerRunsConfig(RECURRENT=True, SEQUENCE_BURN_IN=3, SEQUENCE_LENGTH=8, RECURRENT_HIDDEN_SIZE=16,
                              DEMO_SAMPLING_WEIGHT=3.0)
    partial_cls = training_cls(lidar_setup, config)
    memory = partial_cls.keywords["memory_cls"](nb_steps=1, device="cpu", dataset_path=str(tmp_path))
    assert isinstance(memory, SequenceMemoryTMLidar)
    run = synthetic_run(lidar_setup, episodes=3, steps=30, rng=rng)
    append_samples(memory, demo_samples(run, lidar_setup.compress))
    append_samples(memory, [lidar_setup.compress(s) for s in synthetic_run(lidar_setup, episodes=3, steps=30,
                                                                            rng=rng).samples])
    batch = memory.sample()
    speed, lidar, *actions = batch.obs
    windows = memory.windows_per_batch
    assert speed.shape[:2] == (windows, 11) and lidar.shape[:2] == (windows, 11) and len(actions) == 2
    assert batch.act.shape == (windows, 11, 3)
    spaces = Tuple([*lidar_setup.observation_space.spaces, *[lidar_setup.action_space] * lidar_setup.act_buf_len])
    agent_cls = partial_cls.keywords["training_agent_cls"]
    agent = agent_cls(observation_space=spaces, action_space=lidar_setup.action_space, device="cpu")
    assert isinstance(agent, RecurrentSacAgent)
    before = [p.detach().clone() for p in agent.model.actor.parameters()]
    stats = agent.train(batch)
    assert np.isfinite(stats["loss_critic"]) and np.isfinite(stats["loss_actor"])
    assert any(not bool((p == q).all()) for p, q in zip(agent.model.actor.parameters(), before, strict=True))
    actor = agent.get_actor()  # what the trainer broadcasts; a worker's RecurrentActor loads it
    action = actor.act_(tuple(np.asarray(o[0, 0]) for o in batch.obs), test=True)
    assert action.shape == (3,) and np.all(np.abs(action) <= 1.0)
