"""A run's logger: progress.csv, TensorBoard and the progress bar, fed one iteration at a time.

One logger writes every sink (Stable-Baselines3's Logger is the model); the trainer hands it
each iteration's metrics, under the contract's names.
"""

from __future__ import annotations

import csv
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("a2c_ray")

# The metric names of the contract, in progress.csv's column order, then a few extras.
METRICS = (
    "env_steps", "episode_return_mean", "episode_len_mean", "eval_return_mean",
    "policy_loss", "value_loss", "entropy", "explained_variance", "grad_norm",
    "env_steps_per_s", "time_total_s",
)
EXTRA_METRICS = (
    "iteration", "eval_return_std", "eval_return_last", "learning_rate", "weights_version",
    "worker_failures", "eval_time_s", "success_rate", "eval_success_rate",
)
TENSORBOARD_METRICS = METRICS + ("eval_return_std", "learning_rate", "success_rate",
                                   "eval_success_rate")



def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


class _ProgressCsv:
    """progress.csv: one row per iteration, the contract's metrics first."""

    def __init__(self, path: Path, keep_until_iteration: int | None) -> None:
        self.path = path
        self.columns = list(METRICS) + list(EXTRA_METRICS)
        rows: list[dict[str, Any]] = []
        if keep_until_iteration is not None and path.exists():
            # Resuming: drop rows logged after the checkpoint, they are about to be redone.
            with path.open(newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["iteration"]) <= keep_until_iteration]
        self._write_rows(rows, mode="w")

    def _write_rows(self, rows: list[dict[str, Any]], mode: str) -> None:
        with self.path.open(mode, newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
            if mode == "w":
                writer.writeheader()
            for row in rows:
                writer.writerow({k: ("" if _isnan(v) else v) for k, v in row.items()})

    def append(self, metrics: dict[str, float]) -> None:
        self._write_rows([metrics], mode="a")


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
        info = {"sps": f"{m['env_steps_per_s']:.0f}", "return": f"{m['episode_return_mean']:.1f}"}
        if not _isnan(m.get("success_rate", math.nan)):
            info["success"] = f"{m['success_rate']:.2f}"
        if not _isnan(m["eval_return_mean"]):
            info["eval"] = f"{m['eval_return_mean']:.1f}"
        if not _isnan(m.get("eval_success_rate", math.nan)):
            info["eval success"] = f"{m['eval_success_rate']:.2f}"
        if self.bar is not None:
            self.bar.update(steps)
            self.bar.set_postfix(info, refresh=False)
        elif time.monotonic() - self.last_log > 30 or not _isnan(m["eval_return_mean"]):
            self.last_log = time.monotonic()
            log.info("iter %d | steps %d/%d | %s", m["iteration"], m["env_steps"], self.total,
                     " | ".join(f"{k} {v}" for k, v in info.items()))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class RunLogger:
    """Where a run's metrics go: progress.csv, TensorBoard, the progress, and a tracker.

    progress.csv and TensorBoard go under out_dir; the tracker (MLflow or W&B) is the one a
    run asked for, if any.
    """

    def __init__(self, out_dir: Path | None, total: int, env_steps: int,
                 keep_until_iteration: int | None, show_progress: bool | None,
                 tracker: Any = None) -> None:
        self.csv = self.tensorboard = None
        self.out_dir = out_dir
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            self.csv = _ProgressCsv(out_dir / "progress.csv", keep_until_iteration)
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(str(out_dir / "tensorboard"))
        self.progress = _Progress(total, env_steps, show_progress)
        self.tracker = tracker  # a run.tracking.RunTracker, or None

    def log(self, metrics: dict[str, float], steps: int) -> None:
        """One iteration's metrics; ``steps`` is the env steps it added."""
        if self.csv is not None:
            self.csv.append(metrics)
        if self.tensorboard is not None:
            for key in TENSORBOARD_METRICS:
                if not _isnan(metrics.get(key, math.nan)):
                    self.tensorboard.add_scalar(key, metrics[key], metrics["env_steps"])
        self.progress.update(steps, metrics)
        if self.tracker is not None:
            self.tracker.log(metrics)

    def close(self) -> None:
        """Close the progress bar and TensorBoard; the tracker's run gets summary.json, ends."""
        self.progress.close()
        if self.tensorboard is not None:
            self.tensorboard.close()
        if self.tracker is not None:
            self.tracker.finish([] if self.out_dir is None else [self.out_dir / "summary.json"])
            self.tracker = None
