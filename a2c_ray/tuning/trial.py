"""The trial: one configuration on its training seeds, in lockstep, as a Ray Tune trainable.

``TrialRun`` holds a trial's life, ``run_trial`` is its loop. Every seed is advanced to the
next report point, then the trial reports the seeds' metrics, ``score`` and its spread
(``trial_metrics``). The trial keeps its own checkpoints in
``EXP/TRIAL/checkpoint/`` (every seed's state in each), so a trial restarted after a failure or
a resumed sweep continues exactly from the newest complete one.

A checkpoint also holds every report the trial made up to it (``reports.jsonl``). The driver
writes a trial's rows of result.json and progress.csv some reports behind the trial, so a
driver killed in between leaves the stored files short of the checkpoint; the restored trial
reports those rows again before it goes on, and each env step is in the files once.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from a2c_ray.core import A2CConfig, aggregate
from a2c_ray.core import storage as st
from a2c_ray.run import CheckpointStore, seed_checkpoints
from a2c_ray.tuning.config import SweepPlan, trial_config
from a2c_ray.tuning.console import last_env_steps
from a2c_ray.tuning.resources import bundles
from a2c_ray.tuning.schedule import (
    eval_milestones,
    report_every,
    scored_evaluations,
)


@dataclass(frozen=True)
class TrialSpec:
    """What every trial of an experiment shares, handed to the trainable by Tune.

    Attributes:
        base: the A2CConfig fields every trial has; a trial adds its searched ones.
        exp: the experiment's directory (local or s3://), where trials keep checkpoints.
        keep: checkpoints kept per trial.
        report_every: env steps between reports to Tune, at most.
        score_evals: evaluations each seed's score averages.
        milestones: ASHA's rungs, where the seeds evaluate only where a score is read; none
            evaluates at every point of the grid.
        statistic: the score's statistic over the seeds (``core.scores.aggregate``).
        grows_at: the rungs at which the trial may earn seeds: it checkpoints at the first
            report at or past each, from where Tune restarts it with its new placement group.
    """

    base: dict[str, Any]
    exp: str
    keep: int = 2
    report_every: int = 1
    score_evals: int = 3
    milestones: tuple[float, ...] = ()
    statistic: str = "mean"
    grows_at: tuple[float, ...] = ()

    @classmethod
    def of(cls, plan: SweepPlan, exp: str, evaluate_all: bool = False) -> TrialSpec:
        """The trials of ``plan`` in experiment ``exp``; ``evaluate_all`` for confirmation."""
        config = plan.config
        rungs = config.milestones
        racing = len(config.seeds_per_trial) > 1 and not evaluate_all
        return cls(base=plan.base_config, exp=exp, keep=config.keep_checkpoints,
                   report_every=report_every(config), score_evals=config.score_evals,
                   milestones=() if evaluate_all else eval_milestones(config),
                   statistic=config.score, grows_at=rungs[:len(config.seeds_per_trial) - 1]
                   if racing else ())


def trial_configs(params: dict[str, Any], spec: TrialSpec) -> list[A2CConfig]:
    """A trial's configuration on each of its seeds (``params["seeds"]``, else the base's)."""
    params = dict(params)
    seeds = params.pop("seeds", None) or [spec.base["seed"]]
    config = trial_config(spec.base, params)
    return [config.replace(seed=int(s)) for s in seeds]


def evaluations(config: A2CConfig, spec: TrialSpec) -> frozenset[int] | None:
    """The env steps a trial evaluates at; None: at every one of its evaluation interval."""
    interval = config.eval_interval_steps
    if not (spec.milestones and interval > 0):
        return None
    return scored_evaluations(interval, spec.milestones, config.total_env_steps,
                              spec.score_evals, config.batch_size)


def next_report(env_steps: int, config: A2CConfig, spec: TrialSpec) -> int:
    """The env step of a trial's next report: ``spec.report_every`` on, or the next evaluation.

    It stops at each evaluation, so that every one is reported.
    """
    until = env_steps + spec.report_every
    if (interval := config.eval_interval_steps) > 0:
        until = min(until, (env_steps // interval + 1) * interval)
    return until


REPORTS = "reports.jsonl"  # in a trial's checkpoint: the trial's reports up to it, one a line


def _saved_reports(checkpoint: str) -> list[dict[str, Any]]:
    """The reports a checkpoint holds; none in one written before checkpoints held them."""
    uri = st.join(checkpoint, REPORTS)
    if not st.exists(uri):
        return []
    return [json.loads(line) for line in st.read_text(uri).splitlines() if line.strip()]


def _stored_rows_end(trial: str) -> int:
    """The env step of the last row both of the trial's stored files hold; -1: none.

    The driver uploads result.json and progress.csv one after the other while it goes on
    writing them, so a driver killed in an upload can leave one of them shorter.
    """
    ends = []
    for name in ("result.json", "progress.csv"):
        uri = st.join(trial, name)
        try:
            ends.append(last_env_steps(st.read_text(uri), name) if st.exists(uri) else -1)
        except OSError:  # storage away: every report the checkpoint holds is reported again
            return -1
    return min(ends)


def _save(path: Path, group: Any, reports: list[dict[str, Any]]) -> None:
    """Write the seeds' checkpoint and the reports up to it in ``path``."""
    group.save(path)
    (path / REPORTS).write_text("".join(json.dumps(r) + "\n" for r in reports))


