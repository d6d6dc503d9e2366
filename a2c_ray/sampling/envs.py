"""Environments made from an id, and a same-step-autoreset vector.

gymnasium 1.x vector envs reset on the step *after* an episode ends by default, which puts a
reset "transition" into a rollout. ``EnvVector`` instead resets in the same step, returns the
reset observation as the next observation, and hands back the true final observation of the
finished episode separately so that a truncated episode can bootstrap from it.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import math
import sys
from typing import Any

import gymnasium as gym
import numpy as np

from a2c_ray.core import SpaceError, check_spaces, encode_obs, obs_dim, obs_dtype
from a2c_ray.sampling.env_state import env_state, set_env_state


class EnvIdError(ValueError):
    """The environment id does not name an environment that can be made."""


class EnvFailure(RuntimeError):
    """An environment raised in reset or step; the message names the env, worker and call."""


log = logging.getLogger("a2c_ray")

# MuJoCo warnings known to be harmless, not shown: gymnasium's half_cheetah.xml (v2 to v5)
# sets settotalmass, which MuJoCo 4 deprecates; the compiled model is the same.
HARMLESS_MUJOCO_WARNINGS = ("compiler attribute 'settotalmass' is deprecated",)
_mujoco_warnings_seen: set[str] = set()


def _mujoco_warning(message: str) -> None:
    """MuJoCo's warning handler: each warning once per process, the harmless ones never."""
    text = " ".join(message.split())
    if text in _mujoco_warnings_seen or text.startswith(HARMLESS_MUJOCO_WARNINGS):
        return
    _mujoco_warnings_seen.add(text)
    log.warning("MuJoCo: %s", text)


def _route_mujoco_warnings(env_id: str) -> None:
    """Before a MuJoCo env compiles its model, send MuJoCo's warnings to ``_mujoco_warning``.

    MuJoCo prints every warning to stderr itself, once per env built: a 16-env run printed
    16 identical lines.
    """
    spec = gym.registry.get(env_id)
    if "mujoco" not in sys.modules and not (spec and "mujoco" in str(spec.entry_point)):
        return
    import mujoco

    if mujoco.get_mju_user_warning() is not _mujoco_warning:
        mujoco.set_mju_user_warning(_mujoco_warning)


# Packages whose envs register when they are imported (gymnasium 1 no longer loads plugins):
# an id none of gymnasium's own envs has is looked for in those installed, so that
# ``FetchReachDense-v4`` works as ``gymnasium_robotics:FetchReachDense-v4`` does.
ENV_PACKAGES = ("gymnasium_robotics", "ale_py", "panda_gym")


def _register_from_packages(env_id: str) -> None:
    if ":" in env_id or env_id in gym.registry:
        return
    for name in ENV_PACKAGES:
        if name in sys.modules or importlib.util.find_spec(name) is None:
            continue
        importlib.import_module(name)
        if env_id in gym.registry:
            return


def is_atari(env_id: str) -> bool:
    """Whether ``env_id`` is an Atari game of ale-py (``ALE/Breakout-v5``)."""
    spec = gym.registry.get(env_id)
    return env_id.startswith("ALE/") or bool(spec and "ale_py" in str(spec.entry_point))


# The usual Atari preprocessing (Machado et al. 2018; SB3's AtariWrapper does the same): up to
# 30 no-ops at reset, the action repeated for 4 frames with the last two max-pooled, 84x84
# grey, the last 4 frames stacked; v5's sticky actions (0.25) and 108,000-frame cap are kept.
ATARI_NOOP_MAX, ATARI_FRAME_SKIP, ATARI_SCREEN, ATARI_STACK = 30, 4, 84, 4


def eval_deterministic(env_id: str, eval_policy: str) -> bool:
    """Whether evaluation takes the policy's mode: ``A2CConfig.eval_policy`` resolved."""
    return not is_atari(env_id) if eval_policy == "auto" else eval_policy == "deterministic"


def _atari(env: gym.Env) -> gym.Env:
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

    env = AtariPreprocessing(env, noop_max=ATARI_NOOP_MAX, frame_skip=ATARI_FRAME_SKIP,
                             screen_size=ATARI_SCREEN, terminal_on_life_loss=False,
                             grayscale_obs=True, scale_obs=False)
    return FrameStackObservation(env, ATARI_STACK)


