"""Ray rollout actors (or the same workers in-process) for the learner.

The Ray contract, in one place:

* K actors of class ``RolloutWorker`` (so their processes show as ``ray::RolloutWorker``),
  one CPU each; actor i seeds its envs with seed + i.
* Each iteration the learner's weights and normaliser statistics go out with ONE ``ray.put``
  and a version number; every actor samples ``rollout_length`` steps with exactly that
  version (synchronous A2C: never stale weights) and returns numpy arrays, which Ray passes
  through the object store without pickling copies.
* ``submit`` starts the next rollout as soon as the new weights exist, so actors step envs
  while the learner logs, evaluates and checkpoints; ``collect`` waits for it.
* Inside a Ray Tune trial the actors go into the trial's placement group: bundle 0 is the
  learner's, bundle i + 1 is actor i's (see ``trial_bundles``). A trial of several seeds
  holds one such run of bundles per seed, the learner of seed j at bundle j * (K + 1).
* An actor whose process dies is replaced and its part of the batch re-collected; an env
  that raises is reported with env id and worker index, and the worker is rebuilt, up to
  ``max_failures`` times per run before the error propagates.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import ray
from ray.exceptions import RayActorError, RayTaskError
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from a2c_ray.core import A2CConfig, Batch, Broadcast
from a2c_ray.sampling import EnvFailure, RolloutWorker

log = logging.getLogger("a2c_ray")

# The actor class keeps the plain class's name, so its processes show as ray::RolloutWorker.
RemoteRolloutWorker = ray.remote(RolloutWorker)


def trial_bundles(config: A2CConfig, seeds: int = 1) -> list[dict[str, float]]:
    """Resources of one trial: for each seed, a learner bundle and one per rollout actor."""
    return [{"CPU": 1.0} for _ in range(seeds * (1 + config.num_rollout_workers))]


def ensure_ray(num_cpus: int | None = None, address: str | None = None) -> None:
    """Join ``address`` (or RAY_ADDRESS), else start a new local Ray with ``num_cpus`` CPUs."""
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address)
    else:  # a new local Ray, even where `ray start` left a cluster ray.init() would join
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False)


class _FailureBudget:
    """Counts worker failures over a run; raises once more than ``limit`` happened."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0

    def spend(self, err: BaseException, what: str) -> None:
        self.count += 1
        if self.count > self.limit:
            raise err
        log.warning("%s (failure %d of %d allowed): rebuilding the worker and "
                    "re-collecting its batch", what, self.count, self.limit)


class LocalSampler:
    """``num_workers`` RolloutWorkers stepped in turn in this process."""

    def __init__(self, config: A2CConfig, num_workers: int, max_failures: int = 3) -> None:
        self.config = config
        self.workers = [RolloutWorker(config, i) for i in range(num_workers)]
        self.failures = _FailureBudget(max_failures)
        self._broadcast: Broadcast | None = None

    def submit(self, broadcast: Broadcast) -> None:  # noqa: D102
        self._broadcast = broadcast

    def collect(self) -> list[Batch]:  # noqa: D102
        batches = []
        for i in range(len(self.workers)):
            while True:
                try:
                    batches.append(self.workers[i].sample(self._broadcast))
                    break
                except EnvFailure as err:
                    self.failures.spend(err, str(err))
                    self.workers[i] = RolloutWorker(self.config, i)
        return batches

    def get_states(self) -> list[dict[str, Any]]:  # noqa: D102
        return [w.get_state() for w in self.workers]

    def set_states(self, states: list[dict[str, Any]]) -> bool:  # noqa: D102
        return all([w.set_state(s) for w, s in zip(self.workers, states, strict=True)])

    def close(self) -> None:  # noqa: D102
        for w in self.workers:
            w.close()


class RaySampler:
    """K ``RolloutWorker`` Ray actors, one CPU each."""

    def __init__(self, config: A2CConfig, address: str | None = None,
                 max_failures: int = 3, placement: tuple[Any, int] | None = None) -> None:
        self.config = config
        self.num_workers = max(1, config.num_rollout_workers)
        ensure_ray(self.num_workers, address)
        self.failures = _FailureBudget(max_failures)
        if placement is None:  # the learner holds bundle 0 of the current group, if any
            placement = (ray.util.get_current_placement_group(), 0)
        self.placement_group, self.learner_bundle = placement
        self.actors = [self._start(i) for i in range(self.num_workers)]
        ray.get([a.ping.remote() for a in self.actors])  # fail early if envs cannot be made
        self._broadcast_ref: ray.ObjectRef | None = None
        self._pending: list[ray.ObjectRef] = []

    def _start(self, i: int):
        options: dict[str, Any] = {"num_cpus": 1, "max_restarts": 0}
        if self.placement_group is not None:
            options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
                self.placement_group, placement_group_bundle_index=self.learner_bundle + i + 1
            )
        return RemoteRolloutWorker.options(**options).remote(self.config.to_dict(), i)

    def submit(self, broadcast: Broadcast) -> None:
        """Start every actor's rollout; one ray.put of the broadcast for all of them."""
        self._broadcast_ref = ray.put(broadcast)
        self._pending = [a.sample.remote(self._broadcast_ref) for a in self.actors]

    def collect(self) -> list[Batch]:
        """Wait for the submitted rollouts; replace dead actors and re-collect their part."""
        batches: list[Batch | None] = [None] * self.num_workers
        for i in range(self.num_workers):
            while batches[i] is None:
                try:
                    batches[i] = ray.get(self._pending[i])
                except RayActorError as err:
                    self.failures.spend(err, f"rollout actor {i} died ({type(err).__name__})")
                    self._replace(i)
                except RayTaskError as err:
                    cause = err.cause if isinstance(err.cause, EnvFailure) else None
                    if cause is None:
                        raise
                    self.failures.spend(cause, str(cause))
                    self._replace(i)
        return batches  # type: ignore[return-value]

    def _replace(self, i: int) -> None:
        ray.kill(self.actors[i], no_restart=True)
        self.actors[i] = self._start(i)
        self._pending[i] = self.actors[i].sample.remote(self._broadcast_ref)

    def get_states(self) -> list[dict[str, Any]]:
        """Each actor's state; queued before any rollout submitted after this call."""
        return ray.get([a.get_state.remote() for a in self.actors])

    def set_states(self, states: list[dict[str, Any]]) -> bool:  # noqa: D102
        return all(ray.get([a.set_state.remote(s) for a, s in zip(self.actors, states,
                                                                     strict=True)]))

    def close(self) -> None:  # noqa: D102
        for a in self.actors:
            ray.kill(a, no_restart=True)
        self.actors = []


def make_sampler(config: A2CConfig, use_ray: bool | None = None, address: str | None = None,
                 placement: tuple[Any, int] | None = None) -> LocalSampler | RaySampler:
    """Ray actors when ``num_rollout_workers >= 1`` (or use_ray), else in-process workers.

    With use_ray=False and K >= 1 workers, the same K workers run in this process: the
    batches are bit-identical to the actors' (tests/test_actors.py checks it).
    """
    use_ray = config.num_rollout_workers > 0 if use_ray is None else use_ray
    if use_ray:
        return RaySampler(config, address, placement=placement)
    return LocalSampler(config, max(1, config.num_rollout_workers))