class TrialState(enum.Enum):
    """Where a trial is in its life (``TrialRun.state``)."""

    NEW = "new"  # started from scratch, nothing reported
    RESTORED = "restored"  # continued from its checkpoint, its reports up to it not replayed
    RUNNING = "running"  # stepping from report to report
    DONE = "done"  # at its budget: nothing more to train or report


class TrialRun:
    """One trial's life in a Tune trainable: its seeds, rungs, checkpoints and reports.

    Made inside Tune's trainable; a context manager that releases the seeds' actors. A trial
    starts ``NEW``, or ``RESTORED`` from the newest complete checkpoint in its own
    ``EXP/TRIAL/checkpoint/``; ``replay`` makes it ``RUNNING`` (a restored one first reports
    again what the stored files lack), and each ``step`` advances every seed to the next
    report point, checkpoints where due, and reports, until it is ``DONE``.

    Tune keeps no checkpoint of its own: its ``num_to_keep`` can leave the saved experiment
    state naming a checkpoint already deleted when the driver is killed between the deletion
    and the next snapshot, and the trial then cannot be restored.

    Args:
        params: the searcher's configuration; ``params["seeds"]`` the training seeds (without
            it, the base config's seed).
        spec: what every trial of the experiment shares.
        label: the trial as its lines name it; Tune's trial id where None (a validation run
            is named by the search's trial it re-trains and its seed).
    """

    def __init__(self, params: dict[str, Any], spec: TrialSpec,
                 label: str | None = None) -> None:
        import ray
        from ray import tune

        from a2c_ray.run import IdleSeedActors, SeedGroup

        context = tune.get_context()
        self.spec = spec
        self.dir = st.join(spec.exp, Path(context.get_trial_dir()).name)
        self.store = CheckpointStore(st.join(self.dir, "checkpoint"), keep=spec.keep)
        self.node_id = ray.get_runtime_context().get_node_id()
        resume = self.store.latest()
        # as many of its seeds as its placement group holds: a trial that earned seeds at a
        # rung was restarted with more bundles (``resources.SeedsPerRung``); at least those its
        # checkpoint holds, where it was killed before Tune saved its larger group
        configs = trial_configs(params, spec)
        held = len(context.get_trial_resources().bundles) // (1 + configs[0].num_rollout_workers)
        in_checkpoint = len(seed_checkpoints(resume)) if resume is not None else 0
        configs = configs[:max(1, held, in_checkpoint)]
        if resume is not None:
            print(f"trial {label or context.get_trial_id()} resumes from {resume} on "
                  f"{len(configs)} seed(s)", flush=True)
        self.config = configs[0]
        # every report up to the newest checkpoint, and the reports since
        self.reports = _saved_reports(resume) if resume is not None else []
        self.group = SeedGroup(configs, spec.score_evals, resume, evaluations(self.config, spec),
                               idle=IdleSeedActors.here())
        self.saved = self.group.iteration  # the iteration of the newest checkpoint (0: none)
        self.state = TrialState.RESTORED if resume is not None else TrialState.NEW

    def _report(self, per_seed: list[dict[str, float]]) -> dict[str, Any]:
        # timesteps_total: the step a tracker's callback logs the report at
        return {**trial_metrics(per_seed, self.spec.statistic), "node_id": self.node_id,
                "timesteps_total": self.group.env_steps}

    def replay(self) -> None:
        """Start reporting; a restored trial first reports again up to its checkpoint.

        The driver writes a trial's rows of result.json and progress.csv some reports behind
        it: the rows the stored files lack before the checkpoint (a driver killed before it
        wrote them), then the report at the checkpoint's own env step. The steps after it are
        reported again by ``step`` (the files keep each env step once).
        """
        from ray import tune

        restored, self.state = self.state is TrialState.RESTORED, TrialState.RUNNING
        if not restored:
            return
        per_seed = self.group.run(self.group.env_steps)
        if not per_seed[0]:  # restored at its budget without metrics: the next step ends it
            return
        stored = _stored_rows_end(self.dir)
        for row in self.reports:
            if stored < row.get("env_steps", -1) < self.group.env_steps:
                tune.report(row)
        report = self._report(per_seed)
        if not self.reports or self.reports[-1].get("env_steps") != self.group.env_steps:
            self.reports.append(report)
        tune.report(report)
        if self.group.done:
            self.state = TrialState.DONE

    def _checkpoint_due(self, before: int) -> bool:
        """Whether the step from env step ``before`` to here ends with a checkpoint.

        At the budget, at each ``checkpoint_interval`` iterations, and at the first report at
        or past a rung where the trial may earn seeds (Tune restarts it there with its new
        placement group).
        """
        group, every = self.group, self.config.checkpoint_interval
        at_rung = any(before < m <= group.env_steps for m in self.spec.grows_at)
        return group.iteration > self.saved and (
            group.done or at_rung or group.iteration // every > self.saved // every)

    def step(self) -> None:
        """Advance every seed to the next report point, checkpoint where due, and report.

        The next report point is ``report_every`` more env steps, or the next evaluation
        (``next_report``): reporting every iteration made Tune's per-result work cost a third
        of a 2-core machine.
        """
        from ray import tune

        before = self.group.env_steps
        per_seed = self.group.run(next_report(before, self.config, self.spec))
        if not per_seed[0]:  # restored at its budget from a checkpoint without metrics
            self.state = TrialState.DONE
            return
        report = self._report(per_seed)
        self.reports.append(report)
        if self._checkpoint_due(before):  # before the report: ASHA may stop the trial on it
            self.store.save(self.group.iteration,
                            lambda path: _save(path, self.group, self.reports))
            self.saved = self.group.iteration
        tune.report(report)
        if self.group.done:
            self.state = TrialState.DONE

    def close(self) -> None:
        """Release the seeds' actors (kept for the trial the same Tune actor runs next)."""
        self.group.close()

    def __enter__(self) -> TrialRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_trial(params: dict[str, Any], spec: TrialSpec, label: str | None = None) -> None:
    """Ray Tune function trainable: one configuration on its training seeds, in lockstep."""
    with TrialRun(params, spec, label) as trial:
        trial.replay()
        while trial.state is TrialState.RUNNING:
            trial.step()


def run_confirmation(params: dict[str, Any], spec: TrialSpec, configs: list[dict[str, Any]],
                     names: tuple[str, ...] = ()) -> None:
    """Trainable for the confirmation: configuration ``config_index`` on seed ``seed``.

    ``names`` are the search's trial ids of the configurations, which name the run in its
    lines (``546740e8 seed 30001``, as the console's table does).
    """
    index, seed = params["config_index"], params["seed"]
    label = f"{names[index]} seed {seed}" if names else None
    run_trial({**configs[index], "seeds": [seed]}, spec, label)


def trainable(fn: Any, spec: TrialSpec, resources: list[dict[str, float]],
              **params: Any) -> Any:
    """``fn`` as a Tune trainable of ``spec``'s experiment, with further fixed ``params``.

    Each trial holds a placement group of ``resources`` (``tuning.resources.bundles``).
    """
    from ray import tune

    return tune.with_resources(tune.with_parameters(fn, spec=spec, **params),
                               tune.PlacementGroupFactory(resources))


def search_trainable(plan: SweepPlan, exp: str) -> Any:
    """The search's trainable: ``run_trial`` with the sweep's seeds per trial."""
    return trainable(run_trial, TrialSpec.of(plan, exp), bundles(plan))


# The per-seed values a trial reports (and load_curves shows, one row per seed).
SEED_METRICS = (
    "env_steps", "score", "eval_return_last", "eval_return_mean", "eval_return_std",
    "episode_return_mean", "episode_len_mean", "policy_loss", "value_loss", "entropy",
    "explained_variance", "grad_norm", "env_steps_per_s",
)
# Summed over seeds rather than averaged.
SUMMED = ("worker_failures",)


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def trial_metrics(per_seed: list[dict[str, float]], statistic: str = "mean") -> dict[str, Any]:
    """What a trial reports: the seeds' metrics averaged, the score and its spread, each seed.

    ``score`` is NaN until every seed has been evaluated; ``score_std`` is the sample standard
    deviation over seeds (0 for one seed); ``per_seed`` maps each seed to its own values.
    """
    first = per_seed[0]
    out: dict[str, Any] = {}
    for key, value in first.items():
        if key == "seed" or not isinstance(value, int | float):
            continue
        values = [float(m[key]) for m in per_seed]
        out[key] = float(sum(values)) if key in SUMMED else _mean(values)
    for key in ("env_steps", "iteration", "weights_version"):
        out[key] = first[key]
    scores = [float(m["score"]) for m in per_seed]
    whole = not any(math.isnan(s) for s in scores)
    out["score"] = aggregate(scores, statistic)
    out["score_std"] = float(np.std(scores, ddof=1)) if whole and len(scores) > 1 else (
        0.0 if whole else math.nan)
    out["score_min"] = float(min(scores)) if whole else math.nan
    out["per_seed"] = {str(int(m["seed"])): {k: float(m[k]) for k in SEED_METRICS if k in m}
                       for m in per_seed}
    return out
