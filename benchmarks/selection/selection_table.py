"""The selection benchmark's table: many configurations x many seeds, every evaluation kept.

    python -m benchmarks.selection.selection_table --env HalfCheetah-v5 --seeds 10 --jobs 2
    python -m benchmarks.selection.selection_table --env CartPole-v1 --seeds 16 --jobs 2
    python -m benchmarks.selection.selection_table --env HalfCheetah-v5 --status

A sweep's pick is only as good as the decisions it makes on noisy seeds: which trials ASHA
promotes, how many seeds a trial gets, which statistic of the seeds it ranks by, and which of
the top configurations the validation seeds keep. Deciding those by running sweeps costs a
sweep per procedure and per repeat. This table makes it cheap instead: a fixed set of
configurations, each trained with the project's own ``Trainer`` on the same list of seeds to
the task's budget, with every seed's deterministic evaluation at every point of the
evaluation grid (every 10k env steps on HalfCheetah-v5, 5k on CartPole-v1: 5 episodes, as a
sweep searches with, and 10 at the end, as confirmation and test runs evaluate). A replay
then runs the sweep's own selection logic over the table thousands of times.

The configurations (``configurations``): the presets, Stable-Baselines3's default A2C, the
a2c-optuna project's published HalfCheetah configuration, and the rest drawn at random from
the task's search space (Optuna's RandomSampler, seed 0), each with the task's fixed fields.
A run's training is the same whatever is evaluated: evaluation never touches the training
envs or their random streams, so the evaluations here are the ones a sweep's trial of the
same configuration and seed would make at those points.

Results go to ``benchmarks/results/selection_<env>.json``, written after every finished run,
so the command resumes where it stopped (a run stopped midway starts again; none takes more
than a few minutes) and the file alone carries the table to another machine. Runs go seed by
seed over all configurations, so a partial table has every configuration on the same seeds;
a larger ``--seeds`` extends a finished one. ``--status`` prints how far it is and what it
cost: the summed wall time of the runs, their env steps, and each configuration's mean final
return.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np

from a2c_ray.cli import Parser, fail

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
PRESETS = ROOT / "a2c_ray" / "presets"
SEED_START = 50_000  # the table's seeds: no sweep trains on them, no protocol tests on them
SEARCH_EPISODES, FINAL_EPISODES = 5, 10

# Each task: its budget, its evaluation grid, the space its draws come from, the fields fixed
# for every configuration (as a sweep's --set), and how many configurations it has in all.
TASKS: dict[str, dict[str, Any]] = {
    "HalfCheetah-v5": {
        "steps": 300_000, "interval": 10_000, "configurations": 24, "presets": True,
        "space": "benchmarks/search_space_mujoco.json", "fixed": {"normalize_obs": True},
    },
    "CartPole-v1": {
        "steps": 100_000, "interval": 5_000, "configurations": 24, "presets": False,
        "space": "a2c_ray/search_space.json", "fixed": {},
    },
}


def configurations(env: str) -> dict[str, dict[str, Any]]:
    """The task's configurations by name, each a full A2CConfig dict (seed 0)."""
    import optuna

    from a2c_ray.core.config import A2CConfig
    from a2c_ray.tuning.space import (
        A2C_OPTUNA_CONFIG,
        BOX_ONLY,
        SB3_A2C_DEFAULTS,
        load_search_space,
        to_distributions,
    )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    task = TASKS[env]
    fixed = {**task["fixed"], "env_id": env, "total_env_steps": task["steps"],
             "eval_interval_steps": 0, "eval_episodes": 1}  # evaluated here, not by the run
    named: dict[str, dict[str, Any]] = {}
    if task["presets"]:
        for path in sorted(PRESETS.glob("*.json")):
            named[f"preset_{path.stem}"] = json.loads(path.read_text())
    else:
        named["a2c_ray_default"] = {}
    named["sb3_a2c_defaults"] = dict(SB3_A2C_DEFAULTS)
    named["a2c_optuna_halfcheetah"] = dict(A2C_OPTUNA_CONFIG)
    space = load_search_space(ROOT / task["space"])
    if env == "CartPole-v1":
        space = {k: v for k, v in space.items() if k not in BOX_ONLY}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    dists = to_distributions(space)
    seen = [{k: v.get(k) for k in space} for v in named.values()]
    draws = 0
    while len(named) < task["configurations"]:
        draw = study.ask(dists).params
        if draw not in seen:  # a preset that was itself a seed-0 draw comes up again
            seen.append(draw)
            named[f"draw_{draws:02d}"] = draw
            draws += 1
    return {name: A2CConfig.from_dict({**values, **fixed, "seed": 0}).to_dict()
            for name, values in named.items()}


