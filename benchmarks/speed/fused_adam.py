"""A standalone preset run with PyTorch's fused Adam against its foreach Adam, side by side.

    python -m benchmarks.speed.fused_adam --env HalfCheetah-v5 --steps 100000 --repeats 3

``a2c_ray.learning.optim.make_optimizer`` gives Adam fused where this torch has it (CPU from
2.4); it was foreach Adam before. Two measurements, each alternating the two implementations
in this one process:

- the learner's update alone: ``Learner.update`` on one batch of the preset's shape, in 20
  alternating blocks of 50 updates (the values do not change the cost);
- a standalone run of the preset (K = 0, evaluated every 25k steps with a sweep's episodes,
  as ``preset_profile.py`` runs it), ``--repeats`` times each.

The learning is the same: both implement one update, which ``tests/test_optim.py`` checks
against a hand-computed Adam; the two runs of a pair differ in float rounding only.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from a2c_ray import A2CConfig, train
from a2c_ray.learning import learner as learner_module
from a2c_ray.learning.optim import make_optimizer
from a2c_ray.sampling.envs import env_spaces
from benchmarks.speed.preset_profile import batch_like, preset_as_swept

ROOT = Path(__file__).resolve().parents[2]


def _foreach(name: str, params: Any, lr: float, eps: float, alpha: float) -> Any:
    """make_optimizer as it was: Adam with foreach kernels."""
    if name == "adam":
        return torch.optim.Adam(list(params), lr=lr, eps=eps, foreach=True)
    return make_optimizer(name, params, lr, eps, alpha)


def main() -> None:
    """Alternate the two, print and write env steps per second of each."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=None, help="JSON to write (default: "
                   "benchmarks/results/fused_adam_<env>.json)")
    a = p.parse_args()
    torch.set_num_threads(1)
    config = preset_as_swept(a.env, a.steps)
    spaces = env_spaces(config.env_id)
    batch = batch_like(config, *spaces)
    learners = {}
    for kind, factory in (("foreach", _foreach), ("fused", make_optimizer)):
        learner_module.make_optimizer = factory  # the Learner looks it up at construction
        learners[kind] = learner_module.Learner(config, *spaces)
    update_s = {kind: 0.0 for kind in learners}
    for block in range(21):  # the first block of each warms up, not counted
        for kind, learner in learners.items():
            start = time.perf_counter()
            for _ in range(50):
                learner.update(batch, 0.5)
            update_s[kind] += (time.perf_counter() - start) if block else 0.0
    update_ms = {kind: 1e3 * t / 1000 for kind, t in update_s.items()}

    # a process's first run pays one-off imports (an optimizer's first step imports
    # torch._dynamo, about 2 s): a short run of each first, not measured
    warm_up = A2CConfig.from_dict({**config.to_dict(), "total_env_steps": 5_000})
    rates: dict[str, list[float]] = {"fused": [], "foreach": []}
    for repeat in range(-1, a.repeats):
        for kind, factory in (("foreach", _foreach), ("fused", make_optimizer)):
            learner_module.make_optimizer = factory  # the Learner looks it up at construction
            start = time.perf_counter()
            train(warm_up if repeat < 0 else config, show_progress=False)
            if repeat >= 0:
                rates[kind].append(a.steps / (time.perf_counter() - start))
    learner_module.make_optimizer = make_optimizer
    ratio = float(np.mean(rates["fused"]) / np.mean(rates["foreach"]))
    result = {"env_id": a.env, "steps": a.steps, "repeats": a.repeats,
              "torch": torch.__version__, "update_ms": update_ms,
              "update_speedup": update_ms["foreach"] / update_ms["fused"],
              "steps_per_s": rates, "ratio_fused_to_foreach": ratio}
    out = Path(a.out or ROOT / "benchmarks" / "results" / f"fused_adam_{a.env}.json")
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"update: foreach {update_ms['foreach']:.2f} ms, fused {update_ms['fused']:.2f} ms, "
          f"{result['update_speedup']:.2f}x")
    for kind, r in rates.items():
        print(f"{kind:8s} Adam: {np.mean(r):,.0f} env steps/s (runs: "
              f"{', '.join(f'{x:,.0f}' for x in r)})")
    print(f"fused / foreach: {ratio:.3f}\nwrote {out}")


if __name__ == "__main__":
    main()
