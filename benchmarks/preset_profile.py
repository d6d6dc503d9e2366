"""Where a standalone run of an env's preset spends its time, part by part (cProfile).

    python benchmarks/preset_profile.py --env HalfCheetah-v5 --steps 100000

Trains the preset in this process (K = 0, evaluated every 25k steps with a sweep's episodes)
under cProfile and prints the cumulative time of each part as a share of the run: the envs'
steps, the policy's action per step, the learner's update (and within it the policy step and
the critic's extra regression steps), evaluation, logging and checkpoints. cProfile slows
Python-heavy parts more than native ones, so shares are approximate; the wall time without the
profiler is printed for scale.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
from pathlib import Path

import torch

from a2c_ray import A2CConfig, train

ROOT = Path(__file__).resolve().parents[1]


def parts() -> list[tuple[str, object]]:
    """(label, function) of each part; cProfile keys name functions by file, line and name."""
    from a2c_ray.checkpoint import save_checkpoint
    from a2c_ray.envs import EnvVector
    from a2c_ray.gae import compute_gae
    from a2c_ray.learner import Learner
    from a2c_ray.model import NumpyActor
    from a2c_ray.rollout import run_episodes
    from a2c_ray.trainer import RunLogger

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
    from a2c_ray.tune import SEARCH_EVAL_EPISODES

    preset = json.loads((ROOT / "a2c_ray" / "presets" / f"{env}.json").read_text())
    return A2CConfig.from_dict({**preset, "total_env_steps": steps,
                                "eval_interval_steps": 25_000,
                                "eval_episodes": SEARCH_EVAL_EPISODES})


def main() -> None:
    """Profile one run, print the parts."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--steps", type=int, default=100_000)
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


if __name__ == "__main__":
    main()
