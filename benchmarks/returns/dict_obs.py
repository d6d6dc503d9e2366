"""Goal-conditioned Dict observations: a2c_ray beside Stable-Baselines3's A2C, same seeds and steps.

    python -m benchmarks.returns.dict_obs --env FetchReachDense-v4 --steps 200000 --seeds 0 1 2 3 4
    python -m benchmarks.returns.dict_obs --env FetchReachDense-v4 --report

Two rows, each trained on every seed for the same env steps:

- a2c_ray: ``python -m a2c_ray.train --env ENV --max-steps STEPS --seed S --set
  normalize_obs=true``, its defaults otherwise (observations normalised as the course's
  ``VecNormalize`` does; rewards not);
- SB3's A2C as the Hugging Face Deep RL course trains it on a robot arm's Dict observation
  (``benchmarks/returns/sb3_a2c.py --settings course``: ``MultiInputPolicy``, 4 envs,
  observations and rewards normalised, SB3's defaults otherwise). The zoo publishes no A2C
  settings for these tasks.

Both are evaluated alike, every ``--eval-every`` env steps and at the end: 10 deterministic
episodes, episode k reset with seed + 1_000_003 + k, observation statistics frozen, raw
rewards; the return and the success rate (the ``is_success`` of each episode's last step).
Nothing here was tuned on this task.

The Fetch tasks come with gymnasium-robotics (``pip install -e ".[robotics]"``), whose Fetch
envs need MuJoCo below 3.12. Runs are kept in ``--work-dir``: a finished one is not trained
again, and the record (``WORK/ENV/record.json``) is written after each. ``--report`` prints
the table of ``--record`` and draws its curves (``--figure``, by default beside it).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.returns.side_by_side import curve_band, run_logged, run_rows

MUJOCO_EGL = {"MUJOCO_GL": "egl"}
ROWS = ("a2c_ray", "sb3")
LABELS = {"a2c_ray": "a2c_ray, its defaults + normalize_obs",
          "sb3": "SB3 A2C, the Deep RL course's settings"}


def _a2c_ray(a: argparse.Namespace, seed: int, work: Path) -> dict[str, Any]:
    """Train a2c_ray on one seed (unless it finished before); its result as the record keeps it."""
    import pandas as pd

    out = work / "a2c_ray" / f"seed_{seed}"
    if not (out / "summary.json").exists():
        if out.exists():  # stopped midway: trained again from the start (minutes)
            import shutil

            shutil.rmtree(out)
        run_logged([sys.executable, "-m", "a2c_ray.train", "--env", a.env, "--max-steps",
              str(a.steps), "--seed", str(seed), "--set", "normalize_obs=true", "--set",
              f"eval_interval_steps={a.eval_every}", "--set", "eval_episodes=10", "--out",
              str(out), "--progress", "log"], work / "logs" / f"a2c_ray_{seed}.log", MUJOCO_EGL)
    summary = json.loads((out / "summary.json").read_text())
    df = pd.read_csv(out / "progress.csv").dropna(subset=["eval_return_mean"])
    return {"seed": seed, "env_steps": summary["env_steps"],
            "eval_return_last": summary["eval_return_mean"],
            "eval_success_last": summary.get("eval_success_rate"),
            "curve": {"env_steps": df["env_steps"].astype(int).tolist(),
                      "eval_return": df["eval_return_mean"].tolist(),
                      "eval_success": df["eval_success_rate"].tolist()},
            "wall_s": summary["wall_s"], "env_steps_per_s": summary["env_steps_per_s"]}


def _sb3(a: argparse.Namespace, seed: int, work: Path) -> dict[str, Any]:
    """Train SB3's A2C on one seed (unless it finished before); its result."""
    out = work / "sb3" / f"seed_{seed}.json"
    if not out.exists():
        run_logged([sys.executable, "-m", "benchmarks.returns.sb3_a2c", "--env", a.env,
                    "--settings", "course", "--seed", str(seed), "--steps", str(a.steps),
                    "--eval-every", str(a.eval_every), "--eval-episodes", "10", "--out",
                    str(out)], work / "logs" / f"sb3_{seed}.log", MUJOCO_EGL)
    run = json.loads(out.read_text())
    return {"seed": seed, "env_steps": run["env_steps"],
            "eval_return_last": run["eval_return_last"],
            "eval_success_last": run.get("eval_success_last"), "curve": run["curve"],
            "wall_s": run["wall_s"], "env_steps_per_s": run["env_steps"] / run["wall_s"]}


def _machine() -> dict[str, Any]:
    import platform

    import mujoco
    import torch

    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "mujoco": mujoco.__version__,
            "load_1min_at_start": os.getloadavg()[0]}


