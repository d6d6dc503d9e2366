"""The study beside the searcher: what it keeps of a trial, its sampler, its checks.

``TrialRecord`` is the searcher's record of one Tune trial, ``training_seeds`` and
``seeds_reporting`` read a trial's result as Tune hands it; ``make_sampler`` the Optuna
sampler; ``check_new_study`` and ``close_orphans`` the checks before and after a sweep.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import optuna

from a2c_ray.core import field_error
from a2c_ray.core import storage as st


class Phase(enum.Enum):
    """Where a Tune trial is, as the searcher sees it."""

    RUNNING = "running"  # suggested, not ended: counts against the limit, reports are told
    ENDED = "ended"  # told to the study (or lost at a restore): nothing more is told
    # ended here without an outcome (an error, or no report): Tune may run it again (see
    # ``StudySearcher.on_trial_complete``), so its Optuna trial stays RUNNING until then
    HELD = "held"


@dataclass
class TrialRecord:
    """What the searcher keeps of one Tune trial.

    Attributes:
        optuna: its Optuna trial; after a restore its Optuna id, until first used.
        reported: the env step of its last report told to the study (-1: none).
        phase: where it is (``Phase``).
        trained: the env steps it has trained, over its seeds, at its latest report.
    """

    optuna: optuna.Trial | int
    reported: int = -1
    phase: Phase = Phase.RUNNING
    trained: int = 0

    @property
    def optuna_id(self) -> int:
        """The Optuna storage's id of its trial."""
        return self.optuna if isinstance(self.optuna, int) else self.optuna._trial_id


def training_seeds(result: dict[str, Any]) -> list[int]:
    """A trial's training seeds from one of its results.

    Tune hands a searcher each result flattened (``config/seeds``); a nested ``config`` is
    read too.
    """
    seeds = result.get("config/seeds") or (result.get("config") or {}).get("seeds") or []
    return [int(s) for s in seeds]


def seeds_reporting(result: dict[str, Any]) -> int:
    """How many seeds a trial's result is over (at least one).

    Its ``per_seed`` entries: flattened by Tune (``per_seed/<seed>/...``), or nested.
    """
    nested = result.get("per_seed")
    if isinstance(nested, dict) and nested:
        return len(nested)
    return len({key.split("/")[1] for key in result if key.startswith("per_seed/")}) or 1


def make_sampler(kind: str, seed: int) -> optuna.samplers.BaseSampler:
    """The Optuna sampler: TPE that knows about the trials in flight, unless told otherwise.

    ``tpe``: TPE with ``constant_liar``, which counts every running trial as a bad result so
    that trials suggested while others run spread out instead of repeating one guess (set
    explicitly: Optuna 5 turns it on by default, Optuna 4 off); ``tpe-plain``: TPE blind to
    running trials, Optuna 4's default; ``random``: a baseline. All are seeded by ``seed``.
    """
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, constant_liar=kind == "tpe")


def check_new_study(url: str, name: str) -> None:
    """A new sweep must not add its trials to an older sweep's study of the same name.

    That happens where the study outlives the sweep's directory: the local file of a sweep on
    S3, or a shared ``optuna_storage`` database.

    Raises:
        ConfigError: the study exists, or the database cannot be read.
    """
    if (path := st.sqlite_file(url)) is not None and not path.is_file():
        return  # a file that does not exist holds no study; leave it uncreated
    try:
        names = optuna.study.get_all_study_names(storage=url)
    except Exception as err:  # noqa: BLE001  (an unreachable or malformed database)
        raise field_error("SweepConfig", "optuna_storage", url,
                          f"cannot be read: {err}") from None
    if name in names:
        raise field_error(
            "SweepConfig", "name", name,
            f"has an Optuna study named {name!r} already in {url} (an earlier sweep's): choose "
            f"another name, or delete it with: optuna delete-study --study-name {name} "
            f"--storage {url}")


def close_orphans(url: str, name: str) -> None:
    """Mark as failed the Optuna trials a killed driver asked for but Tune never ran."""
    study = optuna.load_study(study_name=name, storage=url)
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
