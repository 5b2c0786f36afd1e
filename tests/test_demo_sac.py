"""DemoSacAgent: tmrl's real SAC agent with cloning on demo rows, trained on real batches."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from gymnasium.spaces import Box

from playerruns.trainer.demo_sac import DemoSacAgent
from playerruns.trainer.memories import DemoBatch

OBS = Box(-1.0, 1.0, (2,), np.float32)
ACT = Box(-1.0, 1.0, (1,), np.float32)


def _agent(**kwargs) -> DemoSacAgent:
    from tmrl.custom.custom_models import MLPActorCritic

    torch.manual_seed(0)
    return DemoSacAgent(OBS, ACT, device="cpu", model_cls=MLPActorCritic, lr_actor=1e-3, lr_critic=1e-3, **kwargs)


def _player(obs: torch.Tensor) -> torch.Tensor:
    """The demonstrated behaviour, which no untrained policy matches by chance: 0.8 times the sign of the
    product of the coordinates (XOR-like: not a linear function of the observation)."""
    return 0.8 * torch.sign(obs[:, 0:1] * obs[:, 1:2])


def _batch(gen: torch.Generator, n: int = 64, demo_share: float = 1.0) -> DemoBatch:
    o = torch.rand((n, 2), generator=gen) * 2 - 1
    a = _player(o)
    n_demo = int(n * demo_share)
    a[n_demo:] = torch.rand((n - n_demo, 1), generator=gen) * 2 - 1  # other rows: random actions
    r = torch.zeros(n)
    o2 = torch.rand((n, 2), generator=gen) * 2 - 1
    zeros = torch.zeros(n)
    demo = np.zeros(n, dtype=bool)
    demo[:n_demo] = True
    return DemoBatch((o, a, r, o2, zeros, zeros), demo)


def _agreement(agent: DemoSacAgent, gen: torch.Generator) -> float:
    o = torch.rand((500, 2), generator=gen) * 2 - 1
    o = o[(o.abs() > 0.15).all(dim=1)]  # away from the switches
    with torch.no_grad():
        mu, _ = agent.model.actor(o, test=True, with_logprob=False)
    return float((torch.sign(mu) == torch.sign(_player(o))).float().mean())


def test_pretraining_clones_the_demonstrated_behaviour():
    gen = torch.Generator().manual_seed(1)
    agent = _agent(bc_coef=0.4)
    before = _agreement(agent, gen)
    for _ in range(400):
        stats = agent.pretrain(_batch(gen))
    after = _agreement(agent, gen)
    assert after >= 0.9 and after > before + 0.2, (before, after)
    assert stats["bc_rows"] == 1.0  # no Q-filter while pretraining: every demo row is cloned
    assert agent.bc_steps == 0  # pretraining does not use up the coefficient's decay


def test_without_cloning_sac_alone_does_not_learn_the_behaviour():
    gen = torch.Generator().manual_seed(1)
    agent = _agent(bc_coef=0.0)
    for _ in range(100):
        stats = agent.train(_batch(gen))
    assert "loss_bc" not in stats and stats["bc_coef"] == 0.0  # coefficient 0: SAC's own update only
    assert _agreement(agent, gen) < 0.75


def test_q_filter_and_decay_are_reported_per_step():
    gen = torch.Generator().manual_seed(2)
    agent = _agent(bc_coef=0.4, bc_decay_steps=10, bc_q_filter=True)
    shares = []
    for step in range(12):
        stats = agent.train(_batch(gen, demo_share=0.25))
        assert stats["bc_coef"] == pytest.approx(0.4 * max(0.0, 1 - step / 10))
        assert 0.0 <= stats["bc_rows"] <= 0.25  # at most the demo rows, fewer where the critic disagrees
        assert not math.isnan(stats["q_demo"]) and not math.isnan(stats["q_other"])
        shares.append(stats["bc_rows"])
    assert all(share * 64 == int(share * 64) for share in shares)  # a count of the batch's 64 rows
    # the filter decides row by row: on some steps it keeps some demo rows and drops others (seeded: always so)
    assert any(0.0 < share < 0.25 for share in shares), shares
    assert "loss_bc" not in stats  # decayed to 0: no cloning step
    unfiltered = _agent(bc_coef=0.4, bc_q_filter=False)
    assert unfiltered.train(_batch(gen, demo_share=0.25))["bc_rows"] == 0.25


def test_decay_to_a_floor_keeps_cloning_after_it():
    gen = torch.Generator().manual_seed(4)
    agent = _agent(bc_coef=0.4, bc_decay_steps=10, bc_coef_final=0.1, bc_q_filter=False)
    coefs = [agent.train(_batch(gen, demo_share=0.25)) for _ in range(14)]
    assert [s["bc_coef"] for s in coefs] == pytest.approx([0.1 + 0.3 * max(0.0, 1 - step / 10) for step in range(14)])
    assert all("loss_bc" in s for s in coefs[10:])  # at the floor the cloning step still runs, every update


def test_a_raised_floor_holds_the_weight_above_the_configured_one():
    gen = torch.Generator().manual_seed(4)
    agent = _agent(bc_coef=0.4, bc_decay_steps=4, bc_coef_final=0.05, bc_q_filter=False)
    agent.train(_batch(gen, demo_share=0.25))
    assert agent.raise_floor(2.0) is None and agent.bc_floor() == 0.05  # still decaying: no raise
    for _ in range(3):
        agent.train(_batch(gen, demo_share=0.25))
    assert agent.raise_floor(2.0) == pytest.approx(0.1)  # at the floor: doubled
    assert agent.train(_batch(gen, demo_share=0.25))["bc_coef"] == pytest.approx(0.1)
    assert agent.raise_floor(3.0) == pytest.approx(0.3) and agent.raise_floor(3.0) == pytest.approx(0.4)
    assert agent.raise_floor(3.0) is None and agent.bc_coef_now() == pytest.approx(0.4)  # capped at the start weight
    constant = _agent(bc_coef=0.4, bc_q_filter=False)  # no decay, no floor to raise
    constant.train(_batch(gen, demo_share=0.25))
    assert constant.raise_floor(2.0) is None and constant.bc_coef_now() == 0.4


def test_a_plain_tmrl_batch_trains_as_stock_sac():
    gen = torch.Generator().manual_seed(3)
    batch = tuple(_batch(gen))  # what a stock memory returns: no demo flags
    stats = _agent(bc_coef=0.4).train(batch)
    assert stats["bc_rows"] == 0.0 and "loss_actor" in stats and "loss_bc" not in stats


def _with_returns(batch: DemoBatch, value: float = 5.0) -> DemoBatch:
    """The batch with a player's return on each demo row (what DEMO_RETURN_BOUND's memory hands the agent)."""
    returns = np.where(batch.demo, value, np.nan).astype(np.float32)
    return DemoBatch(tuple(batch), batch.demo, returns)


def _actor_steps(agent: DemoSacAgent) -> int:
    """How many steps the actor's optimizer has taken (Adam counts them per parameter)."""
    return int(next(iter(agent.pi_optimizer.state.values()))["step"])