def run(config: dict[str, Any], interval: int) -> dict[str, Any]:
    """Train one configuration on its seed; the evaluations at every grid point, and the cost.

    After the first iteration at or past each multiple of ``interval`` (where a sweep's trial
    evaluates; once where an iteration passes several) the policy plays ``SEARCH_EPISODES``
    deterministic episodes from the run's evaluation seeds; at the budget ``FINAL_EPISODES``
    (whose first ``SEARCH_EPISODES`` are the episodes a 5-episode evaluation plays there).
    """
    import torch

    from a2c_ray.core.config import A2CConfig
    from a2c_ray.run.trainer import Trainer
    from a2c_ray.sampling.rollout import run_episodes

    torch.set_num_threads(1)
    cfg = A2CConfig.from_dict(config)
    points: list[dict[str, Any]] = []
    train_s = eval_s = 0.0
    with Trainer(cfg, show_progress=False) as t:
        for until in range(interval, cfg.total_env_steps + 1, interval):
            if t.state.env_steps >= until:  # an iteration passed several points: one evaluation
                continue
            start = time.perf_counter()
            metrics = t.run(until_env_steps=until)
            middle = time.perf_counter()
            episodes = FINAL_EPISODES if t.done else SEARCH_EPISODES
            returns, _, _, _ = run_episodes(t.learner.model, cfg.env_id, episodes,
                                         seed=cfg.eval_seed, normalize=t.learner.normalize_obs)
            eval_s += time.perf_counter() - middle
            train_s += middle - start
            points.append({"env_steps": t.state.env_steps,
                           "returns": [round(float(r), 2) for r in returns],
                           "train_return": round(float(metrics["episode_return_mean"]), 2)})
    return {"points": points, "train_s": round(train_s, 2), "eval_s": round(eval_s, 2)}


def _machine() -> dict[str, Any]:
    import torch

    return {"cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__,
            "torch_cpu": torch.backends.cpu.get_cpu_capability(), "numpy": np.__version__}


def _write(path: Path, table: dict[str, Any]) -> None:
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps(table, separators=(",", ":")))
    part.replace(path)  # a run killed while writing keeps the previous table


def load(env: str) -> dict[str, Any]:
    """The task's table as committed (or as far as it got), or a new empty one."""
    path = RESULTS / f"selection_{env}.json"
    if path.exists():
        return json.loads(path.read_text())
    task = TASKS[env]
    return {"env_id": env, "steps": task["steps"], "interval": task["interval"],
            "search_episodes": SEARCH_EPISODES, "final_episodes": FINAL_EPISODES,
            "space": task["space"], "fixed": task["fixed"], "seed_start": SEED_START,
            "configurations": configurations(env), "runs": {}}


def status(table: dict[str, Any]) -> str:
    """How far the table is, what it cost, and each configuration's mean final return."""
    runs = table["runs"]
    wall = sum(r["train_s"] + r["eval_s"] for r in runs.values())
    steps = sum(r["points"][-1]["env_steps"] for r in runs.values())
    lines = [f"{table['env_id']}: {len(runs)} runs of {len(table['configurations'])} "
             f"configurations, {steps / 1e6:.1f}M env steps, {wall / 3600:.2f} core-hours "
             f"({wall / max(len(runs), 1):.0f} s a run)"]
    for name in table["configurations"]:
        mine = [r for k, r in runs.items() if k.split("/")[0] == name]
        if mine:
            final = [float(np.mean(r["points"][-1]["returns"])) for r in mine]
            cost = np.mean([r["train_s"] + r["eval_s"] for r in mine])
            lines.append(f"  {name:24s} {len(mine):3d} seeds  final {np.mean(final):8.1f} "
                         f"(worst {min(final):8.1f})  {cost:6.0f} s a run")
    return "\n".join(lines)


def main() -> int:
    """Run the missing runs of the first ``--seeds`` seeds, ``--jobs`` at a time."""
    p = Parser(prog="python -m benchmarks.selection.selection_table",
               description=__doc__.split("\n")[0])
    p.add_argument("--env", required=True, choices=sorted(TASKS), help="the task")
    p.add_argument("--seeds", type=int, default=10, help="seeds per configuration")
    p.add_argument("--jobs", type=int, default=2, help="runs at once, one core each")
    p.add_argument("--status", action="store_true", help="print how far it is; train nothing")
    a = p.parse_args()
    if a.seeds < 1 or a.jobs < 1:
        fail(f"--seeds {a.seeds} and --jobs {a.jobs} must each be >= 1")
    path = RESULTS / f"selection_{a.env}.json"
    table = load(a.env)
    if a.status:
        print(status(table))
        return 0
    expected = table["configurations"]  # as drawn when the table began, whatever Optuna does now
    table.setdefault("machine", _machine())
    todo = [(name, SEED_START + j) for j in range(a.seeds) for name in expected
            if f"{name}/{SEED_START + j}" not in table["runs"]]
    print(f"{a.env}: {len(todo)} runs to go ({len(table['runs'])} done), {a.jobs} at a time; "
          f"results in {path}", flush=True)
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=a.jobs) as pool:
        queue = list(todo)
        running: dict[Any, str] = {}
        while queue or running:
            while queue and len(running) < a.jobs:
                name, seed = queue.pop(0)
                config = {**expected[name], "seed": seed}
                running[pool.submit(run, config, table["interval"])] = f"{name}/{seed}"
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                key = running.pop(future)
                table["runs"][key] = future.result()
                _write(path, table)
                last = table["runs"][key]
                print(f"{key}: final {np.mean(last['points'][-1]['returns']):.1f} in "
                      f"{last['train_s'] + last['eval_s']:.0f} s ({len(table['runs'])} done, "
                      f"{(time.monotonic() - started) / 60:.0f} min this session)", flush=True)
    print(status(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
