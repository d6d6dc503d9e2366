"""Training throughput on HalfCheetah-v5: a2c_ray (K = 0, 1, 2, ... Ray actors) against
Stable-Baselines3 A2C and the env-only ceiling, measured one after another in one run.

    python -m benchmarks.speed.throughput --steps 200000 --workers 0 1 2

Every measurement runs in a fresh process, alone on the machine, and excludes start-up
(Ray start, actor creation, env construction): steps/s of the training loop itself.
Setup: 8 envs per worker, rollout length 32 (SB3: 8 envs, n_steps 32), the same 64x64 MLPs,
one critic step per batch for a2c_ray (value_grad_steps=1), as SB3 A2C does.
The env-only ceiling steps 8 envs with random actions in one process per core, on every
core at once. Parallel efficiency of K actors is their steps/s over K times one actor's, at
one critic step per batch, and for the largest K also at the default 10 (against one actor at
10, which then runs too).
Results print as a markdown table and go to benchmarks/results/throughput.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ENV = "HalfCheetah-v5"
ENVS, N_STEPS = 8, 32


def ours(steps: int, workers: int, value_grad_steps: int) -> float:
    from a2c_ray import A2CConfig, train

    cfg = A2CConfig(env_id=ENV, total_env_steps=steps, num_rollout_workers=workers,
                    envs_per_worker=ENVS, rollout_length=N_STEPS, eval_interval_steps=0,
                    eval_episodes=1, value_grad_steps=value_grad_steps,
                    checkpoint_interval=10**9)
    return train(cfg, show_progress=False)["env_steps_per_s"]


def sb3(steps: int, subproc: bool) -> float:
    from stable_baselines3 import A2C
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    vec_cls = SubprocVecEnv if subproc else DummyVecEnv
    env = make_vec_env(ENV, n_envs=ENVS, seed=0, vec_env_cls=vec_cls)
    model = A2C("MlpPolicy", env, n_steps=N_STEPS, seed=0, device="cpu")
    start = time.perf_counter()
    model.learn(steps)
    rate = model.num_timesteps / (time.perf_counter() - start)
    env.close()
    return rate


def _env_only(steps: int, seed: int, out: mp.Queue) -> None:
    import numpy as np

    from a2c_ray.sampling.envs import EnvVector

    vec = EnvVector(ENV, ENVS, seed)
    vec.reset()
    rng = np.random.default_rng(seed)
    low, high = vec.action_space.low, vec.action_space.high
    actions = rng.uniform(low, high, size=(steps // ENVS, ENVS, *low.shape)).astype(np.float32)
    start = time.perf_counter()
    for a in actions:
        vec.step(a)
    out.put(len(actions) * ENVS / (time.perf_counter() - start))


def cores() -> int:
    """The cores this process may run on (a container's share, not the host's count)."""
    return len(os.sched_getaffinity(0))


def env_ceiling(steps: int) -> float:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_env_only, args=(steps, i, out)) for i in range(cores())]
    for p in procs:
        p.start()
    rates = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(rates)


def measure_in_subprocess(name: str, steps: int) -> float:
    """Run one measurement in a fresh interpreter and return its steps/s."""
    code = f"import benchmarks.speed.throughput as b; print('RATE', {name})"
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=Path(__file__).resolve().parents[2])
    for line in res.stdout.splitlines():
        if line.startswith("RATE "):
            return float(line.split()[1])
    raise RuntimeError(f"{name} failed:\n{res.stderr[-3000:]}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=200_000)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--no-sb3", action="store_true", help="skip Stable-Baselines3")
    p.add_argument("--out", default="benchmarks/results/throughput.json")
    args = p.parse_args()

    runs: dict[str, str] = {"env-only ceiling (8 envs x all cores)":
                            f"b.env_ceiling({args.steps})"}
    for k in args.workers:
        runs[f"a2c_ray K={k}"] = f"b.ours({args.steps}, {k}, 1)"
    top = max(args.workers)
    if top > 1:  # one actor at the default, for the largest K's efficiency there
        runs["a2c_ray K=1, value_grad_steps=10 (default)"] = f"b.ours({args.steps}, 1, 10)"
    runs[f"a2c_ray K={top}, value_grad_steps=10 (default)"] = f"b.ours({args.steps}, {top}, 10)"
    if not args.no_sb3:
        runs["SB3 A2C DummyVecEnv"] = f"b.sb3({args.steps}, False)"
        runs["SB3 A2C SubprocVecEnv"] = f"b.sb3({args.steps}, True)"

    rates = {}
    for label, call in runs.items():
        rates[label] = measure_in_subprocess(call, args.steps)
        print(f"{label}: {rates[label]:.0f} steps/s", flush=True)

    ceiling = rates[next(iter(runs))]
    sb3_best = max((v for k, v in rates.items() if k.startswith("SB3")), default=float("nan"))
    print(f"\n{ENV}, {ENVS} envs per worker, rollout {N_STEPS}, {args.steps} steps, "
          f"{cores()} cores\n")
    # parallel efficiency of K actors: steps/s over K times one actor's, at the same
    # value_grad_steps
    one = rates.get("a2c_ray K=1")
    efficiency = {f"a2c_ray K={k}": rates[f"a2c_ray K={k}"] / (k * one)
                  for k in args.workers if one and k >= 1}
    one_default = rates.get("a2c_ray K=1, value_grad_steps=10 (default)")
    if one_default and top > 1:
        label = f"a2c_ray K={top}, value_grad_steps=10 (default)"
        efficiency[label] = rates[label] / (top * one_default)
    print("| run | env steps/s | vs best SB3 | vs env-only ceiling | parallel efficiency |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, rate in rates.items():
        eff = f"{efficiency[label]:.0%}" if label in efficiency else ""
        print(f"| {label} | {rate:.0f} | {rate / sb3_best:.2f}x | {rate / ceiling:.0%} | {eff} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "env": ENV, "envs_per_worker": ENVS, "rollout_length": N_STEPS, "steps": args.steps,
        "cores": cores(), "machine": platform.platform(), "rates": rates,
        "parallel_efficiency": efficiency,
    }, indent=2))


if __name__ == "__main__":
    main()
