"""The search as a Ray Tune experiment: the searcher, ASHA, the trainable, and their storage.

``new_tuner`` builds the search of a new sweep; ``restored_tuner`` continues a saved one,
finished trials kept, unfinished ones from their checkpoints, the searcher (with its Optuna
study) restored from the experiment.
"""

from __future__ import annotations

import logging
from typing import Any

from a2c_ray.core import storage as st
from a2c_ray.tuning.config import SweepPlan
from a2c_ray.tuning.console import progress_callback, result_loggers
from a2c_ray.tuning.trial import search_trainable

log = logging.getLogger("a2c_ray")


def trial_dirname(trial: Any) -> str:
    """A trial's directory: its trainable's name and its id (``run_trial_<id>``)."""
    return f"{trial.trainable_name}_{trial.trial_id}"


def run_config(plan: SweepPlan, storage: str, name: str, track: bool = False,
               candidates: list[str] | None = None) -> Any:
    """Tune's RunConfig: where the experiment goes, retries, our console and file writers.

    With ``track``, also the sweep's tracker callback (``tuning.tracking.sweep_callbacks``);
    ``candidates``: a confirmation's search trials, which its console shows each run as.
    """
    from ray import tune

    callbacks = [progress_callback(candidates=candidates), *result_loggers()]
    if track and plan.config.track is not None:
        from a2c_ray.tuning.tracking import sweep_callbacks

        callbacks += sweep_callbacks(plan.config.track, plan.name, plan.base_config)
    return tune.RunConfig(
        name=name, storage_path=st.resolve(storage),
        failure_config=tune.FailureConfig(max_failures=plan.config.max_failures),
        # Tune's own output prints two boxes per trial; ours is one table every 30 s.
        verbose=0, callbacks=callbacks,
    )


def first_points(plan: SweepPlan) -> list[dict[str, Any]]:
    """A new sweep's first trials: its start points, then the published ones it can express.

    Each configuration comes once. A published one whose one batch is more env steps than
    ``max_steps`` is left out, and the log says so (a2c-optuna's batch is 25,000): its trial
    would overrun the trial's budget and every rung before its first report. So is one with a
    value the space does not offer (the default space leaves out rollouts too long for the
    first rung: ``tuning.plan.fit_batches``).
    """
    from a2c_ray.tuning.space import KNOWN_CONFIGS, SearchSpaceError, space_point

    points: list[dict[str, Any]] = []
    for point in plan.start_points:
        if point and point not in points:
            points.append(point)
    for name, config in KNOWN_CONFIGS.items():
        if not set(plan.search_space) <= set(config):
            continue  # the space searches a field the published configuration does not set
        try:
            point = space_point(plan.search_space, config)
        except SearchSpaceError as err:
            log.info("not starting from %s: %s", name, err)
            continue
        batch = plan.trial_config(point).batch_size
        if batch > plan.config.max_steps:
            log.info("not starting from %s: one batch of it is %s env steps, more than "
                     "--max-steps %s", name, f"{batch:,}", f"{plan.config.max_steps:,}")
        elif point and point not in points:
            points.append(point)
    return points


def new_tuner(plan: SweepPlan, concurrency: int) -> Any:
    """The search of a new sweep: its start points first, then the sampler's proposals."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import ConcurrencyLimiter

    from a2c_ray.tuning.searcher import StudySearcher, SweepSearch
    from a2c_ray.tuning.space import to_distributions
    from a2c_ray.tuning.study import make_sampler

    config, space = plan.config, plan.search_space
    if (path := st.sqlite_file(plan.optuna_storage)) is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    searcher = StudySearcher(
        to_distributions(space), plan.optuna_storage, plan.name,
        make_sampler(config.sampler, config.seed), metric=plan.metric, mode=plan.mode,
        max_steps=config.max_steps, sweep_seed=config.seed,
        seeds_per_trial=config.seeds_most, points_to_evaluate=first_points(plan),
        prune_stopped=config.stopped_trials == "pruned", budget=config.search_budget,
    )
    scheduler: Any = ASHAScheduler(
        time_attr="env_steps", metric=plan.metric, mode=plan.mode, max_t=config.max_steps,
        grace_period=config.grace_steps, reduction_factor=config.reduction_factor,
    )
    racing = len(config.seeds_per_trial) > 1
    if racing:  # a trial ASHA keeps at a rung earns seeds: Tune's own way to grow a trial
        from ray.tune.schedulers import ResourceChangingScheduler

        from a2c_ray.tuning.resources import SeedsPerRung, bundles

        scheduler = ResourceChangingScheduler(scheduler, SeedsPerRung(
            list(config.milestones), config.seeds_per_trial, bundles(plan, seeds=1)))
    # Tune's own wrapping of a searcher given max_concurrent_trials, which also sets how many
    # trials may wait for resources (an autoscaler grows the cluster for those); the limit
    # itself is the searcher's (set_max_concurrency)
    search = SweepSearch(ConcurrencyLimiter(searcher, max_concurrent=concurrency))
    return tune.Tuner(
        search_trainable(plan, plan.exp),
        tune_config=tune.TuneConfig(
            search_alg=search, scheduler=scheduler,
            num_samples=config.num_samples, trial_dirname_creator=trial_dirname,
            # a trial's actor is reused by the next trial, which saves a process and torch's
            # imports; Tune cannot when trials change their resources
            reuse_actors=not racing,
        ),
        run_config=run_config(plan, config.storage_path, plan.name, track=True),
    )


def accept_old_pickles() -> None:
    """Let a sweep saved before the package had subpackages unpickle its searcher.

    Its tuner.pkl names the searcher's class ``a2c_ray.study.StudySearcher``; that module
    name is made to find ``a2c_ray.tuning.searcher``.
    """
    import sys

    from a2c_ray.tuning import searcher

    sys.modules.setdefault("a2c_ray.study", searcher)


def restored_tuner(plan: SweepPlan) -> Any:
    """The saved search of ``plan``'s sweep, to continue where it stopped.

    The searcher opens the study where ``plan`` says it is now (a moved sweep's).
    """
    from ray import tune

    from a2c_ray.tuning import searcher

    accept_old_pickles()
    searcher.restore_study_at(plan.optuna_storage)
    return tune.Tuner.restore(plan.exp, search_trainable(plan, plan.exp),
                              resume_unfinished=True, resume_errored=True)
