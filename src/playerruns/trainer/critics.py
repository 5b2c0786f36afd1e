"""tmrl's MLP actor-critic with LayerNorm in its critics (``PLAYER_RUNS.CRITIC_LAYER_NORM``).

RLPD (Ball et al. 2023) normalises each hidden layer of the critic: the Q-values of actions far from
the data then stay within the range of those seen, instead of growing without bound where the actor
looks for them. The actor is tmrl's ``SquashedGaussianMLPActor`` unchanged, so the workers drive the
same policy class and load the same weight files.
"""

from __future__ import annotations

from typing import Any

from tmrl.custom.custom_models import MLPActorCritic, MLPQFunction
from torch import nn


def layer_norm_mlp(sizes: list[int], activation: type[nn.Module]) -> nn.Sequential:
    """Linear -> LayerNorm -> activation for each hidden layer, then a plain linear output."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 2):
        layers += [nn.Linear(sizes[i], sizes[i + 1]), nn.LayerNorm(sizes[i + 1]), activation()]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


class LayerNormMLPActorCritic(MLPActorCritic):
    """``MLPActorCritic`` whose two critics normalise their hidden layers (same sizes, same forward)."""

    def __init__(self, observation_space: Any, action_space: Any, hidden_sizes: tuple[int, ...] = (256, 256),
                 activation: type[nn.Module] = nn.ReLU) -> None:
        super().__init__(observation_space, action_space, hidden_sizes, activation)
        for critic in (self.q1, self.q2):
            assert isinstance(critic, MLPQFunction)
            first = critic.q[0]
            assert isinstance(first, nn.Linear)
            critic.q = layer_norm_mlp([first.in_features, *hidden_sizes, 1], activation)
