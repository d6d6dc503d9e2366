"""A run stopped and resumed from its checkpoint against the same run unbroken."""

from __future__ import annotations

import csv
from pathlib import Path

from a2c_ray import A2CConfig, train

# what differs between two runs of the same configuration: the wall clock's
VOLATILE = {"env_steps_per_s", "time_total_s", "eval_time_s"}


def progress_rows(path: Path) -> list[dict[str, str]]:
    """A run's progress.csv, a dict of strings per row."""
    with open(path / "progress.csv", newline="") as f:
        return list(csv.DictReader(f))


def assert_resumes_exactly(cfg: A2CConfig, tmp_path: Path, k: int) -> list[dict[str, str]]:
    """Train ``cfg`` unbroken; again stopped after ``k`` iterations and resumed to its end.

    Asserts that the resumed run's iteration ``k + 1`` reports what the unbroken run's did,
    every metric but the wall clock's; returns the split run's rows.
    """
    batch = cfg.batch_size
    train(cfg, tmp_path / "full", show_progress=False)
    train(cfg.replace(total_env_steps=k * batch), tmp_path / "split", show_progress=False)
    train(cfg, tmp_path / "split", resume_from=tmp_path / "split" / "checkpoint",
          show_progress=False)
    full, split = progress_rows(tmp_path / "full"), progress_rows(tmp_path / "split")
    for key in full[k]:
        if key not in VOLATILE:
            assert full[k][key] == split[k][key], key
    return split
