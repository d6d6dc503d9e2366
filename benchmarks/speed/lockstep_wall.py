"""Wall time of a sweep trial on S seeds in lockstep against one seed, same configuration.

    python -m benchmarks.speed.lockstep_wall --env HalfCheetah-v5 --steps 100000 --seeds 1 2 3

Each S runs a one-trial sweep (``python -m a2c_ray.tune --num-samples 1 --seeds-per-trial
S``) of the env's preset (every searched field fixed to the preset's value), one after
another on this machine, and prints the trial's wall time (Tune's ``time_total_s`` of its
last report) as a ratio to the one-seed trial's. With S free cores the target is at most
1.2x; with fewer cores than seeds the seeds share them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from a2c_ray.tuning.space import load_search_space

ROOT = Path(__file__).resolve().parents[2]


def trial_wall(env: str, steps: int, seeds: int, space: Path, tmp: str) -> float:
    """time_total_s of a one-trial sweep of ``seeds`` seeds."""
    name = f"wall_s{seeds}"
    cmd = [sys.executable, "-m", "a2c_ray.tune", "--env", env, "--num-samples", "1",
           "--max-steps", str(steps), "--grace-steps", str(steps), "--seeds-per-trial",
           str(seeds), "--search-space", str(space), "--storage-path", tmp, "--name", name,
           "--confirm-top", "0"]
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    result = next(Path(tmp, name).glob("run_trial_*/result.json"))
    return float(json.loads(result.read_text().splitlines()[-1])["time_total_s"])


def main() -> None:
    """Run the trials, print the table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    a = p.parse_args()
    preset = json.loads((ROOT / "a2c_ray" / "presets" / f"{a.env}.json").read_text())
    preset.setdefault("td_lambda", preset.get("gae_lambda"))
    with tempfile.TemporaryDirectory() as tmp:
        space = Path(tmp) / "space.json"
        space.write_text(json.dumps({k: {"type": "categorical", "values": [preset[k]]}
                                     for k in load_search_space() if k in preset}))
        walls = {s: trial_wall(a.env, a.steps, s, space, tmp) for s in a.seeds}
    base = walls[min(walls)]
    print(f"{a.env} preset, {a.steps:,} env steps per seed, {os.cpu_count()} cores")
    print("| seeds per trial | trial wall time | ratio to one seed |")
    print("| ---: | ---: | ---: |")
    for s, wall in walls.items():
        print(f"| {s} | {wall:.0f} s | {wall / base:.2f}x |")


if __name__ == "__main__":
    main()
