"""gSDE on against off: an env's preset trained on test seeds, returns and steps/s side by side.

    python -m benchmarks.returns.gsde --env HalfCheetah-v5 --steps 500000 --seeds 3

For each seed the preset trains twice at once, one process per core: as it is, and with
``use_sde=true`` (every other field, ``sde_sample_freq`` -1 and ``sde_log_std_init`` -2
included, at its default). Returns are the final deterministic evaluation (``eval_episodes``
episodes). Seeds are the test seeds (10000, 10001, ...). Results go to
benchmarks/results/gsde_<env>.json, one entry per finished run, so a stopped run resumes.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from a2c_ray.core.config import A2CConfig
from a2c_ray.core.seeds import test_seeds

ROOT = Path(__file__).resolve().parents[2]


def run(config: dict[str, Any]) -> dict[str, Any]:
    """Train one configuration; its summary."""
    import torch

    from a2c_ray import train

    torch.set_num_threads(1)
    summary = train(A2CConfig.from_dict(config), show_progress=False)
    return {k: summary[k] for k in ("eval_return_mean", "eval_return_std", "env_steps",
                                    "wall_s", "env_steps_per_s")}


def main() -> None:
    """Run what is missing, print the table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--steps", type=int, default=500_000)
    p.add_argument("--seeds", type=int, default=3)
    a = p.parse_args()
    out = ROOT / "benchmarks" / "results" / f"gsde_{a.env}.json"
    done = json.loads(out.read_text()) if out.exists() else {"runs": {}}
    preset = json.loads((ROOT / "a2c_ray" / "presets" / f"{a.env}.json").read_text())
    done.update(env=a.env, steps=a.steps, preset=preset)
    for seed in test_seeds(a.seeds):
        keys = {sde: f"{seed}/{'gsde' if sde else 'gaussian'}" for sde in (False, True)}
        todo = {sde: {**preset, "seed": seed, "total_env_steps": a.steps, "use_sde": sde}
                for sde, key in keys.items() if key not in done["runs"]}
        with ProcessPoolExecutor(max_workers=2) as pool:  # both variants side by side
            futures = {sde: pool.submit(run, config) for sde, config in todo.items()}
            for sde, future in futures.items():
                done["runs"][keys[sde]] = future.result()
        out.write_text(json.dumps(done, indent=2))

    print(f"{a.env} preset, {a.steps:,} env steps, test seeds "
          f"{', '.join(map(str, test_seeds(a.seeds)))}; the two variants of a seed ran at once")
    print("| exploration | mean return | std over seeds | worst seed | per seed | steps/s |")
    print("| --- | ---: | ---: | ---: | --- | ---: |")
    for name in ("gaussian", "gsde"):
        runs = [done["runs"][f"{s}/{name}"] for s in test_seeds(a.seeds)]
        returns = np.array([r["eval_return_mean"] for r in runs])
        sps = np.mean([r["env_steps_per_s"] for r in runs])
        label = "gSDE (use_sde)" if name == "gsde" else "Gaussian (preset)"
        print(f"| {label} | {returns.mean():.0f} | {returns.std(ddof=1):.0f} | "
              f"{returns.min():.0f} | {', '.join(f'{r:.0f}' for r in returns)} | {sps:,.0f} |")


if __name__ == "__main__":
    main()
