"""``python -m a2c_ray.tune`` and ``a2c_ray.sweep``: a sweep with OptunaSearch (TPE) and ASHA.

Runs on local Ray by default, or on a cluster with ``--address auto`` (or RAY_ADDRESS).
Results land in Ray Tune's own layout under STORAGE/NAME, plus:

* ``sweep.json``: the sweep's plan (``tuning.config.SweepPlan``), so ``--resume`` needs only
  the name;
* ``optuna.db``: the Optuna study (SQLite; ``optuna-dashboard sqlite:///.../optuna.db``);
* ``summary.json``, ``best_config.json`` and, with ``--confirm-top``, ``confirmation.json``.

From Python, ``sweep(SweepConfig(...))`` runs a sweep and ``resume_sweep(name)`` continues
one; both return a ``SweepResult``. The search itself is ``a2c_ray.tuning``'s; this module
opens the sweep, runs it, and writes what it found, read back with ``a2c_ray.results``.
"""

from __future__ import annotations

import json
import logging
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from a2c_ray.cli import (
    Parser,
    UsageError,
    add_fields,
    fields_from_args,
    flag_message,
    prepare_ray,
    run_cli,
)
from a2c_ray.core import (
    DEFAULT_STORAGE,
    ConfigError,
    SpaceError,
    has_tune_state,
)
from a2c_ray.core import storage as st
from a2c_ray.results import describe_statuses, load_curves, load_trials, ranked, table
from a2c_ray.sampling import EnvIdError
from a2c_ray.tuning import (
    RESUME_APPLIES,
    SearchSpaceError,
    StopSignals,
    SweepConfig,
    SweepPlan,
    check_resume_asked,
    open_new,
    open_saved,
    resume_command,
)

log = logging.getLogger("a2c_ray")

# Flags that are not --field-name, and metavars.
FLAGS: dict[str, dict[str, Any]] = {
    "overrides": {"flags": ["--set"], "metavar": "KEY=VALUE"},
    "start_from": {"flags": ["--start-from", "--config"], "metavar": "CONFIG"},
    "seeds_per_trial": {"metavar": "S", "nargs": "+", "type": int},
    "score_evals": {"metavar": "N"},
    "confirm_top": {"metavar": "K"}, "confirm_seeds": {"metavar": "S"},
}


@dataclass(frozen=True)
class SweepResult:
    """What a sweep found, and where its files are.

    Attributes:
        path: the sweep's directory, STORAGE/NAME (local or s3://).
        summary: summary.json (the metric, the best trial, its config and metric, the trials
            by status), or None when the sweep was interrupted.
        confirmation: confirmation.json's ranking, best first, when the sweep confirmed.
        exit_code: what the command exits with: 0, 1 when no trial finished with a score,
            130 or 143 when Ctrl-C or SIGTERM stopped it.
    """

    path: str
    summary: dict[str, Any] | None = None
    confirmation: list[dict[str, Any]] | None = None
    exit_code: int = 0

    @property
    def interrupted(self) -> bool:
        """Whether a signal stopped the sweep before it finished (resume it to go on)."""
        return self.exit_code in (130, 143)

    @property
    def best_config(self) -> dict[str, Any] | None:
        """The configuration best_config.json holds (the confirmed one after a confirmation)."""
        if self.summary is None:
            return None
        return self.summary.get("confirmed_best_config") or self.summary.get("best_config")

    def trials(self) -> pd.DataFrame:
        """``a2c_ray.results.load_trials`` of the sweep."""
        return load_trials(self.path)

    def curves(self) -> pd.DataFrame:
        """``a2c_ray.results.load_curves`` of the sweep."""
        return load_curves(self.path)


def sweep(config: SweepConfig) -> SweepResult:
    """Run a new sweep to its end: the search, the summary and, if asked, the confirmation.

    Raises:
        ConfigError: a bad field, a name that exists, an unwritable storage path.
    """
    prepare_ray(config.address)
    return _run(open_new(config), resumed=False)


def resume_sweep(name: str, storage_path: str = DEFAULT_STORAGE, *, address: str | None = None,
                 shared_storage: bool = False, confirm_top: int | None = None,
                 confirm_seeds: int | None = None) -> SweepResult:
    """Continue the sweep STORAGE/NAME however it stopped; it keeps its own settings.

    Finished trials are kept, unfinished ones continue from their last checkpoints, the
    Optuna study keeps its trials. Only where it runs and the confirmation are the caller's;
    a confirmation field left None is the sweep's own.
    """
    prepare_ray(address)
    confirmation = {k: v for k, v in (("confirm_top", confirm_top),
                                      ("confirm_seeds", confirm_seeds)) if v is not None}
    return _run(open_saved(name, storage_path, address=address, shared_storage=shared_storage,
                           **confirmation), resumed=True)


