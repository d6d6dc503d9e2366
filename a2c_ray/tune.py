"""``python -m a2c_ray.tune``: a hyperparameter sweep with OptunaSearch (TPE) and ASHA.

Runs on local Ray by default, or on a cluster with ``--address auto`` (or RAY_ADDRESS).
Results land in Ray Tune's own layout under STORAGE/NAME, plus:

* ``sweep.json``: the sweep's settings, so ``--resume`` needs only the name;
* ``optuna.db``: the Optuna study (SQLite; ``optuna-dashboard sqlite:///.../optuna.db``);
* ``summary.json``, ``best_config.json`` and, with ``--confirm-top``, ``confirmation.json``.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.fs as pafs

from a2c_ray import storage as st
from a2c_ray.checkpoint import FILES as CHECKPOINT_FILES
from a2c_ray.cli import Parser, UsageError, run_cli
from a2c_ray.config import A2CConfig, ConfigError, parse_override
from a2c_ray.envs import EnvIdError, env_spaces
from a2c_ray.search_space import (
    SearchSpaceError,
    baseline_point,
    load_search_space,
    space_point,
    to_distributions,
)
from a2c_ray.spaces import SpaceError
from a2c_ray.storage import DEFAULT_STORAGE

log = logging.getLogger("a2c_ray")

METRIC, MODE = "eval_return_last", "max"
CONFIRM_SEED_OFFSET = 10_000  # confirmation seeds never repeat the sweep's seed


def build_parser() -> Parser:
    """The command's arguments."""
    p = Parser(prog="python -m a2c_ray.tune", description=__doc__.split("\n")[0])
    p.add_argument("--num-samples", type=int, default=200, help="trials to run")
    p.add_argument("--env", default="HalfCheetah-v5",
                   help="gymnasium id, or package.module:EnvId-v0")
    p.add_argument("--max-steps", type=int, default=1_000_000,
                   help="env steps per trial at most (ASHA's max_t)")
    p.add_argument("--grace-steps", type=int, default=100_000,
                   help="env steps before ASHA may stop a trial")
    p.add_argument("--reduction-factor", type=float, default=3, help="ASHA's reduction factor")
    p.add_argument("--max-concurrent-trials", type=int, default=None,
                   help="trials at once (default: the cluster's CPUs / CPUs per trial)")
    p.add_argument("--storage-path", default=DEFAULT_STORAGE,
                   help="local directory, shared filesystem or s3://bucket/prefix")
    p.add_argument("--name", help="experiment name (default: a2c_<env>_<date-time>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the sweep STORAGE/NAME after its driver was killed")
    p.add_argument("--address", help="Ray cluster to join, e.g. auto (default: RAY_ADDRESS, "
                   "else start a local Ray)")
    p.add_argument("--seed", type=int, default=0, help="seed of the TPE sampler and of every "
                   "trial's training")
    p.add_argument("--search-space", help="JSON search space (default: "
                   "a2c_ray/search_space.json; copy and edit it)")
    p.add_argument("--optuna-storage", help="Optuna RDB storage URL (default: SQLite file "
                   "optuna.db in the experiment directory)")
    p.add_argument("--num-rollout-workers", type=int, default=0,
                   help="Ray rollout actors per trial (0: sample in the trial's process)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="fix an A2CConfig field for every trial; repeatable")
    p.add_argument("--checkpoint-every", type=int, default=50,
                   help="iterations between trial checkpoints")
    p.add_argument("--keep-checkpoints", type=int, default=2, help="checkpoints kept per trial")
    p.add_argument("--max-failures", type=int, default=2,
                   help="retries of a failed trial from its last checkpoint")
    p.add_argument("--shared-storage", action="store_true",
                   help="the local --storage-path is on a filesystem every node shares")
    p.add_argument("--confirm-top", type=int, default=0, metavar="K",
                   help="after the search, re-run the best K configurations on fresh seeds")
    p.add_argument("--confirm-seeds", type=int, default=5, metavar="S",
                   help="fresh seeds per confirmed configuration")
    p.add_argument("--start-from", action="append", default=[], metavar="CONFIG",
                   help="JSON config (a preset, a best_config.json) whose searched fields are "
                        "the first trial, before SB3's defaults and TPE; repeatable")
    return p


# --- the trial -------------------------------------------------------------------------------

def run_trial(params: dict[str, Any], base: dict[str, Any], report_every: int = 1) -> None:
    """Ray Tune function trainable: one A2C run.

    It reports to Tune after an evaluation, with each checkpoint, at the end, and whenever
    ``report_every`` more env steps have passed; reporting every iteration made Tune's
    per-result work cost a third of a 2-core machine.
    """
    import ray
    from ray import tune

    from a2c_ray.trainer import train

    config = A2CConfig.from_dict({**base, **params})
    node_id = ray.get_runtime_context().get_node_id()

    last = [-report_every]

    def report(metrics: dict[str, float], save: Any) -> None:
        steps = metrics["env_steps"]
        done = steps >= config.total_env_steps
        evaluated = not math.isnan(metrics["eval_return_mean"])
        if save is None and not (done or evaluated or steps - last[0] >= report_every):
            return
        last[0] = steps
        result = {**metrics, "node_id": node_id}
        if save is None:
            tune.report(result)
            return
        with tempfile.TemporaryDirectory() as tmp:
            save(Path(tmp) / "checkpoint")
            tune.report(result, checkpoint=tune.Checkpoint.from_directory(tmp))

    checkpoint = _available_checkpoint(tune.get_checkpoint())
    if checkpoint is None:
        train(config, on_iteration=report, show_progress=False)
    else:
        with checkpoint.as_directory() as d:
            train(config, resume_from=Path(d) / "checkpoint", on_iteration=report,
                  show_progress=False)


def _available_checkpoint(checkpoint: Any) -> Any:
    """The checkpoint to resume from, or the trial's newest complete one if it is unusable.

    A driver killed between writing a checkpoint and saving the experiment state leaves
    Tune pointing at a checkpoint that ``num_to_keep`` has since deleted, and a trial killed
    while its checkpoint was being copied to storage leaves a directory with only some of
    the files. The trial then continues from the newest checkpoint in its directory that has
    every file, instead of failing.
    """
    if checkpoint is None:
        return None
    fs = checkpoint.filesystem

    def complete(path: str) -> bool:
        return all(fs.get_file_info(f"{path}/checkpoint/{name}").type == pafs.FileType.File
                   for name in CHECKPOINT_FILES)

    if complete(checkpoint.path):
        return checkpoint
    from ray import tune

    trial_dir = checkpoint.path.rstrip("/").rsplit("/", 1)[0]
    found = sorted(info.path for info in fs.get_file_info(pafs.FileSelector(trial_dir))
                   if info.base_name.startswith("checkpoint_") and complete(info.path))
    if not found:
        log.warning("checkpoint %s is gone or incomplete and no other was found: starting "
                    "over", checkpoint.path)
        return None
    log.warning("checkpoint %s is gone or incomplete: resuming from %s", checkpoint.path,
                found[-1])
    return tune.Checkpoint(found[-1], filesystem=fs)


def run_confirmation(params: dict[str, Any], base: dict[str, Any],
                     configs: list[dict[str, Any]], report_every: int = 1) -> None:
    """Trainable for --confirm-top: configuration ``config_index`` on seed ``seed``."""
    run_trial({**configs[params["config_index"]], "seed": params["seed"]}, base, report_every)


# --- the sweep -------------------------------------------------------------------------------

def _settings(args: Any) -> dict[str, Any]:
    """Everything a sweep needs, validated before anything is written."""
    for flag in ("num_samples", "max_steps", "grace_steps", "checkpoint_every",
                 "keep_checkpoints", "confirm_seeds"):
        if getattr(args, flag) < 1:
            raise UsageError(f"--{flag.replace('_', '-')} {getattr(args, flag)} must be >= 1")
    for flag in ("max_failures", "confirm_top", "num_rollout_workers"):
        if getattr(args, flag) < 0:
            raise UsageError(f"--{flag.replace('_', '-')} {getattr(args, flag)} must be >= 0")
    if args.grace_steps > args.max_steps:
        raise UsageError(f"--grace-steps {args.grace_steps} exceeds --max-steps {args.max_steps}")
    if args.reduction_factor <= 1:
        raise UsageError(f"--reduction-factor {args.reduction_factor:g} must be > 1")
    if args.max_concurrent_trials is not None and args.max_concurrent_trials < 1:
        raise UsageError(f"--max-concurrent-trials {args.max_concurrent_trials} must be >= 1")
    base: dict[str, Any] = {"eval_interval_steps": min(25_000, args.grace_steps)}
    for text in args.overrides:
        key, value = parse_override(text)
        base[key] = value
    base.update(env_id=args.env, seed=args.seed, total_env_steps=args.max_steps,
                num_rollout_workers=args.num_rollout_workers,
                checkpoint_interval=args.checkpoint_every)
    A2CConfig.from_dict(base)  # validate the fixed part
    space = load_search_space(args.search_space)
    fixed = sorted(set(space) & {parse_override(t)[0] for t in args.overrides})
    if fixed:
        raise UsageError(f"--set {', '.join(fixed)}: searched by the search space; remove it "
                         "from one of them")
    starts = []
    for path in args.start_from:
        config = A2CConfig.from_json(path)
        values = {**config.to_dict(), "td_lambda": config.critic_lambda}
        try:
            starts.append(space_point(space, values))
        except SearchSpaceError as err:
            raise UsageError(f"--start-from {path}: {err}") from None
        ignored = sorted(k for k, v in values.items() if k not in space
                         and k in base and base[k] != v)
        if ignored:
            log.info("--start-from %s: %s not searched; the sweep's fixed values apply",
                     path, ", ".join(ignored))
    env_spaces(args.env)
    return {
        "num_samples": args.num_samples, "max_steps": args.max_steps,
        "grace_steps": args.grace_steps, "reduction_factor": args.reduction_factor,
        "max_concurrent_trials": args.max_concurrent_trials, "seed": args.seed,
        "keep_checkpoints": args.keep_checkpoints, "max_failures": args.max_failures,
        "base_config": base, "search_space": space, "optuna_storage": args.optuna_storage,
        "metric": METRIC, "mode": MODE, "start_points": starts,
    }


def _check_storage(storage: str, shared: bool) -> None:
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if "://" not in storage and len(nodes) > 1 and not shared:
        raise UsageError(
            f"--storage-path {storage!r} is a local directory, but this Ray cluster has "
            f"{len(nodes)} nodes: use s3://bucket/prefix or a shared filesystem (and pass "
            "--shared-storage)"
        )


def _tuner(settings: dict[str, Any], storage: str, name: str, exp: str):
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch


    space = settings["search_space"]
    url = settings["optuna_storage"]
    if url is None:
        db = exp if "://" not in exp else st.join(DEFAULT_STORAGE, f"{name}.optuna")
        Path(db).mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{Path(db) / 'optuna.db'}"
        settings["optuna_storage"] = url
    points: list[dict[str, Any]] = []
    for point in [*settings.get("start_points", []), baseline_point(space)]:
        if point and point not in points:
            points.append(point)
    searcher = OptunaSearch(
        space=to_distributions(space), metric=METRIC, mode=MODE,
        points_to_evaluate=points or None,
        sampler=optuna.samplers.TPESampler(seed=settings["seed"]),
        storage=optuna.storages.RDBStorage(url), study_name=name,
    )
    scheduler = ASHAScheduler(
        time_attr="env_steps", metric=METRIC, mode=MODE, max_t=settings["max_steps"],
        grace_period=settings["grace_steps"], reduction_factor=settings["reduction_factor"],
    )
    return tune.Tuner(
        _trainable(run_trial, settings),
        tune_config=tune.TuneConfig(
            search_alg=searcher, scheduler=scheduler, num_samples=settings["num_samples"],
            max_concurrent_trials=_concurrency(settings), trial_dirname_creator=_trial_dirname,
        ),
        run_config=_run_config(settings, storage, name),
    )


def _run_config(settings: dict[str, Any], storage: str, name: str):
    from ray import tune

    return tune.RunConfig(
        name=name, storage_path=st.resolve(storage),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=settings["keep_checkpoints"]),
        failure_config=tune.FailureConfig(max_failures=settings["max_failures"]),
        verbose=1,
    )


