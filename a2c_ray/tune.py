"""Layers 6 and 8: ``python -m a2c_ray.tune``, a sweep with OptunaSearch (TPE) and ASHA.

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
import os
import shlex
import signal
import time
import warnings
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pandas as pd
from gymnasium import spaces as gym_spaces

from a2c_ray import storage as st
from a2c_ray.checkpoint import CheckpointStore
from a2c_ray.cli import Parser, UsageError, prepare_ray, read_config, run_cli
from a2c_ray.config import EVAL_HISTORY, A2CConfig, ConfigError, parse_override
from a2c_ray.envs import EnvIdError, env_spaces
from a2c_ray.results import describe_statuses, load_trials, ranked, seed_stats, table
from a2c_ray.search_space import (
    BOX_ONLY,
    GSDE_FIELDS,
    SearchSpaceError,
    known_points,
    load_search_space,
    space_point,
    to_distributions,
)
from a2c_ray.seeds import MAX_SWEEP_SEED, MAX_TEST_SEEDS, test_seeds
from a2c_ray.spaces import SpaceError
from a2c_ray.storage import DEFAULT_STORAGE

log = logging.getLogger("a2c_ray")

METRIC, MODE = "score", "max"
# Episodes per evaluation while searching: the score averages several evaluations of several
# seeds, so 5 rank trials as 10 do at half the cost (benchmarks/README.md, "Sweep cost").
# Confirmation and best_config.json evaluate with the config's own default, 10.
SEARCH_EVAL_EPISODES = 5
SPREAD = ("score_std", "score_min")  # how much the score depends on the seed
EVAL_SCHEDULES = ("rungs", "every")  # --eval-schedule; scored_evaluations says what rungs keeps
# The searched fields in the summary printed at the end (all of them: python -m a2c_ray.results).
TOP_TABLE_FIELDS = ("learning_rate", "gamma", "gae_lambda", "value_grad_steps",
                    "rollout_length", "envs_per_worker")


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
                   help="trials at once (default: the most CPUs the cluster can grow to / "
                        "CPUs per trial)")
    p.add_argument("--storage-path", default=DEFAULT_STORAGE,
                   help="local directory, shared filesystem or s3://bucket/prefix")
    p.add_argument("--name", help="experiment name (default: a2c_<env>_<date-time>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the sweep STORAGE/NAME after it was stopped (Ctrl-C, "
                        "SIGTERM, its driver killed)")
    p.add_argument("--address", help="Ray cluster to join, e.g. auto (default: RAY_ADDRESS, "
                   "else start a local Ray)")
    p.add_argument("--seed", type=int, default=0, help=f"seed of the sampler and of the "
                   f"trials' training seeds (0 to {MAX_SWEEP_SEED})")
    p.add_argument("--seeds-per-trial", type=int, default=3, metavar="S",
                   help="training seeds every trial runs in lockstep, one CPU each (times "
                        "1 + --num-rollout-workers); the trial is ranked on all of them")
    p.add_argument("--score-evals", type=int, default=3, metavar="N",
                   help=f"evaluations each seed's score averages, the latest N (1 to "
                        f"{EVAL_HISTORY})")
    p.add_argument("--eval-schedule", choices=EVAL_SCHEDULES, default="rungs",
                   help="rungs: only the evaluations a score is read from, the latest N "
                        "before each of ASHA's rungs and the end (the same scores and stops "
                        "as 'every'; 12 of 40 evaluations in a 1M-step trial at the "
                        "defaults); every: every eval_interval_steps, for full evaluation "
                        "curves")
    p.add_argument("--stopped-trials", choices=("pruned", "complete"), default="pruned",
                   help="what Optuna is told of a trial ASHA stopped: pruned at its env step, "
                        "or complete with its low-budget score (what Ray's OptunaSearch does; "
                        "for comparison)")
    p.add_argument("--sampler", choices=SAMPLERS, default="tpe",
                   help="tpe: TPE that counts running trials as bad (constant liar); "
                        "tpe-plain: TPE blind to running trials; random")
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
                   help="after the search, re-run the best K configurations on test seeds "
                        "(never trained on in a sweep) at the full budget")
    p.add_argument("--confirm-seeds", type=int, default=5, metavar="S",
                   help=f"test seeds per confirmed configuration (at most {MAX_TEST_SEEDS})")
    p.add_argument("--start-from", "--config", action="append", default=[], metavar="CONFIG",
                   help="JSON config (a preset, a best_config.json) whose searched fields are "
                        "the first trial, before SB3's defaults and TPE; repeatable")
    return p


# --- the trial -------------------------------------------------------------------------------

def run_trial(params: dict[str, Any], base: dict[str, Any], exp: str, keep: int = 2,
              report_every: int = 1, score_evals: int = 3,
              milestones: tuple[float, ...] = ()) -> None:
    """Ray Tune function trainable: one configuration on its training seeds, in lockstep.

    ``params["seeds"]`` are the seeds (the searcher's); without it, the base config's seed.
    Every seed is advanced to the next report point (``report_every`` more env steps, or the
    next evaluation), then the trial reports the seeds' metrics, ``score`` and its spread
    (``lockstep.trial_metrics``); reporting every iteration made Tune's per-result work cost a
    third of a 2-core machine.

    The trial keeps its own checkpoints in ``EXP/TRIAL/checkpoint/`` (a ``CheckpointStore``),
    every seed's state in each, and Tune keeps none: a trial restarted after a failure (a seed's
    actor killed, say) or a ``--resume`` continues from the newest complete one there. (Tune's
    own checkpoints, with ``num_to_keep``, can leave the saved experiment state naming a
    checkpoint already deleted when the driver is killed between the deletion and the next
    snapshot, and the trial then cannot be restored.)

    With ``milestones`` (ASHA's rungs), the seeds evaluate only where a score is read: the
    latest ``score_evals`` evaluations before each milestone and the end (``scored_evaluations``).
    The trial reports at the same points either way, so ASHA and the ranking see the same scores.
    """
    import ray
    from ray import tune

    from a2c_ray.lockstep import SeedGroup, trial_metrics

    params = dict(params)
    seeds = params.pop("seeds", None) or [base["seed"]]
    config = A2CConfig.from_dict({**base, **params})
    configs = [config.replace(seed=int(s)) for s in seeds]
    context = tune.get_context()
    trial = st.join(exp, Path(context.get_trial_dir()).name)
    store = CheckpointStore(st.join(trial, "checkpoint"), keep=keep)
    node_id = ray.get_runtime_context().get_node_id()
    resume = store.latest()
    if resume is not None:
        print(f"trial {context.get_trial_id()} resumes from {resume}", flush=True)
    interval, every = config.eval_interval_steps, config.checkpoint_interval
    eval_at = scored_evaluations(interval, milestones, config.total_env_steps, score_evals,
                                 config.batch_size) if milestones and interval > 0 else None
    with SeedGroup(configs, score_evals, resume, eval_at) as group:
        saved = group.iteration  # 0, or the checkpoint's
        while True:  # a trial restored at its budget reports its saved metrics once
            until = group.env_steps + report_every
            if interval > 0:  # stop at each evaluation, so every one is reported
                until = min(until, (group.env_steps // interval + 1) * interval)
            per_seed = group.run(until)
            if not per_seed[0]:  # restored at its budget from a checkpoint without metrics
                break
            metrics = trial_metrics(per_seed)
            if group.iteration > saved and (group.done or group.iteration // every
                                            > saved // every):
                store.save(group.iteration, group.save)  # before the report: ASHA may stop
                saved = group.iteration                 # the trial as soon as it has it
            tune.report({**metrics, "node_id": node_id})
            if group.done:
                break


def run_confirmation(params: dict[str, Any], base: dict[str, Any], exp: str,
                     configs: list[dict[str, Any]], keep: int = 2, report_every: int = 1,
                     score_evals: int = 3) -> None:
    """Trainable for --confirm-top: configuration ``config_index`` on test seed ``seed``."""
    run_trial({**configs[params["config_index"]], "seeds": [params["seed"]]}, base, exp, keep,
              report_every, score_evals)


def asha_milestones(grace_steps: int, max_steps: int, reduction_factor: float) -> list[float]:
    """The env steps at which ASHA compares a trial with the others, smallest first.

    Ray's one-bracket ASHA: ``grace_steps * reduction_factor ** k`` for as many rungs as fit
    below ``max_steps``, computed as Ray computes them. It decides at a trial's first report at
    or past each.
    """
    rungs = int(np.log(max_steps / grace_steps) / np.log(reduction_factor) + 1)
    return [grace_steps * reduction_factor ** k for k in range(rungs)]


def scored_evaluations(interval: int, milestones: tuple[float, ...] | list[float], total: int,
                       window: int, batch: int) -> frozenset[int]:
    """The evaluations a trial's score reads, as env steps on the ``interval`` grid.

    A trial evaluates after each iteration (``batch`` env steps) that passes a point of the
    grid, and reports at every point; ASHA reads the score at the first report at or past each
    milestone, the ranking at the end. The latest ``window`` evaluations there lie among the
    ``window * c`` grid points at or before the milestone, and at most ``c`` after it where a
    report carries past it (``c``: the grid points one iteration can pass). A trial that
    evaluates only at these points reads every score as a trial that evaluates at every one.
    """
    per_iteration = math.ceil(batch / interval)
    points: set[int] = set()
    for mark in [*milestones, total]:
        last = math.floor(mark / interval)
        after = per_iteration - 1 + (last * interval < mark)
        first = max(1, last - window * per_iteration + 1)
        points.update(k * interval for k in range(first, last + after + 1))
    return frozenset(points)


def _eval_milestones(settings: dict[str, Any]) -> tuple[float, ...]:
    """The milestones a sweep's trials evaluate for; none (every evaluation) for 'every'.

    A sweep saved before the setting existed evaluated every time, and resumes so.
    """
    if settings.get("eval_schedule", "every") != "rungs":
        return ()
    return tuple(asha_milestones(settings["grace_steps"], settings["max_steps"],
                                 settings["reduction_factor"]))


# --- what the user sees while it runs ---------------------------------------------------------

PROGRESS_COLUMNS = ("env_steps", METRIC, "score_min", "episode_return_mean", "env_steps_per_s")
PROGRESS_EVERY_S = 30.0


class _DropTuneResumeHint(logging.Filter):
    """Drops Tune's "Resume experiment with: Tuner.restore(...)": ours names our command."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Experiment has been interrupted")


def _quiet_tune() -> None:
    """Tune prints nothing of its own: the progress table and the summary are ours.

    Tune's new output engine prints an experiment box and two boxes per trial at any
    verbosity above 0, and a TensorBoard hint to a directory that does not exist; its legacy
    engine (RAY_AIR_NEW_OUTPUT=0) prints nothing at verbose=0.
    """
    import optuna

    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    logging.getLogger("ray.tune").setLevel(logging.WARNING)
    logging.getLogger("ray.tune.tune").addFilter(_DropTuneResumeHint())
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # A resumed trial continues from its own checkpoint, not Tune's, so Tune counts its
    # training_iteration from 1 again and OptunaSearch reports intermediate values at steps the
    # Optuna trial already has. Optuna keeps the first value and warns at every report; neither
    # the ranking nor ASHA reads intermediate values.
    warnings.filterwarnings("ignore", category=UserWarning,
                            message="The reported value is ignored because this `step=")


def _progress_callback(every_s: float) -> Any:
    """A Tune callback printing ``progress_table`` every ``every_s`` seconds."""
    from ray.tune import Callback

    class ProgressTable(Callback):
        def __init__(self) -> None:
            self.last = time.monotonic()
            self.start = self.last

        def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
            now = time.monotonic()
            if now - self.last >= every_s:
                self.last = now
                print(progress_table(trials, now - self.start), flush=True)

    return ProgressTable()


def _result_loggers() -> list[Any]:
    """Tune's result.json and progress.csv writers, made to keep a resumed trial's rows.

    The driver writes a trial's files in a staging directory and copies them to the sweep's
    storage. On ``--resume``, Tune copies them back from storage only for a trial that has a
    Tune checkpoint; ours keep their own (``run_trial``), so a trial that was running would
    restart both files empty and then overwrite the stored ones: its curve before the stop
    lost. These copy the stored file back whenever the staging directory has none. It is an
    override of Tune's private ``LoggerCallback._restore_from_remote``;
    tests/test_tune.py's stop-and-resume test fails if Tune stops calling it.
    """
    import pyarrow.fs
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    def restore(trial: Any, file_name: str) -> None:
        local = Path(trial.local_path, file_name)
        if local.exists():  # this session's own file: Tune appends to it
            return
        try:
            pyarrow.fs.copy_files(f"{trial.path}/{file_name}", str(local),
                                  source_filesystem=trial.storage.storage_filesystem)
        except FileNotFoundError:  # a trial that has reported nothing yet
            pass

    class KeepJson(JsonLoggerCallback):
        def _restore_from_remote(self, file_name: str, trial: Any) -> None:
            restore(trial, file_name)

    class KeepCsv(CSVLoggerCallback):
        def _restore_from_remote(self, file_name: str, trial: Any) -> None:
            restore(trial, file_name)

    return [KeepJson(), KeepCsv()]


def progress_table(trials: list[Any], elapsed_s: float, max_rows: int = 10) -> str:
    """Status counts, the best trial so far, and the running trials' progress, as text.

    ``trials`` are Tune's trial objects (``trial_id``, ``status``, ``last_result``).
    """
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.status] = counts.get(t.status, 0) + 1
    minutes, seconds = divmod(int(elapsed_s), 60)
    lines = [f"[{minutes // 60:d}:{minutes % 60:02d}:{seconds:02d}] "
             + " | ".join(f"{n} {status}" for status, n in sorted(counts.items()))]
    scored = [t for t in trials if _finite(t.last_result.get(METRIC))]
    if scored:
        best = max(scored, key=lambda t: t.last_result[METRIC])
        lines[0] += (f"   best {METRIC} {best.last_result[METRIC]:.1f} ({best.trial_id}, "
                     f"{best.last_result.get('env_steps', 0):,} steps)")
    running = sorted((t for t in trials if t.status == "RUNNING"),
                     key=lambda t: -t.last_result.get("env_steps", 0))
    if running:
        table = pd.DataFrame([{"trial": t.trial_id, "status": t.status,
                               **{c: t.last_result.get(c, np.nan) for c in PROGRESS_COLUMNS}}
                              for t in running[:max_rows]])
        table[list(PROGRESS_COLUMNS)] = table[list(PROGRESS_COLUMNS)].astype(float)
        lines.append(table.to_string(index=False, na_rep="-", formatters={
            "env_steps": "{:,.0f}".format, METRIC: "{:.1f}".format, "score_min": "{:.1f}".format,
            "episode_return_mean": "{:.1f}".format, "env_steps_per_s": "{:,.0f}".format}))
        if len(running) > max_rows:
            lines.append(f"... and {len(running) - max_rows} more running")
    return "\n".join(lines)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


