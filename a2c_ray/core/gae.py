"""GAE and TD(lambda) returns in pure numpy, no torch, no Ray.

All arrays are shaped [T, N]: T steps of a rollout from N environments. Step t of env n
observed s_t, received r_t and ended in s_{t+1}; ``next_values[t]`` is V(s_{t+1}) of that
true next state. When step t ended its episode by truncation (time limit), s_{t+1} is the
final observation of that episode, never the observation the env reset to.
"""

from __future__ import annotations

import numpy as np


def compute_gae(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float,
    gae_lambda: float,
) -> np.ndarray:
    """Advantages by GAE(gamma, lambda) (Schulman et al., 2016).

    delta_t = r_t + gamma * (1 - terminated_t) * next_values_t - values_t
    A_t     = delta_t + gamma * lambda * (1 - (terminated_t or truncated_t)) * A_{t+1}

    with A_T = 0 after the last step of the rollout, whose next value bootstraps the tail.
    ``gae_lambda=0`` gives the one-step TD error; ``gae_lambda=1`` gives the discounted
    return to the end of the episode (bootstrapped from V at a truncation or at the end of
    the rollout) minus V(s_t). A terminated step never bootstraps; a truncated one does,
    from V of its final observation, and the sum never crosses into the next episode.

    Args:
        rewards: [T, N] rewards.
        values: [T, N] V(s_t).
        next_values: [T, N] V(s_{t+1}) of the true next state.
        terminated: [T, N] bool, the step reached a terminal state.
        truncated: [T, N] bool, the episode was cut off after the step.
        gamma: discount factor.
        gae_lambda: GAE lambda in [0, 1].

    Returns:
        [T, N] advantages, float32 or wider.
    """
    rewards, values, next_values = (np.asarray(x) for x in (rewards, values, next_values))
    terminated = np.asarray(terminated, dtype=bool)
    truncated = np.asarray(truncated, dtype=bool)
    shape = rewards.shape
    for name, arr in (("values", values), ("next_values", next_values),
                      ("terminated", terminated), ("truncated", truncated)):
        if arr.shape != shape:
            raise ValueError(f"{name} has shape {arr.shape}, expected {shape} like rewards")
    dtype = np.result_type(rewards, values, next_values, np.float32)
    not_terminal = 1.0 - terminated.astype(dtype)  # [T, N]
    not_done = 1.0 - (terminated | truncated).astype(dtype)  # [T, N]
    deltas = rewards + gamma * not_terminal * next_values - values  # [T, N]
    advantages = np.zeros(shape, dtype=dtype)  # [T, N]
    next_adv = np.zeros(shape[1:], dtype=dtype)  # [N]
    for t in range(shape[0] - 1, -1, -1):
        next_adv = deltas[t] + gamma * gae_lambda * not_done[t] * next_adv
        advantages[t] = next_adv
    return advantages


def td_lambda_returns(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float,
    td_lambda: float,
) -> np.ndarray:
    """The critic's TD(lambda) targets: the lambda-return G^lambda_t = A^lambda_t + V(s_t).

    ``td_lambda=0`` gives the one-step target r_t + gamma * V(s_{t+1}); ``td_lambda=1`` the
    Monte Carlo return, bootstrapped at truncations and at the rollout's end. Same arguments
    and shapes as :func:`compute_gae`.
    """
    advantages = compute_gae(
        rewards, values, next_values, terminated, truncated, gamma, td_lambda
    )
    return advantages + values
