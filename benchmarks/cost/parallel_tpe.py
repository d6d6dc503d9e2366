"""TPE with many trials in flight: constant liar (``--sampler tpe``) against plain TPE.

    python -m benchmarks.cost.parallel_tpe --trials 32 --in-flight 8 --seeds 0 1 2

Starts a one-node Ray with ``--in-flight`` logical CPUs (so that many one-CPU trials run at
once, whatever the machine has), then runs the same CartPole-v1 sweep, default search space
and ASHA, once per sampler and sweep seed, ``--in-flight`` trials at a time. Reports the best
``eval_return_last`` after every trial (in the order the sampler proposed them), leaving out
the first trial, SB3's default A2C, which every sweep evaluates first whatever its sampler, and
writes everything to ``--out``. The budget is short (10k steps) so that few trials reach
CartPole's 500. Learning does not depend on timing, but which trials ASHA stops does, so each
sweep is one draw.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna

ROOT = Path(__file__).resolve().parents[2]
RAY = [sys.executable, "-m", "ray.scripts.scripts"]
SAMPLERS = ("tpe-plain", "tpe")


def sweep(sampler: str, seed: int, a: argparse.Namespace, storage: str) -> dict:
    """One sweep; returns each trial's final metric in the order the trials were created."""
    name = f"{sampler}_{seed}"
    cmd = [sys.executable, "-m", "a2c_ray.tune", "--address", "auto", "--env", "CartPole-v1",
           "--num-samples", str(a.trials), "--max-steps", str(a.max_steps), "--grace-steps",
           str(a.grace_steps), "--max-concurrent-trials", str(a.in_flight), "--sampler",
           sampler, "--seed", str(seed), "--storage-path", storage, "--name", name,
           "--set", "eval_episodes=5", "--seeds-per-trial", "1", "--confirm-top", "0"]
    start = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    wall = time.monotonic() - start
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{storage}/{name}/optuna.db")
    values = []  # in the order the sampler proposed the trials, the shared ones left out
    for t in sorted(study.trials, key=lambda t: t.number):
        if "fixed_params" in t.system_attrs:
            continue  # enqueued (a published configuration): every sweep's first trials
        reported = t.value if t.value is not None else (
            t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None)
        if reported is not None:
            values.append(float(reported))
    return {"sampler": sampler, "seed": seed, "wall_s": wall, "values": values,
            "best_so_far": np.maximum.accumulate(values).tolist(),
            "first": study.trials[0].params}


def _best_after(run: dict, n: int) -> float:
    """The best final metric among the first n trials the sampler proposed."""
    return run["best_so_far"][min(n, len(run["values"])) - 1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trials", type=int, default=32)
    p.add_argument("--in-flight", type=int, default=8)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--max-steps", type=int, default=10_000)
    p.add_argument("--grace-steps", type=int, default=2_500)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "parallel_tpe.json"))
    a = p.parse_args()

    subprocess.run([*RAY, "start", "--head", "--num-cpus", str(a.in_flight),
                    "--include-dashboard", "false", "--disable-usage-stats"],
                   check=True, capture_output=True)
    runs = []
    try:
        with tempfile.TemporaryDirectory() as storage:
            for seed in a.seeds:
                for sampler in SAMPLERS:
                    runs.append(sweep(sampler, seed, a, storage))
                    r = runs[-1]
                    after = [round(_best_after(r, n), 1) for n in (8, 16, 24)]
                    print(f"{sampler:9s} seed {seed}: best {r['best_so_far'][-1]:.1f}, "
                          f"best after 8/16/24 trials {after}, {r['wall_s']:.0f} s", flush=True)
    finally:
        subprocess.run([*RAY, "stop", "--force"], capture_output=True)
    Path(a.out).write_text(json.dumps({"settings": vars(a), "runs": runs}, indent=2))
    print("\n| sampler | best eval_return_last after N trials, mean over seeds (each seed) |")
    print("| --- | --- |")
    for sampler in SAMPLERS:
        mine = [r for r in runs if r["sampler"] == sampler]
        for n in (8, 16, 24, a.trials - 1):
            bests = [_best_after(r, n) for r in mine]
            each = ", ".join(f"{b:.0f}" for b in bests)
            print(f"| {sampler}, N={n} | {np.mean(bests):.1f} ({each}) |")
        means = [np.mean(r["values"]) for r in mine]
        each = ", ".join(f"{m:.0f}" for m in means)
        print(f"| {sampler}, mean of all | {np.mean(means):.1f} ({each}) |")


if __name__ == "__main__":
    main()