# --- the sweep -------------------------------------------------------------------------------

def _settings(args: Any) -> dict[str, Any]:
    """Everything a sweep needs, validated before anything is written."""
    for flag in ("num_samples", "max_steps", "grace_steps", "checkpoint_every",
                 "keep_checkpoints", "confirm_seeds", "seeds_per_trial"):
        if getattr(args, flag) < 1:
            raise UsageError(f"--{flag.replace('_', '-')} {getattr(args, flag)} must be >= 1")
    for flag in ("max_failures", "confirm_top", "num_rollout_workers"):
        if getattr(args, flag) < 0:
            raise UsageError(f"--{flag.replace('_', '-')} {getattr(args, flag)} must be >= 0")
    if not 0 <= args.seed <= MAX_SWEEP_SEED:
        raise UsageError(f"--seed {args.seed} must be in [0, {MAX_SWEEP_SEED}]")
    if args.confirm_seeds > MAX_TEST_SEEDS:
        raise UsageError(f"--confirm-seeds {args.confirm_seeds} must be <= {MAX_TEST_SEEDS}")
    if not 1 <= args.score_evals <= EVAL_HISTORY:
        raise UsageError(f"--score-evals {args.score_evals} must be in [1, {EVAL_HISTORY}]")
    if args.grace_steps > args.max_steps:
        raise UsageError(f"--grace-steps {args.grace_steps} exceeds --max-steps {args.max_steps}")
    if args.reduction_factor <= 1:
        raise UsageError(f"--reduction-factor {args.reduction_factor:g} must be > 1")
    if args.max_concurrent_trials is not None and args.max_concurrent_trials < 1:
        raise UsageError(f"--max-concurrent-trials {args.max_concurrent_trials} must be >= 1")
    base: dict[str, Any] = {"eval_interval_steps": min(25_000, args.grace_steps),
                            "eval_episodes": SEARCH_EVAL_EPISODES}
    for text in args.overrides:
        key, value = parse_override(text)
        base[key] = value
    given = {parse_override(t)[0] for t in args.overrides}
    final_episodes = base["eval_episodes"] if "eval_episodes" in given else (
        A2CConfig().eval_episodes)
    base.update(env_id=args.env, seed=args.seed, total_env_steps=args.max_steps,
                num_rollout_workers=args.num_rollout_workers,
                checkpoint_interval=args.checkpoint_every)
    A2CConfig.from_dict(base)  # validate the fixed part
    obs_space, action_space = env_spaces(args.env)
    space, space_note = _fit_space(load_search_space(args.search_space), args.search_space,
                                   base, action_space)
    from a2c_ray.model import check_model  # torch, only now

    check_model(A2CConfig.from_dict(base), obs_space, action_space)  # e.g. a bad network
    fixed = sorted(set(space) & given)
    if fixed:
        raise UsageError(f"--set {', '.join(fixed)}: searched by the search space; remove it "
                         "from one of them")
    starts = []
    for path in args.start_from:
        config = read_config(path)
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
    return {
        "num_samples": args.num_samples, "max_steps": args.max_steps,
        "grace_steps": args.grace_steps, "reduction_factor": args.reduction_factor,
        "max_concurrent_trials": args.max_concurrent_trials, "seed": args.seed,
        "sampler": args.sampler, "seeds_per_trial": args.seeds_per_trial,
        "score_evals": args.score_evals, "eval_schedule": args.eval_schedule,
        "stopped_trials": args.stopped_trials,
        "keep_checkpoints": args.keep_checkpoints, "max_failures": args.max_failures,
        "base_config": base, "search_space": space, "optuna_storage": args.optuna_storage,
        "metric": METRIC, "mode": MODE, "start_points": starts,
        "final_eval_episodes": final_episodes, "space_note": space_note,
    }


