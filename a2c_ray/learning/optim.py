"""TensorFlow-style RMSprop and the optimizer factory the learner uses."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


class RMSpropTF(torch.optim.Optimizer):
    """RMSprop as TensorFlow 1 implements it, which the original A2C was tuned with.

    Two differences from ``torch.optim.RMSprop``: the square average starts at ones, not
    zeros, and epsilon is added inside the square root::

        v     <- alpha * v + (1 - alpha) * g^2          (v_0 = 1)
        m     <- momentum * m + lr * g / sqrt(v + eps)  (m_0 = 0)
        theta <- theta - m
    """

    def __init__(
        self,
        params: Iterable[nn.Parameter],
        lr: float = 7e-4,
        alpha: float = 0.99,
        eps: float = 1e-5,
        momentum: float = 0.0,
    ) -> None:
        if lr <= 0 or not 0 <= alpha < 1 or eps <= 0 or momentum < 0:
            raise ValueError(f"invalid RMSpropTF settings lr={lr} alpha={alpha} eps={eps}")
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps, "momentum": momentum})

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros(())
                    state["square_avg"] = torch.ones_like(p)
                    state["momentum_buffer"] = torch.zeros_like(p)
                state["step"] += 1
                v = state["square_avg"]
                v.mul_(group["alpha"]).addcmul_(p.grad, p.grad, value=1 - group["alpha"])
                update = p.grad / (v + group["eps"]).sqrt() * group["lr"]
                if group["momentum"] > 0:
                    m = state["momentum_buffer"]
                    m.mul_(group["momentum"]).add_(update)
                    update = m
                p.sub_(update)
        return loss


def make_optimizer(
    name: str, params: Iterable[nn.Parameter], lr: float, eps: float, alpha: float
) -> torch.optim.Optimizer:
    """``adam``, ``rmsprop`` (PyTorch's, as in Stable-Baselines3) or ``rmsprop_tf``.

    Adam is PyTorch's fused implementation where this torch has it for the parameters' device
    (CPU from torch 2.4): the same update in one kernel per step instead of a dozen foreach
    ones, which at A2C's small networks and batches is most of a step's optimizer time.
    """
    if name == "adam":
        params = list(params)
        try:
            return torch.optim.Adam(params, lr=lr, eps=eps, fused=True)
        except RuntimeError:  # no fused Adam for this device in this torch
            return torch.optim.Adam(params, lr=lr, eps=eps, foreach=True)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=alpha, eps=eps, foreach=True)
    if name == "rmsprop_tf":
        return RMSpropTF(params, lr=lr, alpha=alpha, eps=eps)
    raise ValueError(f"unknown optimizer {name!r}: expected adam, rmsprop or rmsprop_tf")