def measure(a: argparse.Namespace) -> Path:
    """Every row on every seed, ``--jobs`` runs at a time; the record after each."""
    work = Path(a.work_dir).expanduser() / a.env
    path = work / "record.json"
    record = json.loads(path.read_text()) if path.exists() else {
        "env_id": a.env, "env_steps": a.steps, "eval_every": a.eval_every, "eval_episodes": 10,
        "machine": _machine(), "rows": {r: {} for r in ROWS},
        "commands": {"a2c_ray": f"python -m a2c_ray.train --env {a.env} --max-steps "
                                f"{a.steps} --seed SEED --set normalize_obs=true",
                     "sb3": f"python -m benchmarks.returns.sb3_a2c --env {a.env} --settings course "
                            f"--seed SEED --steps {a.steps}"}}
    if record["env_steps"] != a.steps:
        raise SystemExit(f"--steps {a.steps}: the record in {path} was made with "
                         f"{record['env_steps']}; give that, or another --work-dir")
    jobs = [(row, seed) for seed in a.seeds for row in ROWS
            if str(seed) not in record["rows"][row]]
    train = {"a2c_ray": lambda seed: _a2c_ray(a, seed, work),
             "sb3": lambda seed: _sb3(a, seed, work)}
    run_rows(record, path, jobs, train, a.jobs, lambda r: (
        f"return {r['eval_return_last']:.2f}, success {r['eval_success_last']}, "
        f"{r['wall_s']:.0f} s"))
    return path


def _cell(values: list[float], digits: int) -> str:
    mean = float(np.mean(values))
    se = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} +- {se:.{digits}f}"


def table(record: dict[str, Any]) -> str:
    """The record as a markdown table: return and success rate over seeds, worst seed, speed."""
    lines = ["| row | seeds | final return: mean +- s.e. | worst seed | final success rate: "
             "mean +- s.e. | worst seed | first eval at success >= 0.9 (env steps, median) | "
             "env steps/s |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in ROWS:
        runs = list(record["rows"].get(row, {}).values())
        if not runs:
            continue
        returns = [r["eval_return_last"] for r in runs]
        success = [r["eval_success_last"] for r in runs]
        reached = []
        for r in runs:
            hits = [s for s, v in zip(r["curve"]["env_steps"], r["curve"]["eval_success"],
                                      strict=True) if v is not None and v >= 0.9]
            reached.append(hits[0] if hits else math.inf)
        median = float(np.median(reached))
        lines.append(
            f"| {LABELS[row]} | {len(runs)} | {_cell(returns, 2)} | {min(returns):.2f} | "
            f"{_cell(success, 2)} | {min(success):.2f} | "
            f"{'not reached' if math.isinf(median) else f'{median:,.0f}'} | "
            f"{np.mean([r['env_steps_per_s'] for r in runs]):,.0f} |")
    return "\n".join(lines)


def figure(record: dict[str, Any], path: Path) -> None:
    """Success rate and return against env steps: each row's mean over seeds, min to max."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for row in ROWS:
        runs = list(record["rows"].get(row, {}).values())
        if not runs:
            continue
        for ax, key in zip(axes, ("eval_success", "eval_return"), strict=True):
            steps, values = curve_band(runs, key)
            line, = ax.plot(steps, values.mean(0), label=f"{LABELS[row]} ({len(runs)} seeds)")
            ax.fill_between(steps, values.min(0), values.max(0), alpha=0.2,
                            color=line.get_color())
    axes[0].set_ylabel("success rate (10 deterministic episodes)")
    axes[1].set_ylabel("return (10 deterministic episodes)")
    from matplotlib.ticker import FuncFormatter

    for ax in axes:
        ax.set_xlabel("env steps")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:.0f}k"))
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{record['env_id']}: mean over seeds, min to max shaded")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="FetchReachDense-v4")
    p.add_argument("--steps", type=int, default=200_000, help="env steps per run")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--eval-every", type=int, default=10_000)
    p.add_argument("--jobs", type=int, default=2, help="runs at a time")
    p.add_argument("--work-dir", default="~/dict_obs")
    p.add_argument("--report", action="store_true", help="print the table of --record, draw "
                   "its curves (--figure), and train nothing")
    p.add_argument("--record", help="with --report: the record (default: the work dir's)")
    p.add_argument("--figure", help="with --report: where the curves go (default: beside the "
                   "record, .png)")
    a = p.parse_args()
    path = Path(a.record) if a.record else Path(a.work_dir).expanduser() / a.env / "record.json"
    if not a.report:
        path = measure(a)
    record = json.loads(path.read_text())
    print(table(record))
    if a.report:
        out = Path(a.figure) if a.figure else path.with_suffix(".png")
        figure(record, out)
        print(f"figure: {out}")


if __name__ == "__main__":
    main()
