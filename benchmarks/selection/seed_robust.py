"""One seed per trial against three, at the same env-step budget, judged on test seeds.

    python -m benchmarks.selection.seed_robust --env HalfCheetah-v5

Two sweeps with the same sweep seed, ASHA settings and total env-step budget: 24 one-seed
trials against 8 three-seed trials (``--seeds-per-trial 1`` and ``3``), both up to 500k env
steps per seed. Each winner is then confirmed on the same 5 test seeds at 500k steps
(``--confirm-top 1 --confirm-seeds 5``). Writes ``benchmarks/results/seed_robust_<env>.json``
with each sweep's env steps, wall time, its winner's sweep score and the winner's test mean,
standard error, worst seed and interquartile mean. Resumable: run it again after a stop and
each sweep continues (``--resume``) or is read back when finished.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

from a2c_ray.results import load_curves, load_trials

ROOT = Path(__file__).resolve().parents[2]


def sweep(seeds_per_trial: int, trials: int, a: argparse.Namespace) -> dict:
    """One sweep and its confirmation (or the finished one); what it found and what it cost."""
    name = f"{a.env}_s{seeds_per_trial}x{trials}_seed{a.seed}"
    exp = Path(a.work_dir) / name
    log = Path(a.work_dir) / f"{name}.log"
    if not (exp / "summary.json").exists():
        if (exp / "sweep.json").exists():
            cmd = ["--resume", "--name", name, "--storage-path", a.work_dir,
                   "--confirm-top", "1", "--confirm-seeds", str(a.test_seeds)]
        else:
            cmd = ["--env", a.env, "--num-samples", str(trials), "--seeds-per-trial",
                   str(seeds_per_trial), "--max-steps", str(a.max_steps), "--grace-steps",
                   str(a.grace_steps), "--seed", str(a.seed), "--storage-path", a.work_dir,
                   "--name", name, "--confirm-top", "1", "--confirm-seeds", str(a.test_seeds)]
            if a.search_space:
                cmd += ["--search-space", a.search_space]
            cmd += [x for kv in a.overrides for x in ("--set", kv)]
        start = time.monotonic()
        with log.open("a") as out:
            code = subprocess.run([sys.executable, "-m", "a2c_ray.tune", *cmd], stdout=out,
                                  stderr=subprocess.STDOUT, cwd=ROOT).returncode
        wall = time.monotonic() - start
        previous = exp / "bench_wall_s.txt"
        total = wall + (float(previous.read_text()) if previous.exists() else 0.0)
        previous.write_text(f"{total:.0f}\n")
        if code != 0:
            sys.exit(f"the sweep {name} ended with {code}: see {log}")
    summary = json.loads((exp / "summary.json").read_text())
    winner = json.loads((exp / "confirmation.json").read_text())[0]
    trials_df = load_trials(exp)
    curves = load_curves(exp)
    env_steps = int(curves.groupby(["trial_id", "seed"])["env_steps"].max().sum())
    best = trials_df[trials_df["trial_id"] == winner["sweep_trial_id"]].iloc[0]
    return {
        "seeds_per_trial": seeds_per_trial, "trials": trials,
        "sweep_env_steps": env_steps, "wall_s": float((exp / "bench_wall_s.txt").read_text()),
        "trials_by_status": summary["trials_by_status"],
        "winner": winner["sweep_trial_id"], "winner_sweep_score": float(best["score"]),
        "winner_sweep_score_std": float(best["score_std"]),
        "test_seeds": winner["seeds"], "test_returns": winner["returns"],
        **{k: winner[k] for k in ("mean", "sem", "worst", "iqm")},
        "winner_config": winner["config"],
    }


def main() -> None:
    """Run both sweeps, print the comparison, write the JSON."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--max-steps", type=int, default=500_000)
    p.add_argument("--grace-steps", type=int, default=100_000)
    p.add_argument("--one-seed-trials", type=int, default=24)
    p.add_argument("--three-seed-trials", type=int, default=8)
    p.add_argument("--test-seeds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="the sweeps' --seed")
    p.add_argument("--search-space", help="passed to both sweeps (default: the sweep's own)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="passed to both sweeps; repeatable")
    p.add_argument("--work-dir", default=str(Path.home() / "a2c_ray_bench" / "seed_robust"))
    a = p.parse_args()
    Path(a.work_dir).mkdir(parents=True, exist_ok=True)
    rows = [sweep(1, a.one_seed_trials, a), sweep(3, a.three_seed_trials, a)]
    print(f"\n{a.env}, ASHA grace {a.grace_steps:,} max {a.max_steps:,} per seed, sweep seed "
          f"{a.seed}, space {a.search_space or 'default'}, --set {a.overrides}; each winner on "
          f"test seeds {rows[0]['test_seeds']}")
    print("| sweep | env steps | wall | winner's sweep score | test mean +- s.e. | worst | "
          "IQM |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['trials']} trials x {r['seeds_per_trial']} seed"
              f"{'s' * (r['seeds_per_trial'] > 1)} | {r['sweep_env_steps'] / 1e6:.1f}M | "
              f"{r['wall_s'] / 60:.0f} min | {r['winner_sweep_score']:.0f} +- "
              f"{r['winner_sweep_score_std']:.0f} | {r['mean']:.0f} +- {r['sem']:.0f} | "
              f"{r['worst']:.0f} | {r['iqm']:.0f} |")
    out = ROOT / "benchmarks" / "results" / f"seed_robust_{a.env}.json"
    out.write_text(json.dumps({"settings": vars(a), "machine": platform.node(),
                               "sweeps": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
