"""The learner owns the model, the optimizer and the normaliser statistics.

It consumes a ``Batch`` and produces the next ``Broadcast`` (``a2c_ray.core.batch``); it
imports nothing of sampling.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from a2c_ray.core import (
    A2CConfig,
    Batch,
    Broadcast,
    RunningMeanStd,
    compute_gae,
    obs_dim,
    reward_scale,
    td_lambda_returns,
    vector_columns,
)
from a2c_ray.learning.optim import make_optimizer
from a2c_ray.model import ActorCritic


class NonFiniteLossError(FloatingPointError):
    """The loss or the gradients became NaN or infinite."""


def explained_variance(pred: np.ndarray, target: np.ndarray) -> float:
    """1 - Var[target - pred] / Var[target]; NaN when the target has no variance."""
    var = float(np.var(target))
    return float("nan") if var == 0 else 1.0 - float(np.var(target - pred)) / var


def _tensor(a: np.ndarray) -> torch.Tensor:
    """A tensor sharing ``a``'s memory, or a copy where ``a`` is read-only.

    A batch from a single Ray actor arrives straight from the object store, read-only;
    torch warns on a tensor over such memory even though the learner never writes to it.
    """
    return torch.from_numpy(a if a.flags.writeable else a.copy())


class Learner:
    """A2C with GAE: one policy-gradient step per batch, plus optional extra critic steps."""

    def __init__(
        self, config: A2CConfig, obs_space: spaces.Space, action_space: spaces.Space
    ) -> None:
        self.config = config
        torch.manual_seed(config.seed)
        self.model = ActorCritic(obs_space, action_space, config)
        self.optimizer = make_optimizer(
            config.optimizer, self.model.parameters(), config.learning_rate,
            config.optimizer_eps, config.rmsprop_alpha,
        )
        self.obs_rms = RunningMeanStd.zeros((obs_dim(obs_space),))
        self.columns = vector_columns(obs_space)  # normalised: not pixels
        self.ret_rms = RunningMeanStd.zeros(())
        self.version = 0
        self.shuffle = torch.Generator().manual_seed(config.seed)  # minibatch order

    # --- broadcast -----------------------------------------------------------------------

    def broadcast(self) -> Broadcast:
        """Weights as numpy arrays and frozen normaliser statistics, with a version number."""
        return Broadcast(
            version=self.version,
            weights={k: v.detach().numpy().copy() for k, v in self.model.state_dict().items()},
            obs_mean=self.obs_rms.mean.copy(),
            obs_var=self.obs_rms.var.copy(),
        )

    def normalize_obs(self, obs: np.ndarray) -> np.ndarray:
        """Normalise observations [B, D] with the current, frozen statistics (for evaluation)."""
        if not self.config.normalize_obs:
            return obs
        return self.obs_rms.normalize(obs, self.config.clip_obs, self.columns)

    # --- update --------------------------------------------------------------------------

    def set_learning_rate(self, progress: float) -> float:
        """Apply the schedule at ``progress`` = fraction of total env steps done; returns lr."""
        lr = self.config.learning_rate
        if self.config.lr_schedule == "linear":
            lr *= max(0.0, 1.0 - progress)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def _values(
        self, batch: Batch, grad: bool = False
    ) -> tuple[np.ndarray, np.ndarray, torch.Tensor, torch.Tensor | None]:
        """V(s_t) [T, N] and V(s_{t+1}) [T, N] of the true next states, in one forward pass.

        Also returns V(s_t) as a flat tensor [T * N], with grad when ``grad``, so the joint
        loss reuses this forward pass, and then also the policy's parameters of the same
        states [T * N, n_params] from that pass (None without ``grad``).
        """
        obs = batch.obs
        T, N, D = obs.shape
        final_idx = batch.final_idx
        flat = np.concatenate([obs.reshape(T * N, D), batch.last_obs, batch.final_obs])
        params = None
        with torch.set_grad_enabled(grad):
            if grad:
                params, v_all = self.model.params_and_value(_tensor(flat))
                params = params[: T * N]
            else:
                v_all = self.model.value(_tensor(flat))
        v = v_all.detach().numpy()
        values = v[: T * N].reshape(T, N)
        next_values = np.empty_like(values)
        next_values[:-1] = values[1:]
        next_values[-1] = v[T * N : T * N + N]
        # A truncated episode bootstraps from its final observation, not the reset one.
        next_values[final_idx[:, 0], final_idx[:, 1]] = v[T * N + N :]
        return values, next_values, v_all[: T * N], params

    def update(self, batch: Batch, progress: float = 0.0) -> dict[str, float]:
        """One A2C update on a batch; merges the batch's statistics afterwards.

        Args:
            batch: one worker's batch, or several joined by ``Batch.concat``.
            progress: fraction of the run's env steps done, for the learning-rate schedule.

        Returns:
            policy_loss, value_loss, entropy, explained_variance, grad_norm, learning_rate.
        """
        cfg = self.config
        lr = self.set_learning_rate(progress)
        rewards = batch.rewards  # [T, N]
        if cfg.normalize_reward:
            scale = reward_scale(self.ret_rms)
            rewards = np.clip(rewards * scale, -cfg.clip_reward, cfg.clip_reward)
            rewards = rewards.astype(np.float32)
        joint = cfg.value_grad_steps == 1
        whole = self._whole_batch()
        # [T, N], [T, N], [B]; the joint loss of a whole-batch step reuses this forward pass
        values, next_values, value_pred, params = self._values(batch, grad=joint and whole)

        # --- advantages (GAE) and critic targets (TD(lambda)), fixed for the whole update ---
        flags = (batch.terminated, batch.truncated)
        advantages = compute_gae(rewards, values, next_values, *flags, cfg.gamma, cfg.gae_lambda)
        if cfg.critic_lambda == cfg.gae_lambda:
            targets = advantages + values
        else:
            targets = td_lambda_returns(
                rewards, values, next_values, *flags, cfg.gamma, cfg.critic_lambda
            )
        ev = explained_variance(values.reshape(-1), targets.reshape(-1))

        # --- losses: one step on the whole batch, or epochs of shuffled minibatches ---
        T, N, D = batch.obs.shape
        obs = _tensor(batch.obs.reshape(T * N, D))
        actions = _tensor(batch.actions.reshape(T * N, *batch.actions.shape[2:]))
        adv = torch.from_numpy(advantages.reshape(-1).astype(np.float32))
        tgt = torch.from_numpy(targets.reshape(-1).astype(np.float32))
        if whole:
            steps = [self._step_on(obs, actions, adv, tgt, value_pred, params)]
        else:
            size = min(cfg.minibatch_size or T * N, T * N)
            steps = []
            for _ in range(cfg.epochs_per_rollout):
                order = torch.randperm(T * N, generator=self.shuffle)
                for start in range(0, T * N, size):
                    i = order[start : start + size]
                    steps.append(self._step_on(obs[i], actions[i], adv[i], tgt[i]))
        policy_loss, value_loss, entropy, grad_norm = np.mean(steps, axis=0)

        # --- statistics owned by the learner, merged from every worker ---
        for moments in batch.obs_moments:
            self.obs_rms.merge(*moments)
        for moments in batch.ret_moments:
            self.ret_rms.merge(*moments)
        self.version += 1
        return {
            "policy_loss": float(policy_loss),
            "value_loss": float(value_loss),
            "entropy": float(entropy),
            "explained_variance": ev,
            "grad_norm": float(grad_norm),
            "learning_rate": lr,
        }

    def _whole_batch(self) -> bool:
        """Whether an update is one step on the whole batch, in order (standard A2C)."""
        cfg = self.config
        return cfg.epochs_per_rollout == 1 and (
            cfg.minibatch_size == 0 or cfg.minibatch_size >= cfg.batch_size)

    def _step_on(
        self, obs: torch.Tensor, actions: torch.Tensor, adv: torch.Tensor, tgt: torch.Tensor,
        value_pred: torch.Tensor | None = None, params: torch.Tensor | None = None,
    ) -> tuple[float, float, float, float]:
        """One policy-gradient step on transitions [M] (and the critic's, jointly or after).

        Args:
            obs: the transitions' observations [M, D].
            actions: their actions [M, ...].
            adv: their advantages [M], not yet normalised.
            tgt: their critic targets [M].
            value_pred: V(obs) where the caller already computed it (with grad for the
                joint loss).
            params: the policy's parameters of obs, where the caller computed them in the
                same pass as ``value_pred``.

        Returns:
            policy loss, value loss, entropy and the gradient norm of the policy step.
        """
        cfg = self.config
        joint = cfg.value_grad_steps == 1
        if cfg.normalize_advantage and adv.numel() > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        if params is None:
            params = self.model.policy_params(obs)
        dist = self.model.dist
        log_prob = dist.log_prob(params, actions)  # [M]
        entropy = dist.entropy(params).mean()
        policy_loss = -(adv * log_prob).mean()
        if value_pred is None:
            with torch.set_grad_enabled(joint):
                value_pred = self.model.value(obs)
        value_loss = nn.functional.mse_loss(value_pred, tgt)

        loss = policy_loss - cfg.ent_coef * entropy
        if joint:
            loss = loss + cfg.vf_coef * value_loss
        grad_norm = self._step(loss, list(self.model.parameters()))
        if not joint:
            # The critic's own regression steps towards the fixed TD(lambda) targets.
            critic = self.model.critic_parameters()
            for _ in range(cfg.value_grad_steps):
                self._step(cfg.vf_coef * nn.functional.mse_loss(self.model.value(obs), tgt), critic)
        return policy_loss.item(), value_loss.item(), entropy.item(), grad_norm

    def _step(self, loss: torch.Tensor, params: list[nn.Parameter]) -> float:
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"the loss became {float(loss)} at weights version {self.version}: lower the "
                "learning_rate, or set max_grad_norm, normalize_obs or normalize_reward"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = float(nn.utils.clip_grad_norm_(params, self.config.max_grad_norm))
        if not np.isfinite(norm):
            raise NonFiniteLossError(
                f"the gradient norm became {norm} at weights version {self.version}"
            )
        self.optimizer.step()
        return norm

    # --- checkpoints ---------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Model, optimizer, normaliser statistics and version."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "obs_rms": self.obs_rms.state_dict(),
            "ret_rms": self.ret_rms.state_dict(),
            "version": self.version,
            "shuffle": self.shuffle.get_state().numpy(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of state_dict."""
        self.model.load_state_dict(state["model"])
        # the saved groups carry the implementation they ran with (fused or foreach Adam);
        # keep this process's, which its torch supports, so a checkpoint moves between torches
        implementation = {k: self.optimizer.defaults.get(k) for k in ("fused", "foreach")}
        self.optimizer.load_state_dict(state["optimizer"])
        for group in self.optimizer.param_groups:
            group.update({k: v for k, v in implementation.items() if k in group})
        self.obs_rms = RunningMeanStd.from_state(state["obs_rms"])
        self.ret_rms = RunningMeanStd.from_state(state["ret_rms"])
        self.version = int(state["version"])
        if "shuffle" in state:  # absent in checkpoints from before minibatches
            self.shuffle.set_state(torch.from_numpy(np.asarray(state["shuffle"], np.uint8)))
