"""Small environments for tests: MultiDiscrete and MultiBinary actions, exact truncation, and a
goal-conditioned Dict observation.

Importable as ``tests.toy_envs:BitMatch-v0`` etc.; gymnasium imports the module and the
registrations below run.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class _Matching(gym.Env):
    """Observation: a random target code; reward: how many action entries hit it.

    Episodes last 16 steps and are truncated (the TimeLimit registered below), so the best
    return is 16 * n.
    """

    def __init__(self, n: int = 3) -> None:
        self.n = n
        self.observation_space = spaces.Box(-1.0, 1.0, (n,), np.float32)
        self._target = np.zeros(n, dtype=np.int64)

    def _obs(self) -> np.ndarray:
        raise NotImplementedError

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._new_target()
        return self._obs(), {}

    def _new_target(self) -> None:
        raise NotImplementedError

    def step(self, action):
        reward = float(np.sum(np.asarray(action).reshape(-1) == self._target))
        self._new_target()
        return self._obs(), reward, False, False, {}


class BitMatch(_Matching):
    """MultiBinary(n) actions: reward per bit equal to (obs > 0)."""

    def __init__(self, n: int = 3) -> None:
        super().__init__(n)
        self.action_space = spaces.MultiBinary(n)

    def _new_target(self) -> None:
        self._target = self.np_random.integers(0, 2, self.n)

    def _obs(self) -> np.ndarray:
        return (2.0 * self._target - 1.0).astype(np.float32) * 0.5


class CodeMatch(_Matching):
    """MultiDiscrete([3] * n) actions: reward per entry equal to the encoded digit."""

    def __init__(self, n: int = 3) -> None:
        super().__init__(n)
        self.action_space = spaces.MultiDiscrete([3] * n)

    def _new_target(self) -> None:
        self._target = self.np_random.integers(0, 3, self.n)

    def _obs(self) -> np.ndarray:
        return (self._target - 1.0).astype(np.float32)


class Counter(gym.Env):
    """Observation [t / 10]; reward 1 per step; terminates at t == 7 when ``terminate_at``."""

    def __init__(self, terminate_at: int | None = None) -> None:
        self.observation_space = spaces.Box(0.0, 100.0, (1,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.terminate_at = terminate_at
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        terminated = self.terminate_at is not None and self.t == self.terminate_at
        return np.array([self.t / 10], np.float32), 1.0, terminated, False, {}


class Exploding(Counter):
    """Raises in step after 5 steps, to test error reporting."""

    def step(self, action):
        if self.t >= 5:
            raise RuntimeError("boom")
        return super().step(action)


class GoalReach(gym.Env):
    """A point in the plane steered to a goal: a Dict observation as the Fetch tasks have.

    Observation: ``observation`` (the point and a Discrete phase, each step's index mod 3),
    ``achieved_goal`` (the point), ``desired_goal``; Box actions move the point by up to 0.25 a
    step and axis; dense reward -distance; ``info["is_success"]`` while within 0.1 of the goal.
    Episodes are truncated at 20 steps (registered below), never terminated.
    """

    def __init__(self) -> None:
        box = spaces.Box(-1.0, 1.0, (2,), np.float32)
        # given out of order: gymnasium sorts a plain dict's keys
        self.observation_space = spaces.Dict({
            "observation": spaces.Dict({"point": box, "phase": spaces.Discrete(3)}),
            "desired_goal": box, "achieved_goal": box})
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)

    def _obs(self) -> dict:
        return {"observation": {"point": self.point.copy(), "phase": self.t % 3},
                "desired_goal": self.goal.copy(), "achieved_goal": self.point.copy()}

    def _info(self) -> dict:
        return {"is_success": float(np.linalg.norm(self.point - self.goal) < 0.1)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.point = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        self.goal = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return self._obs(), self._info()

    def step(self, action):
        self.t += 1
        move = 0.25 * np.clip(np.asarray(action, np.float32), -1.0, 1.0)
        self.point = np.clip(self.point + move, -1.0, 1.0).astype(np.float32)
        reward = -float(np.linalg.norm(self.point - self.goal))
        return self._obs(), reward, False, False, self._info()


class TextObs(Counter):
    """A Text observation space, which no A2C network here takes."""

    def __init__(self) -> None:
        super().__init__()
        self.observation_space = spaces.Text(5)


gym.register("BitMatch-v0", entry_point=BitMatch, max_episode_steps=16)
gym.register("CodeMatch-v0", entry_point=CodeMatch, max_episode_steps=16)
gym.register("Counter-v0", entry_point=Counter, max_episode_steps=5)
gym.register("CounterTerminal-v0", entry_point=Counter, max_episode_steps=10,
             kwargs={"terminate_at": 7})
gym.register("Exploding-v0", entry_point=Exploding, max_episode_steps=50)
gym.register("GoalReach-v0", entry_point=GoalReach, max_episode_steps=20)
gym.register("TextObs-v0", entry_point=TextObs, max_episode_steps=5)


class NanReward(gym.Env):
    """Box actions in [-10, 10]; reward -|a|, but NaN once any |a| > 3 (a diverging policy)."""

    observation_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = spaces.Box(-10.0, 10.0, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        big = np.abs(action).max() > 3
        reward = float("nan") if big else -float(np.abs(action).sum())
        return np.zeros(2, np.float32), reward, False, False, {}


gym.register("NanReward-v0", entry_point=NanReward, max_episode_steps=20)