def _trial_dirname(trial: Any) -> str:
    return f"{trial.trainable_name}_{trial.trial_id}"


def _concurrency(settings: dict[str, Any]) -> int | None:
    import ray

    if settings["max_concurrent_trials"] is not None:
        return settings["max_concurrent_trials"]
    per_trial = 1 + settings["base_config"]["num_rollout_workers"]
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if cpus == 0:
        log.info("the cluster has no CPUs yet (autoscaling): trials queue until nodes join; "
                 "pass --max-concurrent-trials to bound them")
        return None
    return max(1, cpus // per_trial)


def _trials_frame(results: Any) -> pd.DataFrame:
    """One row per trial: id, status, final metrics and config/* columns."""
    rows = []
    for r in results:
        m = r.metrics or {}
        row = {"trial_id": m.get("trial_id", Path(r.path).name),
               "status": "ERROR" if r.error else "TERMINATED",
               "error": str(r.error).strip().splitlines()[-1] if r.error else "",
               "path": r.path}
        row.update({k: m.get(k) for k in ("env_steps", METRIC, "episode_return_mean",
                                           "node_id", "time_total_s")})
        row.update({f"config/{k}": v for k, v in (r.config or {}).items()})
        rows.append(row)
    df = pd.DataFrame(rows)
    ok = df["status"] == "TERMINATED"
    df["_rank_key"] = np.where(ok, pd.to_numeric(df[METRIC], errors="coerce"), np.nan)
    return df.sort_values("_rank_key", ascending=False, na_position="last").drop(
        columns="_rank_key").reset_index(drop=True)


def _trainable(fn: Any, settings: dict[str, Any], **params: Any) -> Any:
    """A trainable with its fixed parameters, reserving a placement group per trial.

    The group holds one CPU bundle for the learner and one per rollout actor.
    """
    from ray import tune

    from a2c_ray.actors import trial_bundles

    base = settings["base_config"]
    return tune.with_resources(
        tune.with_parameters(fn, base=base, report_every=_report_every(settings), **params),
        tune.PlacementGroupFactory(trial_bundles(A2CConfig.from_dict(base))),
    )


def _report_every(settings: dict[str, Any]) -> int:
    """Env steps between reports to Tune: 1/200 of a trial's budget, finer than any rung."""
    return max(1, min(settings["max_steps"] // 200, settings["grace_steps"] // 4))


def _row_config(row: pd.Series, base: dict[str, Any]) -> dict[str, Any]:
    """The full, validated config of a trial row (plain Python values)."""
    params = {k[len("config/"):]: v for k, v in row.items() if k.startswith("config/")}
    return A2CConfig.from_dict({**base, **params}).to_dict()


def _confirm(settings: dict[str, Any], df: pd.DataFrame, storage: str, name: str,
             exp: str, top: int, n_seeds: int) -> dict[str, Any]:
    """Re-run the top configurations on fresh seeds at the full budget; rank by mean return."""
    from ray import tune

    base = settings["base_config"]
    ok = df[(df["status"] == "TERMINATED") & df[METRIC].notna()].head(top)
    params = [_row_config(row, base) for _, row in ok.iterrows()]
    seeds = [settings["seed"] + CONFIRM_SEED_OFFSET + j for j in range(n_seeds)]
    tuner = tune.Tuner(
        _trainable(run_confirmation, settings, configs=params),
        param_space={"config_index": tune.grid_search(list(range(len(params)))),
                     "seed": tune.grid_search(seeds)},
        tune_config=tune.TuneConfig(max_concurrent_trials=_concurrency(settings),
                                    trial_dirname_creator=_trial_dirname),
        run_config=_run_config(settings, st.join(storage, name), "confirm"),
    )
    results = tuner.fit()
    ranking = []
    for i, (_, row) in enumerate(ok.iterrows()):
        returns = [r.metrics.get(METRIC) for r in results
                   if r.config["config_index"] == i and not r.error and r.metrics]
        returns = [float(x) for x in returns if x is not None and not math.isnan(x)]
        mean = float(np.mean(returns)) if returns else float("nan")
        sem = (float(np.std(returns, ddof=1) / np.sqrt(len(returns)))
               if len(returns) > 1 else float("nan"))
        ranking.append({"sweep_trial_id": str(row["trial_id"]),
                        "sweep_metric": float(row[METRIC]),
                        "seeds": seeds, "returns": returns, "mean": mean, "sem": sem,
                        "ci68": [mean - sem, mean + sem],
                        "config": params[i]})
    ranking.sort(key=lambda r: -r["mean"] if not math.isnan(r["mean"]) else math.inf)
    st.write_text(st.join(exp, "confirmation.json"), json.dumps(ranking, indent=2))
    print("\nConfirmation on fresh seeds (mean +- standard error, a 68% interval):")
    for rank, r in enumerate(ranking, 1):
        print(f"  {rank}. trial {r['sweep_trial_id']}: {r['mean']:.1f} +- {r['sem']:.1f} over "
              f"{len(r['returns'])} seeds (sweep: {r['sweep_metric']:.1f})")
    return ranking[0] if ranking else {}


def _close_orphans(url: str, name: str) -> None:
    """Mark as failed the Optuna trials a killed driver asked for but Tune never ran."""
    import optuna

    study = optuna.load_study(study_name=name, storage=url)
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)


def main() -> int:
    """Entry point."""
    args = build_parser().parse_args()
    storage = args.storage_path
    if args.resume:
        if not args.name:
            raise UsageError("--resume needs --name NAME of the sweep to continue")
        exp = st.join(storage, args.name)
        if not st.exists(st.join(exp, "sweep.json")):
            raise UsageError(f"--resume: no sweep named {args.name!r} under {storage!r}")
        settings = json.loads(st.read_text(st.join(exp, "sweep.json")))
        name = args.name
    else:
        settings = _settings(args)
        name = args.name or f"a2c_{args.env.split(':')[-1]}_{time.strftime('%Y%m%d-%H%M%S')}"
        exp = st.join(storage, name)
        if st.exists(exp):
            raise UsageError(f"--name {name!r} already exists under {storage!r}: pass --resume "
                             "to continue it, or choose another name")

    import ray
    from ray import tune

    ray.init(address=args.address) if args.address else ray.init()
    _check_storage(storage, args.shared_storage)

    if args.resume:
        # Finished trials are kept, unfinished ones continue from their checkpoints, and the
        # searcher (with its Optuna study in the RDB storage) is restored from the experiment.
        tuner = tune.Tuner.restore(exp, _trainable(run_trial, settings),
                                   resume_unfinished=True, resume_errored=True)
    else:
        tuner = _tuner(settings, storage, name, exp)
        st.write_text(st.join(exp, "sweep.json"), json.dumps(settings, indent=2))
    results = tuner.fit()

    df = _trials_frame(results)
    ok = df[(df["status"] == "TERMINATED") & df[METRIC].notna()]
    summary: dict[str, Any] = {
        "metric": METRIC, "mode": MODE, "best_trial_id": None, "best_config": None,
        "best_metric": None, "num_trials": len(df),
        "trials_by_status": {k: int(v) for k, v in df["status"].value_counts().items()},
        "stopped_early": int((df["env_steps"].fillna(0) < settings["max_steps"]).sum()),
        "optuna_storage": settings["optuna_storage"], "study_name": name,
    }
    if ok.empty:
        st.write_text(st.join(exp, "summary.json"), json.dumps(summary, indent=2))
        _close_orphans(settings["optuna_storage"], name)
        first_error = df["error"].iloc[0] if len(df) else ""
        print(f"No trial finished with a {METRIC}: {summary['trials_by_status']}. First "
              f"error: {first_error}\nResults: {exp}")
        return 1
    best = ok.iloc[0]
    best_config = _row_config(best, settings["base_config"])
    summary.update({"best_trial_id": str(best["trial_id"]), "best_config": best_config,
                    "best_metric": float(best[METRIC])})
    st.write_text(st.join(exp, "best_config.json"), json.dumps(best_config, indent=2))

    print(f"\nTop {min(5, len(df))} of {len(df)} trials by {METRIC} "
          f"({summary['trials_by_status']}):")
    cols = ["trial_id", "status", "env_steps", METRIC] + [
        f"config/{k}" for k in ("learning_rate", "gamma", "gae_lambda", "value_grad_steps",
                                "rollout_length", "envs_per_worker") if f"config/{k}" in df]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(df[cols].head(5).to_string(index=False))

    if args.confirm_top:
        winner = _confirm(settings, df, storage, name, exp, args.confirm_top, args.confirm_seeds)
        if winner:
            summary.update({"confirmed_best_trial_id": winner["sweep_trial_id"],
                            "confirmed_best_config": winner["config"],
                            "confirmed_best_mean": winner["mean"],
                            "confirmed_best_sem": winner["sem"]})
            st.write_text(st.join(exp, "best_config.json"), json.dumps(winner["config"], indent=2))
    st.write_text(st.join(exp, "summary.json"), json.dumps(summary, indent=2))
    _close_orphans(settings["optuna_storage"], name)
    print(f"\nResults: {exp}")
    print(f"Optuna study: optuna-dashboard {settings['optuna_storage']}")
    print(f"Retrain the best configuration:\n  python -m a2c_ray.train --config "
          f"{st.join(exp, 'best_config.json')} --seed 1 2 3 --out runs/{name}_best")
    return 0


if __name__ == "__main__":
    run_cli(main, (UsageError, ConfigError, EnvIdError, SpaceError, SearchSpaceError))