def _fit_space(space: dict[str, Any], path: str | None, base: dict[str, Any],
               action_space: Any) -> tuple[dict[str, Any], str]:
    """The search space without the fields that cannot act in this sweep, and a note on them.

    The Gaussian's log-std and gSDE act only on Box actions, and gSDE only with the built-in
    MLP: the default space leaves them out elsewhere (the note says so), and a space file that
    names them there is refused.
    """
    if not isinstance(action_space, gym_spaces.Box):
        fields, why = BOX_ONLY, f"{base['env_id']}'s actions are {action_space}, not a Box"
    elif base.get("network") is not None:
        fields, why = GSDE_FIELDS, f"--set network={base['network']} replaces the built-in MLP"
    else:
        return space, ""
    idle = sorted(set(space) & set(fields))
    if not idle:
        return space, ""
    if path is not None:
        raise UsageError(f"--search-space {path}: {', '.join(idle)} cannot act in this sweep "
                         f"({why}): remove them from the space")
    return {k: v for k, v in space.items() if k not in idle}, (
        f"not searching {', '.join(idle)}: {why}")


def _check_storage(storage: str, shared: bool) -> None:
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if "://" not in storage and len(nodes) > 1 and not shared:
        raise UsageError(
            f"--storage-path {storage!r} is a local directory, but this Ray cluster has "
            f"{len(nodes)} nodes: use s3://bucket/prefix or a shared filesystem (and pass "
            "--shared-storage)"
        )


