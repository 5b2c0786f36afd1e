"""DEMO_RETURN_BOUND and CRITIC_LAYER_NORM: the player's returns reach the critic's target, on real agents."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from gymnasium.spaces import Box

from playerruns.trainer.demo_sac import DemoSacAgent
from playerruns.trainer.memories import DemoBatch
from playerruns.trainer.sampling import demo_returns

OBS = Box(-1.0, 1.0, (2,), np.float32)
ACT = Box(-1.0, 1.0, (1,), np.float32)


def test_demo_returns_follow_each_demo_episode_to_its_end():
    rewards = np.array([0, 1, 2, 3, 0, 5, 6, 0, 7], dtype=float)
    demo = np.array([1, 1, 1, 1, 1, 1, 1, 0, 1], dtype=bool)
    done = np.array([0, 0, 0, 1, 0, 0, 0, 1, 0], dtype=bool)
    g = demo_returns(rewards, demo, done, 0.5)
    assert g[3] == 3 and g[2] == 2 + 0.5 * 3 and g[1] == 1 + 0.5 * g[2] and g[0] == 0 + 0.5 * g[1]
    # the second demo episode is cut by a worker sample (the end of what the memory holds of it): a lower bound
    assert g[6] == 6 and g[5] == 5 + 0.5 * 6 and g[4] == 0.5 * g[5]
    assert math.isnan(g[7]) and g[8] == 7


def _agent(**kwargs) -> DemoSacAgent:
    from tmrl.custom.custom_models import MLPActorCritic

    torch.manual_seed(0)
    settings = {"lr_actor": 1e-3, "lr_critic": 1e-3, "bc_coef": 0.4, **kwargs}
    return DemoSacAgent(OBS, ACT, device="cpu", model_cls=MLPActorCritic, demo_return_bound=True, **settings)


def _batch(gen: torch.Generator, n: int = 64, bound: float = 30.0) -> DemoBatch:
    """Demo rows on the right half of the square, the others on the left and terminal (worth 0); every
    reward is 0, so only the bound can lift a Q-value."""
    demo = np.arange(n) < n // 2
    side = torch.as_tensor(np.where(demo, 1.0, -1.0), dtype=torch.float32)
    o = torch.rand((n, 2), generator=gen)
    o[:, 0] *= side
    a = torch.rand((n, 1), generator=gen) * 2 - 1
    zeros = torch.zeros(n)
    done = torch.as_tensor(~demo, dtype=torch.float32)
    returns = np.where(demo, bound, np.nan).astype(np.float32)
    return DemoBatch((o, a, zeros, o.clone(), done, zeros), demo, returns)


def _q(agent: DemoSacAgent, batch: DemoBatch) -> tuple[float, float]:
    o, a = batch[0], batch[1]
    with torch.no_grad():
        q = torch.min(agent.model.q1(o, a), agent.model.q2(o, a))
    demo = torch.as_tensor(batch.demo)
    return float(q[demo].mean()), float(q[~demo].mean())


def test_the_critic_learns_the_players_return_on_demo_rows_only():
    gen = torch.Generator().manual_seed(3)
    agent = _agent()
    for _ in range(200):
        stats = agent.pretrain(_batch(gen))
    q_demo, q_other = _q(agent, _batch(gen))
    assert q_demo > 20.0 and q_other < q_demo - 10.0, (q_demo, q_other)
    assert 0.0 < stats["bound_raised"] <= 1.0
    assert "loss_actor" not in stats  # pretraining moves the actor by cloning alone


def test_without_the_bound_the_same_agent_learns_nothing_of_the_returns():
    gen = torch.Generator().manual_seed(3)
    agent = _agent()
    agent.demo_return_bound = False
    for _ in range(200):
        agent.pretrain(_batch(gen))
    q_demo, _ = _q(agent, _batch(gen))
    assert q_demo < 5.0


def test_a_batch_without_returns_trains_as_before():
    gen = torch.Generator().manual_seed(4)
    agent = _agent()
    batch = _batch(gen)
    plain = DemoBatch(tuple(batch), batch.demo)  # a memory that does not compute returns
    stats = agent.train(plain)
    assert "bound_raised" not in stats and "loss_actor" in stats


@pytest.mark.parametrize("warmup", [0, 5])
def test_online_steps_update_the_actor_after_the_warmup(warmup):
    gen = torch.Generator().manual_seed(5)
    agent = _agent(actor_warmup_steps=warmup)
    stats = [agent.train(_batch(gen)) for _ in range(warmup + 1)]
    assert all("loss_actor" not in s for s in stats[:warmup])
    assert "loss_actor" in stats[-1] and agent.bc_steps == warmup + 1


def _gap_on_other_rows(agent: DemoSacAgent, batch: DemoBatch) -> float:
    """How much higher the critic rates the actor's own action than the one in the data, on the rows without
    a player's return (where nothing stops the conservative term)."""
    o, a = batch[0], batch[1]
    with torch.no_grad():
        mu, _ = agent.model.actor(o, test=True, with_logprob=False)
        gap = torch.min(agent.model.q1(o, mu), agent.model.q2(o, mu)) - torch.min(agent.model.q1(o, a),
                                                                                  agent.model.q2(o, a))
    return float(gap[~torch.as_tensor(batch.demo)].mean())


