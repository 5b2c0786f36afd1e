"""The recurrent SAC agent: its critic learns what only the episode's past tells, the worker's policy
carries its state through an episode and forgets it at the next, and it trains through tmrl's real
Server, Trainer and RolloutWorker on the episode-sequence memory, with player runs, and resumes."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from gymnasium import spaces

from playerruns.bridge.seeding import seed_everything
from playerruns.bridge.setup import append_samples
from playerruns.trainer.recurrent_sac import RecurrentActor, RecurrentActorCritic, RecurrentSacAgent
from playerruns.trainer.sequences import SequenceGenericTorchMemory
from playerruns.trainer.windows import WindowShape

OBS = spaces.Box(-1.0, 1.0, (1,), np.float32)
ACT = spaces.Box(-1.0, 1.0, (1,), np.float32)


def _cue_episode(rng: np.random.Generator, steps: int = 30) -> list:
    """The first observation shows a cue (+1 or -1), later ones show 0; every reward is the cue."""
    cue = float(rng.choice([-1.0, 1.0]))
    samples = [(None, np.array([cue], np.float32), 0.0, False, False, {})]
    for t in range(1, steps + 1):
        samples.append((rng.uniform(-1, 1, 1).astype(np.float32), np.zeros(1, np.float32), cue, t == steps, False, {}))
    return samples


def test_the_recurrent_critic_learns_what_only_the_past_shows(tmp_path):
    seed_everything(0)  # torch and the memory's window sampler: the same 300 batches every run
    rng = np.random.default_rng(0)
    memory = SequenceGenericTorchMemory(memory_size=100_000, batch_size=64, dataset_path=str(tmp_path / "none"),
                                        window=WindowShape(burn_in=0, length=31))  # windows from each episode start
    for _ in range(60):
        append_samples(memory, _cue_episode(rng))
    agent = RecurrentSacAgent(observation_space=OBS, action_space=ACT, device="cpu", gamma=0.0,
                              model_cls=partial(RecurrentActorCritic, hidden=16))
    losses = [agent.train(memory.sample())["loss_critic"] for _ in range(300)]
    # the observation is 0 after the first step, so only a memory of the cue predicts the reward (variance 1)
    assert np.mean(losses[:10]) > 0.5
    assert np.mean(losses[-20:]) < 0.1


def test_the_policy_carries_its_state_and_forgets_it_at_an_episode_start():
    torch.manual_seed(0)
    actor = RecurrentActor(OBS, ACT, hidden=8)
    cue, blank = np.array([1.0], np.float32), np.zeros(1, np.float32)
    first = actor.act_(cue, test=True)
    after_cue = actor.act_(blank, test=True)
    actor.reset_hidden()
    without_cue = actor.act_(blank, test=True)
    assert not np.allclose(after_cue, without_cue)  # the state after the cue differs from a fresh one
    actor.reset_hidden()
    assert np.allclose(actor.act_(cue, test=True), first)  # the same episode start gives the same action
    assert after_cue.shape == ACT.shape


def test_the_rollout_worker_resets_the_policy_at_each_episode(tmp_path, monkeypatch):
    from tmrl.envs import GenericGymEnv

    from playerruns.trainer.recurrent_sac import RecurrentRolloutWorker

    worker = RecurrentRolloutWorker(env_cls=partial(GenericGymEnv, id="Pendulum-v1"),
                                    actor_module_cls=partial(RecurrentActor, hidden=8), standalone=True,
                                    model_path=str(tmp_path / "w.tmod"), max_samples_per_episode=5)
    seen = []
    original = worker.actor.reset_hidden

    def spy() -> None:
        seen.append(worker.actor.hidden_state is not None)
        original()

    monkeypatch.setattr(worker.actor, "reset_hidden", spy)
    worker.run_episodes(max_samples_per_episode=5, nb_episodes=3)
    assert seen == [False, True, True]  # every episode starts from a fresh state; the last one had run
    assert worker.actor.hidden_state is not None


@pytest.mark.slow
def test_recurrent_training_through_tmrl_roles_with_player_runs(tmp_path):
    from tests.helpers import Roles, make_home, make_runs, run_cli, trainer_statistics, wait_for_server

    home = make_home(tmp_path, interface="GYM:tests.throttled_env:ThrottledPendulum-v0", MEMORY_SIZE=1_000_000,
                     BATCH_SIZE=32, MAX_EPOCHS=10_000, ROUNDS_PER_EPOCH=2, TRAINING_STEPS_PER_ROUND=20,
                     ENVIRONMENT_STEPS_BEFORE_TRAINING=200, UPDATE_BUFFER_INTERVAL=10, UPDATE_MODEL_INTERVAL=20,
                     MAX_TRAINING_STEPS_PER_ENVIRONMENT_STEP=10.0, RW_MAX_SAMPLES_PER_EPISODE=200,
                     **_ports(),
                     PLAYER_RUNS={"RECURRENT": True, "SEQUENCE_BURN_IN": 4, "SEQUENCE_LENGTH": 8,
                                  "RECURRENT_HIDDEN_SIZE": 16, "DEMO_SAMPLING_WEIGHT": 5.0})
    runs = make_runs(home, tmp_path / "runs", 2)
    imported = run_cli(home, "--import-player-runs", "--player-runs-paths", str(tmp_path / "runs"))
    assert imported.returncode == 0, imported.stderr
    demos = sum(n for *_x, n in runs)
    roles = Roles(home, tmp_path)
    try:
        roles.start("server", "--server")
        wait_for_server(roles, home, "server")
        roles.start("trainer", "--trainer")
        roles.start("worker", "--worker")

        def epochs() -> list[tuple[float, int]]:
            return [(r["demo_fraction_sampled"], r["demo_samples"]) for r in trainer_statistics(home, "epoch")]

        roles.wait_for(lambda: len(epochs()) >= 3, 240, "three epochs", ("server", "trainer", "worker"))
        assert [r["demo_samples"] for r in trainer_statistics(home, "start")] == [demos]
        assert all(d == demos for _f, d in epochs())
        assert any(f > 0 for f, _d in epochs())  # weight 5: demo windows are drawn
        roles.wait_for(lambda: roles.log("worker").count("model weights have been updated") >= 2, 120,
                       "the worker to drive the trained policy", ("worker",))
        for name in ("trainer", "worker"):
            assert "Traceback" not in roles.log(name), roles.log(name)[-3000:]
        roles.kill("trainer")
        roles.start("trainer2", "--trainer")
        first_run = len(epochs())
        roles.wait_for(lambda: len(epochs()) > first_run, 240, "an epoch after resuming", ("trainer2",))
        resumed = trainer_statistics(home, "resume")
        assert len(resumed) == 1 and resumed[0]["demo_samples"] == demos
        assert "Traceback" not in roles.log("trainer2")
    finally:
        roles.stop_all()


def _ports() -> dict[str, int]:
    from playerruns.shipping.link import free_local_ports

    port, server, trainer, worker = free_local_ports(4)
    return {"PORT": port, "LOCAL_PORT_SERVER": server, "LOCAL_PORT_TRAINER": trainer, "LOCAL_PORT_WORKER": worker}


def test_the_position_only_task_hides_the_velocity_and_a_scripted_person_still_solves_it():
    import gymnasium

    from playerruns.envs.drivers import position_momentum_driver

    env = gymnasium.make("playerruns.envs.position_only:PositionOnlyMountainCar-v0")
    assert env.observation_space.shape == (1,)
    driver = position_momentum_driver(rng=np.random.default_rng(0))
    obs, _ = env.reset(seed=3)
    total, done, steps = 0.0, False, 0
    while not done:
        obs, rew, terminated, truncated, _ = env.step(driver(obs))
        assert obs.shape == (1,)
        total += float(rew)
        done, steps = terminated or truncated, steps + 1
    assert terminated and total > 90  # the flag, read from positions alone
