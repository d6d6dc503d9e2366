"""A resumed sweep against Tune's saved experiment state (read by ``core.tune_state``)."""

from __future__ import annotations

import logging

from a2c_ray.core import storage as st
from a2c_ray.core import tune_state

log = logging.getLogger("a2c_ray.tune")

LOST = "lost_trials"  # in a sweep's directory: the files of trials its saved state lacks


def set_aside_lost_trials(exp: str) -> list[str]:
    """Move the directories of trials the saved experiment lacks to ``EXP/lost_trials/``.

    Tune saves the experiment's state and then uploads its staging directory, trial files
    and all, so a driver killed in between can leave in the sweep's directory the files of a
    trial it made after its last save: a trial Tune will not resume (the study marks it
    ``lost_at_restore`` and the configuration runs again in a new trial). Left in place, a
    reader that lists ``run_trial_*`` would count it, with whatever part of its rows the
    upload held. Returns the names moved; called before the restore, with no other driver.
    """
    trials = st.retrying(lambda: tune_state.saved_trials(exp), "reading the state")
    if trials is None:
        return []
    held = {t.dirname for t in trials}
    lost = [e for e in st.list_dir(exp)
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