def make_env(env_id: str, **kwargs: Any) -> gym.Env:
    """Make one environment from ``HalfCheetah-v5`` or ``package.module:EnvId-v0``.

    An id that gymnasium does not know is also looked for in the env packages installed
    (``ENV_PACKAGES``). An Atari game (``ALE/Breakout-v5``) comes preprocessed: gymnasium's
    ``AtariPreprocessing`` and ``FrameStackObservation`` (``ATARI_*``), observations
    [4, 84, 84] uint8. The end of an episode on a life lost and the reward's sign are the
    learner's view only (``EnvVector``); this env plays whole games with their real scores.
    """
    _register_from_packages(env_id)
    _route_mujoco_warnings(env_id)
    atari = is_atari(env_id)
    if atari:
        if importlib.util.find_spec("ale_py") is None:
            raise EnvIdError(f"environment id {env_id!r} is an Atari game, which needs ale-py: "
                             "expected pip install 'a2c_ray[atari]'")
        kwargs = {**kwargs, "frameskip": 1}  # AtariPreprocessing skips frames itself
    try:
        env = gym.make(env_id, disable_env_checker=True, **kwargs)
    except (gym.error.Error, ModuleNotFoundError, ImportError) as err:
        raise EnvIdError(
            f"unknown environment id {env_id!r} ({type(err).__name__}: {err}): expected a "
            "registered gymnasium id such as CartPole-v1 or HalfCheetah-v5, or "
            "package.module:EnvId-v0"
        ) from None
    if not atari:
        return env
    try:
        return _atari(env)
    except gym.error.DependencyNotInstalled as err:
        env.close()
        raise EnvIdError(f"environment id {env_id!r}: {err}: expected pip install "
                         "'a2c_ray[atari]'") from None


def env_spaces(env_id: str) -> tuple[gym.Space, gym.Space]:
    """Observation and action spaces of an env id; raises EnvIdError or SpaceError."""
    env = make_env(env_id)
    try:
        check_spaces(env.observation_space, env.action_space)
        return env.observation_space, env.action_space
    finally:
        env.close()


def episode_success(info: dict[str, Any]) -> float:
    """1.0 or 0.0 from the ``is_success`` of an episode's last info; NaN where it has none."""
    return float(bool(info["is_success"])) if "is_success" in info else math.nan


def success_rate(successes: Any) -> float:
    """The share of episodes that succeeded, of those that said (NaN where none did)."""
    said = [float(s) for s in successes if not math.isnan(s)]
    return float(np.mean(said)) if said else math.nan


