"""A sweep's cost per core against the env-only ceiling, at the sweep's own defaults.

    python benchmarks/sweep_cost.py --env HalfCheetah-v5 --steps 500000 --trials 4

Measured one after another in one run, on every core of this machine (C of them):
  1. the env-only ceiling: EnvVector stepping 8 envs with random actions, one process per
     core (benchmarks/throughput.py), in env steps/s per core;
  2. standalone: C runs of the env's preset at once, one per core, ``train`` in-process, each
     evaluated as a sweep's trial is (every 25k steps, the search's episodes per evaluation);
     steps/s per core is their env steps over the wall time of the slowest, start-up included;
  3. the sweep: ``python -m a2c_ray.tune`` over --trials one-seed trials of the same preset
     (a one-point search space, ASHA's grace equal to the budget so none stops early), C at a
     time; steps/s per core is every trial's env steps over (wall time of the whole command x
     C), Ray's start-up and the summary included.
Efficiency = sweep steps/s per core / ceiling; overhead = 1 - sweep / standalone; evaluation
share = the trials' ``eval_time_s`` over their ``time_total_s``. Results go to
benchmarks/results/sweep_cost_<env>_<steps>_e<episodes>[_t<trials>].json. ``--side-by-side 10 5``
instead runs the standalone preset at each number of evaluation episodes at once, one per core, and
compares their steps/s (evaluation included) within that one run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.throughput import cores, env_ceiling

ROOT = Path(__file__).resolve().parents[1]


def standalone(config: dict[str, Any]) -> dict[str, float]:
    """One in-process run of ``config``; its env steps and evaluation time."""
    import torch

    from a2c_ray import A2CConfig, Trainer

    torch.set_num_threads(1)
    with Trainer(A2CConfig.from_dict(config), show_progress=False) as t:
        t.run()
        return {"env_steps": t.state.env_steps, "eval_time_s": t.state.eval_time_s,
                "time_total_s": t.time_total_s}


def main() -> None:
    """Measure the three, print the table, write the JSON."""
    from a2c_ray.tune import SEARCH_EVAL_EPISODES

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--steps", type=int, default=500_000)
    p.add_argument("--trials", type=int, default=4)
    p.add_argument("--eval-episodes", type=int, default=SEARCH_EVAL_EPISODES,
                   help="episodes per evaluation (default: the sweep's)")
    p.add_argument("--side-by-side", type=int, nargs="+", metavar="EPISODES",
                   help="instead: standalone runs at these episodes per evaluation, all at "
                   "once (one per core), to compare evaluation settings in one run")
    a = p.parse_args()
    n = cores()
    preset = json.loads((ROOT / "a2c_ray" / "presets" / f"{a.env}.json").read_text())
    config = {**preset, "total_env_steps": a.steps, "eval_interval_steps": 25_000,
              "eval_episodes": a.eval_episodes}
    if a.side_by_side:
        with ProcessPoolExecutor(max_workers=len(a.side_by_side)) as pool:
            runs = list(pool.map(standalone, [{**config, "seed": 10_000, "eval_episodes": e}
                                              for e in a.side_by_side]))
        print("| episodes per evaluation | env steps/s, evaluation included | evaluation share |")
        print("| ---: | ---: | ---: |")
        for e, r in zip(a.side_by_side, runs, strict=True):
            print(f"| {e} | {r['env_steps'] / r['time_total_s']:,.0f} | "
                  f"{r['eval_time_s'] / r['time_total_s']:.0%} |")
        return

    ceiling = env_ceiling(200_000) / n
    print(f"env-only ceiling: {ceiling:,.0f} steps/s per core", flush=True)

    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=n) as pool:
        runs = list(pool.map(standalone, [{**config, "seed": 10_000 + i} for i in range(n)]))
    wall = time.perf_counter() - start
    alone = sum(r["env_steps"] for r in runs) / wall / n
    alone_eval = sum(r["eval_time_s"] for r in runs) / sum(r["time_total_s"] for r in runs)
    print(f"standalone: {alone:,.0f} steps/s per core, evaluation {alone_eval:.0%}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        space = Path(tmp) / "space.json"
        space.write_text(json.dumps({"learning_rate": {"type": "categorical",
                                                        "values": [preset["learning_rate"]]}}))
        cmd = [sys.executable, "-m", "a2c_ray.tune", "--num-samples", str(a.trials),
               "--env", a.env, "--max-steps", str(a.steps), "--grace-steps", str(a.steps),
               "--max-concurrent-trials", str(n), "--storage-path", tmp, "--name", "cost",
               "--search-space", str(space), "--seeds-per-trial", "1",
               "--set", f"eval_episodes={a.eval_episodes}",
               *[x for k, v in preset.items() if k not in ("env_id", "seed", "total_env_steps",
                                                           "learning_rate", "eval_episodes",
                                                           "eval_interval_steps")
                 for x in ("--set", f"{k}={json.dumps(v)}")]]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        wall = time.perf_counter() - start
        last = [json.loads(r.read_text().splitlines()[-1])
                for r in Path(tmp, "cost").glob("run_trial_*/result.json")]
    sweep = sum(r["env_steps"] for r in last) / (wall * n)
    sweep_eval = sum(r["eval_time_s"] for r in last) / sum(r["time_total_s"] for r in last)
    print(f"sweep: {sweep:,.0f} steps/s per core, evaluation {sweep_eval:.0%}", flush=True)

    result = {"env": a.env, "steps": a.steps, "trials": a.trials, "cores": n,
              "eval_episodes": a.eval_episodes, "ceiling": ceiling, "standalone": alone,
              "standalone_eval_share": alone_eval, "sweep": sweep, "sweep_eval_share": sweep_eval,
              "efficiency": sweep / ceiling, "overhead": 1 - sweep / alone}
    name = f"sweep_cost_{a.env}_{a.steps}_e{a.eval_episodes}"
    name += "" if a.trials == 4 else f"_t{a.trials}"  # 4 trials: the table's usual rows
    out = ROOT / "benchmarks" / "results" / f"{name}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"| {a.steps:,} | {a.eval_episodes} | {ceiling:,.0f} | {alone:,.0f} | {sweep:,.0f} | "
          f"{sweep / ceiling:.0%} | {1 - sweep / alone:.0%} | {sweep_eval:.0%} |")


if __name__ == "__main__":
    main()
