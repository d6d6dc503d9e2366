"""Stop and resume: signals that stop a sweep cleanly, and opening a sweep new or saved.

Ctrl-C or SIGTERM stops a sweep the way Tune's own Ctrl-C does: the experiment state is
saved with the unfinished trials RUNNING or PENDING, and the same sweep continues with
``--resume``, its finished trials kept, the unfinished ones from their checkpoints, its
Optuna study with them. ``open_new`` checks a new sweep before anything is written;
``open_saved`` reads a saved one back, also where its directory was moved.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import time
from types import FrameType
from typing import Any

from a2c_ray.core import field_error, has_tune_state
from a2c_ray.core import storage as st
from a2c_ray.tuning.config import RESUME_APPLIES, SweepConfig, SweepPlan
from a2c_ray.tuning.plan import check_resume, plan

log = logging.getLogger("a2c_ray")


# What a sweep stopped while starting, before its sweep.json, leaves in its directory (Tune's
# Tuner writes tuner.pkl as it is built): its command can be run again as it was.
STARTING = frozenset({"tuner.pkl"})


class StopSignals:
    """Ctrl-C and SIGTERM stop a sweep cleanly; a second one ends the command at once.

    The first signal asks Tune to stop the way its own Ctrl-C handling does (through the
    SIGUSR1 handler Tune installs while it runs): it stops launching trials, saves the
    experiment state with the unfinished trials RUNNING or PENDING, and returns from
    ``fit``. Outside ``fit`` it raises KeyboardInterrupt. A second signal exits at once with
    128 + its number, which leaves the sweep as resumable as a SIGKILL does.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, second_message: str) -> None:
        self.second_message = second_message
        self.received: int | None = None
        self.in_fit = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # ours decides; Tune's SIGUSR1 stays
        self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.received is not None:
            return  # stopping: a second signal still quits at once, also in Ray's shutdown
        for s, handler in self._previous.items():  # (whose SIGTERM handler, reinstated,
            signal.signal(s, handler)               # raised SystemExit there: a segfault)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            os.write(2, f"interrupted again: quitting at once; {self.second_message}\n".encode())
            os._exit(128 + signum)
        self.received = signum
        tune_stop = signal.getsignal(signal.SIGUSR1)
        if not (self.in_fit and callable(tune_stop)):
            raise KeyboardInterrupt
        tune_stop(signal.SIGUSR1, frame)

    def fit(self, tuner: Any) -> Any:
        """``tuner.fit()``, stoppable by these signals."""
        self.in_fit = True
        try:
            return tuner.fit()
        finally:
            self.in_fit = False

    @property
    def exit_code(self) -> int:
        """130 after SIGINT, 143 after SIGTERM."""
        return 128 + (self.received or 0)


def default_name(config: SweepConfig) -> str:
    """a2c_<env>_<date-time>, for a sweep started without a name."""
    return f"a2c_{config.env.split(':')[-1]}_{time.strftime('%Y%m%d-%H%M%S')}"


def check_storage_writable(storage: str) -> None:
    """Write to the storage path once, before anything else.

    An unreachable endpoint, a missing bucket or missing credentials end the command here.
    """
    try:
        st.check_writable(storage)
    except st.StorageError as err:
        raise field_error("SweepConfig", "storage_path", storage, str(err)) from None


def open_new(config: SweepConfig) -> SweepPlan:
    """The plan of a new sweep, checked before anything is written.

    Raises:
        ConfigError: a bad value, an unwritable storage path, a name that exists, or an
            Optuna study of that name in a database that outlived its sweep.
        TrackerError: the tracker asked for is not installed or cannot be reached.
    """
    if config.name is None:
        config = config.replace(name=default_name(config))
    new = plan(config)  # the flags and the environment first, the tracker, then the storage
    if config.track is not None:
        from a2c_ray.run import check_tracker as check

        check(config.track)
    check_storage_writable(config.storage_path)
    if not {e.name for e in st.list_dir(new.exp)} <= STARTING and st.exists(new.exp):
        raise field_error("SweepConfig", "name", config.name,
                          f"already exists under {config.storage_path!r}: pass --resume (or call "
                          "resume_sweep) to continue it, or choose another name")
    from a2c_ray.tuning.study import check_new_study  # Optuna, only now

    check_new_study(new.optuna_storage, new.name)
    return new


def open_saved(name: str, storage_path: str, **applies: Any) -> SweepPlan:
    """The plan of the sweep STORAGE/NAME as saved, with the fields a resume may change.

    ``applies`` are fields of ``RESUME_APPLIES`` (where it is and how it runs), which the
    caller decides; every other one is the sweep's own. A sweep directory that was moved
    keeps its Optuna study inside it (``core.storage.moved_study``): its sweep.json is updated to
    say where the study is now.

    Raises:
        ConfigError: no such sweep, or its study is not on this machine (where Tune saved the
            experiment's state: without it the sweep starts again).
    """
    check_storage_writable(storage_path)
    exp = st.join(storage_path, name)
    path = st.join(exp, "sweep.json")
    if not st.exists(path):
        raise field_error("SweepConfig", "name", name,
                          f"names no sweep under {storage_path!r} to resume")
    saved = SweepPlan.from_json(json.loads(st.read_text(path)))
    wrong = set(applies) - set(RESUME_APPLIES)
    if wrong:
        raise ValueError(f"open_saved: {sorted(wrong)} cannot change on resume")
    config = saved.config.replace(storage_path=storage_path, name=name, **applies)
    saved = saved.replace(config=config)
    if config.track is not None:  # its trials go on to the tracker they started with
        from a2c_ray.run import check_tracker as check

        check(config.track)
    study = saved.optuna_storage
    if (moved := st.moved_study(study, exp)) != study:
        log.info("the sweep was moved here: its Optuna study is now %s (was %s)", moved, study)
        saved = saved.replace(optuna_storage=moved)
        st.write_text(path, json.dumps(saved.to_json(), indent=2))
    # A study file missing where Tune saved no state: stopped while starting, before the study
    # was made, and started again as it was; where Tune saved state, it is elsewhere.
    if (file := st.sqlite_file(saved.optuna_storage)) is not None and not file.is_file() and (
            has_tune_state(exp)):
        raise field_error(
            "SweepConfig", "name", name,
            f"cannot resume: the sweep's Optuna study {saved.optuna_storage} is not on this "
            "machine: resume where the sweep started, or keep the study in a database both "
            "can reach (--optuna-storage) when starting a sweep on S3")
    return saved


def check_resume_asked(name: str, storage_path: str, asked: dict[str, Any]) -> None:
    """``check_resume`` against the saved sweep, where there is one (else opening says so)."""
    try:
        saved = SweepPlan.from_json(json.loads(st.read_text(
            st.join(storage_path, name, "sweep.json"))))
    except (OSError, ValueError, KeyError):
        return
    check_resume(saved, asked)


def resume_command(plan: SweepPlan) -> str:
    """The command that continues the sweep."""
    return (f"python -m a2c_ray.tune --resume --name {shlex.quote(plan.name)} --storage-path "
            f"{shlex.quote(st.resolve(plan.config.storage_path))}")
