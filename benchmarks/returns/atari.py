"""Atari from pixels: a2c_ray beside Stable-Baselines3's A2C with the zoo's Atari settings.

    python -m benchmarks.returns.atari --env ALE/Pong-v5 --steps 2000000 --seeds 0
    python -m benchmarks.returns.atari --env ALE/Pong-v5 --report

Two rows, each trained on every seed for the same env steps (agent steps: 4 frames each):

- a2c_ray: ``python -m a2c_ray.train --config a2c_ray/atari.json --env ENV --max-steps STEPS
  --seed S``: the zoo's A2C Atari settings in a2c_ray's fields, gymnasium's
  ``AtariPreprocessing`` and ``FrameStackObservation`` (a2c_ray/sampling/envs.py);
- SB3's A2C as rl-baselines3-zoo trains it on Atari (``benchmarks/returns/sb3_a2c.py --settings
  zoo-atari``: SB3's ``AtariWrapper`` and ``VecFrameStack``, ``CnnPolicy``, 16 envs,
  ``RMSpropTFLike``), with ``frameskip=1`` given to the v5 env so that its wrapper's skip of 4
  is the only one. Its wrapper also presses FIRE at reset, which gymnasium's does not.

Both keep v5's sticky actions (0.25) and are evaluated alike every ``--eval-every`` env steps
and at the end: 10 episodes of whole games (no life-loss end, no reward clipping), episode k
reset with seed + 1_000_003 + k, the game's score, acting by drawing from the policy
(``--eval-policy stochastic``, the default: a2c_ray's ``eval_policy=auto`` on Atari, and how
rl-baselines3-zoo evaluates Atari; a deterministic Breakout policy can wait for FIRE until the
108,000-frame cap) or by its mode (``deterministic``). Each run's training
throughput (env steps/s, evaluation excluded) and the peak memory of its process tree are
recorded; ``--report`` adds the bytes a step's batch holds, as it crosses Ray's object store
from a rollout actor.

Runs are kept in ``--work-dir``: a finished one is not trained again, one stopped midway (a
machine's session ended) goes on from its last checkpoint, a2c_ray's exactly, SB3's with fresh
episodes (sb3_a2c.py says what it keeps), and the record
(``WORK/ENV/record.json``, ENV with ``/`` as ``-``) is written after each. ``--report`` prints
the table of ``--record`` and draws its curves (``--figure``, by default beside it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.returns.side_by_side import ROOT, curve_band, run_logged, run_rows

ROWS = ("a2c_ray", "sb3")
LABELS = {"a2c_ray": "a2c_ray, a2c_ray/atari.json", "sb3": "SB3 A2C, the zoo's Atari settings"}


def _a2c_ray(a: argparse.Namespace, seed: int, work: Path) -> dict[str, Any]:
    """Train a2c_ray on one seed (unless it finished before); its result as the record keeps it."""
    import pandas as pd

    out = work / "a2c_ray" / f"seed_{seed}"
    peak = None
    if not (out / "summary.json").exists():
        if out.exists():  # stopped midway: it resumes from its last checkpoint
            cmd = [sys.executable, "-m", "a2c_ray.train", "--out", str(out), "--resume",
                   "--progress", "log"]
        else:
            cmd = [sys.executable, "-m", "a2c_ray.train", "--config", "a2c_ray/atari.json",
                   "--env", a.env, "--max-steps", str(a.steps), "--seed", str(seed), "--set",
                   f"eval_interval_steps={a.eval_every}", "--set", "eval_episodes=10",
                   "--set", f"eval_policy={a.eval_policy}", "--out", str(out), "--progress",
                   "log"]
        peak = run_logged(cmd, work / "logs" / f"a2c_ray_{seed}.log")
    summary = json.loads((out / "summary.json").read_text())
    df = pd.read_csv(out / "progress.csv").dropna(subset=["eval_return_mean"])
    return {"seed": seed, "env_steps": summary["env_steps"],
            "eval_return_last": summary["eval_return_mean"],
            "curve": {"env_steps": df["env_steps"].astype(int).tolist(),
                      "eval_return": df["eval_return_mean"].tolist()},
            "wall_s": summary["wall_s"], "env_steps_per_s": summary["env_steps_per_s"],
            "peak_rss_bytes": peak}


def _sb3(a: argparse.Namespace, seed: int, work: Path) -> dict[str, Any]:
    """Train SB3's A2C on one seed (unless it finished before); its result."""
    out = work / "sb3" / f"seed_{seed}.json"
    peak = None
    if not out.exists():
        peak = run_logged([sys.executable, "-m", "benchmarks.returns.sb3_a2c", "--env", a.env,
                           "--settings", "zoo-atari", "--seed", str(seed), "--steps",
                           str(a.steps), "--eval-every", str(a.eval_every), "--eval-episodes",
                           "10", "--eval-policy", a.eval_policy, "--out", str(out)],
                          work / "logs" / f"sb3_{seed}.log")
    run = json.loads(out.read_text())
    row = {"seed": seed, "env_steps": run["env_steps"],
           "eval_return_last": run["eval_return_last"], "curve": run["curve"],
           "wall_s": run["wall_s"], "env_steps_per_s": run["env_steps_per_s"],
           "peak_rss_bytes": peak}
    if "parts" in run:  # resumed: each part's env steps and throughput
        row["parts"] = run["parts"]
    return row