@pytest.mark.parametrize("joint", [False, True])
def test_joint_cloning_is_one_actor_step_per_update_and_still_clones(joint):
    gen = torch.Generator().manual_seed(6)
    agent = _agent(bc_coef=0.4, bc_q_filter=False, demo_return_bound=True, bc_joint=joint)
    before = _agreement(agent, gen)
    for _ in range(400):
        stats = agent.train(_with_returns(_batch(gen, demo_share=0.5)))
    assert "loss_actor" in stats and "loss_bc" in stats and stats["bc_rows"] == 0.5
    assert _actor_steps(agent) == (400 if joint else 800)  # cloning in SAC's own actor step, or a second one
    after = _agreement(agent, gen)
    assert after >= 0.9 and after > before + 0.2, (before, after)


def test_joint_cloning_leaves_the_warm_up_to_cloning_alone():
    gen = torch.Generator().manual_seed(6)
    agent = _agent(bc_coef=0.4, bc_q_filter=False, demo_return_bound=True, bc_joint=True, actor_warmup_steps=3)
    stats = [agent.train(_with_returns(_batch(gen, demo_share=0.5))) for _ in range(4)]
    assert all("loss_actor" not in s and "loss_bc" in s for s in stats[:3]) and "loss_actor" in stats[3]
    assert _actor_steps(agent) == 4  # a cloning step in each warm-up update, then the joint one


