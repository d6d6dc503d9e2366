"""Tune's saved experiment state, read: the trials of the newest ``experiment_state-*.json``."""

from __future__ import annotations

import glob
import json
import logging
import os
from pathlib import Path
from typing import Any

from a2c_ray.core import storage as st

log = logging.getLogger("a2c_ray.tune")

LOST = "lost_trials"  # in a sweep's directory: the files of trials its saved state lacks


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
        return _trials(json.load(f))


def _trials(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Each saved trial's id, directory name and config."""
    trials = []
    for trial_json, _ in data["trial_data"]:
        trial = json.loads(trial_json)
        config = trial.get("config")
        trials.append({"trial_id": str(trial["trial_id"]),
                       "dirname": Path(trial.get("relative_logdir") or trial["trial_id"]).name,
                       "config": config if isinstance(config, dict) else {}})
    return trials


def set_aside_lost_trials(exp: str) -> list[str]:
    """Move the directories of trials the saved experiment lacks to ``EXP/lost_trials/``.

    Tune saves the experiment's state and then uploads its staging directory, trial files
    and all, so a driver killed in between can leave in the sweep's directory the files of a
    trial it made after its last save: a trial Tune will not resume (the study marks it
    ``lost_at_restore`` and the configuration runs again in a new trial). Left in place, a
    reader that lists ``run_trial_*`` would count it, with whatever part of its rows the
    upload held. Returns the names moved; called before the restore, with no other driver.
    """
    entries = st.list_dir(exp)
    states = [e for e in entries
              if e.name.startswith("experiment_state-") and e.name.endswith(".json")]
    if not states:
        return []
    data = json.loads(st.retrying(lambda: st.read_text(states[-1].uri), "reading the state"))
    held = {t["dirname"] for t in _trials(data)}
    lost = [e for e in entries
            if e.is_dir and e.name.startswith("run_trial_") and e.name not in held]
    for entry in lost:
        st.retrying(lambda e=entry: st.copy_dir(e.uri, st.join(exp, LOST, e.name)),
                    f"setting {entry.name} aside")
        st.retrying(lambda e=entry: st.delete_dir(e.uri), f"setting {entry.name} aside")
    if lost:
        log.warning("set aside in %s the files of %d trial(s) the saved experiment does not "
                    "hold (a driver stopped before saving them): %s", st.join(exp, LOST),
                    len(lost), ", ".join(e.name for e in lost))
    return [e.name for e in lost]