def _tuner(settings: dict[str, Any], storage: str, name: str, exp: str, concurrency: int):
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from a2c_ray.study import StudySearcher

    space = settings["search_space"]
    url = settings["optuna_storage"]
    if url is None:
        url = _default_study_url(name, exp)
        st.sqlite_file(url).parent.mkdir(parents=True, exist_ok=True)
        settings["optuna_storage"] = url
    points: list[dict[str, Any]] = []
    for point in [*settings.get("start_points", []), *known_points(space)]:
        if point and point not in points:
            points.append(point)
    searcher = StudySearcher(
        to_distributions(space), url, name, _sampler(settings), metric=METRIC, mode=MODE,
        max_steps=settings["max_steps"], sweep_seed=settings["seed"],
        seeds_per_trial=settings["seeds_per_trial"], points_to_evaluate=points,
        prune_stopped=settings["stopped_trials"] == "pruned",
    )
    scheduler = ASHAScheduler(
        time_attr="env_steps", metric=METRIC, mode=MODE, max_t=settings["max_steps"],
        grace_period=settings["grace_steps"], reduction_factor=settings["reduction_factor"],
    )
    return tune.Tuner(
        _trainable(run_trial, settings, exp, milestones=_eval_milestones(settings)),
        tune_config=tune.TuneConfig(
            search_alg=searcher, scheduler=scheduler, num_samples=settings["num_samples"],
            max_concurrent_trials=concurrency, trial_dirname_creator=_trial_dirname,
            reuse_actors=True,
        ),
        run_config=_run_config(settings, storage, name),
    )


def _default_study_url(name: str, exp: str) -> str:
    """The Optuna study's default SQLite URL.

    The file is in the sweep's directory; for a sweep on S3 (SQLite needs a local file) in
    ~/a2c_ray_results/NAME.optuna/ on the machine that starts it.
    """
    db = exp if "://" not in exp else st.join(DEFAULT_STORAGE, f"{name}.optuna")
    return f"{st.SQLITE}{Path(db) / 'optuna.db'}"