def _run(plan: SweepPlan, resumed: bool) -> SweepResult:
    from a2c_ray.run import ensure_ray
    from a2c_ray.tuning import (
        DriverLock,
        check_fits,
        check_storage,
        concurrency,
        local_cpus,
        new_tuner,
        quiet_tune,
        restored_tuner,
        set_aside_lost_trials,
    )

    quiet_tune()
    ensure_ray(num_cpus=local_cpus(plan), address=plan.config.address)
    check_storage(plan)
    check_fits(plan)
    if plan.space_note and not resumed:
        log.info(plan.space_note)
    # Installed after ray.init, whose SIGTERM handler would otherwise replace ours.
    with StopSignals(f"continue with: {resume_command(plan)}") as stop, ExitStack() as held:
        try:
            if resumed:  # after the driver before it, which may still be stopping
                held.enter_context(DriverLock(plan.exp, plan.name))
            if resumed and has_tune_state(plan.exp):
                set_aside_lost_trials(plan.exp)
                tuner = restored_tuner(plan)
            else:  # new, or stopped before Tune saved any state
                tuner = new_tuner(plan, concurrency(plan))
                st.write_text(st.join(plan.exp, "sweep.json"),
                              json.dumps(plan.to_json(), indent=2))
                if not resumed:  # a sweep.json first: a directory of a driver.json alone
                    held.enter_context(DriverLock(plan.exp, plan.name))  # is no sweep
            stop.fit(tuner)
            if stop.received is None:
                return _finish(plan, stop)
        except KeyboardInterrupt:
            if stop.received is None:
                raise
        if st.exists(st.join(plan.exp, "sweep.json")):
            _interrupted(plan)
        return SweepResult(plan.exp, exit_code=stop.exit_code)


def _interrupted(plan: SweepPlan) -> None:
    """The one line an interrupted sweep prints: how far it got, and how to continue."""
    started = finished = 0  # stopped before Tune saved any state
    if has_tune_state(plan.exp):
        status = load_trials(plan.exp)["status"]
        started = int(status.isin(("RUNNING", "PAUSED", "TERMINATED", "ERROR")).sum())
        finished = int(status.isin(("TERMINATED", "ERROR")).sum())
    print(f"interrupted: {started} of {plan.config.num_samples} trials started, {finished} "
          f"finished; continue with: {resume_command(plan)}", flush=True)


def _finish(plan: SweepPlan, stop: StopSignals) -> SweepResult:
    """After the search: ``tuning.finish_sweep`` on the trials the sweep's files hold.

    Then the tracker's last run, and where to look.
    """
    from a2c_ray.tuning import SearchOutcome, finish_sweep

    df = load_trials(plan.exp)
    outcome = SearchOutcome(df, ranked(df, plan.metric, plan.mode), table(plan.exp, df),
                            describe_statuses(df))
    done = finish_sweep(plan, outcome, stop)
    if done.summary is None or done.exit_code != 0:
        return SweepResult(plan.exp, done.summary, exit_code=done.exit_code)
    exp = plan.exp
    if plan.config.track is not None:
        _track_end(plan, done.summary)
    print(f"\nResults: {exp}")
    print(f"TensorBoard: tensorboard --logdir {exp}")
    print(f"Optuna study: optuna-dashboard {plan.optuna_storage}")
    print(f"Retrain the best configuration:\n  python -m a2c_ray.train --config "
          f"{st.join(exp, 'best_config.json')} --seed 1 2 3 --out runs/{plan.name}_best")
    return SweepResult(exp, done.summary, done.ranking)


def _track_end(plan: SweepPlan, summary: dict[str, Any]) -> None:
    """The tracker's last run of the sweep: the summary, best config, confirmation and report."""
    import tempfile

    from a2c_ray.report import build_report
    from a2c_ray.tuning import log_sweep_end

    st.write_text(st.join(plan.exp, "report.html"), build_report(plan.exp))
    with tempfile.TemporaryDirectory() as tmp:  # the sweep may be on S3: local copies
        files = []
        for name in ("summary.json", "best_config.json", "confirmation.json", "test.json",
                     "report.html"):
            if st.exists(uri := st.join(plan.exp, name)):
                (local := Path(tmp) / name).write_bytes(st.read_bytes(uri))
                files.append(local)
        log_sweep_end(plan.config.track, plan.name, summary, files)
    print(f"Tracked in {plan.config.track}: one run per trial and '{plan.name} summary', "
          f"under {plan.name}")


def build_parser() -> Parser:
    """The command's arguments: SweepConfig's fields, and --resume."""
    p = Parser(prog="python -m a2c_ray.tune",
               description="A sweep of A2C on Ray Tune: OptunaSearch (TPE) proposes "
                           "configurations, ASHA stops the weak ones.")
    add_fields(p, SweepConfig, FLAGS)
    p.add_argument("--resume", action="store_true",
                   help="continue the sweep STORAGE/NAME after it was stopped (Ctrl-C, "
                        "SIGTERM, its driver killed); it keeps its settings")
    return p


def main() -> int:
    """Entry point."""
    parser = build_parser()
    args = parser.parse_args()
    try:
        if not args.resume:
            return sweep(SweepConfig(**fields_from_args(SweepConfig, args))).exit_code
        if not args.name:
            raise UsageError("--resume needs --name NAME of the sweep to continue")
        asked = fields_from_args(SweepConfig, args, parser.given() - {"resume"})
        check_resume_asked(args.name, args.storage_path, asked)
        return resume_sweep(args.name, args.storage_path,  # the confirmation: the sweep's
                            **{k: getattr(args, k) for k in RESUME_APPLIES  # own unless given
                               if k not in ("name", "storage_path") and (
                                   k in parser.given() or not k.startswith("confirm_"))}
                            ).exit_code
    except ConfigError as err:
        if err.owner != "SweepConfig":
            raise
        raise UsageError(("--resume: " if args.resume else "") + flag_message(err, FLAGS)
                         ) from None


def cli() -> None:
    """Console entry point ``a2c-ray-tune``: main() with one-line errors, exit code 2."""
    from a2c_ray.run import TrackerError

    run_cli(main, (UsageError, ConfigError, EnvIdError, SpaceError, SearchSpaceError,
                   TrackerError))


if __name__ == "__main__":
    cli()


__all__ = ["SweepConfig", "SweepResult", "resume_sweep", "sweep"]
