"""The selection benchmark's replay: the sweep's own selection logic over the table, many times.

    python -m benchmarks.selection.selection_replay --env HalfCheetah-v5 --replays 2000
    python -m benchmarks.selection.selection_replay --env CartPole-v1 --replays 2000 --json out.json

Each replay is a sweep that did not need training: ``--trials`` configurations drawn at random
from the table (``benchmarks/selection/selection_table.py``), each given a random order of its table
seeds, run through a selection procedure, and judged on seeds it did not use. A procedure is
what a sweep decides with: how many seeds a trial has at each rung, the statistic its score
takes over them, ASHA's grace period, which trials become candidates, and how many validation
seeds pick among them. The replay calls the functions the sweep calls, not copies of them:

- a seed's score and the trial's statistic over its seeds: ``core.scores.seed_score`` and
  ``aggregate`` (the trial's ``lockstep.trial_metrics``);
- ASHA's stops: Ray Tune's own ``ASHAScheduler``, fed each trial's reports as Tune feeds it,
  the trials advancing side by side in ``--concurrency`` slots;
- the seeds a trial earns at a rung: ``core.rungs.seeds_after``;
- the candidates: ``results.ranked``, the one definition of the best trial;
- the pick: ``core.scores.rank_by`` over the candidates' final returns on validation seeds (as
  ``tuning.confirm`` ranks them).

Per procedure, over the replays: the regret of the pick (the best drawn configuration's mean
over all its table seeds, minus the pick's mean over the seeds the procedure did not use for
it, which played no part in picking it), and its difference from the first procedure's on the
same draws (paired, so the noise of the draws themselves cancels), how often a seed of the
pick stalls (ends below half its configuration's median), and the env steps spent (every
seed's steps to where its trial stopped, plus the validation runs). Procedures are replayed
on the same draws.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from a2c_ray.cli import Parser, fail
from a2c_ray.core.rungs import asha_milestones, seeds_after
from a2c_ray.core.scores import aggregate, rank_by, seed_score
from a2c_ray.results import ranked

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
SCORE_EVALS = 3  # a seed's score: its latest 3 evaluations, as the sweep's default
SEARCH_EPISODES = 5  # episodes of a sweep's evaluations; the final ones have 10
STALL = 0.5  # a seed stalls where it ends below this share of its configuration's median


@dataclass(frozen=True)
class Procedure:
    """How a sweep selects: seeds per rung, the score's statistic, ASHA, candidates, the pick.

    Attributes:
        name: a label for the tables.
        seeds: seeds a trial trains before its first rung, after it, and so on (one value:
            fixed), as ``--seeds-per-trial``.
        statistic: the score's statistic over the seeds (``core.scores.STATISTICS``).
        grace: ASHA's first rung as a share of the budget (0.1: 100k of 1M).
        reduction: ASHA's reduction factor: a rung keeps the best 1/reduction of the trials.
        top: candidates re-trained on validation seeds (0: the sweep's best is the pick).
        validation: validation seeds per candidate.
        pick: the statistic over validation seeds that picks among the candidates.
        by_budget: candidates are ranked by the budget they reached first, then by score.
    """

    name: str
    seeds: tuple[int, ...] = (3,)
    statistic: str = "mean"
    grace: float = 0.1
    reduction: float = 3.0
    top: int = 3
    validation: int = 5
    pick: str = "mean"
    by_budget: bool = False

    def seeds_needed(self) -> int:
        """Distinct seeds of one configuration the procedure may use."""
        return max(self.seeds) + self.validation * (self.top > 0)


# Today's procedure first (3 seeds, the mean, ASHA's grace at a tenth of the budget, the top 3
# re-trained on 5 validation seeds and the best mean picked), then the new default (the same
# but scored by mean-se), then every other procedure tried. The grid (``--grid``) crosses
# seeds, statistic, grace and validation.
PROCEDURES = [
    Procedure("today: 3 seeds, mean, top 3 on 5 seeds"),
    Procedure("default: 3 seeds, mean-se, top 3 on 5 seeds", statistic="mean-se"),
    Procedure("3 seeds, min", statistic="min"),
    Procedure("3 seeds, median", statistic="median"),
    Procedure("3 seeds, top 3 by budget", by_budget=True),
    Procedure("3 seeds, top 3 on 3 seeds", validation=3),
    Procedure("3 seeds, top 5 on 3 seeds", top=5, validation=3),
    Procedure("3 seeds, top 3 on 6 seeds", validation=6),
    Procedure("3 seeds, top 4 on 5 seeds", top=4),
    Procedure("3 seeds, no validation", top=0, validation=0),
    Procedure("2 seeds, top 3 on 5 seeds", seeds=(2,)),
    Procedure("1-2-4 seeds", seeds=(1, 2, 4)),
    Procedure("2-4 seeds", seeds=(2, 4)),
    Procedure("2-4 seeds, top 3 on 3", seeds=(2, 4), validation=3),
    Procedure("2-4 seeds, mean-se", seeds=(2, 4), statistic="mean-se"),
    Procedure("2-4 seeds, by budget", seeds=(2, 4), by_budget=True),
    Procedure("2-4-8 seeds", seeds=(2, 4, 8)),
    Procedure("1-2-4 seeds, mean-se, top 3 on 3", seeds=(1, 2, 4), statistic="mean-se",
              validation=3),
    Procedure("3 seeds, grace 1/5", grace=0.2),
    Procedure("3 seeds, grace 1/4", grace=0.25),
    Procedure("3 seeds, grace 3/10", grace=0.3),
    Procedure("3 seeds, grace 1/5, top 3 on 6", grace=0.2, validation=6),
    Procedure("3 seeds, mean-se, grace 1/5", statistic="mean-se", grace=0.2),
    Procedure("3 seeds, median, grace 1/5", statistic="median", grace=0.2),
    Procedure("3 seeds, min, grace 1/5", statistic="min", grace=0.2),
    Procedure("3 seeds, min, grace 3/10, top 4 on 5", statistic="min", grace=0.3, top=4),
    Procedure("3 seeds, min, pick by min", statistic="min", pick="min"),
    Procedure("2 seeds, min", seeds=(2,), statistic="min"),
    Procedure("2 seeds, grace 1/5", seeds=(2,), grace=0.2),
    Procedure("2 seeds, min, grace 1/5", seeds=(2,), statistic="min", grace=0.2),
    Procedure("2 seeds, mean-se, grace 1/5", seeds=(2,), statistic="mean-se", grace=0.2),
    Procedure("2 seeds, grace 1/5, top 4 on 5", seeds=(2,), grace=0.2, top=4),
    Procedure("2 seeds, grace 1/5, top 3 on 6", seeds=(2,), grace=0.2, validation=6),
    Procedure("2 seeds, grace 1/4, top 3 on 6", seeds=(2,), grace=0.25, validation=6),
    Procedure("2 seeds, grace 3/10, top 4 on 5", seeds=(2,), grace=0.3, top=4),
    Procedure("2 seeds, min, grace 1/5, factor 2", seeds=(2,), statistic="min", grace=0.2,
              reduction=2),
    Procedure("2 seeds, min, grace 3/10, factor 4", seeds=(2,), statistic="min", grace=0.3,
              reduction=4),
    Procedure("2-4 seeds, grace 1/5", seeds=(2, 4), grace=0.2),
    Procedure("1 seed, grace 1/4, top 4 on 5", seeds=(1,), grace=0.25, top=4),
    Procedure("1 seed, grace 2/5, top 4 on 5", seeds=(1,), grace=0.4, top=4),
    Procedure("1 seed, grace 2/5, top 5 on 5", seeds=(1,), grace=0.4, top=5),
    Procedure("1 seed, grace 2/5, top 3 on 6", seeds=(1,), grace=0.4, validation=6),
    Procedure("1 seed, grace 2/5, top 4 on 6", seeds=(1,), grace=0.4, top=4, validation=6),
    Procedure("1 seed, grace 1/3, top 4 on 6", seeds=(1,), grace=1 / 3, top=4, validation=6),
    Procedure("1 seed, grace 1/2, top 4 on 5", seeds=(1,), grace=0.5, top=4),
    Procedure("1 seed, grace 2/5, top 4 on 5, pick by min", seeds=(1,), grace=0.4, top=4,
              pick="min"),
    Procedure("1 seed, grace 2/5, top 4 on 5, pick by mean-se", seeds=(1,), grace=0.4, top=4,
              pick="mean-se"),
    Procedure("1 seed, grace 1/5, factor 2, top 4 on 5", seeds=(1,), grace=0.2, reduction=2,
              top=4),
    Procedure("1 seed, grace 2/5, factor 2, top 4 on 5", seeds=(1,), grace=0.4, reduction=2,
              top=4),
    Procedure("1 seed, grace 3/10, factor 4, top 4 on 5", seeds=(1,), grace=0.3, reduction=4,
              top=4),
    Procedure("1-2 seeds, min, grace 3/10", seeds=(1, 2), statistic="min", grace=0.3),
    Procedure("1-2 seeds, min, grace 3/10, top 4 on 5", seeds=(1, 2), statistic="min",
              grace=0.3, top=4),
    Procedure("1-3 seeds, min, grace 1/3", seeds=(1, 3), statistic="min", grace=1 / 3),
]


def grid() -> list[Procedure]:
    """Today's procedure, then seeds x statistic x grace x (candidates, validation seeds)."""
    out = [PROCEDURES[0]]
    for grace in (0.1, 0.2, 0.25, 0.3, 1 / 3, 0.4, 0.5):
        for seeds in (1, 2, 3):
            for statistic in ("mean",) if seeds == 1 else ("mean", "min", "mean-se"):
                for top, validation in ((3, 5), (4, 5), (3, 6)):
                    out.append(Procedure(f"{seeds}s {statistic} g{grace:.2f} top{top}on"
                                         f"{validation}", seeds=(seeds,), statistic=statistic,
                                         grace=grace, top=top, validation=validation))
    return out


class Table:
    """The table of one task: per configuration and seed, every evaluation and the final one."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.env = data["env_id"]
        self.steps = int(data["steps"])
        self.names = list(data["configurations"])
        seeds = sorted({int(k.split("/")[1]) for k in data["runs"]})
        # keep the seeds every configuration has (a table stopped midway)
        self.seeds = [s for s in seeds if all(f"{n}/{s}" in data["runs"] for n in self.names)]
        runs = {n: [data["runs"][f"{n}/{s}"] for s in self.seeds] for n in self.names}
        # search[c][j][t]: seed j's t-th evaluation (its first 5 episodes); final[c][j]
        self.search = {n: [[float(np.mean(p["returns"][:SEARCH_EPISODES])) for p in r["points"]]
                           for r in rs] for n, rs in runs.items()}
        self.points = {n: [[p["env_steps"] for p in r["points"]] for r in rs]
                       for n, rs in runs.items()}
        self.final = {n: np.array([float(np.mean(r["points"][-1]["returns"])) for r in rs])
                      for n, rs in runs.items()}
        self.truth = {n: float(v.mean()) for n, v in self.final.items()}
        self.median = {n: float(np.median(v)) for n, v in self.final.items()}

    def evaluations(self, name: str, seed: int, until: int) -> list[float]:
        """Seed ``seed``'s (an index) evaluations at or before env step ``until``."""
        points = self.points[name][seed]
        return [v for v, at in zip(self.search[name][seed], points, strict=True) if at <= until]

    def stalls(self, name: str, value: float) -> bool:
        """Whether a final return is a stalled seed's for configuration ``name``."""
        median = self.median[name]
        return median > 0 and value < STALL * median


def replay_sweep(table: Table, proc: Procedure, configs: list[str],
                 order: dict[str, list[int]],
                 concurrency: int) -> tuple[pd.DataFrame, dict[str, list[int]], float]:
    """One sweep of ``configs`` under ``proc``: its trials, the seeds each trained, its steps.

    The trials start in order, ``concurrency`` at a time, and advance one report at a time
    side by side; a trial reports at every evaluation (the table's grid), as ``run_trial``
    does, and Ray's ASHA decides on each report as Tune asks it.
    """
    from ray.tune.schedulers import ASHAScheduler

    grace = int(round(proc.grace * table.steps))
    milestones = asha_milestones(grace, table.steps, proc.reduction)
    asha = ASHAScheduler(time_attr="env_steps", metric="score", mode="max", max_t=table.steps,
                         grace_period=grace, reduction_factor=proc.reduction)
    pending = list(configs)
    running: dict[str, dict[str, Any]] = {}
    done: list[dict[str, Any]] = []
    while pending or running:
        while pending and len(running) < concurrency:
            name = pending.pop(0)
            asha.on_trial_add(None, SimpleNamespace(trial_id=name))
            running[name] = {"t": 0, "seeds": proc.seeds[0], "trained": proc.seeds[0]}
        for name in list(running):
            trial = running[name]
            at = int(table.points[name][0][trial["t"]])
            seeds = order[name][:trial["seeds"]]
            score = aggregate([seed_score(table.evaluations(name, j, at), SCORE_EVALS)
                               for j in seeds], proc.statistic)
            result = {"env_steps": at, "score": score}
            last = at >= table.steps
            trial_id = SimpleNamespace(trial_id=name)
            if last:
                asha.on_trial_complete(None, trial_id, result)
                stop = True
            else:
                stop = asha.on_trial_result(None, trial_id, result) == "STOP"
            if stop:
                done.append({"trial_id": name, "status": "TERMINATED", "score": score,
                             "env_steps": at, "seeds": list(seeds)})
                del running[name]
                continue
            if trial["t"] + 1 == len(table.points[name][0]):
                raise ValueError(f"the table has no evaluation of {name} past {at:,} env "
                                 "steps, where this replay goes on")
            trial["seeds"] = seeds_after(at, milestones, proc.seeds)  # a rung survived
            trial["t"] += 1
    trials = pd.DataFrame(done)
    # every seed trains from 0 to where its trial stopped, a seed added at a rung too
    steps = float(sum(len(r["seeds"]) * r["env_steps"] for r in done))
    used = {r["trial_id"]: r["seeds"] for r in done}
    return trials, used, steps


def replay(table: Table, proc: Procedure, configs: list[str], order: dict[str, list[int]],
           concurrency: int) -> dict[str, float]:
    """The pick of one replayed sweep and what it cost."""
    trials, used, steps = replay_sweep(table, proc, configs, order, concurrency)
    best = ranked(trials, "score", "max")
    if proc.by_budget:  # the furthest first, by score among equals
        best = best.sort_values("env_steps", ascending=False, kind="stable")
    candidates = list(best["trial_id"].head(max(proc.top, 1)))
    if proc.top > 0:
        start = max(proc.seeds)
        validation = {c: order[c][start:start + proc.validation] for c in candidates}
        values = [[float(table.final[c][j]) for j in validation[c]] for c in candidates]
        pick = candidates[rank_by(values, proc.pick)[0]]
        used[pick] = used[pick] + validation[pick]
        steps += len(candidates) * proc.validation * table.steps
    else:
        pick = candidates[0]
    unused = [j for j in range(len(table.seeds)) if j not in used[pick]]
    truth = float(np.mean(table.final[pick][unused]))
    best_truth = max(table.truth[c] for c in configs)
    return {"regret": best_truth - truth, "stalled": float(np.mean(
        [table.stalls(pick, table.final[pick][j]) for j in unused])),
        "pick_has_stall": float(any(table.stalls(pick, v) for v in table.final[pick])),
        "env_steps": steps, "picked_best": float(table.truth[pick] == best_truth)}


def run(table: Table, procedures: list[Procedure], replays: int, trials: int,
        concurrency: int, seed: int) -> pd.DataFrame:
    """Every procedure over the same ``replays`` draws; one row per procedure."""
    rng = np.random.default_rng(seed)
    np.random.seed(seed)  # Ray's ASHA draws its bracket from numpy's global generator
    rows: dict[str, list[dict[str, float]]] = {p.name: [] for p in procedures}
    for _ in range(replays):
        configs = list(rng.choice(table.names, size=trials, replace=False))
        order = {c: list(rng.permutation(len(table.seeds))) for c in configs}
        for proc in procedures:
            rows[proc.name].append(replay(table, proc, configs, order, concurrency))
    out = []
    first = pd.DataFrame(rows[procedures[0].name])["regret"]
    for proc in procedures:
        df = pd.DataFrame(rows[proc.name])
        diff = df["regret"] - first  # paired: the same draws, so the draws' noise cancels
        out.append({"procedure": proc.name, **asdict(proc),
                    "regret": df["regret"].mean(),
                    "regret_se": df["regret"].std(ddof=1) / math.sqrt(len(df)),
                    "regret_diff": diff.mean(),
                    "regret_diff_se": diff.std(ddof=1) / math.sqrt(len(df)),
                    "picked_best": df["picked_best"].mean(),
                    "pick_has_stall": df["pick_has_stall"].mean(),
                    "stalled_seeds": df["stalled"].mean(),
                    "env_steps_M": df["env_steps"].mean() / 1e6})
    return pd.DataFrame(out)


def markdown(table: Table, df: pd.DataFrame, args: Any) -> str:
    """The results as the benchmarks README's table."""
    base = df.iloc[0]
    lines = [f"{table.env}, {len(table.names)} configurations x {len(table.seeds)} seeds at "
             f"{table.steps:,} steps; {args.replays} replays of {args.trials} trials, "
             f"{args.concurrency} at a time, replay seed {args.seed}",
             "", "| procedure | regret +- s.e. | vs today | minus today's, paired +- s.e. | "
             "picked the best | pick has a stalled seed | stalled share of its unused seeds | "
             "env steps (M) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for _, r in df.iterrows():
        lines.append(f"| {r['procedure']} | {r['regret']:.1f} +- {r['regret_se']:.1f} | "
                     f"{r['regret'] / base['regret']:.2f} | {r['regret_diff']:+.1f} +- "
                     f"{r['regret_diff_se']:.1f} | {r['picked_best']:.0%} | "
                     f"{r['pick_has_stall']:.0%} | {r['stalled_seeds']:.1%} | "
                     f"{r['env_steps_M']:.2f} |")
    return "\n".join(lines)


def main() -> int:
    """Replay every procedure; print the table (and write it as JSON with ``--json``)."""
    p = Parser(prog="python -m benchmarks.selection.selection_replay",
               description=__doc__.split("\n")[0])
    p.add_argument("--env", required=True, help="the table's task")
    p.add_argument("--replays", type=int, default=2000, help="sweeps replayed per procedure")
    p.add_argument("--trials", type=int, default=16, help="configurations a sweep draws")
    p.add_argument("--concurrency", type=int, default=4, help="trials at once")
    p.add_argument("--seed", type=int, default=0, help="the draws' seed")
    p.add_argument("--json", help="also write the table here")
    p.add_argument("--grid", action="store_true",
                   help="replay the grid of procedures (grid()) in place of the list")
    a = p.parse_args()
    path = RESULTS / f"selection_{a.env}.json"
    if not path.exists():
        fail(f"--env {a.env}: no table at {path}; run benchmarks.selection.selection_table "
             "first")
    table = Table(json.loads(path.read_text()))
    if not 1 <= a.trials <= len(table.names):
        fail(f"--trials {a.trials}: expected 1 to {len(table.names)} (the table's configurations)")
    procedures = grid() if a.grid else PROCEDURES
    fits = [q for q in procedures if q.seeds_needed() < len(table.seeds)]
    for q in procedures:
        if q not in fits:
            print(f"skipped {q.name!r}: it needs {q.seeds_needed()} seeds and one more to judge "
                  f"it by; the table has {len(table.seeds)}", file=sys.stderr)
    df = run(table, fits, a.replays, a.trials, a.concurrency, a.seed)
    print(markdown(table, df, a))
    if a.json:
        Path(a.json).write_text(df.to_json(orient="records", indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
