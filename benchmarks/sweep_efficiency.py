"""Sweep efficiency: how much of the machine a Ray Tune + Optuna sweep turns into env steps.

    python benchmarks/sweep_efficiency.py --steps 200000 --trials 4

Measures, one after the other in one run, on HalfCheetah-v5 with the default config (K=0):
  1. one standalone ``train`` of --steps env steps, wall clock of the whole call;
  2. a sweep of --trials trials of the same configuration (a one-point search space, ASHA
     with grace = max so no trial stops early), --concurrent at a time, on local Ray with
     one CPU per trial; wall clock of the whole ``python -m a2c_ray.tune`` process.
Efficiency = (sweep env steps / (sweep wall x concurrent)) / (standalone steps/s); the
overhead of Ray Tune and Optuna is 1 - efficiency.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from a2c_ray import A2CConfig, train

ENV = "HalfCheetah-v5"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=200_000)
    p.add_argument("--trials", type=int, default=4)
    p.add_argument("--concurrent", type=int, default=2)
    args = p.parse_args()

    fixed = {"eval_interval_steps": 0, "eval_episodes": 2}
    start = time.perf_counter()
    summary = train(A2CConfig(env_id=ENV, total_env_steps=args.steps, **fixed),
                    show_progress=False)
    standalone = summary["env_steps"] / (time.perf_counter() - start)
    print(f"standalone: {summary['env_steps']} steps in {time.perf_counter() - start:.1f} s "
          f"= {standalone:.0f} steps/s on one core", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        space = Path(tmp) / "space.json"
        space.write_text(json.dumps({"learning_rate": {"type": "categorical",
                                                        "values": [A2CConfig().learning_rate]}}))
        cmd = [sys.executable, "-m", "a2c_ray.tune", "--num-samples", str(args.trials),
               "--env", ENV, "--max-steps", str(args.steps), "--grace-steps", str(args.steps),
               "--max-concurrent-trials", str(args.concurrent), "--storage-path", tmp,
               "--name", "bench", "--search-space", str(space), "--confirm-top", "0",
               "--set", "eval_interval_steps=0", "--set", "eval_episodes=2",
               "--seeds-per-trial", "1"]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        wall = time.perf_counter() - start
        steps = 0
        for result in Path(tmp, "bench").glob("run_trial_*/result.json"):
            steps += json.loads(result.read_text().splitlines()[-1])["env_steps"]
    per_core = steps / (wall * args.concurrent)
    print(f"sweep: {args.trials} trials, {steps} steps in {wall:.1f} s on {args.concurrent} "
          f"cores = {per_core:.0f} steps/s per core")
    print(f"efficiency {per_core / standalone:.0%}, Ray Tune + Optuna overhead "
          f"{1 - per_core / standalone:.0%}")


if __name__ == "__main__":
    main()