def _check_new_study(url: str, name: str) -> None:
    """A new sweep must not add its trials to an older sweep's study of the same name.

    That happens where the study outlives the sweep's directory: the local file of a sweep on
    S3, or a shared --optuna-storage database.
    """
    import optuna

    if (path := st.sqlite_file(url)) is not None and not path.is_file():
        return  # a file that does not exist holds no study; leave it uncreated
    try:
        names = optuna.study.get_all_study_names(storage=url)
    except Exception as err:  # noqa: BLE001  (an unreachable or malformed database)
        raise UsageError(f"--optuna-storage {url}: cannot be read: {err}") from None
    if name in names:
        raise UsageError(
            f"--name {name!r}: an Optuna study of that name already exists in {url} (an "
            "earlier sweep's): choose another name, or delete it with: optuna delete-study "
            f"--study-name {name} --storage {url}")


SAMPLERS = ("tpe", "tpe-plain", "random")


def _sampler(settings: dict[str, Any]) -> Any:
    """The Optuna sampler: TPE that knows about the trials in flight, unless told otherwise.

    ``tpe``: TPE with ``constant_liar``, which counts every running trial as a bad result so
    that trials suggested while others run spread out instead of repeating one guess (set
    explicitly: Optuna 5 turns it on by default, Optuna 4 off); ``tpe-plain``: TPE blind to
    running trials, Optuna 4's default; ``random``: a baseline. All are seeded by --seed.
    """
    import optuna

    kind, seed = settings.get("sampler", "tpe"), settings["seed"]
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, constant_liar=kind == "tpe")


def _run_config(settings: dict[str, Any], storage: str, name: str):
    from ray import tune

    return tune.RunConfig(
        name=name, storage_path=st.resolve(storage),
        failure_config=tune.FailureConfig(max_failures=settings["max_failures"]),
        # Tune's own output prints two boxes per trial; ours is one table every 30 s.
        verbose=0, callbacks=[_progress_callback(PROGRESS_EVERY_S), *_result_loggers()],
    )


def _trial_dirname(trial: Any) -> str:
    return f"{trial.trainable_name}_{trial.trial_id}"


