"""Where a standalone run of an env's preset spends its time, part by part (cProfile).

    python -m benchmarks.speed.preset_profile --env HalfCheetah-v5 --steps 100000

Trains the preset in this process (K = 0, evaluated every 25k steps with a sweep's episodes)
under cProfile and prints the cumulative time of each part as a share of the run: the envs'
steps, the policy's action per step, the learner's update (and within it the policy step and
the critic's extra regression steps), evaluation, logging and checkpoints. cProfile slows
Python-heavy parts more than native ones, so shares are approximate; the wall time without the
profiler is printed for scale.

``--update-ops`` then profiles the learner's update alone with PyTorch's profiler: 200 updates
on one batch of the preset's shape (random values; they do not change the cost), and prints
the aten operators that took the most of its CPU time, each as a share of the whole.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from a2c_ray import A2CConfig, train
from a2c_ray.core.batch import Batch

ROOT = Path(__file__).resolve().parents[2]


def batch_like(config: A2CConfig, obs_space: Any, action_space: Any) -> Batch:
    """One batch of the config's shape (T x N transitions), random values, no episode ends."""
    rng = np.random.default_rng(0)
    T, N = config.rollout_length, config.envs_per_worker
    D, A = obs_space.shape[0], action_space.shape[0]
    f32 = np.float32
    return Batch(obs=rng.standard_normal((T, N, D)).astype(f32),
                 actions=rng.standard_normal((T, N, A)).astype(f32),
                 rewards=rng.standard_normal((T, N)).astype(f32),
                 terminated=np.zeros((T, N), bool), truncated=np.zeros((T, N), bool),
                 last_obs=rng.standard_normal((N, D)).astype(f32),
                 final_idx=np.zeros((0, 2), np.int64), final_obs=np.zeros((0, D), f32),
                 obs_moments=(), ret_moments=(), episode_returns=np.zeros(0),
                 episode_lengths=np.zeros(0, np.int64), version=0)


def update_ops(config: A2CConfig, updates: int = 200, top: int = 8) -> None:
    """Print the update's most expensive aten operators, as shares of its CPU time."""
    from torch.profiler import ProfilerActivity, profile

    from a2c_ray.learning.learner import Learner
    from a2c_ray.sampling.envs import env_spaces

    spaces = env_spaces(config.env_id)
    learner, batch = Learner(config, *spaces), batch_like(config, *spaces)
    for _ in range(20):  # warm-up: the optimizer's state, first-call allocations
        learner.update(batch, 0.5)
    start = time.perf_counter()
    for _ in range(updates):
        learner.update(batch, 0.5)
    plain = (time.perf_counter() - start) / updates
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(updates):
            learner.update(batch, 0.5)
    ops = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    total = sum(e.self_cpu_time_total for e in prof.key_averages())
    print(f"one update of {config.batch_size} transitions, {config.value_grad_steps} critic "
          f"steps: {plain * 1e3:.2f} ms without the profiler")
    print("| aten operator | share of the update's CPU time | calls per update | mean |")
    print("| --- | ---: | ---: | ---: |")
    for e in sorted(ops, key=lambda e: -e.self_cpu_time_total)[:top]:
        print(f"| {e.key} | {e.self_cpu_time_total / total:.0%} | {e.count // updates} | "
              f"{e.self_cpu_time_total / e.count:.0f} us |")


def parts() -> list[tuple[str, object]]:
    """(label, function) of each part; cProfile keys name functions by file, line and name."""
    from a2c_ray.core.gae import compute_gae
    from a2c_ray.learning.learner import Learner
    from a2c_ray.model.network import NumpyActor
    from a2c_ray.run.checkpoint import save_checkpoint
    from a2c_ray.run.logger import RunLogger
    from a2c_ray.sampling.envs import EnvVector
    from a2c_ray.sampling.rollout import run_episodes

    return [
        ("envs: EnvVector.step", EnvVector.step),
        ("policy: NumpyActor.act", NumpyActor.act),
        ("update: Learner.update", Learner.update),
        ("- GAE advantages", compute_gae),
        ("- the policy step and the critic's steps", Learner._step_on),
        ("- of which optimizer steps with clipping", Learner._step),
        ("evaluation: run_episodes", run_episodes),
        ("logging: progress.csv, TensorBoard, progress", RunLogger.log),
        ("checkpoints", save_checkpoint),
    ]

def preset_as_swept(env: str, steps: int) -> A2CConfig:
    """``env``'s preset for ``steps`` env steps, evaluated as a sweep's trials are."""
    from a2c_ray.tuning.config import SEARCH_EVAL_EPISODES

    preset = json.loads((ROOT / "a2c_ray" / "presets" / f"{env}.json").read_text())
    return A2CConfig.from_dict({**preset, "total_env_steps": steps,
                                "eval_interval_steps": 25_000,
                                "eval_episodes": SEARCH_EVAL_EPISODES})


def main() -> None:
    """Profile one run, print the parts."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--update-ops", action="store_true",
                   help="also profile the update alone, operator by operator")
    a = p.parse_args()
    torch.set_num_threads(1)
    config = preset_as_swept(a.env, a.steps)
    start = time.perf_counter()
    train(config, show_progress=False)
    plain = time.perf_counter() - start
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.runcall(train, config, show_progress=False)
    profiled = time.perf_counter() - start
    stats = pstats.Stats(profile).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    print(f"{a.env} preset, {a.steps:,} env steps: {plain:.1f} s without the profiler "
          f"({a.steps / plain:,.0f} steps/s), {profiled:.1f} s with it")
    print("| part | share of the profiled run |")
    print("| --- | ---: |")
    for label, fn in parts():
        code = fn.__code__
        key = (code.co_filename, code.co_firstlineno, code.co_name)
        cumulative = stats[key][3] if key in stats else 0.0
        print(f"| {label} | {cumulative / profiled:.0%} |")
    if a.update_ops:
        update_ops(config)


if __name__ == "__main__":
    main()
