"""Seeds at once: the wall time of ``train --seed 0 1`` against ``--seed 0``, side by side.

    python -m benchmarks.speed.train_seeds_wall --seeds 2 --steps 200000 --repeats 3

Runs the train command as a user does (``python -m a2c_ray.train --config PRESET``, a fresh
process each time, Ray's start-up included where several seeds start it), alternating one
seed and ``--seeds`` seeds ``--repeats`` times so that both see the same machine, and reports
each run's wall time and the ratio of the medians. With a core per seed the ratio is what the
seeds cost beyond one: Ray's start-up and the seed actors' imports, and the cores they share.
Writes ``benchmarks/results/train_seeds_wall_<seeds>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def timed(config: str, steps: int, seeds: list[int]) -> float:
    """Wall seconds of one train command."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "a2c_ray.train", "--config", config, "--max-steps",
               str(steps), "--seed", *map(str, seeds), "--out", f"{out}/run", "--progress", "log"]
        start = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                           env={**os.environ, "MUJOCO_GL": "egl"})
        wall = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {r.stderr[-2000:]}")
    return wall


def main() -> None:
    """Alternate the two commands, print the table, write the JSON."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="a2c_ray/presets/HalfCheetah-v5.json")
    p.add_argument("--steps", type=int, default=200_000)
    p.add_argument("--seeds", type=int, default=2, help="seeds of the several-seed command")
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    one, many = [], []
    for _ in range(a.repeats):
        one.append(timed(a.config, a.steps, [0]))
        many.append(timed(a.config, a.steps, list(range(a.seeds))))
        print(f"1 seed {one[-1]:.1f} s, {a.seeds} seeds {many[-1]:.1f} s", flush=True)
    ratio = float(np.median(many) / np.median(one))
    print(f"| seeds | wall (median of {a.repeats}) | vs one seed |")
    print("| ---: | ---: | ---: |")
    print(f"| 1 | {np.median(one):.1f} s | 1.00x |")
    print(f"| {a.seeds} | {np.median(many):.1f} s | {ratio:.2f}x |")
    out = ROOT / "benchmarks" / "results" / f"train_seeds_wall_{a.seeds}.json"
    out.write_text(json.dumps({
        "settings": vars(a), "cpus": os.cpu_count(), "platform": platform.platform(),
        "one_seed_s": one, "several_seeds_s": many, "ratio_of_medians": ratio}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
