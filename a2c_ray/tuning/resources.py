"""What a trial holds and how many run at once: placement groups, CPUs, concurrency.

A trial of S seeds, each with K rollout actors, reserves a placement group of S * (1 + K)
one-CPU bundles (``run.actors.trial_bundles``): seed j's learner at bundle j * (1 + K), its
actors after it. How many trials run at once follows the cluster's largest size
(``tuning.cluster``), so an autoscaling cluster grows for the trials that wait.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from a2c_ray.core import field_error
from a2c_ray.tuning.config import SweepPlan

log = logging.getLogger("a2c_ray")


def bundles(plan: SweepPlan, seeds: int | None = None) -> list[dict[str, float]]:
    """One trial's resources: for each seed, a learner bundle and one per rollout actor.

    ``seeds`` defaults to the seeds every trial starts with.
    """
    from a2c_ray.run import trial_bundles

    seeds = plan.config.seeds_first if seeds is None else seeds
    return trial_bundles(plan.base, seeds)


def local_cpus(plan: SweepPlan) -> int | None:
    """CPUs for a local Ray: this machine's (None), or one trial's where a trial needs more.

    A trial of S seeds with K rollout actors each needs S * (1 + K) CPUs at once. Where this
    machine has fewer, the local Ray claims that many so the sweep runs (the seeds then share
    cores: slower, same results), and says so.
    """
    seeds = plan.config.seeds_most
    cores, per_trial = os.cpu_count() or 1, len(bundles(plan, seeds))
    if per_trial <= cores:
        return None
    log.warning("a trial needs %d CPUs (%d seeds x %d) and this machine has %d: the local Ray "
                "claims %d, so the seeds share cores; --seeds-per-trial %d keeps one each",
                per_trial, seeds, per_trial // seeds, cores, per_trial,
                max(1, cores * seeds // per_trial))
    return per_trial


def check_fits(plan: SweepPlan) -> None:
    """A trial that no node set of this cluster can hold would wait forever: raise instead."""
    import ray

    from a2c_ray.tuning import cluster

    per_trial = len(bundles(plan, plan.config.seeds_most))
    most = cluster.max_cpus()
    cpus = most[0] if most is not None else int(ray.cluster_resources().get("CPU", 0))
    if per_trial > cpus:
        raise field_error(
            "SweepConfig", "seeds_per_trial", plan.config.seeds_per_trial,
            f"needs {per_trial} CPUs for a trial at its most (1 + --num-rollout-workers per "
            f"seed) and this cluster has at most {cpus}: run fewer seeds per trial or fewer "
            "rollout workers")


def check_storage(plan: SweepPlan) -> None:
    """A local storage path on a multi-node cluster must be a shared filesystem."""
    import ray

    storage = plan.config.storage_path
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if "://" not in storage and len(nodes) > 1 and not plan.config.shared_storage:
        raise field_error(
            "SweepConfig", "storage_path", storage,
            f"is a local directory, but this Ray cluster has {len(nodes)} nodes: use "
            "s3://bucket/prefix or a shared filesystem (and pass --shared-storage)")


def concurrency(plan: SweepPlan, seeds: int | None = None) -> int:
    """Trials at once: ``max_concurrent_trials``, else what the cluster can hold at its largest.

    On an autoscaling cluster that is the most CPUs the autoscaler may grow it to, so trials
    queue beyond the nodes up now and the autoscaler adds nodes for them; on a fixed cluster
    or local Ray, the CPUs it has. Logged once, with the reason.
    """
    import ray

    from a2c_ray.tuning import cluster

    per_trial = len(bundles(plan, seeds))
    if plan.config.max_concurrent_trials is not None:
        n, why = plan.config.max_concurrent_trials, "--max-concurrent-trials"
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


class SeedsPerRung:
    """Ray Tune's ``ResourceChangingScheduler`` allocation: a trial ASHA keeps earns seeds.

    Called on each result that ASHA let go on; returns the placement group of the seeds the
    trial has past that env step (``core.rungs.seeds_after``), so Tune restarts the trial
    from its checkpoint with one more bundle run per seed it earned. A plain class, so Tune
    can save it with the experiment.
    """

    def __init__(self, milestones: list[float], schedule: tuple[int, ...],
                 per_seed: list[dict[str, float]]) -> None:
        self.milestones, self.schedule, self.per_seed = milestones, schedule, per_seed

    def __call__(self, tune_controller: Any, trial: Any, result: dict[str, Any],
                 scheduler: Any) -> Any:
        """The trial's placement group past ``result``'s env step; None unless it grows.

        A trial never gives seeds back: a restored trial first reports again the rows its
        stored files lack, some from before the rung where it earned its seeds, and answering
        those with the smaller group would restart it twice more for nothing.
        """
        from ray.tune import PlacementGroupFactory

        from a2c_ray.core import seeds_after

        if "env_steps" not in result:
            return None
        seeds = seeds_after(result["env_steps"], self.milestones, self.schedule)
        held = len(trial.placement_group_factory.bundles) // len(self.per_seed)
        return PlacementGroupFactory(self.per_seed * seeds) if seeds > held else None