ACT2 = Box(-1.0, 1.0, (2,), np.float32)


def _two_dim_batch(gen: torch.Generator, n: int = 64) -> DemoBatch:
    """Demo rows only; action 0 is the XOR-like behaviour of ``_player``, action 1 the sign of the first coordinate."""
    o = torch.rand((n, 2), generator=gen) * 2 - 1
    a = torch.cat((_player(o), 0.8 * torch.sign(o[:, 0:1])), dim=1)
    zeros = torch.zeros(n)
    return DemoBatch((o, a, zeros, torch.rand((n, 2), generator=gen) * 2 - 1, zeros, zeros), np.ones(n, dtype=bool))


def _agreement_per_dimension(agent: DemoSacAgent, gen: torch.Generator) -> tuple[float, float]:
    o = torch.rand((500, 2), generator=gen) * 2 - 1
    o = o[(o.abs() > 0.15).all(dim=1)]
    with torch.no_grad():
        mu, _ = agent.model.actor(o, test=True, with_logprob=False)
    first = float((torch.sign(mu[:, 0:1]) == torch.sign(_player(o))).float().mean())
    second = float((torch.sign(mu[:, 1]) == torch.sign(o[:, 0])).float().mean())
    return first, second


def _two_dim_agent(**kwargs) -> DemoSacAgent:
    from tmrl.custom.custom_models import MLPActorCritic

    torch.manual_seed(0)
    return DemoSacAgent(OBS, ACT2, device="cpu", model_cls=MLPActorCritic, lr_actor=1e-3, lr_critic=1e-3,
                        bc_coef=0.4, bc_q_filter=False, **kwargs)


def test_action_weights_clone_only_the_weighted_dimensions_online():
    gen = torch.Generator().manual_seed(8)
    every, second_only = _two_dim_agent(), _two_dim_agent(bc_action_weights=(0.0, 1.0))
    for _ in range(400):
        batch = _two_dim_batch(gen)
        every.train(batch)
        second_only.train(batch)
    every_first, every_second = _agreement_per_dimension(every, gen)
    first, second = _agreement_per_dimension(second_only, gen)
    assert every_first >= 0.9 and every_second >= 0.9, (every_first, every_second)
    assert second >= 0.9 and first < 0.75, (first, second)  # the unweighted dimension is left to SAC


def test_pretraining_clones_every_dimension_whatever_the_action_weights():
    gen = torch.Generator().manual_seed(8)
    agent = _two_dim_agent(bc_action_weights=(0.0, 1.0))
    for _ in range(400):
        agent.pretrain(_two_dim_batch(gen))
    first, second = _agreement_per_dimension(agent, gen)
    assert first >= 0.9 and second >= 0.9, (first, second)  # the first policy drives like the player


def test_action_weights_of_the_wrong_length_name_the_key():
    from playerruns.runs.errors import ConfigError

    with pytest.raises(ConfigError, match=r"DEMO_BC_ACTION_WEIGHTS has 3 weights, expected one per dimension .*\(2\)"):
        _two_dim_agent(bc_action_weights=(0.0, 1.0, 1.0))
