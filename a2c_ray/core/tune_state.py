"""Ray Tune's saved experiment state, read in one place.

Tune saves an experiment as ``experiment_state-<time>.json`` files in its directory and resumes
from the newest by name. Their format is Tune's private one: the sweep's resume (which trials
Tune will restore), its reader of results (each trial's status and times) and its fault
handling all read it here, and tests/test_results.py fails loudly if it changes. Local paths
and ``s3://`` URIs alike (``core.storage``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from a2c_ray.core import storage as st

PREFIX, SUFFIX = "experiment_state-", ".json"


@dataclasses.dataclass(frozen=True)
class SavedTrial:
    """One trial as Tune saved it with the experiment.

    Attributes:
        trial_id: Tune's id of the trial (``1d050_00004``).
        dirname: the name of the trial's directory in the experiment's.
        status: Tune's own status (TERMINATED, ERROR, RUNNING, PENDING, PAUSED) at the save;
            a sweep stopped by Ctrl-C saves its unfinished trials RUNNING or PENDING.
        config: the trial's configuration (empty where Tune saved none).
        started_at: Tune's wall-clock time (``time.time()``) of the trial first set running;
            None before it ran.
        last_result_at: the same of its last result; None before one.
    """

    trial_id: str
    dirname: str
    status: str
    config: dict[str, Any]
    started_at: float | None
    last_result_at: float | None


def state_files(exp: str) -> list[str]:
    """The URIs of the experiment state files in ``exp``, oldest first (by name, as Tune)."""
    return [e.uri for e in st.list_dir(exp)
            if not e.is_dir and e.name.startswith(PREFIX) and e.name.endswith(SUFFIX)]


def has_tune_state(exp: str) -> bool:
    """Whether Tune saved an experiment's state in ``exp`` (it started there)."""
    return bool(state_files(exp))


def saved_trials(exp: str) -> list[SavedTrial] | None:
    """The trials of the newest experiment state in ``exp``, in Tune's order; None if none.

    Raises ``json.JSONDecodeError`` where the file is being rewritten (Tune writes it in
    place while a sweep runs); a reader beside a running sweep takes that as "not yet".
    """
    files = state_files(exp)
    if not files:
        return None
    return parse_state(json.loads(st.read_text(files[-1])))


def parse_state(data: dict[str, Any]) -> list[SavedTrial]:
    """The trials of one experiment state file's JSON."""
    trials = []
    for trial_json, runtime_json in data["trial_data"]:
        trial, runtime = json.loads(trial_json), json.loads(runtime_json)
        config = trial.get("config")
        trials.append(SavedTrial(
            trial_id=str(trial["trial_id"]),
            dirname=Path(trial.get("relative_logdir") or trial["trial_id"]).name,
            status=str(trial.get("status", "")),
            config=config if isinstance(config, dict) else {},
            started_at=runtime.get("start_time"),
            last_result_at=runtime.get("last_result_time")))
    return trials
