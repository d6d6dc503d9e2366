"""Does a cheaper evaluation rank configurations differently? Rank correlations, and the cost.

    python -m benchmarks.selection.eval_ranking --env HalfCheetah-v5 --configs 12 --steps 100000 \
        --search-space benchmarks/search_space_mujoco.json --set normalize_obs=true

Draws ``--configs`` configurations at random from a search space (Optuna's
RandomSampler, seed 0) and trains each on two training seeds to ``--steps`` env steps. Every
``--interval`` env steps the policy is evaluated as a sweep trial evaluates it (deterministic,
on the config's evaluation seeds), for 10 episodes, and every episode's return is kept. A seed's
score is then what a sweep computes, the mean of its latest 3 evaluations, once from all 10
episodes of each evaluation and once from only its first k. The table gives the Spearman rank
correlation over configurations (scores averaged over the two seeds) between the 10-episode
ranking and the k-episode one, over all of them and over those that learned something, next to
the correlation between the two training seeds' rankings (how much the seed alone reorders
them), and the share of wall time the 10-episode evaluations took. Training is the same whatever
the evaluation: it never touches the training envs or their random streams.

Results go to benchmarks/results/eval_ranking_<env>.json, one entry per finished run, so a
stopped run resumes.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from a2c_ray.core.config import parse_override
from a2c_ray.core.seeds import train_seeds
from a2c_ray.tuning.space import load_search_space, to_distributions

ROOT = Path(__file__).resolve().parents[2]
EPISODES, SCORE_EVALS = 10, 3
# A score within this of 0 is a policy that has not moved yet (on HalfCheetah, standing
# still); among those the order is noise at any number of episodes.
LEARNED = 50.0


def run(config: dict[str, Any], interval: int) -> dict[str, Any]:
    """Train one configuration, evaluating every ``interval`` steps; returns and timings."""
    import torch

    from a2c_ray import A2CConfig, Trainer
    from a2c_ray.sampling.rollout import run_episodes

    torch.set_num_threads(1)
    cfg = A2CConfig.from_dict(config)
    evals, train_s, eval_s = [], 0.0, 0.0
    with Trainer(cfg, show_progress=False) as t:
        for until in range(interval, cfg.total_env_steps + 1, interval):
            start = time.perf_counter()
            t.run(until_env_steps=until)
            middle = time.perf_counter()
            returns, _, _, _ = run_episodes(t.learner.model, cfg.env_id, EPISODES,
                                         seed=cfg.eval_seed, normalize=t.learner.normalize_obs)
            eval_s += time.perf_counter() - middle
            train_s += middle - start
            evals.append({"env_steps": t.state.env_steps, "returns": returns.tolist()})
    return {"evals": evals, "train_s": train_s, "eval_s": eval_s}


def score(evals: list[dict[str, Any]], episodes: int) -> float:
    """A sweep's score: the mean of the latest evaluations, each over its first episodes."""
    return float(np.mean([np.mean(e["returns"][:episodes]) for e in evals[-SCORE_EVALS:]]))


def main() -> None:
    """Run what is missing, print the table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--configs", type=int, default=12)
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--interval", type=int, default=25_000)
    p.add_argument("--search-space", help="space to draw from (default: the sweep's default)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="a fixed config field, as tune's --set")
    a = p.parse_args()
    out = ROOT / "benchmarks" / "results" / f"eval_ranking_{a.env}.json"
    done = json.loads(out.read_text()) if out.exists() else {"runs": {}}
    done.update(env=a.env, steps=a.steps, interval=a.interval, search_space=a.search_space,
                overrides=a.overrides)

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    dists = to_distributions(load_search_space(a.search_space))
    fixed = dict(parse_override(t) for t in a.overrides)
    points = [study.ask(dists).params for _ in range(a.configs)]
    jobs = {}
    for i, point in enumerate(points):
        for seed in train_seeds(0, i, 2):
            key = f"{i}/{seed}"
            if key not in done["runs"]:
                jobs[key] = {**fixed, **point, "env_id": a.env, "seed": seed,
                             "total_env_steps": a.steps, "eval_interval_steps": 0,
                             "eval_episodes": 1}
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(run, config, a.interval) for key, config in jobs.items()}
        for key, future in futures.items():
            done["runs"][key] = {**future.result(), "config": jobs[key]}
            out.write_text(json.dumps(done, indent=2))

    rows = []
    for key, r in done["runs"].items():
        i, seed = key.split("/")
        rows.append({"config": int(i), "seed": int(seed),
                     **{k: score(r["evals"], k) for k in (1, 3, 5, 10)},
                     "train_s": r["train_s"], "eval_s": r["eval_s"]})
    df = pd.DataFrame(rows).sort_values(["config", "seed"])
    df["rank_of_seed"] = df.groupby("config").cumcount()
    by_seed = df.pivot(index="config", columns="rank_of_seed", values=10)
    seed_rho = by_seed[0].corr(by_seed[1], method="spearman")
    mean = df.groupby("config")[[1, 3, 5, 10]].mean()
    train_s, eval_s = df["train_s"].sum(), df["eval_s"].sum()
    print(f"{a.env}: {a.configs} random configurations of {a.search_space or 'the default space'}"
          f" ({', '.join(a.overrides) or 'nothing else fixed'}) x 2 training "
          f"seeds, {a.steps:,} env steps, an evaluation every {a.interval:,}; score = mean of "
          f"the latest {SCORE_EVALS} evaluations")
    learned = mean[mean[10].abs() > LEARNED]
    print(f"| episodes per evaluation | Spearman rho against 10 episodes, all {len(mean)} "
          f"configurations | the {len(learned)} whose score is beyond +-{LEARNED} |")
    print("| ---: | ---: | ---: |")
    for k in (10, 5, 3, 1):
        print(f"| {k} | {mean[10].corr(mean[k], method='spearman'):.3f} | "
              f"{learned[10].corr(learned[k], method='spearman'):.3f} |")
    print(f"Spearman rho between the two training seeds' 10-episode rankings: {seed_rho:.3f}")
    shares = df["eval_s"] / (df["train_s"] + df["eval_s"])
    print(f"10-episode evaluations took {eval_s / (train_s + eval_s):.0%} of the wall time "
          f"({shares.min():.0%} to {shares.max():.0%} per run)")


if __name__ == "__main__":
    main()
