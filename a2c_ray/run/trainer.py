"""A steppable A2C run, and ``train(config)`` on top of it.

Each iteration: collect a rollout from every worker with the broadcast weights, update,
broadcast the new weights (the workers sample while the rest runs), evaluate on schedule,
log, checkpoint when due. ``Trainer.run(until_env_steps)`` runs iterations up to a step
count and can be called again; ``save``/``Trainer.restore`` continue a run exactly. The CLI
(``a2c_ray.train``) and the Tune trainable (``a2c_ray.tuning.trial``) are thin wrappers around it.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from a2c_ray.core import EVAL_HISTORY, A2CConfig, Batch, seed_score
from a2c_ray.learning import Learner
from a2c_ray.run.actors import make_sampler
from a2c_ray.run.checkpoint import CheckpointStore, load_checkpoint, save_checkpoint
from a2c_ray.run.logger import RunLogger
from a2c_ray.sampling import env_spaces, eval_deterministic, run_episodes, success_rate

log = logging.getLogger("a2c_ray")

# Called after every iteration with the metrics and, when a checkpoint is due, a function
# that writes one into the directory it is given.
IterationCallback = Callable[[dict[str, float], Callable[[Path], Path] | None], None]

_NAN = float("nan")


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _mean(values: deque) -> float:
    return float(np.mean(values)) if values else _NAN


@dataclass
class TrainerState:
    """A run's progress besides the learner and the workers (a checkpoint's state.json)."""

    iteration: int = 0
    env_steps: int = 0
    time_total_s: float = 0.0  # wall time of the run before this session
    eval_time_s: float = 0.0  # wall time spent evaluating, every session
    recent_returns: deque[float] = field(default_factory=lambda: deque(maxlen=100))
    recent_lengths: deque[int] = field(default_factory=lambda: deque(maxlen=100))
    # 1.0 or 0.0 per episode where the env reports ``is_success``, else NaN
    recent_successes: deque[float] = field(default_factory=lambda: deque(maxlen=100))
    # the latest evaluation: its mean and std of the return, and its success rate
    last_eval: tuple[float, float, float] = (_NAN, _NAN, _NAN)
    # The means of the latest evaluations, oldest first: what a sweep's score averages.
    recent_evals: deque[float] = field(default_factory=lambda: deque(maxlen=EVAL_HISTORY))

    def to_dict(self, time_total_s: float) -> dict[str, Any]:
        """Plain values for a checkpoint, with the run's wall time so far."""
        return {
            "iteration": self.iteration, "env_steps": self.env_steps,
            "time_total_s": time_total_s, "eval_time_s": self.eval_time_s,
            "recent_returns": list(self.recent_returns),
            "recent_lengths": list(self.recent_lengths),
            "recent_successes": list(self.recent_successes),
            "last_eval": list(self.last_eval),
            "recent_evals": list(self.recent_evals),
        }

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> TrainerState:
        """Inverse of to_dict."""
        state = cls(iteration=int(saved["iteration"]), env_steps=int(saved["env_steps"]),
                    time_total_s=float(saved["time_total_s"]),
                    eval_time_s=float(saved.get("eval_time_s", 0.0)),  # absent before it was kept
                    # saved before the success rate was kept: mean and std only
                    last_eval=(*(float(v) for v in saved["last_eval"]), _NAN)[:3])
        state.recent_returns.extend(saved["recent_returns"])
        state.recent_lengths.extend(saved["recent_lengths"])
        state.recent_successes.extend(saved.get("recent_successes",
                                                [_NAN] * len(state.recent_returns)))
        # Checkpoints from before the history was kept hold only the latest evaluation.
        last = [] if math.isnan(state.last_eval[0]) else [state.last_eval[0]]
        state.recent_evals.extend(saved.get("recent_evals", last))
        return state