def _machine() -> dict[str, Any]:
    import platform

    import ale_py
    import stable_baselines3
    import torch

    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "ale_py": ale_py.__version__,
            "stable_baselines3": stable_baselines3.__version__,
            "load_1min_at_start": os.getloadavg()[0]}


def batch_bytes(env_id: str) -> dict[str, float]:
    """Bytes per env step of a rollout batch at the Atari settings: as sampled, and as float32."""
    from a2c_ray.core import A2CConfig
    from a2c_ray.learning.learner import Learner
    from a2c_ray.sampling import RolloutWorker

    config = A2CConfig.from_json(ROOT / "a2c_ray" / "atari.json").replace(env_id=env_id)
    worker = RolloutWorker(config)
    learner = Learner(config, worker.vec.obs_space, worker.vec.action_space)
    batch = worker.sample(learner.broadcast())
    worker.close()
    arrays = [v for v in vars(batch).values() if isinstance(v, np.ndarray)]
    total = sum(v.nbytes for v in arrays)
    as_float = total + sum(v.size * 3 for v in (batch.obs, batch.last_obs, batch.final_obs))
    return {"bytes_per_step": total / batch.num_steps,
            "bytes_per_step_float32": as_float / batch.num_steps}


def measure(a: argparse.Namespace) -> Path:
    """Every row on every seed, ``--jobs`` runs at a time; the record after each."""
    work = Path(a.work_dir).expanduser() / a.env.replace("/", "-")
    path = work / "record.json"
    record = json.loads(path.read_text()) if path.exists() else {
        "env_id": a.env, "env_steps": a.steps, "eval_every": a.eval_every, "eval_episodes": 10,
        "eval_policy": a.eval_policy,
        "machine": _machine(), "rows": {r: {} for r in ROWS},
        "commands": {"a2c_ray": f"python -m a2c_ray.train --config a2c_ray/atari.json --env "
                                f"{a.env} --max-steps {a.steps} --seed SEED",
                     "sb3": f"python -m benchmarks.returns.sb3_a2c --env {a.env} --settings "
                            f"zoo-atari --seed SEED --steps {a.steps}"}}
    made = (record["env_steps"], record.get("eval_policy", "deterministic"))
    if made != (a.steps, a.eval_policy):
        raise SystemExit(f"--steps {a.steps} --eval-policy {a.eval_policy}: the record in {path} "
                         f"was made with {made[0]} and {made[1]}; give those, or another "
                         "--work-dir")
    record.setdefault("batch", batch_bytes(a.env))
    jobs = [(row, seed) for seed in a.seeds for row in ROWS
            if str(seed) not in record["rows"][row]]
    train = {"a2c_ray": lambda seed: _a2c_ray(a, seed, work),
             "sb3": lambda seed: _sb3(a, seed, work)}
    run_rows(record, path, jobs, train, a.jobs, lambda r: (
        f"return {r['eval_return_last']:.1f}, {r['env_steps_per_s']:.0f} env steps/s, "
        f"{r['wall_s']:.0f} s"))
    return path


