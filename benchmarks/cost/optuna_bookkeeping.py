"""Telling Optuna the truth about trials ASHA stopped: does the sweep find better configs?

    python -m benchmarks.cost.optuna_bookkeeping --env CartPole-v1 --trials 20 --seeds 0 1 2

For each sweep seed, two sweeps that differ only in ``--stopped-trials``: ``pruned`` (a2c_ray:
a trial ASHA stopped is PRUNED at the env step it reached) and ``complete`` (what Ray's
OptunaSearch does: COMPLETE with its low-budget score). Everything else is equal: the sampler
seed, the enqueued first trials, the training seeds of trial n. For each sweep it prints the
best final score among the trials that ran the full budget and the mean final score of those
trials, and writes ``benchmarks/results/optuna_bookkeeping_<env>.json``. Resumable: a sweep
that finished is read again, not re-run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from a2c_ray.results import load_trials

ROOT = Path(__file__).resolve().parents[2]
MODES = ("pruned", "complete")


def sweep(mode: str, seed: int, a: argparse.Namespace) -> dict:
    """One sweep (or the finished one from an earlier call); its full-budget trials' scores."""
    name = f"{a.env}_{mode}_{seed}"
    exp = Path(a.work_dir) / name
    if not (exp / "summary.json").exists():
        cmd = [sys.executable, "-m", "a2c_ray.tune", "--env", a.env, "--num-samples",
               str(a.trials), "--max-steps", str(a.max_steps), "--grace-steps",
               str(a.grace_steps), "--seed", str(seed), "--seeds-per-trial", "1",
               "--stopped-trials", mode, "--storage-path", a.work_dir, "--name", name,
               "--set", "eval_episodes=5", "--confirm-top", "0"]
        if (exp / "sweep.json").exists():
            cmd = [sys.executable, "-m", "a2c_ray.tune", "--resume", "--name", name,
                   "--storage-path", a.work_dir]
        start = time.monotonic()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        (exp / "bench_wall_s.txt").write_text(f"{time.monotonic() - start:.0f}\n")
    trials = load_trials(exp)
    full = trials[(trials["status"] == "TERMINATED") & (trials["env_steps"] >= a.max_steps)]
    scores = [float(s) for s in full["score"].dropna()]
    return {"mode": mode, "sweep_seed": seed, "full_budget_trials": len(scores),
            "best": max(scores) if scores else None,
            "mean": float(np.mean(scores)) if scores else None,
            "wall_s": float((exp / "bench_wall_s.txt").read_text())}


def main() -> None:
    """Run the sweeps, print the table, write the JSON."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="CartPole-v1")
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--max-steps", type=int, default=30_000)
    p.add_argument("--grace-steps", type=int, default=3_000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--work-dir", default=str(Path.home() / "a2c_ray_bench" / "bookkeeping"))
    a = p.parse_args()
    rows = [sweep(mode, seed, a) for seed in a.seeds for mode in MODES]
    print(f"\n{a.env}, {a.trials} trials per sweep, ASHA grace {a.grace_steps:,} max "
          f"{a.max_steps:,}, one training seed per trial")
    print("| Optuna told of a stopped trial | best final score, each sweep seed | mean | "
          "mean score of the full-budget trials | full-budget trials |")
    print("| --- | --- | ---: | --- | --- |")
    for mode in MODES:
        mine = [r for r in rows if r["mode"] == mode]
        best, means = [r["best"] for r in mine], [r["mean"] for r in mine]
        print(f"| {mode} | {', '.join(f'{b:.1f}' for b in best)} | {np.mean(best):.1f} | "
              f"{', '.join(f'{m:.1f}' for m in means)} | "
              f"{', '.join(str(r['full_budget_trials']) for r in mine)} |")
    out = ROOT / "benchmarks" / "results" / f"optuna_bookkeeping_{a.env}.json"
    out.write_text(json.dumps({"settings": vars(a), "sweeps": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
