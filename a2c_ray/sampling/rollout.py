"""``RolloutWorker``, envs and a policy copy in a plain class (no Ray).

The trainer runs it in-process or wraps it with ``ray.remote``; the class is named so that
its actor processes show as ``ray::RolloutWorker``. Contract with the learner:

* ``sample(broadcast)`` takes the learner's broadcast (weights as numpy arrays, frozen
  normaliser statistics, a version number), loads it if the version is new, steps every env
  ``rollout_length`` times and returns a batch of numpy arrays shaped [T, N, ...].
* The batch carries the observations the policy saw (normalised with the broadcast's frozen
  statistics), the raw rewards, terminated/truncated flags, the observation after the last
  step, the final observations of truncated episodes for bootstrapping, and the moments of
  the raw observations and discounted returns seen, which the learner merges.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from a2c_ray.core import A2CConfig, Batch, Broadcast, RunningMeanStd, encode_obs, vector_columns
from a2c_ray.model import ActorCritic, NumpyActor
from a2c_ray.sampling.envs import EnvVector, episode_success, is_atari, make_env


class RolloutWorker:
    """A vector of ``envs_per_worker`` envs and a copy of the policy; worker i seeds with seed+i."""

    def __init__(self, config: A2CConfig | dict[str, Any], worker_index: int = 0) -> None:
        torch.set_num_threads(1)
        self.config = config if isinstance(config, A2CConfig) else A2CConfig.from_dict(config)
        self.worker_index = worker_index
        seed = self.config.seed + worker_index
        atari = is_atari(self.config.env_id)
        self.vec = EnvVector(self.config.env_id, self.config.envs_per_worker, seed, worker_index,
                             life_loss=atari and self.config.atari_life_loss,
                             sign_rewards=atari and self.config.atari_clip_reward)
        self.columns = vector_columns(self.vec.obs_space)  # normalised: not pixels
        self.model = ActorCritic(self.vec.obs_space, self.vec.action_space, self.config)
        self.model.requires_grad_(False)
        self.actor = NumpyActor(self.model)
        self.rng = np.random.default_rng(seed)  # action sampling
        self.version = -1
        self.obs = self.vec.reset()  # [N, D] raw encoded observations (uint8 for images)
        self.disc_return = np.zeros(self.vec.num_envs, dtype=np.float64)  # [N]
        # gSDE: each env's noise matrix [N, latent, action], and env steps since the first draw
        self.sde_noise: np.ndarray | None = None
        self.sde_steps = 0

    def ping(self) -> int:
        """Liveness check; returns the worker index."""
        return self.worker_index

    def load(self, broadcast: Broadcast) -> None:
        """Load the learner's weights if the broadcast is newer than the ones held."""
        if broadcast.version != self.version:
            weights = {k: torch.tensor(v) for k, v in broadcast.weights.items()}
            self.model.load_state_dict(weights)
            self.actor.refresh()
            self.version = broadcast.version

    def sample(self, broadcast: Broadcast) -> Batch:
        """Collect ``rollout_length`` steps from every env with the broadcast's policy."""
        self.load(broadcast)
        cfg = self.config
        T, N, D = cfg.rollout_length, self.vec.num_envs, self.vec.obs_dim
        dist = self.model.dist
        obs_rms = None
        if cfg.normalize_obs:
            obs_rms = RunningMeanStd(broadcast.obs_mean, broadcast.obs_var)

        def norm(x: np.ndarray) -> np.ndarray:
            return x if obs_rms is None else obs_rms.normalize(x, cfg.clip_obs, self.columns)

        dtype = np.float32 if obs_rms is not None else self.vec.obs_dtype
        obs = np.empty((T, N, D), dtype=dtype)  # what the policy saw: uint8 for images
        raw_obs = np.empty((T, N, D), dtype=np.float32) if obs_rms is not None else None
        actions = np.empty((T, N, *dist.action_shape), dtype=dist.action_dtype)
        rewards = np.empty((T, N), dtype=np.float32)
        terminated = np.empty((T, N), dtype=bool)
        truncated = np.empty((T, N), dtype=bool)
        returns = np.empty((T, N), dtype=np.float64)  # discounted, for reward scaling
        final_idx: list[tuple[int, int]] = []
        final_obs: list[np.ndarray] = []

        for t in range(T):
            if raw_obs is not None:
                raw_obs[t] = self.obs
            obs[t] = norm(self.obs)
            if cfg.use_sde and self._new_noise(t):
                self.sde_noise = dist.numpy_noise(N, self.rng)
            actions[t] = self.actor.act(obs[t], self.rng, self.sde_noise)
            next_obs, rewards[t], terminated[t], truncated[t], finals = self.vec.step(
                dist.to_env(actions[t])
            )
            for j, final in finals.items():
                if truncated[t, j] and not terminated[t, j]:
                    final_idx.append((t, j))
                    final_obs.append(final)
            if cfg.normalize_reward:
                self.disc_return = self.disc_return * cfg.gamma + rewards[t]
                returns[t] = self.disc_return
                self.disc_return[terminated[t] | truncated[t]] = 0.0
            self.obs = next_obs

        ep_returns, ep_lengths, ep_successes = self.vec.pop_episodes()
        return Batch(
            obs=obs,
            actions=actions,
            rewards=rewards,
            terminated=terminated,
            truncated=truncated,
            last_obs=norm(self.obs),
            final_idx=np.asarray(final_idx, dtype=np.int64).reshape(-1, 2),
            final_obs=norm(np.asarray(final_obs, self.vec.obs_dtype).reshape(-1, D)),
            obs_moments=() if raw_obs is None else (
                RunningMeanStd.moments(raw_obs.reshape(-1, D)),),
            ret_moments=(RunningMeanStd.moments(returns.reshape(-1)),)
            if cfg.normalize_reward else (),
            episode_returns=np.asarray(ep_returns, dtype=np.float64),
            episode_lengths=np.asarray(ep_lengths, dtype=np.int64),
            version=self.version,
            episode_successes=np.asarray(ep_successes, dtype=np.float64),
        )

    def _new_noise(self, t: int) -> bool:
        """Whether gSDE draws new noise matrices before step ``t`` of a rollout.

        With ``sde_sample_freq`` -1, at every rollout's start; with k, every k env steps
        counted across rollouts (SB3 restarts its count at each rollout instead).
        """
        freq = self.config.sde_sample_freq
        due = self.sde_noise is None or (t == 0 if freq < 0 else self.sde_steps % freq == 0)
        self.sde_steps += 1
        return due

    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue sampling exactly where this worker is."""
        return {
            "vec": self.vec.get_state(),
            "obs": self.obs.copy(),
            "disc_return": self.disc_return.copy(),
            "rng": self.rng.bit_generator.state,
            "sde_noise": None if self.sde_noise is None else self.sde_noise.copy(),
            "sde_steps": self.sde_steps,
        }

    def set_state(self, state: dict[str, Any]) -> bool:
        """Restore get_state(); returns False where an env could not be restored exactly.

        Envs that cannot be restored exactly (their state is not plain data, e.g. Box2D)
        start fresh episodes instead.
        """
        self.rng.bit_generator.state = state["rng"]
        noise = state.get("sde_noise")  # absent in checkpoints from before gSDE
        self.sde_noise = None if noise is None else np.asarray(noise, np.float32).copy()
        self.sde_steps = int(state.get("sde_steps", 0))
        exact = self.vec.set_state(state["vec"])
        if exact:
            self.obs = np.asarray(state["obs"], dtype=self.vec.obs_dtype).copy()
            self.disc_return = np.asarray(state["disc_return"], dtype=np.float64).copy()
        else:
            self.obs = self.vec.reset()
            self.disc_return[:] = 0.0
        return exact

    def close(self) -> None:
        """Close the envs."""
        self.vec.close()


def run_episodes(
    model: ActorCritic,
    env_id: str,
    episodes: int,
    seed: int,
    normalize: Callable[[np.ndarray], np.ndarray] | None = None,
    deterministic: bool = True,
    render_first: bool = False,
    render_kwargs: dict[str, Any] | None = None,
    max_frames: int = 10_000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """Run ``episodes`` full episodes on fresh envs, episode k reset with seed + k.

    All episodes run side by side so the policy acts on one batch per step. With
    ``render_first`` the first episode is rendered off-screen (``render_kwargs`` go to its
    gym.make, e.g. width and height for MuJoCo) and up to ``max_frames`` frames returned.

    Returns:
        returns [episodes], lengths [episodes], successes [episodes] (1.0 or 0.0 from the
        ``is_success`` of each episode's last info, NaN where it has none), and the frames of
        the first episode (may be empty).
    """
    render = {"render_mode": "rgb_array", **(render_kwargs or {})}
    envs = [make_env(env_id, **(render if render_first and k == 0 else {}))
            for k in range(episodes)]
    generator = torch.Generator().manual_seed(seed)
    # the policy's forward pass in numpy, as the samplers run it: at a few rows per step it
    # costs several times less than torch's; the mode or the draw stays in torch
    actor = NumpyActor(model)
    space = envs[0].observation_space
    raw = [e.reset(seed=seed + k)[0] for k, e in enumerate(envs)]
    frames = [envs[0].render()] if render_first else []
    returns = np.zeros(episodes)
    lengths = np.zeros(episodes, dtype=np.int64)
    successes = np.full(episodes, np.nan)
    active = list(range(episodes))
    try:
        while active:
            obs = encode_obs(space, [raw[k] for k in active])
            if normalize is not None:
                obs = normalize(obs)
            params = torch.from_numpy(actor.params(obs))
            with torch.no_grad():
                internal = (model.dist.mode(params) if deterministic
                            else model.dist.sample(params, generator))
            actions = model.dist.to_env(internal.numpy())
            still = []
            for k, action in zip(active, actions, strict=True):
                raw[k], reward, term, trunc, info = envs[k].step(action)
                returns[k] += reward
                lengths[k] += 1
                if k == 0 and render_first and len(frames) < max_frames:
                    frames.append(envs[0].render())
                if term or trunc:
                    successes[k] = episode_success(info)
                else:
                    still.append(k)
            active = still
    finally:
        for e in envs:
            e.close()
    return returns, lengths, successes, frames
