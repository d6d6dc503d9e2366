"""``train(config)``: the whole A2C loop, readable top to bottom.

Each iteration: broadcast the learner's weights, collect a rollout from every worker, update,
evaluate on schedule, log, checkpoint. The CLI (``a2c_ray.train``) and the Tune trainable
(``a2c_ray.tune``) are thin wrappers around this function.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from a2c_ray.actors import make_sampler
from a2c_ray.checkpoint import CheckpointStore, load_checkpoint, save_checkpoint
from a2c_ray.config import A2CConfig
from a2c_ray.envs import env_spaces
from a2c_ray.learner import Learner, concat_batches
from a2c_ray.rollout import run_episodes

log = logging.getLogger("a2c_ray")

# The metric names of the contract, in progress.csv's column order, then a few extras.
METRICS = (
    "env_steps", "episode_return_mean", "episode_len_mean", "eval_return_mean",
    "policy_loss", "value_loss", "entropy", "explained_variance", "grad_norm",
    "env_steps_per_s", "time_total_s",
)
EXTRA_METRICS = (
    "iteration", "eval_return_std", "eval_return_last", "learning_rate", "weights_version",
    "worker_failures",
)

# Called after every iteration with the metrics and, when a checkpoint is due, a function
# that writes one into the directory it is given.
IterationCallback = Callable[[dict[str, float], Callable[[Path], Path] | None], None]


class _ProgressCsv:
    """progress.csv: one row per iteration, the contract's metrics first."""

    def __init__(self, path: Path, keep_until_iteration: int | None) -> None:
        self.path = path
        self.columns = list(METRICS) + list(EXTRA_METRICS)
        if keep_until_iteration is not None and path.exists():
            # Resuming: drop rows logged after the checkpoint, they are about to be redone.
            with path.open(newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["iteration"]) <= keep_until_iteration]
            self._write_rows(rows, mode="w")
        else:
            self._write_rows([], mode="w")

    def _write_rows(self, rows: list[dict[str, Any]], mode: str) -> None:
        with self.path.open(mode, newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
            if mode == "w":
                writer.writeheader()
            for row in rows:
                writer.writerow({k: ("" if _isnan(v) else v) for k, v in row.items()})

    def append(self, metrics: dict[str, float]) -> None:
        self._write_rows([metrics], mode="a")


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


class _Progress:
    """A progress bar on a terminal, plain log lines every 30 s otherwise."""

    def __init__(self, total: int, initial: int, enabled: bool | None) -> None:
        self.bar = None
        if enabled is None:
            enabled = sys.stderr.isatty()
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)
        self.total = total
        self.last_log = time.monotonic()

    def update(self, steps: int, m: dict[str, float]) -> None:
        info = {
            "sps": f"{m['env_steps_per_s']:.0f}",
            "return": f"{m['episode_return_mean']:.1f}",
        }
        if not _isnan(m["eval_return_mean"]):
            info["eval"] = f"{m['eval_return_mean']:.1f}"
        if self.bar is not None:
            self.bar.update(steps)
            self.bar.set_postfix(info, refresh=False)
        elif time.monotonic() - self.last_log > 30 or not _isnan(m["eval_return_mean"]):
            self.last_log = time.monotonic()
            log.info(
                "iter %d | steps %d/%d | %s",
                m["iteration"], m["env_steps"], self.total,
                " | ".join(f"{k} {v}" for k, v in info.items()),
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def train(
    config: A2CConfig,
    out_dir: str | Path | None = None,
    *,
    resume_from: str | Path | None = None,
    on_iteration: IterationCallback | None = None,
    use_ray: bool | None = None,
    ray_address: str | None = None,
    show_progress: bool | None = None,
) -> dict[str, Any]:
    """Train one configuration; returns the summary (also written to out_dir/summary.json).

    Args:
        config: the run's configuration.
        out_dir: where progress.csv, TensorBoard events, checkpoint/ and summary.json go;
            None writes no files (the Tune trainable reports through ``on_iteration``).
        resume_from: a checkpoint, or a run directory holding one, to continue from exactly.
            Its config is used, with ``config.total_env_steps`` as the new budget.
        on_iteration: called after each iteration with the metrics and, when a checkpoint is
            due, a function that writes one into a given directory.
        use_ray: sample with Ray actors; by default when ``num_rollout_workers >= 1``.
            False with K >= 1 workers runs the same K workers in this process.
        ray_address: Ray cluster to join; by default RAY_ADDRESS, else a local Ray sized
            for the workers (unless Ray is already initialised, as in a Tune trial).
        show_progress: progress bar; by default when stderr is a terminal.
    """
    start = time.monotonic()
    torch.set_num_threads(1)
    saved: dict[str, Any] | None = None
    if resume_from is not None:
        ckpt_config, learner_state, saved = load_checkpoint(resume_from)
        config = ckpt_config.replace(total_env_steps=config.total_env_steps)
    obs_space, action_space = env_spaces(config.env_id)
    learner = Learner(config, obs_space, action_space)
    sampler = make_sampler(config, use_ray, ray_address)

    iteration, env_steps, time_before = 0, 0, 0.0
    recent_returns: deque[float] = deque(maxlen=100)
    recent_lengths: deque[int] = deque(maxlen=100)
    last_eval: tuple[float, float] = (float("nan"), float("nan"))
    if saved is not None:
        learner.load_state_dict(learner_state)
        if not sampler.set_states(saved["workers"]):
            log.warning("%s cannot be restored exactly: resumed with fresh episodes",
                        config.env_id)
        iteration, env_steps = int(saved["iteration"]), int(saved["env_steps"])
        time_before = float(saved["time_total_s"])
        recent_returns.extend(saved["recent_returns"])
        recent_lengths.extend(saved["recent_lengths"])
        last_eval = tuple(saved["last_eval"])

    out = Path(out_dir) if out_dir is not None else None
    progress_csv = writer = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        progress_csv = _ProgressCsv(out / "progress.csv", iteration if saved else None)
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out / "tensorboard"))

    def state(workers: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "iteration": iteration, "env_steps": env_steps,
            "time_total_s": time_before + time.monotonic() - start,
            "recent_returns": list(recent_returns), "recent_lengths": list(recent_lengths),
            "last_eval": list(last_eval), "workers": workers,
        }

    def evaluate() -> tuple[float, float]:
        returns, _, _ = run_episodes(
            learner.model, config.env_id, config.eval_episodes,
            seed=config.eval_seed, normalize=learner.normalize_obs,
        )
        return float(returns.mean()), float(returns.std())

    bar = _Progress(config.total_env_steps, env_steps, show_progress)
    steps_at_start, eval_time, loop_start = env_steps, 0.0, time.monotonic()
    interval = config.eval_interval_steps
    metrics: dict[str, float] = {}
    try:
        sampler.submit(learner.broadcast())
        while env_steps < config.total_env_steps:
            # --- collect: every worker's rollout with the broadcast weights ---
            batch = concat_batches(sampler.collect())
            # --- update ---
            metrics = learner.update(batch, progress=env_steps / config.total_env_steps)
            steps = batch["rewards"].size
            env_steps += steps
            iteration += 1
            recent_returns.extend(batch["episode_returns"].tolist())
            recent_lengths.extend(batch["episode_lengths"].tolist())
            done = env_steps >= config.total_env_steps
            due = done or iteration % config.checkpoint_interval == 0
            # Worker states for a checkpoint are taken before the next rollout starts.
            worker_states = sampler.get_states() if due else None
            if not done:
                # One broadcast of the new weights; workers sample while we log below.
                sampler.submit(learner.broadcast())

            # --- evaluate on schedule and at the end ---
            crossed = interval > 0 and env_steps // interval > (env_steps - steps) // interval
            evaluated = done or crossed
            if evaluated:
                eval_start = time.monotonic()
                last_eval = evaluate()
                eval_time += time.monotonic() - eval_start

            # --- log ---
            metrics.update({
                "iteration": iteration,
                "env_steps": env_steps,
                "episode_return_mean": _mean(recent_returns),
                "episode_len_mean": _mean(recent_lengths),
                "eval_return_mean": last_eval[0] if evaluated else float("nan"),
                "eval_return_std": last_eval[1] if evaluated else float("nan"),
                # The latest evaluation, carried between evaluations: what sweeps rank by.
                "eval_return_last": last_eval[0],
                # Training throughput of this session: wall time less evaluation.
                "env_steps_per_s": (env_steps - steps_at_start)
                / max(time.monotonic() - loop_start - eval_time, 1e-9),
                "time_total_s": time_before + time.monotonic() - start,
                "weights_version": learner.version,
                "worker_failures": sampler.failures.count,
            })
            if progress_csv is not None:
                progress_csv.append(metrics)
                for key in METRICS + ("eval_return_std", "learning_rate"):
                    if not _isnan(metrics[key]):
                        writer.add_scalar(key, metrics[key], env_steps)
            bar.update(steps, metrics)

            # --- checkpoint ---
            def save(path: Path, states: Any = worker_states) -> Path:
                return save_checkpoint(path, config, learner.state_dict(), state(states))

            if out is not None and due:
                CheckpointStore(out / "checkpoint").save(iteration, save)
            if on_iteration is not None:
                on_iteration(metrics, save if due else None)
    finally:
        bar.close()
        sampler.close()
        if writer is not None:
            writer.close()

    wall = time.monotonic() - start
    summary = {
        "env_id": config.env_id,
        "seed": config.seed,
        "env_steps": env_steps,
        "eval_return_mean": last_eval[0],
        "eval_return_std": last_eval[1],
        "wall_s": wall,
        "env_steps_per_s": metrics.get("env_steps_per_s", float("nan")),
        "config": config.to_dict(),
    }
    if out is not None:
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _mean(values: deque) -> float:
    return float(np.mean(values)) if values else float("nan")
