"""Network factories for ``A2CConfig.network``, as a user would write them.

Each is called as ``factory(obs_dim, n_params)`` (and ``obs_space=`` where it takes it) and
returns ``(actor, critic)``.
"""

import torch
from torch import nn

from a2c_ray.core.spaces import obs_layout


def layer_norm_mlp(obs_dim, n_params):
    """Not the built-in MLP: LayerNorm and SiLU, a wider first layer, a small policy head."""
    def body():
        return nn.Sequential(nn.Linear(obs_dim, 128), nn.LayerNorm(128), nn.SiLU(),
                             nn.Linear(128, 64), nn.SiLU())

    actor = nn.Sequential(body(), nn.Linear(64, n_params))
    critic = nn.Sequential(body(), nn.Linear(64, 1))
    nn.init.orthogonal_(actor[-1].weight, 0.01)
    nn.init.zeros_(actor[-1].bias)
    return actor, critic


def plain_elu(obs_dim, n_params):
    """A user's ordinary network: two hidden layers of 96 ELU units for the actor, one for the
    critic, torch's default initialisation."""
    actor = nn.Sequential(nn.Linear(obs_dim, 96), nn.ELU(), nn.Linear(96, 96), nn.ELU(),
                          nn.Linear(96, n_params))
    critic = nn.Sequential(nn.Linear(obs_dim, 96), nn.ELU(), nn.Linear(96, 1))
    return actor, critic


def raises(obs_dim, n_params):
    raise ValueError(f"no network for {obs_dim} inputs")


def wrong_shapes(obs_dim, n_params):
    return nn.Linear(obs_dim, n_params + 1), nn.Linear(obs_dim, 2)


def not_modules(obs_dim, n_params):
    return "actor", "critic"


def fails_forward(obs_dim, n_params):
    return nn.Linear(obs_dim + 3, n_params), nn.Linear(obs_dim, 1)


class GoalDelta(nn.Module):
    """The goal's offset from the achieved goal, beside the whole encoded observation."""

    def __init__(self, obs_space):
        super().__init__()
        self.layout = obs_layout(obs_space)
        self.achieved, self.desired = self.layout["achieved_goal"], self.layout["desired_goal"]

    def forward(self, x):
        return torch.cat([x[:, self.desired] - x[:, self.achieved], x], dim=1)


def goal_relative(obs_dim, n_params, obs_space):
    """A goal-conditioned Dict observation's own encoder: it splits the encoded vector by the
    space's layout (``core.spaces.obs_layout``)."""
    delta = GoalDelta(obs_space).desired.stop - GoalDelta(obs_space).desired.start
    actor = nn.Sequential(GoalDelta(obs_space), nn.Linear(obs_dim + delta, 64), nn.Tanh(),
                          nn.Linear(64, n_params))
    critic = nn.Sequential(GoalDelta(obs_space), nn.Linear(obs_dim + delta, 64), nn.Tanh(),
                           nn.Linear(64, 1))
    return actor, critic