def _concurrency(settings: dict[str, Any], seeds: int | None = None) -> int:
    """Trials at once: --max-concurrent-trials, else what the cluster can hold at its largest.

    On an autoscaling cluster that is the most CPUs the autoscaler may grow it to, so trials
    queue beyond the nodes up now and the autoscaler adds nodes for them; on a fixed cluster
    or local Ray, the CPUs it has. Logged once, with the reason.
    """
    import ray

    from a2c_ray import cluster

    per_trial = len(_bundles(settings, seeds))
    if settings["max_concurrent_trials"] is not None:
        n, why = settings["max_concurrent_trials"], "--max-concurrent-trials"
    elif (most := cluster.max_cpus()) is not None:
        cpus, source = most
        n = max(1, cpus // per_trial)
        why = (f"the cluster can grow to {cpus} CPUs ({source}), {per_trial} per trial; nodes "
               "are added as trials wait")
    else:
        cpus = int(ray.cluster_resources().get("CPU", 0))
        n = max(1, cpus // per_trial)
        why = f"this cluster has {cpus} CPUs and no autoscaler in sight, {per_trial} per trial"
    log.info("up to %d trials at once: %s; --max-concurrent-trials sets it", n, why)
    return n


def _trainable(fn: Any, settings: dict[str, Any], exp: str, seeds: int | None = None,
               **params: Any) -> Any:
    """A trainable of experiment ``exp`` with its fixed parameters and a placement group.

    The group holds, for each of the trial's ``seeds`` (default: the sweep's seeds per
    trial), one CPU bundle for the learner and one per rollout actor.
    """
    from ray import tune

    return tune.with_resources(
        tune.with_parameters(fn, base=settings["base_config"], exp=exp,
                             keep=settings["keep_checkpoints"],
                             report_every=_report_every(settings),
                             score_evals=settings.get("score_evals", 1), **params),
        tune.PlacementGroupFactory(_bundles(settings, seeds)),
    )


def _bundles(settings: dict[str, Any], seeds: int | None = None) -> list[dict[str, float]]:
    """One trial's resources: for each seed, a learner bundle and one per rollout actor."""
    from a2c_ray.actors import trial_bundles

    seeds = settings.get("seeds_per_trial", 1) if seeds is None else seeds
    return trial_bundles(A2CConfig.from_dict(settings["base_config"]), seeds)


def _report_every(settings: dict[str, Any]) -> int:
    """Env steps between reports to Tune: 1/200 of a trial's budget, finer than any rung."""
    return max(1, min(settings["max_steps"] // 200, settings["grace_steps"] // 4))


def _row_config(row: pd.Series, base: dict[str, Any]) -> dict[str, Any]:
    """The full, validated config of a trial row (plain Python values)."""
    params = {k[len("config/"):]: v for k, v in row.items()
              if k.startswith("config/") and k != "config/seeds"}
    return A2CConfig.from_dict({**base, **params}).to_dict()


def _final_config(row: pd.Series, settings: dict[str, Any]) -> dict[str, Any]:
    """A trial's config as confirmation runs it and best_config.json gives it.

    Evaluated on the config's own number of episodes (10) rather than the search's, unless
    ``--set eval_episodes`` chose one for both.
    """
    episodes = settings.get("final_eval_episodes", settings["base_config"].get("eval_episodes"))
    config = _row_config(row, settings["base_config"])
    return config if episodes is None else {**config, "eval_episodes": episodes}


def _confirm(settings: dict[str, Any], ok: pd.DataFrame, exp: str, top: int, n_seeds: int,
             stop: StopSignals) -> dict[str, Any]:
    """Re-run the top configurations on test seeds at the full budget; rank by mean return.

    A seed's return is its final deterministic evaluation (``eval_episodes`` episodes). Each
    configuration's entry in confirmation.json holds every seed's return and their mean,
    standard error, worst seed and interquartile mean (``results.seed_stats``). A
    confirmation that was interrupted continues where it stopped.
    """
    from ray import tune

    ok = ok.head(top)
    params = [_final_config(row, settings) for _, row in ok.iterrows()]
    seeds = test_seeds(n_seeds)
    confirm_dir = st.join(exp, "confirm")
    trainable = _trainable(run_confirmation, settings, confirm_dir, seeds=1, configs=params)
    if _has_tune_state(confirm_dir):  # interrupted earlier: Tune keeps its settings
        tuner = tune.Tuner.restore(confirm_dir, trainable, resume_unfinished=True,
                                   resume_errored=True)
    else:
        concurrency = _concurrency(settings, seeds=1)
        tuner = tune.Tuner(
            trainable,
            param_space={"config_index": tune.grid_search(list(range(len(params)))),
                         "seed": tune.grid_search(seeds)},
            tune_config=tune.TuneConfig(max_concurrent_trials=concurrency,
                                        trial_dirname_creator=_trial_dirname,
                                        reuse_actors=True),
            run_config=_run_config(settings, exp, "confirm"),
        )
    stop.fit(tuner)
    if stop.received is not None:
        return {}
    runs = load_trials(confirm_dir)
    ranking = []
    for i, (_, row) in enumerate(ok.iterrows()):
        mine = runs[(runs["config/config_index"] == i) & (runs["status"] == "TERMINATED")]
        returns = dict(zip(mine["config/seed"].astype(int), _column(mine, "eval_return_last"),
                           strict=True))
        returns = {int(k): float(v) for k, v in sorted(returns.items()) if math.isfinite(v)}
        stats = seed_stats(list(returns.values()))
        ranking.append({"sweep_trial_id": str(row["trial_id"]),
                        "sweep_metric": float(row[METRIC]),
                        "sweep_score_std": float(_column(ok, "score_std").iloc[i]),
                        "seeds": list(returns), "returns": list(returns.values()),
                        **stats, "ci68": [stats["mean"] - stats["sem"],
                                          stats["mean"] + stats["sem"]],
                        "config": params[i]})
    ranking.sort(key=lambda r: -r["mean"] if not math.isnan(r["mean"]) else math.inf)
    st.write_text(st.join(exp, "confirmation.json"), json.dumps(ranking, indent=2))
    print(f"\nConfirmation on test seeds {seeds[0]}..{seeds[-1]} (final evaluation; mean +- "
          "standard error, worst seed, interquartile mean):")
    for rank, r in enumerate(ranking, 1):
        print(f"  {rank}. trial {r['sweep_trial_id']}: {r['mean']:.1f} +- {r['sem']:.1f}, "
              f"worst {r['worst']:.1f}, IQM {r['iqm']:.1f} over {len(r['returns'])} seeds "
              f"(sweep {METRIC}: {r['sweep_metric']:.1f})")
    return ranking[0] if ranking else {}


def _close_orphans(url: str, name: str) -> None:
    """Mark as failed the Optuna trials a killed driver asked for but Tune never ran."""
    import optuna

    study = optuna.load_study(study_name=name, storage=url)
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)


class StopSignals:
    """Ctrl-C and SIGTERM stop a sweep cleanly; a second one ends the command at once.

    The first signal asks Tune to stop the way its own Ctrl-C handling does (through the
    SIGUSR1 handler Tune installs while it runs): it stops launching trials, saves the
    experiment state with the unfinished trials RUNNING or PENDING, and returns from
    ``fit``. Outside ``fit`` it raises KeyboardInterrupt. A second signal exits at once with
    128 + its number, which leaves the sweep as resumable as a SIGKILL does.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, second_message: str) -> None:
        self.second_message = second_message
        self.received: int | None = None
        self.in_fit = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # ours decides; Tune's SIGUSR1 stays
        self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc: Any) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            os.write(2, f"interrupted again: quitting at once; {self.second_message}\n".encode())
            os._exit(128 + signum)
        self.received = signum
        tune_stop = signal.getsignal(signal.SIGUSR1)
        if not (self.in_fit and callable(tune_stop)):
            raise KeyboardInterrupt
        tune_stop(signal.SIGUSR1, frame)

    def fit(self, tuner: Any) -> Any:
        """``tuner.fit()``, stoppable by these signals."""
        self.in_fit = True
        try:
            return tuner.fit()
        finally:
            self.in_fit = False

    @property
    def exit_code(self) -> int:
        """130 after SIGINT, 143 after SIGTERM."""
        return 128 + (self.received or 0)


def _open(args: Any) -> tuple[dict[str, Any], str, str]:
    """The sweep's settings, name and directory, validated before anything is written.

    The storage is checked with a write (an unreachable endpoint, a missing bucket or missing
    credentials end here, with exit code 2) after the flags and before anything else.
    """
    storage = args.storage_path
    if args.resume and not args.name:
        raise UsageError("--resume needs --name NAME of the sweep to continue")
    settings = None if args.resume else _settings(args)
    try:
        st.check_writable(storage)
    except st.StorageError as err:
        raise UsageError(f"--storage-path {err}") from None
    if args.resume:
        exp = st.join(storage, args.name)
        if not st.exists(st.join(exp, "sweep.json")):
            raise UsageError(f"--resume: no sweep named {args.name!r} under {storage!r}")
        settings = json.loads(st.read_text(st.join(exp, "sweep.json")))
        study = settings["optuna_storage"]
        if study is not None and (moved := st.moved_study(study, exp)) != study:
            log.info("the sweep was moved here: its Optuna study is now %s (was %s)", moved,
                     study)
            settings["optuna_storage"] = study = moved
            st.write_text(st.join(exp, "sweep.json"), json.dumps(settings, indent=2))
        if (path := st.sqlite_file(study)) is not None and not path.is_file():
            raise UsageError(
                f"--resume: the sweep's Optuna study {study} is not on this machine: resume "
                "where the sweep started, or keep the study in a database both can reach "
                "(--optuna-storage) when starting a sweep on S3")
        return settings, args.name, exp
    name = args.name or f"a2c_{args.env.split(':')[-1]}_{time.strftime('%Y%m%d-%H%M%S')}"
    exp = st.join(storage, name)
    if st.exists(exp):
        raise UsageError(f"--name {name!r} already exists under {storage!r}: pass --resume "
                         "to continue it, or choose another name")
    _check_new_study(settings["optuna_storage"] or _default_study_url(name, exp), name)
    return settings, name, exp


# On --resume: flags a resumed sweep applies, and how to read the saved value of the others.
RESUME_APPLIES = {"resume", "name", "storage_path", "address", "shared_storage", "confirm_top",
                  "confirm_seeds"}
SAVED_SETTING = {
    "env": lambda s: s["base_config"]["env_id"],
    "num_rollout_workers": lambda s: s["base_config"]["num_rollout_workers"],
    "checkpoint_every": lambda s: s["base_config"]["checkpoint_interval"],
    "eval_schedule": lambda s: s.get("eval_schedule", "every"),
}


def _check_resume_flags(args: Any, given: set[str]) -> None:
    """A resumed sweep keeps its settings: a flag that differs from them exits 2, naming both.

    --confirm-top and --confirm-seeds apply (the confirmation runs after the search); the
    storage, name and cluster flags say where the sweep is. Everything else is fixed once
    trials have been suggested with it.
    """
    if not args.name:
        return  # _open says what is missing
    path = st.join(args.storage_path, args.name, "sweep.json")
    try:
        saved = json.loads(st.read_text(path))
    except (OSError, ValueError):
        return  # _open says what is missing
    for flag in sorted(given - RESUME_APPLIES):
        option = "--" + flag.replace("_", "-")
        asked = getattr(args, flag)
        if flag == "overrides":
            base = saved["base_config"]
            for key, value in (parse_override(t) for t in asked):
                if base.get(key) != value:
                    raise UsageError(f"--resume: --set {key}={value!r} differs from the sweep's "
                                     f"{key}={base.get(key)!r}; a resumed sweep keeps its "
                                     "settings: start a new sweep (--start-from its "
                                     "best_config.json) to change them")
            continue
        if flag in ("search_space", "start_from"):
            raise UsageError(f"--resume: {option} applies to a new sweep only; the sweep "
                             f"keeps the one it started with ({path})")
        was = SAVED_SETTING[flag](saved) if flag in SAVED_SETTING else saved.get(flag)
        if asked != was:
            raise UsageError(f"--resume: {option} {asked} differs from the sweep's {was}; a "
                             "resumed sweep keeps its settings: drop the flag, or start a new "
                             "sweep to change them")


def _local_cpus(settings: dict[str, Any]) -> int | None:
    """CPUs for a local Ray: this machine's, or one trial's where a trial needs more.

    A trial of S seeds with K rollout actors each needs S * (1 + K) CPUs at once. Where this
    machine has fewer, the local Ray claims that many so the sweep runs (the seeds then share
    cores: slower, same results), and says so.
    """
    cores, per_trial = os.cpu_count() or 1, len(_bundles(settings))
    if per_trial <= cores:
        return None
    seeds = settings.get("seeds_per_trial", 1)
    log.warning("a trial needs %d CPUs (%d seeds x %d) and this machine has %d: the local Ray "
                "claims %d, so the seeds share cores; --seeds-per-trial %d keeps one each",
                per_trial, seeds, per_trial // seeds, cores, per_trial,
                max(1, cores * seeds // per_trial))
    return per_trial


def _check_fits(settings: dict[str, Any]) -> None:
    """A trial that no node set of this cluster can hold would wait forever: exit 2 instead."""
    import ray

    from a2c_ray import cluster

    per_trial = len(_bundles(settings))
    most = cluster.max_cpus()
    cpus = most[0] if most is not None else int(ray.cluster_resources().get("CPU", 0))
    if per_trial > cpus:
        raise UsageError(
            f"--seeds-per-trial {settings['seeds_per_trial']}: a trial needs {per_trial} CPUs "
            f"(1 + --num-rollout-workers per seed) and this cluster has at most {cpus}: run "
            "fewer seeds per trial or fewer rollout workers")


def _has_tune_state(exp: str) -> bool:
    return any(e.name.startswith("experiment_state-") for e in st.list_dir(exp))


def _resume_command(name: str, storage: str) -> str:
    return (f"python -m a2c_ray.tune --resume --name {shlex.quote(name)} --storage-path "
            f"{shlex.quote(st.resolve(storage))}")


def _interrupted(exp: str, name: str, storage: str, num_samples: int) -> None:
    """The one line an interrupted sweep prints: how far it got, and how to continue."""
    started = finished = 0  # stopped before Tune saved any state
    if _has_tune_state(exp):
        status = load_trials(exp)["status"]
        started = int(status.isin(("RUNNING", "PAUSED", "TERMINATED", "ERROR")).sum())
        finished = int(status.isin(("TERMINATED", "ERROR")).sum())
    print(f"interrupted: {started} of {num_samples} trials started, {finished} finished; "
          f"continue with: {_resume_command(name, storage)}", flush=True)


def main() -> int:
    """Entry point."""
    parser = build_parser()
    args = parser.parse_args()
    if args.resume:
        _check_resume_flags(args, parser.given())
    storage = args.storage_path
    settings, name, exp = _open(args)
    prepare_ray(args.address)

    from ray import tune

    from a2c_ray.actors import ensure_ray
    from a2c_ray.study import restore_study_at

    _quiet_tune()
    ensure_ray(num_cpus=_local_cpus(settings), address=args.address)
    _check_storage(storage, args.shared_storage)
    _check_fits(settings)
    if settings.get("space_note") and not args.resume:
        log.info(settings["space_note"])
    # Installed after ray.init, whose SIGTERM handler would otherwise replace ours.
    with StopSignals(f"continue with: {_resume_command(name, storage)}") as stop:
        try:
            if args.resume and _has_tune_state(exp):
                # Finished trials are kept, unfinished ones continue from their checkpoints,
                # and the searcher (with its Optuna study) is restored from the experiment.
                trainable = _trainable(run_trial, settings, exp,
                                       milestones=_eval_milestones(settings))
                restore_study_at(settings["optuna_storage"])  # where it is now: it may move
                tuner = tune.Tuner.restore(exp, trainable,
                                           resume_unfinished=True, resume_errored=True)
            else:  # new, or stopped before Tune saved any state
                tuner = _tuner(settings, storage, name, exp, _concurrency(settings))
                st.write_text(st.join(exp, "sweep.json"), json.dumps(settings, indent=2))
            stop.fit(tuner)
            if stop.received is None:
                return _finish(args, settings, storage, name, exp, stop)
        except KeyboardInterrupt:
            if stop.received is None:
                raise
        if st.exists(st.join(exp, "sweep.json")):
            _interrupted(exp, name, storage, settings["num_samples"])
        return stop.exit_code


def _finish(args: Any, settings: dict[str, Any], storage: str, name: str, exp: str,
            stop: StopSignals) -> int:
    """After the search: the summary, best_config.json, the confirmation; returns the exit code.

    Returns early, with the exit code of the signal, when the confirmation is interrupted.
    """
    df = load_trials(exp)
    ok = ranked(df, METRIC, MODE)
    statuses = {k: int(v) for k, v in df["status"].value_counts().items() if v}
    summary: dict[str, Any] = {
        "metric": METRIC, "mode": MODE, "best_trial_id": None, "best_config": None,
        "best_metric": None, "num_trials": len(df), "trials_by_status": statuses,
        "stopped_early": int((_column(df, "env_steps").fillna(0) < settings["max_steps"]).sum()),
        "optuna_storage": settings["optuna_storage"], "study_name": name,
    }
    if ok.empty:
        st.write_text(st.join(exp, "summary.json"), json.dumps(summary, indent=2))
        _close_orphans(settings["optuna_storage"], name)
        errors = [_first_error(d) for d in df["trial_dir"].dropna()]
        first_error = next((e for e in errors if e), "")
        print(f"No trial finished with a {METRIC} ({describe_statuses(df)}). First error: "
              f"{first_error}\n"
              f"Results: {exp}")
        return 1
    best = ok.iloc[0]
    best_config = _final_config(best, settings)
    summary.update({"best_trial_id": str(best["trial_id"]), "best_config": best_config,
                    "best_metric": float(best[METRIC])})

    space = settings["search_space"]
    fields = [k for k in TOP_TABLE_FIELDS if k in space] or list(space)[:len(TOP_TABLE_FIELDS)]
    top = table(exp, df)[["trial_id", "env_steps", METRIC, *SPREAD, *fields]].head(5)
    print(f"\nTop {len(top)} by {METRIC} ({describe_statuses(df)}; every searched field: "
          f"python -m a2c_ray.results {exp}):")
    print(top.to_string(index=False, float_format="{:.4g}".format))

    if args.confirm_top:
        winner = _confirm(settings, ok, exp, args.confirm_top, args.confirm_seeds, stop)
        if stop.received is not None:
            return stop.exit_code
        if winner:
            summary.update({"confirmed_best_trial_id": winner["sweep_trial_id"],
                            "confirmed_best_config": winner["config"],
                            "confirmed_best_mean": winner["mean"],
                            "confirmed_best_sem": winner["sem"]})
            best_config = winner["config"]
    st.write_text(st.join(exp, "best_config.json"), json.dumps(best_config, indent=2))
    st.write_text(st.join(exp, "summary.json"), json.dumps(summary, indent=2))
    _close_orphans(settings["optuna_storage"], name)
    print(f"\nResults: {exp}")
    print(f"TensorBoard: tensorboard --logdir {exp}")
    print(f"Optuna study: optuna-dashboard {settings['optuna_storage']}")
    print(f"Retrain the best configuration:\n  python -m a2c_ray.train --config "
          f"{st.join(exp, 'best_config.json')} --seed 1 2 3 --out runs/{name}_best")
    return 0


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    """A column as floats (NaN where missing), also when no trial reported it."""
    if name not in df:
        return pd.Series(np.nan, index=df.index, dtype=float)
    return pd.to_numeric(df[name], errors="coerce").astype(float)


def _first_error(trial_dir: str) -> str:
    """The last line of a trial's error.txt, or ''."""
    uri = st.join(trial_dir, "error.txt")
    if not st.exists(uri):
        return ""
    lines = st.read_text(uri).strip().splitlines()
    return lines[-1] if lines else ""


def cli() -> None:
    """Console entry point ``a2c-ray-tune``: main() with one-line errors, exit code 2."""
    run_cli(main, (UsageError, ConfigError, EnvIdError, SpaceError, SearchSpaceError))


if __name__ == "__main__":
    cli()