class Trainer:
    """One run: a learner, its samplers, its progress, its logger.

    Use as a context manager (or call ``close``) so the sampler's actors are released.

    Args:
        config: the run's configuration; ``total_env_steps`` is the run's budget (the learning
            rate schedule and the final evaluation and checkpoint follow it).
        out_dir: where progress.csv, TensorBoard events, checkpoint/ and summary.json go;
            None writes no files (the Tune trainable reports through a callback).
        use_ray: sample with Ray actors; by default when ``num_rollout_workers >= 1``.
            False with K >= 1 workers runs the same K workers in this process.
        ray_address: Ray cluster to join; by default RAY_ADDRESS, else a local Ray sized
            for the workers (unless Ray is already initialised, as in a Tune trial).
        show_progress: progress bar; by default when stderr is a terminal.
        placement: the placement group and bundle index of this run's learner, when its
            rollout actors go into a group the run does not own (a seed of a sweep's trial);
            by default the current one, bundle 0.
        eval_at: the evaluations to make, as env steps on the ``eval_interval_steps`` grid;
            the others are skipped. By default every one. The end of the budget is always
            evaluated. Skipping an evaluation leaves the training exactly as it was: a sweep
            evaluates only where its ranking reads the score (``a2c_ray.tuning.schedule``).
        track: a tracker to send the run to (``run.tracking.track_spec``): a tracker run
            named ``seed_S``, ended with summary.json when the trainer closes.
    """

    def __init__(self, config: A2CConfig, out_dir: str | Path | None = None, *,
                 use_ray: bool | None = None, ray_address: str | None = None,
                 show_progress: bool | None = None, placement: tuple[Any, int] | None = None,
                 eval_at: Collection[int] | None = None,
                 track: tuple[str, str, str | None] | None = None,
                 _saved: tuple[dict[str, Any], dict[str, Any]] | None = None) -> None:
        self._start = time.monotonic()
        torch.set_num_threads(1)
        self.config = config
        self.eval_at = None if eval_at is None else frozenset(int(s) for s in eval_at)
        self.learner = Learner(config, *env_spaces(config.env_id))
        self.sampler = make_sampler(config, use_ray, ray_address, placement)
        try:  # the sampler's actors are released if anything below fails
            self.state = TrainerState()
            if _saved is not None:
                learner_state, saved = _saved
                self.learner.load_state_dict(learner_state)
                if not self.sampler.set_states(saved["workers"]):
                    log.warning("%s cannot be restored exactly: resumed with fresh episodes",
                                config.env_id)
                self.state = TrainerState.from_dict(saved)
                self.metrics = dict(saved.get("metrics", {}))
            self.out_dir = Path(out_dir) if out_dir is not None else None
            resumed_at = self.state.iteration if _saved is not None else None
            tracker = None
            if track is not None:
                from a2c_ray.run.tracking import RunTracker

                tracker = RunTracker(track, f"seed_{config.seed}", config.to_dict())
            self.logger = RunLogger(self.out_dir, config.total_env_steps, self.state.env_steps,
                                    resumed_at, show_progress, tracker)
        except BaseException:
            self.sampler.close()
            raise
        if _saved is None:
            self.metrics: dict[str, float] = {}
        self._submitted = False  # a rollout with the latest weights is under way
        self._worker_states: list[dict[str, Any]] | None = None  # taken when a save is due
        self._steps_at_start, self._eval_time = self.state.env_steps, 0.0
        self._loop_start: float | None = None

    @classmethod
    def restore(cls, checkpoint: str | Path, total_env_steps: int | None = None,
                out_dir: str | Path | None = None, **kwargs: Any) -> Trainer:
        """Continue the run a checkpoint (or a run directory holding one) was saved from.

        Its config is used, with ``total_env_steps`` as the new budget where given.
        """
        config, learner_state, saved = load_checkpoint(checkpoint)
        if total_env_steps is not None:
            config = config.replace(total_env_steps=total_env_steps)
        return cls(config, out_dir, _saved=(learner_state, saved), **kwargs)

    @property
    def done(self) -> bool:
        """Whether the run has used its budget."""
        return self.state.env_steps >= self.config.total_env_steps

    def run(self, until_env_steps: int | None = None,
            on_iteration: IterationCallback | None = None) -> dict[str, float]:
        """Run iterations until ``until_env_steps`` (default: the budget); the last metrics.

        Every iteration is logged; when a checkpoint is due (every ``checkpoint_interval``
        iterations and at the end of the budget) it is written to out_dir/checkpoint/ and
        handed to ``on_iteration`` as a function that writes one into a given directory.
        """
        until = self.config.total_env_steps if until_env_steps is None else until_env_steps
        until = min(until, self.config.total_env_steps)
        if self._loop_start is None:
            self._loop_start = time.monotonic()
        while self.state.env_steps < until:
            metrics, due = self._iterate(pipeline_until=until)
            if self.out_dir is not None and due:
                CheckpointStore(self.out_dir / "checkpoint").save(self.state.iteration, self.save)
            if on_iteration is not None:
                on_iteration(metrics, self.save if due else None)
        return self.metrics

    def _iterate(self, pipeline_until: int) -> tuple[dict[str, float], bool]:
        """One iteration; returns its metrics and whether a checkpoint is due."""
        cfg, state = self.config, self.state
        if not self._submitted:
            self.sampler.submit(self.learner.broadcast())
        batch = Batch.concat(self.sampler.collect())
        metrics = self.learner.update(batch, progress=state.env_steps / cfg.total_env_steps)
        steps = batch.num_steps
        state.env_steps += steps
        state.iteration += 1
        state.recent_returns.extend(batch.episode_returns.tolist())
        state.recent_lengths.extend(batch.episode_lengths.tolist())
        state.recent_successes.extend(batch.episode_successes.tolist())
        done = self.done
        due = done or state.iteration % cfg.checkpoint_interval == 0
        # Worker states for a checkpoint are taken before the next rollout starts.
        self._worker_states = self.sampler.get_states() if due else None
        # One broadcast of the new weights; workers sample while we evaluate and log. Not past
        # this run() call's end, so the trainer can be saved exactly between calls.
        self._submitted = state.env_steps < pipeline_until
        if self._submitted:
            self.sampler.submit(self.learner.broadcast())

        interval = cfg.eval_interval_steps
        before = state.env_steps - steps
        crossed = [] if interval <= 0 else [
            k * interval for k in range(before // interval + 1, state.env_steps // interval + 1)]
        if self.eval_at is not None:
            crossed = [point for point in crossed if point in self.eval_at]
        evaluated = done or bool(crossed)
        if evaluated:
            eval_start = time.monotonic()
            state.last_eval = self.evaluate()
            state.recent_evals.append(state.last_eval[0])
            elapsed = time.monotonic() - eval_start
            self._eval_time += elapsed
            state.eval_time_s += elapsed

        metrics.update({
            "iteration": state.iteration,
            "env_steps": state.env_steps,
            "episode_return_mean": _mean(state.recent_returns),
            "episode_len_mean": _mean(state.recent_lengths),
            "eval_return_mean": state.last_eval[0] if evaluated else _NAN,
            "eval_return_std": state.last_eval[1] if evaluated else _NAN,
            # The latest evaluation, carried between evaluations: what sweeps rank by.
            "eval_return_last": state.last_eval[0],
            # Training throughput of this session: wall time less evaluation.
            "env_steps_per_s": (state.env_steps - self._steps_at_start)
            / max(time.monotonic() - self._loop_start - self._eval_time, 1e-9),
            "time_total_s": self.time_total_s,
            "eval_time_s": state.eval_time_s,  # part of time_total_s
            "weights_version": self.learner.version,
            "worker_failures": self.sampler.failures.count,
        })
        # where the env reports ``is_success`` (goal-conditioned robotics), once it has
        successes = {"success_rate": success_rate(state.recent_successes),
                     "eval_success_rate": state.last_eval[2] if evaluated else _NAN}
        metrics.update({k: v for k, v in successes.items() if not math.isnan(v)})
        self.logger.log(metrics, steps)
        self.metrics = metrics
        return metrics, due

    @property
    def time_total_s(self) -> float:
        """Wall time of the run, earlier sessions included."""
        return self.state.time_total_s + time.monotonic() - self._start

    def evaluate(self) -> tuple[float, float, float]:
        """The return's mean and std over the config's evaluation episodes.

        Third, their success rate (NaN where the env does not report ``is_success``).
        """
        cfg = self.config
        returns, _, successes, _ = run_episodes(
            self.learner.model, cfg.env_id, cfg.eval_episodes, seed=cfg.eval_seed,
            normalize=self.learner.normalize_obs,
            deterministic=eval_deterministic(cfg.env_id, cfg.eval_policy),
        )
        return float(returns.mean()), float(returns.std()), success_rate(successes)

    def score(self, evals: int) -> float:
        """The mean of the latest ``evals`` evaluations (fewer while fewer exist); NaN before one.

        A sweep ranks a seed by this: one evaluation is noisy, a few in a row much less so.
        """
        return seed_score(self.state.recent_evals, evals)

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint of this run into ``path``, exactly where it stands."""
        workers = self._worker_states
        if workers is None:
            if self._submitted:
                raise RuntimeError("a rollout is under way: save between run() calls or when "
                                   "a checkpoint is due")
            workers = self.sampler.get_states()
        # The latest metrics too: a run restored at its budget still has them to report.
        state = {**self.state.to_dict(self.time_total_s), "workers": workers,
                 "metrics": self.metrics}
        return save_checkpoint(path, self.config, self.learner.state_dict(), state)

    def summary(self) -> dict[str, Any]:
        """The run's summary, as written to out_dir/summary.json by ``close``."""
        return {
            "env_id": self.config.env_id,
            "seed": self.config.seed,
            "env_steps": self.state.env_steps,
            "eval_return_mean": self.state.last_eval[0],
            "eval_return_std": self.state.last_eval[1],
            # where the env reports ``is_success``
            **({} if math.isnan(self.state.last_eval[2]) else
               {"eval_success_rate": self.state.last_eval[2]}),
            "wall_s": time.monotonic() - self._start,
            "env_steps_per_s": self.metrics.get("env_steps_per_s", _NAN),
            "config": self.config.to_dict(),
        }

    def close(self) -> None:
        """Release the workers and the logger."""
        self.logger.close()
        self.sampler.close()

    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def train(
    config: A2CConfig,
    out_dir: str | Path | None = None,
    *,
    resume_from: str | Path | None = None,
    on_iteration: IterationCallback | None = None,
    use_ray: bool | None = None,
    ray_address: str | None = None,
    show_progress: bool | None = None,
    track: tuple[str, str, str | None] | None = None,
) -> dict[str, Any]:
    """Train one configuration to its budget; returns the summary (also out_dir/summary.json).

    Args:
        config: the run's configuration.
        out_dir: where progress.csv, TensorBoard events, checkpoint/ and summary.json go;
            None writes no files.
        resume_from: a checkpoint, or a run directory holding one, to continue from exactly.
            Its config is used, with ``config.total_env_steps`` as the new budget.
        on_iteration: called after each iteration with the metrics and, when a checkpoint is
            due, a function that writes one into a given directory.
        use_ray: as for ``Trainer``.
        ray_address: as for ``Trainer``.
        show_progress: as for ``Trainer``.
        track: as for ``Trainer``.
    """
    options = dict(use_ray=use_ray, ray_address=ray_address, show_progress=show_progress,
                   track=track)
    if resume_from is not None:
        trainer = Trainer.restore(resume_from, config.total_env_steps, out_dir, **options)
    else:
        trainer = Trainer(config, out_dir, **options)
    with trainer:  # the summary is written before the tracker's run ends with it
        trainer.run(on_iteration=on_iteration)
        summary = trainer.summary()
        if trainer.out_dir is not None:
            (trainer.out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
