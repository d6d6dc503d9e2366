"""An environment's exact state as plain values and arrays, for checkpoints (no pickling).

MuJoCo's physics (``mj_getState``), Atari's emulator (``cloneState`` with its RNG), the
plain attributes of the env and of each wrapper (counters, flags, arrays, frame buffers) and
the env's RNG. ``set_env_state`` says whether the env is one this restores exactly; one that
is not (Box2D, say) starts fresh episodes on a resume instead.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np

_PLAIN = (bool, int, float, str, type(None), np.ndarray, np.generic)
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
_RESTORABLE_MODULES = ("gymnasium.envs.classic_control", "gymnasium.envs.toy_text")


def _is_plain(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return all(isinstance(v, bool | int | float | np.generic) for v in value)
    return isinstance(value, _PLAIN)


def _is_frames(value: Any) -> bool:
    """A list or deque of arrays: a wrapper's frame buffers (Atari's max-pool, a frame stack)."""
    return (isinstance(value, list | deque) and len(value) > 0
            and all(isinstance(v, np.ndarray) for v in value))


def _plain_attrs(obj: Any) -> dict[str, Any]:
    out = {}
    for key, value in vars(obj).items():
        if key in ("render_mode", "metadata", "spec"):
            continue
        if _is_frames(value):
            out[key] = [v.copy() for v in value]
        elif _is_plain(value):
            out[key] = value.copy() if isinstance(value, np.ndarray) else value
    return out


def _restore_attr(obj: Any, key: str, value: Any) -> None:
    held = getattr(obj, key, None)
    if isinstance(held, deque):
        value = deque((np.array(v) for v in value), maxlen=held.maxlen)
    elif _is_frames(held):
        value = [np.array(v) for v in value]  # written in place by the wrapper: own copies
    setattr(obj, key, value)


def _is_mujoco(env: gym.Env) -> bool:
    """A MuJoCo env: gymnasium's, or gymnasium-robotics'.

    The Fetch envs have no ``set_state``: the physics is restored with ``mj_setState`` and the
    goal as a plain attribute.
    """
    return type(getattr(env, "model", None)).__name__ == "MjModel" and hasattr(env, "data")


def _is_ale(env: gym.Env) -> bool:
    return hasattr(env, "ale") and hasattr(env.ale, "cloneState")


def is_exactly_restorable(env: gym.Env) -> bool:
    """Whether env_state captures this env exactly: MuJoCo, Atari, classic control, toy text."""
    u = env.unwrapped
    return _is_mujoco(u) or _is_ale(u) or type(u).__module__.startswith(_RESTORABLE_MODULES)


def env_state(env: gym.Env) -> dict[str, Any]:
    """The state of one env and its wrappers as plain values and arrays (no pickling)."""
    layers = []
    e = env
    while isinstance(e, gym.Wrapper):
        layers.append(_plain_attrs(e))
        e = e.env
    u = env.unwrapped
    state: dict[str, Any] = {"wrappers": layers, "env": _plain_attrs(u), "rng": None}
    if getattr(u, "_np_random", None) is not None:
        state["rng"] = u.np_random.bit_generator.state
    if _is_mujoco(u):
        import mujoco

        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        physics = np.empty(mujoco.mj_stateSize(u.model, spec), dtype=np.float64)
        mujoco.mj_getState(u.model, u.data, physics, spec)
        state["physics"] = physics
    if _is_ale(u):  # the emulator, with its RNG (sticky actions draw from it)
        ale = u.ale.cloneState(include_rng=True).serialize()
        state["ale"] = np.frombuffer(ale, dtype=np.uint8).copy()
    return state


def set_env_state(env: gym.Env, state: dict[str, Any]) -> bool:
    """Restore env_state(); returns whether the env is one this restores exactly."""
    e = env
    for layer in state["wrappers"]:
        for key, value in layer.items():
            _restore_attr(e, key, value)
        e = e.env
    u = env.unwrapped
    for key, value in state["env"].items():
        _restore_attr(u, key, value)
    if state["rng"] is not None:
        name = state["rng"]["bit_generator"]
        if name not in _BIT_GENERATORS:
            raise ValueError(f"unsupported bit generator {name!r} in an environment state")
        bit_generator = getattr(np.random, name)()
        bit_generator.state = state["rng"]
        u._np_random = np.random.Generator(bit_generator)
    if "physics" in state and _is_mujoco(u):
        import mujoco

        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        mujoco.mj_setState(u.model, u.data, np.asarray(state["physics"]), spec)
        mujoco.mj_forward(u.model, u.data)
    if "ale" in state and _is_ale(u):
        import ale_py

        u.ale.restoreState(ale_py.ALEState(np.asarray(state["ale"], np.uint8).tobytes()))
    return is_exactly_restorable(env)


__all__ = ["env_state", "is_exactly_restorable", "set_env_state"]