def table(record: dict[str, Any]) -> str:
    """The record as a markdown table: final score over seeds, worst seed, speed, memory.

    Throughput is given per seed: seeds run in different sessions (and parts of a resumed
    one) may have had different machines, so only the two rows of one seed, run side by side,
    compare.
    """
    lines = ["| row | seeds | final score: mean (per seed) | worst seed | best evaluation on "
             "the way | env steps/s (training; per seed) | peak memory (GB) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in ROWS:
        runs = list(record["rows"].get(row, {}).values())
        if not runs:
            continue
        finals = [r["eval_return_last"] for r in runs]
        best = [max(r["curve"]["eval_return"]) for r in runs]
        peaks = [r["peak_rss_bytes"] for r in runs if r.get("peak_rss_bytes")]
        memory = f"{max(peaks) / 1e9:.2f}" if peaks else "-"
        speeds = [r["env_steps_per_s"] for r in runs]
        lines.append(
            f"| {LABELS[row]} | {len(runs)} | {np.mean(finals):.1f} "
            f"({', '.join(f'{v:.1f}' for v in finals)}) | {min(finals):.1f} | "
            f"{np.mean(best):.1f} | {', '.join(f'{v:,.0f}' for v in speeds)} | {memory} |")
    return "\n".join(lines)


def figure(record: dict[str, Any], path: Path) -> None:
    """Score against env steps: each row's mean over seeds, min to max shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for row in ROWS:
        runs = list(record["rows"].get(row, {}).values())
        if not runs:
            continue
        steps, values = curve_band(runs, "eval_return")
        line, = ax.plot(steps, values.mean(0), marker="o", ms=3,
                        label=f"{LABELS[row]} ({len(runs)} seed{'s' * (len(runs) > 1)})")
        ax.fill_between(steps, values.min(0), values.max(0), alpha=0.2, color=line.get_color())
    ax.set_xlabel("env steps (4 frames each)")
    ax.set_ylabel(f"score (10 games, {record.get('eval_policy', 'deterministic')} policy)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"{record['env_id']}: mean over seeds, min to max shaded", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="ALE/Pong-v5")
    p.add_argument("--steps", type=int, default=2_000_000, help="env steps per run")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--eval-every", type=int, default=250_000)
    p.add_argument("--eval-policy", choices=("deterministic", "stochastic"),
                   default="stochastic", help="evaluation acts by the policy's mode or draws "
                   "from it (a2c_ray's eval_policy=auto for Atari, as the zoo evaluates it)")
    p.add_argument("--jobs", type=int, default=2, help="runs at a time")
    p.add_argument("--work-dir", default="~/atari")
    p.add_argument("--report", action="store_true", help="print the table of --record, draw "
                   "its curves (--figure), and train nothing")
    p.add_argument("--record", help="with --report: the record (default: the work dir's)")
    p.add_argument("--figure", help="with --report: where the curves go (default: beside the "
                   "record, .png)")
    a = p.parse_args()
    path = (Path(a.record) if a.record else
            Path(a.work_dir).expanduser() / a.env.replace("/", "-") / "record.json")
    if not a.report:
        path = measure(a)
    record = json.loads(path.read_text())
    print(table(record))
    batch = record.get("batch")
    if batch:
        print(f"a rollout batch: {batch['bytes_per_step']:,.0f} bytes per env step as uint8 "
              f"frames ({batch['bytes_per_step_float32']:,.0f} as float32)")
    if a.report:
        out = Path(a.figure) if a.figure else path.with_suffix(".png")
        figure(record, out)
        print(f"figure: {out}")


if __name__ == "__main__":
    main()
