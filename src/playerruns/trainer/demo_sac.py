"""The learning side of player runs: tmrl's SAC agent, plus behaviour cloning on the demo rows of each batch.

``DemoSacAgent`` is tmrl's ``SpinupSacAgent`` (its ``train`` runs first, as stock; with
``demo_return_bound``, ``bounded_sac_step``: the same update with each demo row's critic target raised
to the player's return from it), followed by one more actor step on the demo rows of the batch
(``DemoBatch.demo``):

    loss_bc = coef_t * scale * mean over demo rows of  keep * |mu(s) - a_demo|^2

- ``mu(s)`` is the policy's deterministic action; ``a_demo`` the player's action.
- ``keep`` is the Q-filter of Nair et al. (2018): a demo action is cloned only where the critic rates
  it above the policy's own action, so the agent stops copying the player where it has learned better.
- ``scale`` is the critic's mean |Q| on those rows, as in TD3+BC: the coefficient is then free of the
  task's reward scale (``coef`` 0.4 weighs cloning like TD3+BC's alpha 2.5).
- ``coef_t`` decays linearly from ``bc_coef`` to ``bc_coef_final`` (default 0) over ``bc_decay_steps``
  training steps (0: constant), then stays there.
- ``|mu(s) - a_demo|^2`` sums the action's dimensions, each weighted by ``bc_action_weights`` online (None: all
  1; ``(0, 0, 1)`` on ``[gas, brake, steer]`` clones the player's steering and leaves the pace to SAC);
  pretraining and the actor warm-up clone every dimension.

With ``bc_joint`` (and the return bound) this loss is a term of SAC's actor loss in one optimizer step, as in
TD3+BC, instead of its own step after SAC's.

With ``conservatism`` (and the bound), the critic's loss also has Cal-QL's calibrated conservative term
(``calibrated_gap``): an actor that finds an action the data never tried, say a corner taken faster than anyone
drove it, does not find it rated above the driven ones until the worker has driven it and the backups say so.
With ``conservatism_decay_steps``, the term's weight falls linearly to 0 over that many training steps, and the
update is the plain bounded one (no extra critic pass) from then on: caution while the agent learns the
player's line, SAC's own critic once it has.

Pretraining (``pretrain``) runs on demo-only batches before the trainer uses any worker sample, and
the first ``actor_warmup_steps`` online steps run alike: the critic learns by SAC's own update, the
actor only clones (no Q-filter: the critic knows too little yet). Without that, a critic still far
from the task's returns pulls the cloned policy away from what the player showed within a few
thousand steps (measured on MiniTrack: laps after pretraining, none 1,500 steps later).

Each update reports what it did (``bc_coef``, ``bc_rows``: the share of the batch cloned, ``q_demo``
and ``q_other``: the critic's mean Q on demo and other rows), which tmrl averages per round and
``PlayerRunsTraining`` logs per epoch, so that a drifting critic shows.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from tmrl.custom.custom_algorithms import SpinupSacAgent

from playerruns.runs.errors import ConfigError


def _move_towards(average: torch.nn.Module, source: torch.nn.Module, *, keep: float) -> None:
    """``average <- keep * average + (1 - keep) * source``, parameter by parameter (Polyak averaging: the
    target networks, and the policy the workers drive under ``policy_averaging``)."""
    averaged: list[torch.Tensor] = list(average.parameters())
    current: list[torch.Tensor] = list(source.parameters())
    if len(averaged) != len(current):
        raise ValueError(f"cannot average {len(current)} parameters into {len(averaged)}")
    with torch.no_grad():  # one fused call over every tensor: p_avg += (1 - keep) * (p - p_avg)
        torch._foreach_lerp_(averaged, current, 1 - keep)


def _each(x: Any, change: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """``change`` applied to a batched tensor, or to each of a tuple/list of them (tmrl's observations)."""
    if isinstance(x, torch.Tensor):
        return change(x)
    return type(x)(_each(e, change) for e in x)


def _decayed(start: float, final: float, steps: int, done: int) -> float:
    """A weight falling linearly from ``start`` to ``final`` over ``steps`` training steps (0: it stays at
    ``start``), ``done`` steps in."""
    if steps <= 0:
        return start
    return final + (start - final) * max(0.0, 1.0 - done / steps)


def calibrated_gap(q_policy: torch.Tensor, q_data: torch.Tensor, floor: torch.Tensor) -> torch.Tensor:
    """Cal-QL's conservative term for one critic (Nakamoto et al. 2023), with the policy's sampled action:
    ``mean(max(Q(s, pi(s)), floor) - Q(s, a))``. Minimised, it lowers the value of the action the actor would
    take and raises the value of the one in the data, so an action nobody has driven is not rated above the
    ones that were; ``floor`` (the player's discounted return on demo rows, -inf elsewhere) is where the
    pushing stops: the agent's own action is never rated below what the player earned from that state."""
    return (torch.maximum(q_policy, floor) - q_data).mean()


def check_action_weights(weights: tuple[float, ...] | None, action_space: Any) -> None:
    """``DEMO_BC_ACTION_WEIGHTS`` has one weight per action dimension (ConfigError names the key otherwise)."""
    dims = int(action_space.shape[0])
    if weights is not None and len(weights) != dims:
        raise ConfigError(f"PLAYER_RUNS.DEMO_BC_ACTION_WEIGHTS has {len(weights)} weights, expected one per "
                          f"dimension of the task's actions ({dims})")


@dataclass(eq=False)
class DemoSacAgent(SpinupSacAgent):
    """tmrl's SAC with a decaying, Q-filtered behaviour-cloning step on demo rows (module docstring)."""

    bc_coef: float = 0.0
    bc_decay_steps: int = 0
    bc_coef_final: float = 0.0  # the floor the decay ends at: cloning that weakens but never ends
    bc_q_filter: bool = True
    actor_warmup_steps: int = 0  # online steps during which the actor only clones, while the critic catches up
    demo_return_bound: bool = False  # a demo row's critic target is at least the player's return from it
    policy_averaging: float = 0.0  # > 0: the workers drive an average of the actor's recent weights (see get_actor)
    conservatism: float = 0.0  # > 0: the critic's own actions are pushed down, not below the player's return (Cal-QL)
    conservatism_decay_steps: int = 0  # > 0: the conservative weight falls linearly to 0 over this many steps
    bc_joint: bool = False  # with demo_return_bound: cloning is a term of SAC's actor loss, not a second actor step
    bc_action_weights: tuple[float, ...] | None = None  # online cloning's weight per action dimension (None: all 1)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.bc_steps = 0  # online training steps so far (pretraining excluded), for the decay
        self.raised_floor = 0.0  # the floor as raised by falls at it (raise_floor), when above bc_coef_final
        self.averaged_actor: Any = None  # built on the first update with policy_averaging on
        check_action_weights(self.bc_action_weights, self.action_space)

    def get_actor(self) -> Any:
        """The policy the workers drive and the checkpoint's weights hold: tmrl's actor or, with
        ``policy_averaging`` (a rate such as 0.999), an exponential moving average of its weights over
        the last ~1 / (1 - rate) updates. One update of an actor-critic can break a corner the policy
        took a moment ago; the average moves with the learning but not with each such step."""
        if self.policy_averaging > 0 and self.averaged_actor is not None:
            return self.averaged_actor
        return super().get_actor()

    def average_policy(self) -> None:
        if self.policy_averaging <= 0:
            return
        if self.averaged_actor is None:
            self.averaged_actor = copy.deepcopy(self.model.actor).requires_grad_(False)
            return
        _move_towards(self.averaged_actor, self.model.actor, keep=self.policy_averaging)

    def catch_up(self) -> None:
        """The averaged policy becomes the actor itself, and averages on from there: when the actor has
        learned something the average has not caught up with yet (``POLICY_AVERAGING_CATCH_UP``)."""
        if self.averaged_actor is not None:
            self.averaged_actor.load_state_dict(self.model.actor.state_dict())

    @classmethod
    def from_agent(cls, stock: SpinupSacAgent) -> DemoSacAgent:
        """A DemoSacAgent with a stock SAC agent's networks, optimizers and settings (a stock trainer's
        checkpoint resumed with cloning on); cloning off until its settings are given."""
        agent = cls.__new__(cls)
        agent.__dict__.update(stock.__dict__)
        agent.bc_coef, agent.bc_decay_steps, agent.bc_q_filter, agent.actor_warmup_steps = 0.0, 0, True, 0
        agent.bc_coef_final = 0.0
        agent.demo_return_bound = False
        agent.policy_averaging, agent.averaged_actor = 0.0, None
        agent.conservatism, agent.conservatism_decay_steps = 0.0, 0
        agent.bc_joint, agent.bc_action_weights = False, None
        agent.bc_steps, agent.raised_floor = 0, 0.0
        return agent

    def bc_coef_now(self) -> float:  # a checkpoint of an earlier version has the class's floor, 0
        return _decayed(self.bc_coef, self.bc_floor(), self.bc_decay_steps, self.bc_steps)

    def bc_floor(self) -> float:
        """The floor the cloning weight decays to: ``bc_coef_final``, or higher once ``raise_floor`` raised it."""
        return min(self.bc_coef, max(self.bc_coef_final, self.raised_floor))

    def raise_floor(self, factor: float) -> float | None:
        """After the policy fell (the trainer put its best policy back): when the cloning weight has decayed to its
        floor, the floor is multiplied by ``factor`` (up to ``bc_coef``) and the new floor returned; else None (a
        fall while the weight is still decaying says nothing about the floor). The weight at which the policy keeps
        the player's line is not known in advance and differs by driver and track; this finds it from the falls."""
        floor = self.bc_floor()
        if self.bc_decay_steps <= 0 or self.bc_steps < self.bc_decay_steps or floor <= 0.0 or floor >= self.bc_coef:
            return None
        self.raised_floor = min(self.bc_coef, floor * factor)
        return self.raised_floor

    def conservatism_now(self) -> float:  # ... and the class's 0 decay steps: the weight stays
        return _decayed(self.conservatism, 0.0, self.conservatism_decay_steps, self.bc_steps)

    def train(self, batch: Any) -> dict[str, Any]:
        if self._bounded(batch):
            warm = self.bc_steps < self.actor_warmup_steps
            if self.bc_joint and not warm:  # a checkpoint of an earlier version has the class's False
                stats = self.bounded_sac_step(batch, update_actor=True, clone_coef=self.bc_coef_now())
            else:
                stats = self.bounded_sac_step(batch, update_actor=not warm)
                stats.update(self.clone_demos(batch, q_filter=self.bc_q_filter and not warm,
                                              coef=max(self.bc_coef_now(), 1e-8) if warm else self.bc_coef_now(),
                                              action_weights=None if warm else self.bc_action_weights))
            self.bc_steps += 1
            self.average_policy()
            return stats
        if self.bc_steps < self.actor_warmup_steps:
            stats = self.critic_step_then_clone(batch, coef=self.bc_coef_now())
        else:
            stats = super().train(batch)
            stats.update(self.clone_demos(batch, q_filter=self.bc_q_filter, coef=self.bc_coef_now(),
                                          action_weights=self.bc_action_weights))
        self.bc_steps += 1
        self.average_policy()
        return stats

    def pretrain(self, batch: Any) -> dict[str, Any]:
        """One update on a demo-only batch, before any worker sample (see ``critic_step_then_clone``)."""
        if self._bounded(batch):
            stats = self.bounded_sac_step(batch, update_actor=False)
            stats.update(self.clone_demos(batch, q_filter=False, coef=self.bc_coef))
            return stats
        return self.critic_step_then_clone(batch, coef=self.bc_coef)

    def _bounded(self, batch: Any) -> bool:
        return self.demo_return_bound and getattr(batch, "demo_return", None) is not None

    def bounded_sac_step(self, batch: Any, *, update_actor: bool, clone_coef: float | None = None) -> dict[str, Any]:
        """SAC's update (entropy coefficient, both critics, then the actor unless ``update_actor`` is off,
        then the target networks), with each demo row's critic target raised to the player's discounted
        return from that row when the Bellman backup is below it. With ``clone_coef`` (``bc_joint``), the
        actor's loss also has the cloning term of ``cloning_loss`` at that weight: one optimizer step in
        which the critic's pull and the player's line trade off by the weight, as TD3+BC's loss does.
        (Measured by ``benchmarks/bc_weight.py``: the default second step on the cloning loss alone follows
        the weight the same way; the two differ in the number of optimizer steps, not in what the weight does.)

        The player did earn that return from that state and action, so the best value of the action is at
        least that much: a critic that learns it rates the player's line at what it is worth from the
        first update, instead of far below it while the backups climb (the drift the Q-filter then reads
        as "the policy knows better"). Where the agent has found better, the backup is above the bound
        and the bound does nothing. Without a demo row it is the stock update."""
        o, a, r, o2, d, _ = batch
        pi, logp_pi = self.model.actor(o)
        if self.learn_entropy_coef:
            alpha = torch.exp(self.log_alpha.detach())
            loss_alpha = -(self.log_alpha * (logp_pi + self.target_entropy).detach()).mean()
            self.alpha_optimizer.zero_grad()
            loss_alpha.backward()
            self.alpha_optimizer.step()
        else:
            alpha = self.alpha_t
        with torch.no_grad():
            a2, logp_a2 = self.model.actor(o2)
            q_next = torch.min(self.model_target.q1(o2, a2), self.model_target.q2(o2, a2))
            target = r + self.gamma * (1 - d) * (q_next - alpha * logp_a2)
            bound = torch.as_tensor(batch.demo_return, dtype=target.dtype, device=target.device)
            has_bound = torch.isfinite(bound)
            raised = has_bound & (bound > target)
            target = torch.where(raised, bound, target)
        stats: dict[str, Any] = {}
        penalty: torch.Tensor | float = 0.0
        weight = self.conservatism_now()
        if weight > 0:  # the data's and the actor's actions in one pass of each critic
            both, rows = (_each(o, lambda t: torch.cat((t, t))), torch.cat((a, pi.detach()))), len(a)
            (q1, q1_pi), (q2, q2_pi) = self.model.q1(*both).split(rows), self.model.q2(*both).split(rows)
            floor = torch.where(has_bound, bound, torch.full_like(bound, -math.inf))
            gap = (calibrated_gap(q1_pi, q1, floor) + calibrated_gap(q2_pi, q2, floor)) / 2
            stats["conservative_gap"] = float(gap.detach())
            stats["conservatism"] = weight
            penalty = weight * gap
        else:
            q1, q2 = self.model.q1(o, a), self.model.q2(o, a)
        loss_q = (((q1 - target) ** 2).mean() + ((q2 - target) ** 2).mean()) / 2 + penalty
        self.q_optimizer.zero_grad()
        loss_q.backward()
        self.q_optimizer.step()
        stats.update(loss_critic=float(loss_q.detach()),
                     bound_raised=float(raised.sum()) / max(int(has_bound.sum()), 1), entropy_coef=float(alpha))
        if update_actor:
            self.model.q1.requires_grad_(False)
            self.model.q2.requires_grad_(False)
            q_pi = torch.min(self.model.q1(o, pi), self.model.q2(o, pi))
            loss_pi = (alpha * logp_pi - q_pi).mean()
            if clone_coef is not None:
                loss_bc, cloned = self.cloning_loss(batch, q_filter=self.bc_q_filter, coef=clone_coef,
                                                    action_weights=self.bc_action_weights)
                stats.update(cloned)
                if loss_bc is not None:
                    loss_pi = loss_pi + loss_bc
            self.pi_optimizer.zero_grad()
            loss_pi.backward()
            self.pi_optimizer.step()
            self.model.q1.requires_grad_(True)
            self.model.q2.requires_grad_(True)
            stats["loss_actor"] = float(loss_pi.detach())
        _move_towards(self.model_target, self.model, keep=self.polyak)
        return stats

    def critic_step_then_clone(self, batch: Any, *, coef: float) -> dict[str, Any]:
        """The critic (and entropy coefficient) learn by SAC's own step, whose actor change is then undone;
        the actor only clones, without the Q-filter. Used while the critic knows too little to steer the
        actor: pretraining on demos alone (where it overrates actions the player never took), and the
        first ``actor_warmup_steps`` online steps (where a critic still far from the returns pulls a
        cloned policy off the road before it has learned anything better)."""
        actor = copy.deepcopy(self.model.actor.state_dict())
        optimizer = copy.deepcopy(self.pi_optimizer.state_dict())
        stats = super().train(batch)
        self.model.actor.load_state_dict(actor)
        self.pi_optimizer.load_state_dict(optimizer)
        stats.update(self.clone_demos(batch, q_filter=False, coef=max(coef, 1e-8)))
        return stats

    def clone_demos(self, batch: Any, *, q_filter: bool, coef: float,
                    action_weights: tuple[float, ...] | None = None) -> dict[str, Any]:
        """One actor step on the batch's demo rows; returns the statistics of the module docstring."""
        loss, stats = self.cloning_loss(batch, q_filter=q_filter, coef=coef, action_weights=action_weights)
        if loss is not None:
            self.pi_optimizer.zero_grad()
            loss.backward()
            self.pi_optimizer.step()
        return stats

    def cloning_loss(self, batch: Any, *, q_filter: bool, coef: float, action_weights: tuple[float, ...] | None = None,
                     ) -> tuple[torch.Tensor | None, dict[str, Any]]:
        """The cloning loss of the module docstring on the batch's demo rows (None: nothing to clone), and its
        statistics (``loss_bc`` among them when there is a loss). ``action_weights`` weigh each action
        dimension's squared error (None: all 1)."""
        demo_flags = getattr(batch, "demo", None)
        stats: dict[str, Any] = {"bc_coef": coef, "bc_rows": 0.0, "q_demo": math.nan, "q_other": math.nan}
        if demo_flags is None:
            return None, stats  # a memory that does not say which rows are demos: stock SAC
        o, a = batch[0], batch[1]
        demo = torch.as_tensor(demo_flags, dtype=torch.bool, device=a.device)
        with torch.no_grad():
            q_taken = torch.min(self.model.q1(o, a), self.model.q2(o, a))
        if bool((~demo).any()):
            stats["q_other"] = float(q_taken[~demo].mean())
        if not bool(demo.any()):
            return None, stats
        stats["q_demo"] = float(q_taken[demo].mean())
        index = torch.nonzero(demo).squeeze(1)
        o_demo, a_demo, q_demo = _each(o, lambda t: t[index]), a[index], q_taken[index]
        mu, _ = self.model.actor(o_demo, test=True, with_logprob=False)
        keep = torch.ones_like(q_demo, dtype=torch.bool)
        if q_filter:
            with torch.no_grad():
                q_policy = torch.min(self.model.q1(o_demo, mu), self.model.q2(o_demo, mu))
            keep = q_demo > q_policy
        stats["bc_rows"] = float(keep.sum()) / len(demo)
        if coef <= 0 or not bool(keep.any()):
            return None, stats
        scale = float(q_demo[keep].abs().mean().clamp(min=1.0))
        squared = (mu - a_demo) ** 2
        if action_weights is not None:
            squared = squared * torch.as_tensor(action_weights, dtype=squared.dtype, device=squared.device)
        error = squared.sum(dim=-1)
        loss = coef * scale * (error * keep).sum() / len(index)
        stats["loss_bc"] = float(loss.detach())
        return loss, stats