def _driven_once(gen: torch.Generator) -> DemoBatch:
    """``_batch``, with every row outside the demos driven with the same action (-0.9): the data says what
    that action is worth there (0) and nothing about any other."""
    batch = _batch(gen)
    o, a, r, o2, d, t = batch
    a = torch.where(torch.as_tensor(batch.demo)[:, None], a, torch.full_like(a, -0.9))
    return DemoBatch((o, a, r, o2, d, t), batch.demo, batch.demo_return)


def _trained(conservatism: float) -> tuple[DemoSacAgent, list[dict]]:
    gen = torch.Generator().manual_seed(7)
    agent = _agent(conservatism=conservatism, lr_actor=0.0, bc_coef=1e-8)  # the actor stays as it was built
    return agent, [agent.train(_driven_once(gen)) for _ in range(300)]


def test_the_conservative_term_keeps_the_actors_actions_from_being_rated_above_the_driven_ones():
    plain, plain_stats = _trained(0.0)
    conservative, stats = _trained(5.0)
    probe = _driven_once(torch.Generator().manual_seed(8))
    assert _gap_on_other_rows(conservative, probe) < min(_gap_on_other_rows(plain, probe), 0.0) - 0.5
    assert all(math.isfinite(s["conservative_gap"]) for s in stats)
    assert all("conservative_gap" not in s for s in plain_stats)  # off (0): the update as before
    assert _q(conservative, probe)[0] > 20.0  # the player's rows still reach the player's return (30)


def test_the_conservative_weight_decays_to_nothing_and_the_update_is_then_the_plain_bounded_one():
    gen = torch.Generator().manual_seed(9)
    agent = _agent(conservatism=4.0, conservatism_decay_steps=8)
    stats = [agent.train(_driven_once(gen)) for _ in range(10)]
    weights = [s.get("conservatism", 0.0) for s in stats]
    assert weights[:8] == pytest.approx([4.0 * (1 - k / 8) for k in range(8)])  # linear, from the full weight
    assert all("conservative_gap" not in s for s in stats[8:])  # at 0: no conservative pass at all
    plain, same = _agent(), _agent(conservatism=4.0, conservatism_decay_steps=8)
    same.bc_steps = plain.bc_steps = 8  # past the decay: the same update as without the term
    batch = _driven_once(torch.Generator().manual_seed(10))
    assert plain.train(batch)["loss_critic"] == pytest.approx(same.train(batch)["loss_critic"])


def test_the_conservative_term_stops_at_the_players_return():
    from playerruns.trainer.demo_sac import calibrated_gap

    q_policy = torch.tensor([10.0, 40.0, 5.0], requires_grad=True)
    q_data = torch.tensor([20.0, 20.0, 5.0], requires_grad=True)
    floor = torch.tensor([30.0, 30.0, -math.inf])
    gap = calibrated_gap(q_policy, q_data, floor)
    gap.backward()
    assert float(gap.detach()) == pytest.approx(((30 - 20) + (40 - 20) + (5 - 5)) / 3)
    # below the player's return the actor's action is not pushed down; above it, and without a return, it is
    assert q_policy.grad.tolist() == pytest.approx([0.0, 1 / 3, 1 / 3])
    assert q_data.grad.tolist() == pytest.approx([-1 / 3, -1 / 3, -1 / 3])  # the driven action is always raised


def test_the_largest_weights_the_config_allows_keep_the_networks_finite():
    from playerruns.trainer.sampling import draw_weighted

    gen = torch.Generator().manual_seed(11)
    agent = _agent(bc_coef=100.0, bc_q_filter=False, conservatism=100.0)  # the keys' upper bounds
    for _ in range(20):
        stats = agent.train(_batch(gen, bound=1e4))
    assert math.isfinite(stats["loss_bc"]) and math.isfinite(stats["loss_critic"])
    assert all(bool(torch.isfinite(p).all()) for p in agent.model.parameters())
    _, demos = draw_weighted(np.arange(10), np.arange(10, 100), 1e6, 64, np.random.default_rng(0))
    assert demos == 64  # DEMO_SAMPLING_WEIGHT's bound: demos in (nearly) every row, a share that is a number


