"""What the user sees while a sweep runs, and the files Tune writes for each trial.

Tune's own console output is off (an experiment box and two boxes per trial at any verbosity
above 0); in its place a table of the running trials every 30 s (``progress_table``). Tune's
result.json and progress.csv writers are made to keep a resumed trial's rows.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from a2c_ray.core import storage as st
from a2c_ray.tuning.config import METRIC

PROGRESS_COLUMNS = ("env_steps", METRIC, "score_min", "episode_return_mean", "env_steps_per_s")
PROGRESS_EVERY_S = 30.0


class _DropTuneResumeHint(logging.Filter):
    """Drops Tune's "Resume experiment with: Tuner.restore(...)": ours names our command."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Experiment has been interrupted")


def quiet_tune() -> None:
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


def progress_callback(every_s: float = PROGRESS_EVERY_S,
                      candidates: list[str] | None = None) -> Any:
    """A Tune callback printing ``progress_table`` every ``every_s`` seconds.

    ``candidates``: in a confirmation, the search's trial ids its configurations came from, so
    that each run shows as the trial it re-trains and its seed (``run_label``).
    """
    from ray.tune import Callback

    class ProgressTable(Callback):
        def __init__(self) -> None:
            self.last = time.monotonic()
            self.start = self.last

        def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
            now = time.monotonic()
            if now - self.last >= every_s:
                self.last = now
                print(progress_table(trials, now - self.start,
                                     label=lambda t: run_label(t, candidates)), flush=True)

    return ProgressTable()


def run_label(trial: Any, candidates: list[str] | None = None) -> str:
    """The id a user reads for a trial: the search's trial id (``546740e8``).

    A confirmation's run re-trains one of the search's trials on one seed: it shows as that
    trial and the seed (``546740e8 seed 30001``), never as Tune's id of the run.
    """
    config = getattr(trial, "config", None) or {}
    if candidates is not None and "config_index" in config and "seed" in config:
        return f"{candidates[int(config['config_index'])]} seed {int(config['seed'])}"
    return str(trial.trial_id)


def _last_env_steps(path: Path) -> int:
    """``last_env_steps`` of a file; -1 where there is none."""
    return last_env_steps(path.read_text(), path.name) if path.exists() else -1


def last_env_steps(text: str, file_name: str) -> int:
    """The env step of the last whole row of a trial's result.json or progress.csv; -1: none."""
    lines = text.splitlines()
    if file_name.endswith(".json"):
        for line in reversed(lines):
            try:
                return int(json.loads(line).get("env_steps", -1))
            except (json.JSONDecodeError, TypeError, ValueError, AttributeError):
                continue  # a line cut off when the driver died
        return -1
    header = next(csv.reader(lines[:1]), [])
    if "env_steps" not in header:
        return -1
    column = header.index("env_steps")
    for row in reversed(list(csv.reader(lines[1:]))):
        try:
            return int(float(row[column]))
        except (IndexError, ValueError):
            continue
    return -1


def copy_back(stored: str, filesystem: Any, local: Path) -> None:
    """Copy a trial's stored file to the driver's staging directory, where it has none.

    Nothing to copy for a trial that has reported nothing yet; storage out of reach for a
    while (an S3 endpoint restarted) is waited for (``core.storage.retrying``), where it ended
    the driver. A row cut off at the end (the file uploaded while the driver wrote it) is
    dropped, so that the rows appended after it start on a line of their own.
    """
    import pyarrow.fs

    if local.exists():  # this session's own file: Tune appends to it
        return
    try:
        st.retrying(lambda: pyarrow.fs.copy_files(stored, str(local),
                                                  source_filesystem=filesystem),
                    f"copying {stored} back")
    except FileNotFoundError:  # a trial that has reported nothing yet
        return
    text = local.read_bytes()
    if text and not text.endswith(b"\n"):
        local.write_bytes(text[:text.rfind(b"\n") + 1])


def result_loggers() -> list[Any]:
    """Tune's result.json and progress.csv writers, made to keep a resumed trial's rows once.

    The driver writes a trial's files in a staging directory and copies them to the sweep's
    storage. On ``--resume``, Tune copies them back from storage only for a trial that has a
    Tune checkpoint; ours keep their own (``run_trial``), so a trial that was running would
    restart both files empty and then overwrite the stored ones: its curve before the stop
    lost. These copy the stored file back whenever the staging directory has none (an
    override of Tune's private ``LoggerCallback._restore_from_remote``; tests/test_tune.py's
    stop-and-resume test fails if Tune stops calling it). A resumed trial continues from its
    last checkpoint and reports again the env steps between it and the stop, with the same
    values (the resume is exact): those rows the file already has are not written twice.
    """
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    def restore(trial: Any, file_name: str) -> None:
        copy_back(f"{trial.path}/{file_name}", trial.storage.storage_filesystem,
                  Path(trial.local_path, file_name))

    class Once:
        """Writes a report only past the last env step the trial's file holds."""

        file_name = ""

        def _restore_from_remote(self, file_name: str, trial: Any) -> None:
            restore(trial, file_name)
            self._written = getattr(self, "_written", {})
            self._written[trial.trial_id] = _last_env_steps(Path(trial.local_path, file_name))

        def _open(self, trial: Any) -> None:
            raise NotImplementedError

        def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
            if trial not in self._trial_files:  # type: ignore[attr-defined]
                self._open(trial)  # restores the stored file first, and reads its last row
            written = getattr(self, "_written", {})
            steps = result.get("env_steps")
            if isinstance(steps, int | float) and steps <= written.get(trial.trial_id, -1):
                return  # reported again after a resume: the file has it
            super().log_trial_result(iteration, trial, result)  # type: ignore[misc]
            if isinstance(steps, int | float):
                written[trial.trial_id] = int(steps)

    class KeepJson(Once, JsonLoggerCallback):
        def _open(self, trial: Any) -> None:
            self.log_trial_start(trial)

    class KeepCsv(Once, CSVLoggerCallback):
        def _open(self, trial: Any) -> None:
            self._setup_trial(trial)

    return [KeepJson(), KeepCsv()]


def progress_table(trials: list[Any], elapsed_s: float, max_rows: int = 10,
                   label: Callable[[Any], str] = run_label) -> str:
    """Status counts, the best trial so far, and the running trials' progress, as text.

    ``trials`` are Tune's trial objects (``trial_id``, ``status``, ``last_result``);
    ``label`` names each (``run_label``).
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
        lines[0] += (f"   best {METRIC} {best.last_result[METRIC]:.1f} ({label(best)}, "
                     f"{best.last_result.get('env_steps', 0):,} steps)")
    running = sorted((t for t in trials if t.status == "RUNNING"),
                     key=lambda t: -t.last_result.get("env_steps", 0))
    if running:
        table = pd.DataFrame([{"trial": label(t), "status": t.status,
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
