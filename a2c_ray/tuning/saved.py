"""Tune's saved experiment state, read: the trials of the newest ``experiment_state-*.json``."""

from __future__ import annotations

import glob
import json
import os
from typing import Any


def saved_trials(dirpath: str) -> list[dict[str, Any]] | None:
    """The trials of the newest experiment state in ``dirpath`` (Tune's JSON), their configs.

    Tune resumes from the newest ``experiment_state-*.json`` by name, as read here; None where
    there is none. The format is Tune's private one; tests/test_lockstep.py fails if it
    changes.
    """
    paths = sorted(glob.glob(os.path.join(dirpath, "experiment_state-*.json")))
    if not paths:
        return None
    with open(paths[-1]) as f:
        data = json.load(f)
    trials = []
    for trial_json, _ in data["trial_data"]:
        trial = json.loads(trial_json)
        config = trial.get("config")
        trials.append({"trial_id": str(trial["trial_id"]),
                       "config": config if isinstance(config, dict) else {}})
    return trials