def env_seeds(seed: int, num_envs: int) -> list[int]:
    """Distinct, reproducible reset seeds for the envs of a vector seeded with ``seed``."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(num_envs)]


class EnvVector:
    """N environments stepped in turn, reset in the same step that ends an episode.

    Observations come out encoded [N, obs_dim] (``core.spaces.encode_obs``: uint8 for images,
    float32 otherwise). Returns of finished episodes (undiscounted, raw rewards), their lengths
    and whether each succeeded (where the env's last info has ``is_success``, as
    goal-conditioned robotics envs' do) are collected and drained with ``pop_episodes``.

    Two changes for the learner only, for Atari games: with ``life_loss`` a step that loses a
    life (the info's ``lives`` falls) is reported terminated while the game goes on, and with
    ``sign_rewards`` the rewards returned are their sign. The episodes' returns stay the
    game's scores.
    """

    def __init__(self, env_id: str, num_envs: int, seed: int, worker_index: int = 0,
                 life_loss: bool = False, sign_rewards: bool = False) -> None:
        self.env_id = env_id
        self.worker_index = worker_index
        self.life_loss = life_loss
        self.sign_rewards = sign_rewards
        self.envs = [make_env(env_id) for _ in range(num_envs)]
        self.obs_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        self.obs_dim = obs_dim(self.obs_space)
        self.obs_dtype = obs_dtype(self.obs_space)
        self.lives = np.zeros(num_envs, dtype=np.int64)  # each game's lives, for life_loss
        self._seeds = env_seeds(seed, num_envs)
        self.ep_return = np.zeros(num_envs, dtype=np.float64)
        self.ep_len = np.zeros(num_envs, dtype=np.int64)
        self._done_returns: list[float] = []
        self._done_lengths: list[int] = []
        self._done_successes: list[float] = []

    @property
    def num_envs(self) -> int:
        """Number of environments."""
        return len(self.envs)

    def _call(self, j: int, what: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.envs[j], what)(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - re-raised with context
            raise EnvFailure(
                f"environment {self.env_id!r} (worker {self.worker_index}, env {j}) raised in "
                f"{what}: {type(err).__name__}: {err}"
            ) from err

    def reset(self) -> np.ndarray:
        """Reset every env with its seed; returns encoded observations [N, obs_dim]."""
        raw = []
        for j, s in enumerate(self._seeds):
            obs, info = self._call(j, "reset", seed=s)
            raw.append(obs)
            self.lives[j] = info.get("lives", 0)
        self.ep_return[:] = 0.0
        self.ep_len[:] = 0
        return encode_obs(self.obs_space, raw)

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[int, np.ndarray]]:
        """Step every env with env-form actions [N, ...].

        Returns:
            next observations [N, obs_dim] (reset observations where an episode ended),
            rewards [N] (their signs with ``sign_rewards``), terminated [N] (also where a life
            was lost, with ``life_loss``), truncated [N], and {env index: encoded final
            observation [obs_dim]} for the envs whose episode ended in this step.
        """
        n = self.num_envs
        raw_obs = [None] * n
        rewards = np.empty(n, dtype=np.float64)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        final_raw: dict[int, Any] = {}
        success: dict[int, float] = {}
        for j in range(n):
            obs, rew, term, trunc, info = self._call(j, "step", actions[j])
            rewards[j] = rew
            if self.life_loss:
                lives = info.get("lives", 0)
                terminated[j] = lives < self.lives[j]
                self.lives[j] = lives
            if term or trunc:
                terminated[j], truncated[j] = term, trunc
                final_raw[j] = obs
                success[j] = episode_success(info)
                obs, info = self._call(j, "reset")
                self.lives[j] = info.get("lives", 0)
            raw_obs[j] = obs
        self.ep_return += rewards
        self.ep_len += 1
        final_obs = {}
        if final_raw:
            idx = sorted(final_raw)
            encoded = encode_obs(self.obs_space, [final_raw[j] for j in idx])
            final_obs = dict(zip(idx, encoded, strict=True))
            for j in idx:
                self._done_returns.append(float(self.ep_return[j]))
                self._done_lengths.append(int(self.ep_len[j]))
                self._done_successes.append(success[j])
                self.ep_return[j] = 0.0
                self.ep_len[j] = 0
        next_obs = encode_obs(self.obs_space, raw_obs)
        if self.sign_rewards:
            rewards = np.sign(rewards)
        return next_obs, rewards.astype(np.float32), terminated, truncated, final_obs

    def pop_episodes(self) -> tuple[list[float], list[int], list[float]]:
        """Returns, lengths and successes of the episodes finished since the last call.

        A success is 1.0 or 0.0 where the episode's last info said, NaN where it had none.
        """
        out = (self._done_returns, self._done_lengths, self._done_successes)
        self._done_returns, self._done_lengths, self._done_successes = [], [], []
        return out

    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue exactly: each env's state and the episode counters."""
        return {
            "envs": [env_state(e) for e in self.envs],
            "ep_return": self.ep_return.copy(),
            "ep_len": self.ep_len.copy(),
            "lives": self.lives.copy(),
            "done_returns": list(self._done_returns),
            "done_lengths": list(self._done_lengths),
            "done_successes": list(self._done_successes),
        }

    def set_state(self, state: dict[str, Any]) -> bool:
        """Restore from get_state(); returns False where an env could not be restored exactly."""
        exact = all(set_env_state(e, s) for e, s in zip(self.envs, state["envs"], strict=True))
        self.ep_return = np.asarray(state["ep_return"], dtype=np.float64).copy()
        self.ep_len = np.asarray(state["ep_len"], dtype=np.int64).copy()
        self.lives = np.asarray(state.get("lives", self.lives), dtype=np.int64).copy()
        self._done_returns = list(state["done_returns"])
        self._done_lengths = list(state["done_lengths"])
        # a checkpoint saved before successes were kept: none reported
        self._done_successes = list(state.get("done_successes",
                                              [math.nan] * len(self._done_returns)))
        return exact

    def close(self) -> None:
        """Close every env."""
        for e in self.envs:
            e.close()


__all__ = [
    "EnvFailure", "EnvIdError", "EnvVector", "SpaceError", "env_seeds", "env_spaces",
    "eval_deterministic", "is_atari", "make_env",
]
