"""A recurrent SAC for tmrl: GRU actor and critics, trained on windows of the episode-sequence memory.

tmrl 0.7.1 ships recurrent model classes but refuses to train them. Here the actor and each critic
read observations through their own encoder and GRU; the hidden state after observation ``t`` stands
for the history up to ``t`` (a single lidar frame does not tell whether the car is drifting; the
history does).

Training (``RecurrentSacAgent.train``) takes a ``WindowBatch``: each network runs its GRU over the
burn-in steps without gradient (only to warm its hidden state up, as R2D2 does), then over the
training steps. The state for the next observation of step ``t`` is one more GRU step from the state
at ``t``, so terminal and padded steps are exact. SAC's losses (critics, actor, entropy coefficient)
are tmrl's, averaged over the steps that carry a loss (real, after the burn-in). Everything else (the
optimizers, the entropy settings, the target networks and ``get_actor``) is tmrl's ``SpinupSacAgent``.

On the worker, ``RecurrentActor.act`` carries the hidden state from step to step, and
``reset_hidden`` clears it; ``RecurrentRolloutWorker`` calls it at every episode start.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from tmrl.actor import TorchActorModule
from tmrl.custom.custom_algorithms import SpinupSacAgent
from tmrl.networking import RolloutWorker
from torch import nn
from torch.nn import functional

from playerruns.trainer.sequences import WindowBatch

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


def observation_size(space: Any) -> int:
    """Numbers in one observation (tmrl's observations are a Box or a tuple of Boxes)."""
    if isinstance(space, spaces.Tuple):
        return sum(observation_size(s) for s in space.spaces)
    return int(np.prod(space.shape))


def flatten(obs: Any, lead: int) -> torch.Tensor:
    """An observation batch (a tensor or a tuple of tensors) as one float tensor: ``lead`` leading
    dimensions kept (1 for ``[batch, ...]``, 2 for ``[windows, steps, ...]``), the rest flattened."""
    parts = obs if isinstance(obs, (tuple, list)) else (obs,)
    return torch.cat([p.reshape(*p.shape[:lead], -1).float() for p in parts], dim=-1)


class RecurrentCore(nn.Module):
    """Encoder then GRU: observations in, one hidden state per step out."""

    def __init__(self, obs_size: int, hidden: int) -> None:
        super().__init__()
        self.encode = nn.Sequential(nn.Linear(obs_size, hidden), nn.ReLU())
        self.gru = nn.GRU(hidden, hidden, batch_first=True)

    def forward(self, obs: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``obs [B, T, D]`` -> (states after each step ``[B, T, H]``, last state ``[1, B, H]``)."""
        return self.gru(self.encode(obs), state)

    def step(self, obs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """One step: ``obs [N, D]`` from states ``[N, H]`` -> states ``[N, H]``."""
        out, _ = self.gru(self.encode(obs).unsqueeze(1), state.unsqueeze(0).contiguous())
        return out.squeeze(1)

    def window_states(self, obs: Any, next_obs: Any, burn_in: int) -> tuple[torch.Tensor, torch.Tensor]:
        """States after ``obs_t`` and after ``next_obs_t`` for the training steps of a window batch."""
        x = flatten(obs, 2)
        state = None
        if burn_in:
            with torch.no_grad():
                _, state = self(x[:, :burn_in])
        now, _ = self(x[:, burn_in:], state)
        nxt = flatten(next_obs, 2)[:, burn_in:]
        b, t, h = now.shape
        after = self.step(nxt.reshape(b * t, -1), now.reshape(b * t, h)).reshape(b, t, h)
        return now, after


class RecurrentActor(TorchActorModule):
    """The policy: a squashed Gaussian over the GRU's state. On a worker, ``act`` keeps the state."""

    def __init__(self, observation_space: Any, action_space: Any, hidden: int = 64) -> None:
        super().__init__(observation_space, action_space)
        act_size = int(np.prod(action_space.shape))
        self.core = RecurrentCore(observation_size(observation_space), hidden)
        self.body = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, act_size)
        self.log_std = nn.Linear(hidden, act_size)
        self.act_limit = float(action_space.high[0])
        self.hidden = hidden
        self.hidden_state: torch.Tensor | None = None

    def policy(self, state: torch.Tensor, test: bool = False,
               with_logprob: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Actions (and their log-probabilities) for GRU states ``[..., H]``."""
        body = self.body(state)
        mu = self.mu(body)
        std = torch.exp(torch.clamp(self.log_std(body), LOG_STD_MIN, LOG_STD_MAX))
        u = mu if test else mu + std * torch.randn_like(mu)
        logp = None
        if with_logprob:  # Gaussian log-density, minus the log-determinant of tanh's Jacobian
            gauss = (-((u - mu) ** 2) / (2 * std ** 2) - torch.log(std) - 0.5 * math.log(2 * math.pi)).sum(-1)
            logp = gauss - (2 * (math.log(2) - u - functional.softplus(-2 * u))).sum(-1)
        return self.act_limit * torch.tanh(u), logp

    def reset_hidden(self) -> None:
        """Forgets the episode so far (a worker calls this at every episode start)."""
        self.hidden_state = None

    def act(self, obs: Any, test: bool = False) -> np.ndarray:
        x = flatten(obs, 1)
        state = self.hidden_state if self.hidden_state is not None else torch.zeros(x.shape[0], self.hidden)
        state = self.core.step(x, state.to(x.device))
        self.hidden_state = state
        action, _ = self.policy(state, test=test, with_logprob=False)
        return action[0].cpu().numpy()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "hidden_state": None}  # an episode's state is not checkpointed


class RecurrentQ(nn.Module):
    """A critic: Q of an action in the GRU's state."""

    def __init__(self, observation_space: Any, action_space: Any, hidden: int = 64) -> None:
        super().__init__()
        self.core = RecurrentCore(observation_size(observation_space), hidden)
        self.head = nn.Sequential(nn.Linear(hidden + int(np.prod(action_space.shape)), hidden), nn.ReLU(),
                                  nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def value(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([state, action], dim=-1)).squeeze(-1)


class RecurrentActorCritic(nn.Module):
    """The model ``SpinupSacAgent`` expects (``actor``, ``q1``, ``q2``), each with a GRU of its own."""

    def __init__(self, observation_space: Any, action_space: Any, hidden: int = 64) -> None:
        super().__init__()
        self.actor = RecurrentActor(observation_space, action_space, hidden)
        self.q1 = RecurrentQ(observation_space, action_space, hidden)
        self.q2 = RecurrentQ(observation_space, action_space, hidden)


class RecurrentSacAgent(SpinupSacAgent):
    """tmrl's SAC agent trained on windows (see the module docstring)."""

    def train(self, batch: WindowBatch) -> dict[str, float]:
        model, target, burn = self.model, self.model_target, batch.burn_in
        weights = batch.train[:, burn:].float()
        steps = weights.sum().clamp(min=1.0)

        def mean(x: torch.Tensor) -> torch.Tensor:
            return (x * weights).sum() / steps

        act = batch.act[:, burn:].float()
        rew = batch.rew[:, burn:].float()
        terminated = batch.terminated[:, burn:].float()
        pi_now, pi_next = model.actor.core.window_states(batch.obs, batch.next_obs, burn)
        q1_now, _ = model.q1.core.window_states(batch.obs, batch.next_obs, burn)
        q2_now, _ = model.q2.core.window_states(batch.obs, batch.next_obs, burn)
        pi, logp_pi = model.actor.policy(pi_now)

        if self.learn_entropy_coef:
            alpha_t = torch.exp(self.log_alpha.detach())
            loss_alpha = -mean(self.log_alpha * (logp_pi + self.target_entropy).detach())
            self.alpha_optimizer.zero_grad()
            loss_alpha.backward()
            self.alpha_optimizer.step()
        else:
            alpha_t = self.alpha_t

        with torch.no_grad():
            next_act, next_logp = model.actor.policy(pi_next)
            _, t1_next = target.q1.core.window_states(batch.obs, batch.next_obs, burn)
            _, t2_next = target.q2.core.window_states(batch.obs, batch.next_obs, burn)
            q_next = torch.min(target.q1.value(t1_next, next_act), target.q2.value(t2_next, next_act))
            backup = rew + self.gamma * (1 - terminated) * (q_next - alpha_t * next_logp)
        q1 = model.q1.value(q1_now, act)
        q2 = model.q2.value(q2_now, act)
        loss_q = (mean((q1 - backup) ** 2) + mean((q2 - backup) ** 2)) / 2
        self.q_optimizer.zero_grad()
        loss_q.backward()
        self.q_optimizer.step()

        model.q1.requires_grad_(False)
        model.q2.requires_grad_(False)
        q_pi = torch.min(model.q1.value(q1_now.detach(), pi), model.q2.value(q2_now.detach(), pi))
        loss_pi = mean(alpha_t * logp_pi - q_pi)
        self.pi_optimizer.zero_grad()
        loss_pi.backward()
        self.pi_optimizer.step()
        model.q1.requires_grad_(True)
        model.q2.requires_grad_(True)

        with torch.no_grad():
            for p, p_target in zip(model.parameters(), target.parameters(), strict=True):
                p_target.mul_(self.polyak).add_((1 - self.polyak) * p)
        return {"loss_actor": loss_pi.item(), "loss_critic": loss_q.item(), "entropy_coef": alpha_t.item(),
                "train_steps_per_window": steps.item() / max(1, len(batch.demo))}


class RecurrentRolloutWorker(RolloutWorker):
    """tmrl's rollout worker whose recurrent policy forgets the last episode when a new one starts."""

    def reset(self, collect_samples: bool) -> Any:
        forget = getattr(self.actor, "reset_hidden", None)
        if forget is not None:
            forget()
        return super().reset(collect_samples)