def test_layer_norm_critics_keep_tmrls_shapes():
    from tmrl.custom.custom_models import MLPActorCritic

    from playerruns.trainer.critics import LayerNormMLPActorCritic

    model = LayerNormMLPActorCritic(OBS, ACT)
    plain = MLPActorCritic(OBS, ACT)
    o, a = torch.zeros((7, 2)), torch.zeros((7, 1))
    assert model.q1(o, a).shape == plain.q1(o, a).shape == (7,)
    assert sum(isinstance(m, torch.nn.LayerNorm) for m in model.q1.modules()) == 2
    assert type(model.actor) is type(plain.actor)  # the workers drive tmrl's own actor class
    # far off the data a normalised critic stays bounded by its last layer's weights
    far = torch.full((1, 2), 1e6), torch.full((1, 1), 1e6)
    with torch.no_grad():
        assert abs(float(model.q1(*far))) < 100.0




@pytest.mark.slow
def test_the_trainer_hands_the_players_returns_to_the_agent_and_keeps_them_through_a_checkpoint(tmp_path):

    from tests.helpers import make_home, program_json, run_program

    home = make_home(tmp_path, interface="GYM:playerruns.envs.minitrack:MiniTrack-v0", TRAINING_STEPS_PER_ROUND=8,
                     PLAYER_RUNS={"DEMO_BC_COEF": 0.4, "DEMO_BC_Q_FILTER": False, "DEMO_RETURN_BOUND": True,
                                  "CRITIC_LAYER_NORM": True, "DEMO_SAMPLING_FRACTION": 0.5, "KEEP_DEMOS": True,
                                  "POLICY_AVERAGING": 0.99, "DEMO_TARGET_ENTROPY": -4.5, "CRITIC_CONSERVATISM": 2.0,
                                  "CRITIC_CONSERVATISM_DECAY_STEPS": 1000})
    out = program_json(run_program(home, "bound_round_trip.py"))
    assert out["agent"] == "DemoSacAgent" and out["bound"] and out["memory_gamma"] == out["gamma"]  # ALG.GAMMA
    assert out["layer_norms"] == 2
    assert out["demo_rows"] == out["rows"] // 2 and out["finite_where_demo"]  # demo rows only, all of them
    assert out["returns_match"] and out["max_expected"] > 1.0  # the stand-in makes progress: positive returns
    assert 0.0 < out["bound_raised"] <= 1.0  # a fresh critic is below what the player earned
    assert out["conservatism"] == 2.0 and math.isfinite(out["conservative_gap"])
    assert out["conservatism_decay_steps"] == 1000 and 0.0 < out["conservatism_now"] <= 2.0
    assert out["averaged"]
    assert out["target_entropy"] == -4.5 and out["alg_target_entropy"] != -4.5  # the key, not ALG's value
    assert out["resumed"] == {"bound": True, "memory_gamma": out["gamma"], "finite_where_demo": True,
                              "best_policy": True, "target_entropy": -4.5,  # config.json's key wins on resume
                              "same_average": True,  # the checkpoint holds the average
                              "conservatism": 2.0, "conservatism_decay_steps": 1000}


def test_policy_averaging_gives_the_workers_an_average_of_the_actors_weights():
    gen = torch.Generator().manual_seed(6)
    agent = _agent(policy_averaging=0.9)
    for _ in range(5):
        agent.pretrain(_batch(gen))  # pretraining moves the live actor only
    pretrained = [p.detach().clone() for p in agent.model.actor.parameters()]
    assert agent.get_actor() is agent.model_nograd.actor  # nothing averaged yet: tmrl's own
    agent.train(_batch(gen))  # the first online update starts the average from the actor as it is
    for _ in range(20):
        agent.train(_batch(gen))
    live = [p.detach() for p in agent.model.actor.parameters()]
    averaged = [p.detach() for p in agent.get_actor().parameters()]
    assert agent.get_actor() is not agent.model_nograd.actor and not any(p.requires_grad for p in averaged)
    moved = [float((a - p0).norm()) for a, p0 in zip(averaged, pretrained, strict=True)]
    behind = [float((a - b).norm()) for a, b in zip(averaged, live, strict=True)]
    assert sum(moved) > 0 and sum(behind) > 0  # it follows the actor, a step behind
    plain = _agent()
    assert plain.get_actor() is plain.model_nograd.actor  # off (0): tmrl's own actor, always
