"""A sweep's cost per core against the env-only ceiling, at the sweep's own defaults.

    python -m benchmarks.cost.sweep_cost --env HalfCheetah-v5 --steps 500000 --trials 4

Measured one after another in one run, on every core of this machine (C of them):
  1. the env-only ceiling: EnvVector stepping 8 envs with random actions, one process per
     core (benchmarks/speed/throughput.py), in env steps/s per core;
  2. standalone: C runs of the env's preset at once, one per core, ``train`` in-process, each
     evaluated as a sweep's trial that runs the whole budget is (every 25k steps on the grid,
     or only where the score is read under --eval-schedule rungs; the search's episodes per
     evaluation); steps/s per core is their env steps over the wall time of the slowest,
     start-up included;
  3. the sweep: ``python -m a2c_ray.tune`` over --trials one-seed trials of the same preset
     (a one-point search space), C at a time, with --grace-steps (default: the budget, so
     none stops early; 100000 is the sweep's default, and ASHA then stops trials as in a real
     sweep) and --eval-schedule; steps/s per core is every trial's env steps over (wall time
     of the whole command x C), Ray's start-up and the summary included.
Efficiency = sweep steps/s per core / ceiling; overhead = 1 - sweep / standalone; evaluation
share = the trials' ``eval_time_s`` over their ``time_total_s``; busy = the trials'
``time_total_s`` (Tune's clock of the trainable's own work, its set-up included) over (the
sweep's wall time x C), the part of the slots' time that trials ran in, and the in-trial rate
their env steps over their ``time_total_s``. The rest is split with the times Tune saves with
each trial (set running, last result; ``a2c_ray.results.tune_trial_states``): ``tune_busy``,
Tune's trial times over the slots' time, which less ``busy`` is the time a trial waited
inside Tune (its actor starting, and its training thread paused while the driver handles each
report: function trainables report synchronously); before the first trial runs (Python, Ray
and Tune start-up); after the last result (the summary and shut-down); and the hand-overs in
a slot, from one trial's last result to the next one running. Results go to
benchmarks/results/sweep_cost_<env>_<steps>_e<episodes>[_t<trials>][_g<grace>][_rungs].json.

``--side-by-side 10 5`` instead runs the standalone preset at each number of evaluation episodes
at once, one per core, and compares their steps/s (evaluation included) within that one run;
``--side-by-side-schedules`` does the same for --eval-schedule every against rungs, for a trial
of a default sweep (grace 100k, reduction factor 3) that runs the whole budget.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from a2c_ray.results import tune_trial_states
from benchmarks.speed.throughput import cores, env_ceiling

ROOT = Path(__file__).resolve().parents[2]


def standalone(config: dict[str, Any], eval_at: frozenset[int] | None = None
               ) -> dict[str, float]:
    """One in-process run of ``config``, evaluated at ``eval_at`` (default: every interval)."""
    import torch

    from a2c_ray import A2CConfig, Trainer

    torch.set_num_threads(1)
    evaluations = []
    with Trainer(A2CConfig.from_dict(config), show_progress=False, eval_at=eval_at) as t:
        t.run(on_iteration=lambda m, _: evaluations.append(not math.isnan(m["eval_return_mean"])))
        return {"env_steps": t.state.env_steps, "eval_time_s": t.state.eval_time_s,
                "time_total_s": t.time_total_s, "evaluations": sum(evaluations)}


def sweep_evaluations(config: dict[str, Any], grace: int, schedule: str
                      ) -> frozenset[int] | None:
    """Where a sweep's trial that runs all of ``config``'s budget evaluates (None: everywhere).

    The sweep's own rule (``a2c_ray.tuning.schedule.scored_evaluations``), at the sweep's
    default reduction factor and evaluations per score.
    """
    from a2c_ray import A2CConfig, SweepConfig
    from a2c_ray.tuning.schedule import asha_milestones, scored_evaluations

    if schedule == "every":
        return None
    cfg, defaults = A2CConfig.from_dict(config), SweepConfig()
    milestones = asha_milestones(grace, cfg.total_env_steps, defaults.reduction_factor)
    return scored_evaluations(cfg.eval_interval_steps, milestones, cfg.total_env_steps,
                              defaults.score_evals, cfg.batch_size)


def slot_gaps(times: list[tuple[float, float]], slots: int) -> list[float]:
    """Each trial's wait after the trial before it in its slot (seconds), first trials left out.

    ``times`` are (start, end) per trial. The first ``slots`` trials to start open the slots;
    each later one follows, in start order, the trial that ended latest before it started (the
    one whose slot it took, where a slot runs one trial at a time).
    """
    ordered = sorted(times)
    ends = [end for _, end in ordered[:slots]]
    gaps = []
    for start, end in ordered[slots:]:
        free = [i for i, e in enumerate(ends) if e <= start]
        i = (max(free, key=ends.__getitem__) if free
             else min(range(len(ends)), key=ends.__getitem__))
        gaps.append(max(0.0, start - ends[i]))
        ends[i] = end
    return gaps


def _print_side_by_side(labels: list[str], runs: list[dict[str, float]], what: str) -> None:
    print(f"| {what} | evaluations | env steps/s, evaluation included | evaluation share |")
    print("| ---: | ---: | ---: | ---: |")
    for label, r in zip(labels, runs, strict=True):
        print(f"| {label} | {r['evaluations']} | {r['env_steps'] / r['time_total_s']:,.0f} | "
              f"{r['eval_time_s'] / r['time_total_s']:.0%} |")


def main() -> None:
    """Measure the three, print the table, write the JSON."""
    from a2c_ray.tuning.config import SEARCH_EVAL_EPISODES

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--steps", type=int, default=500_000)
    p.add_argument("--trials", type=int, default=4)
    p.add_argument("--eval-episodes", type=int, default=SEARCH_EVAL_EPISODES,
                   help="episodes per evaluation (default: the sweep's)")
    p.add_argument("--grace-steps", type=int, default=None,
                   help="the sweep's ASHA grace (default: --steps, so no trial stops early)")
    p.add_argument("--eval-schedule", choices=("rungs", "every"), default="rungs",
                   help="the sweep's --eval-schedule (default: the sweep's own)")
    p.add_argument("--side-by-side", type=int, nargs="+", metavar="EPISODES",
                   help="instead: standalone runs at these episodes per evaluation, all at "
                   "once (one per core), to compare evaluation settings in one run")
    p.add_argument("--side-by-side-schedules", action="store_true",
                   help="instead: standalone runs evaluated every 25k steps and where a "
                   "default sweep reads the score, at once, to compare them in one run")
    a = p.parse_args()
    grace = a.steps if a.grace_steps is None else a.grace_steps
    n = cores()
    preset = json.loads((ROOT / "a2c_ray" / "presets" / f"{a.env}.json").read_text())
    config = {**preset, "total_env_steps": a.steps, "eval_interval_steps": 25_000,
              "eval_episodes": a.eval_episodes}
    if a.side_by_side:
        with ProcessPoolExecutor(max_workers=len(a.side_by_side)) as pool:
            runs = list(pool.map(standalone, [{**config, "seed": 10_000, "eval_episodes": e}
                                              for e in a.side_by_side]))
        _print_side_by_side([str(e) for e in a.side_by_side], runs, "episodes per evaluation")
        return
    if a.side_by_side_schedules:
        schedules = ("every", "rungs")
        points = [sweep_evaluations(config, 100_000, s) for s in schedules]
        with ProcessPoolExecutor(max_workers=2) as pool:
            runs = list(pool.map(standalone, [{**config, "seed": 10_000}] * 2, points))
        _print_side_by_side(list(schedules), runs, "--eval-schedule")
        return

    ceiling = env_ceiling(200_000) / n
    print(f"env-only ceiling: {ceiling:,.0f} steps/s per core", flush=True)

    start = time.perf_counter()
    points = sweep_evaluations(config, grace, a.eval_schedule)
    with ProcessPoolExecutor(max_workers=n) as pool:
        runs = list(pool.map(standalone, [{**config, "seed": 10_000 + i} for i in range(n)],
                             [points] * n))
    wall = time.perf_counter() - start
    alone = sum(r["env_steps"] for r in runs) / wall / n
    alone_eval = sum(r["eval_time_s"] for r in runs) / sum(r["time_total_s"] for r in runs)
    print(f"standalone: {alone:,.0f} steps/s per core, evaluation {alone_eval:.0%}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        space = Path(tmp) / "space.json"
        space.write_text(json.dumps({"learning_rate": {"type": "categorical",
                                                        "values": [preset["learning_rate"]]}}))
        cmd = [sys.executable, "-m", "a2c_ray.tune", "--num-samples", str(a.trials),
               "--env", a.env, "--max-steps", str(a.steps), "--grace-steps", str(grace),
               "--eval-schedule", a.eval_schedule,
               "--max-concurrent-trials", str(n), "--storage-path", tmp, "--name", "cost",
               "--search-space", str(space), "--seeds-per-trial", "1", "--confirm-top", "0",
               "--set", f"eval_episodes={a.eval_episodes}",
               *[x for k, v in preset.items() if k not in ("env_id", "seed", "total_env_steps",
                                                           "learning_rate", "eval_episodes",
                                                           "eval_interval_steps")
                 for x in ("--set", f"{k}={json.dumps(v)}")]]
        start, began = time.perf_counter(), time.time()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        wall, ended = time.perf_counter() - start, time.time()
        last = [json.loads(r.read_text().splitlines()[-1])
                for r in Path(tmp, "cost").glob("run_trial_*/result.json")]
        states = (tune_trial_states(str(Path(tmp, "cost"))) or {}).values()
        times = [(t["started_at"], t["last_result_at"]) for t in states
                 if t["started_at"] is not None and t["last_result_at"] is not None]
    sweep = sum(r["env_steps"] for r in last) / (wall * n)
    in_trials = sum(r["time_total_s"] for r in last)
    sweep_eval = sum(r["eval_time_s"] for r in last) / in_trials
    # The part of the C slots' wall time that trials ran in; the rest is Ray's start-up, the
    # summary, trial hand-over, and a slot left idle while the last trials finish.
    busy = in_trials / (wall * n)
    in_trial = sum(r["env_steps"] for r in last) / in_trials
    print(f"sweep: {sweep:,.0f} steps/s per core, evaluation {sweep_eval:.0%}; trials ran in "
          f"{busy:.0%} of the slots' time, at {in_trial:,.0f} steps/s", flush=True)
    before = min(s for s, _ in times) - began
    after = ended - max(e for _, e in times)
    gaps = slot_gaps(times, n)
    handover = float(np.median(gaps)) if gaps else float("nan")
    tune_busy = sum(e - s for s, e in times) / (wall * n)
    print(f"Tune's trials (set running to last result) filled {tune_busy:.0%} of the slots' "
          f"time; outside them: {before:.1f} s before the first, {after:.1f} s after the last "
          f"result, {len(gaps)} hand-overs of median {handover:.2f} s", flush=True)

    stopped = sum(r["env_steps"] < a.steps for r in last)
    result = {"env": a.env, "steps": a.steps, "trials": a.trials, "cores": n,
              "grace_steps": grace, "eval_schedule": a.eval_schedule,
              "trials_stopped_early": stopped, "trial_env_steps": sum(r["env_steps"] for r in last),
              "eval_episodes": a.eval_episodes, "ceiling": ceiling, "standalone": alone,
              "standalone_eval_share": alone_eval, "sweep": sweep, "sweep_eval_share": sweep_eval,
              "sweep_busy": busy, "sweep_in_trial": in_trial,
              "tune_busy": tune_busy, "before_first_trial_s": before, "after_last_result_s": after,
              "handovers": len(gaps), "handover_median_s": handover,
              "efficiency": sweep / ceiling, "overhead": 1 - sweep / alone}
    name = f"sweep_cost_{a.env}_{a.steps}_e{a.eval_episodes}"
    name += "" if a.trials == 4 else f"_t{a.trials}"  # 4 trials: the table's usual rows
    name += "" if grace == a.steps else f"_g{grace}"
    name += "_rungs" if a.eval_schedule == "rungs" else ""  # the rows before it: every
    out = ROOT / "benchmarks" / "results" / f"{name}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"{stopped} of {len(last)} trials stopped early by ASHA")
    print(f"| {a.steps:,} | {a.eval_episodes} | {ceiling:,.0f} | {alone:,.0f} | {sweep:,.0f} | "
          f"{sweep / ceiling:.0%} | {1 - sweep / alone:.0%} | {sweep_eval:.0%} |")


if __name__ == "__main__":
    main()
