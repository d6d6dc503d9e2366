"""Sweeps and runs into pandas from their files; never the trainer.

Works on a local directory or an s3:// URI, and on a sweep that is still running (partly
written lines are skipped). Also reads a directory of ``python -m a2c_ray.train`` runs
(``DIR/seed_S/progress.csv``), each run counting as one trial.
"""

from __future__ import annotations

import io
import json
from math import nan
from pathlib import Path
from typing import Any

import pandas as pd

from a2c_ray.core import saved_trials
from a2c_ray.core import storage as st
from a2c_ray.tuning import SweepPlan, upgrade_sweep_json

STATUSES = ("TERMINATED", "ERROR", "RUNNING", "PENDING", "PAUSED")


def _json_lines(text: str) -> list[dict[str, Any]]:
    rows = []
    for line in text.splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line still being written
    return rows


def _csv(text: str) -> pd.DataFrame:
    if not text.strip():
        return pd.DataFrame()
    # ids such as "61e22077" would otherwise parse as numbers
    return pd.read_csv(io.StringIO(text), on_bad_lines="skip",
                       dtype={"trial_id": str, "node_id": str, "hostname": str})


def _dirs(path: str) -> dict[str, str]:
    """Directory name -> URI of the directories directly under path."""
    return {e.name: e.uri for e in st.list_dir(path) if e.is_dir}


def _files(run_dir: str) -> set[str]:
    """Names of the files directly in a directory (one listing, not one request per file)."""
    return {e.name for e in st.list_dir(run_dir) if not e.is_dir}


def tune_trial_states(path: str) -> dict[str, dict[str, Any]] | None:
    """Each trial Tune knows, from its newest ``experiment_state-*.json``; None if there is none.

    Keyed by trial directory name: ``{"trial_id", "status", "params", "started_at",
    "last_result_at"}``, as ``core.tune_state.SavedTrial`` (the one reader of Tune's files)
    describes them: a sweep stopped by Ctrl-C shows its unfinished trials RUNNING or PENDING.
    """
    try:
        trials = saved_trials(path)
    except json.JSONDecodeError:  # being rewritten: Tune writes it in place
        return None
    if trials is None:
        return None
    return {t.dirname: {"trial_id": t.trial_id, "status": t.status, "params": t.config,
                        "started_at": t.started_at, "last_result_at": t.last_result_at}
            for t in trials}


def _runs(path: str) -> list[tuple[dict[str, Any], str | None, set[str]]]:
    """(Tune's state of the trial, its directory or None, the files in it) for each trial.

    For a directory of train runs each run counts as a trial, TERMINATED once it wrote
    summary.json.
    """
    states = tune_trial_states(path)
    dirs = _dirs(path)
    files = {name: _files(d) for name, d in dirs.items()}
    if states is None:  # train runs: DIR/seed_S, or DIR itself holding one run
        runs = [name for name, f in files.items() if "progress.csv" in f]
        if not runs and "progress.csv" in (own := _files(path)):
            runs, dirs[st.name(path)], files[st.name(path)] = [st.name(path)], path, own
        states = {name: {"trial_id": name, "params": {},
                         "status": "TERMINATED" if "summary.json" in files[name] else "RUNNING"}
                  for name in runs}
    return [(state, dirs.get(name), files.get(name, set())) for name, state in states.items()]


def _rows(run_dir: str, files: set[str]) -> pd.DataFrame:
    """Every row a trial or run reported, oldest first.

    A Tune trial's result.json (a resumed sweep appends to it; ``tuning.console.result_loggers``),
    else a train run's progress.csv.
    """
    if "result.json" in files:
        return pd.DataFrame(_json_lines(st.read_text(st.join(run_dir, "result.json"))))
    if "progress.csv" in files:
        return _csv(st.read_text(st.join(run_dir, "progress.csv")))
    return pd.DataFrame()


def load_trials(path: str | Path) -> pd.DataFrame:
    """One row per trial: trial_id, status, config/* and the final metrics.

    Args:
        path: a sweep directory STORAGE/NAME (local or s3://), or a directory of train runs.

    Returns:
        A typed DataFrame sorted by trial_id. ``status`` is Tune's own, from its saved
        experiment state (a train run is TERMINATED once it wrote summary.json, RUNNING
        before); a sweep's trials are the ones that state lists, including PENDING ones that
        have no directory yet. ``config/*`` holds each trial's full configuration (the
        sweep's fixed fields and its searched ones); the metric columns are the last reported
        values; ``trial_dir`` points at the trial's files.
    """
    path = str(path)
    base: dict[str, Any] = {}
    if st.exists(st.join(path, "sweep.json")):
        base = json.loads(st.read_text(st.join(path, "sweep.json"))).get("base_config", {})
    rows = []
    for state, run_dir, files in _runs(path):
        params = dict(state["params"])
        last: dict[str, Any] = {}
        if run_dir is not None:
            reported = _rows(run_dir, files)
            last = reported.iloc[-1].to_dict() if len(reported) else {}
            if "params.json" in files:
                params = json.loads(st.read_text(st.join(run_dir, "params.json")))
            elif "summary.json" in files:
                params = json.loads(st.read_text(st.join(run_dir, "summary.json")))["config"]
        row = {"trial_id": state["trial_id"], "status": state["status"], "trial_dir": run_dir}
        row.update({f"config/{k}": v for k, v in {**base, **params}.items()})
        row.update({k: v for k, v in last.items()
                    if k not in ("config", "trial_id") and not isinstance(v, dict | list)})
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=["trial_id", "status", "trial_dir"])
    df = pd.DataFrame(rows)
    df["status"] = pd.Categorical(df["status"], categories=STATUSES)
    return df.convert_dtypes().sort_values("trial_id").reset_index(drop=True)


def ranked(trials: pd.DataFrame, metric: str, mode: str = "max") -> pd.DataFrame:
    """The trials that can be ranked, best first: TERMINATED, with a value of ``metric``.

    The one definition of "the best trial" that tune, evaluate, report and the notebooks use:
    an errored, unfinished or unscored trial is never best.
    """
    if metric not in trials:
        return trials.iloc[0:0]
    values = pd.to_numeric(trials[metric], errors="coerce")
    ok = trials[(trials["status"] == "TERMINATED") & values.notna()]
    return ok.sort_values(metric, ascending=mode == "min", kind="stable").reset_index(drop=True)


def _json(uri: str) -> dict[str, Any] | None:
    return json.loads(st.read_text(uri)) if st.exists(uri) else None


def sweep_settings(path: str | Path) -> dict[str, Any]:
    """A sweep's sweep.json in the current format (``tuning.config.upgrade_sweep_json``).

    Its metric, mode, budgets, search space, fixed config and Optuna storage.
    """
    settings = _json(st.join(str(path), "sweep.json"))
    if settings is None:
        raise FileNotFoundError(f"{str(path)!r} is not a sweep directory (no sweep.json)")
    return upgrade_sweep_json(settings)


def sweep_plan(path: str | Path) -> SweepPlan:
    """A sweep's sweep.json as the typed ``SweepPlan`` it was saved from, any format."""
    return SweepPlan.from_json(sweep_settings(path))


def sweep_summary(path: str | Path) -> dict[str, Any] | None:
    """A sweep's summary.json, or None while it runs (or after it was interrupted)."""
    return _json(st.join(str(path), "summary.json"))


def load_confirmation(path: str | Path) -> pd.DataFrame:
    """The configurations a sweep trained on fresh seeds: one row each, validation then test.

    Rows of confirmation.json (``--confirm-top``, seed_set "validation", best first) and of
    test.json (``--test-seeds``, the pick, seed_set "test"): the sweep trial it came from, its
    seeds and final returns, their mean, standard error, worst seed and IQM, and the 95%
    bootstrap intervals of the mean and the IQM (``mean_lo``, ``mean_hi``, ``iqm_lo``,
    ``iqm_hi``; NaN in sweeps from before they were written). Empty when there were none.
    """
    entries = list(_json(st.join(str(path), "confirmation.json")) or [])
    entries = [{"seed_set": "test", **e} if "seed_set" not in e else e for e in entries]
    if (test := _json(st.join(str(path), "test.json"))) is not None:
        entries.append(test)
    rows = []
    for rank, e in enumerate(entries):
        mean_ci, iqm_ci = e.get("mean_ci95", [nan, nan]), e.get("iqm_ci95", [nan, nan])
        rows.append({"seed_set": e["seed_set"], "rank": rank, "trial_id": e["sweep_trial_id"],
                     "n": len(e["returns"]), "mean": e["mean"], "mean_lo": mean_ci[0],
                     "mean_hi": mean_ci[1], "sem": e["sem"], "iqm": e["iqm"],
                     "iqm_lo": iqm_ci[0], "iqm_hi": iqm_ci[1], "worst": e["worst"],
                     "sweep_score": e["sweep_metric"], "seeds": e["seeds"],
                     "returns": e["returns"]})
    df = pd.DataFrame(rows)
    if len(df):
        df["rank"] = df.groupby("seed_set").cumcount() + 1
    return df


def best_trials(path: str | Path, trials: pd.DataFrame | None = None) -> pd.DataFrame:
    """A sweep's rankable trials, best first, by the sweep's own metric.

    ``ranked`` order, except that after ``--confirm-top`` the trial whose configuration won
    the confirmation on fresh seeds comes first (summary.json names it), since that is the
    configuration best_config.json holds. ``trials``: ``load_trials(path)``, if already read.
    """
    settings = sweep_settings(path)
    trials = load_trials(path) if trials is None else trials
    trials = ranked(trials, settings["metric"], settings.get("mode", "max"))
    confirmed = (sweep_summary(path) or {}).get("confirmed_best_trial_id")
    if confirmed is not None:
        first = trials["trial_id"] == confirmed
        trials = pd.concat([trials[first], trials[~first]], ignore_index=True)
    return trials


def load_curves(path: str | Path) -> pd.DataFrame:
    """Learning curves in long form: trial_id, seed, env_steps, one column per metric.

    One row per seed and report of each trial that ``load_trials`` lists. A trial of several
    seeds reports each seed's own values (``per_seed``): its rows hold those, each seed's
    ``score`` among them (the trial's score is the sweep's statistic over them, by default
    their mean less its standard error), and repeat what the report holds
    for the trial as a whole (``score_std``, ``score_min``, ``node_id``, ``time_total_s``...).
    A one-seed trial or a train run has one row per report, with every metric it reported.
    Rows a resumed trial reported twice (it continues from its last checkpoint) keep the last.
    """
    frames = []
    for state, run_dir, files in _runs(str(path)):
        df = _rows(run_dir, files) if run_dir is not None else pd.DataFrame()
        if df.empty or "env_steps" not in df:
            continue
        df = df.dropna(subset=["env_steps"])  # a short, half-written last line
        df = df.drop_duplicates("env_steps", keep="last").sort_values("env_steps")
        df = _per_seed_rows(df, state["params"] or _run_config(run_dir, files))
        df = df.drop(columns=[c for c in ("trial_id", "config") if c in df])
        df.insert(0, "trial_id", state["trial_id"])
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=["trial_id", "seed", "env_steps"])
    out = pd.concat(frames, ignore_index=True).convert_dtypes()
    front = ["trial_id", "seed", "env_steps"]
    out = out[front + [c for c in out.columns if c not in front]]
    return out.sort_values(front, kind="stable").reset_index(drop=True)


def _run_config(run_dir: str, files: set[str]) -> dict[str, Any]:
    """A trial's params.json, or a train run's config from its summary.json; else {}."""
    if "params.json" in files:
        return json.loads(st.read_text(st.join(run_dir, "params.json")))
    if "summary.json" in files:
        return json.loads(st.read_text(st.join(run_dir, "summary.json")))["config"]
    return {}


def _per_seed_rows(reports: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """A trial's reports as one row per seed and report, with a ``seed`` column."""
    if "per_seed" in reports:
        rows = []
        for report in reports.to_dict("records"):
            if not isinstance(report.get("per_seed"), dict):
                continue
            shared = {k: v for k, v in report.items() if not isinstance(v, dict | list)}
            rows += [{"seed": int(seed), **shared, **values}
                     for seed, values in report["per_seed"].items()]
        return pd.DataFrame(rows)
    # One seed: the one its config names (a train run's progress.csv or an older sweep).
    config = reports["config"].iloc[-1] if "config" in reports else None
    seed = (config if isinstance(config, dict) else params).get("seed")
    out = reports.drop(columns=[c for c in reports.columns if "/" in c])
    out.insert(0, "seed", pd.NA if seed is None else int(seed))
    return out


def describe_statuses(trials: pd.DataFrame) -> str:
    """'8 trials: 6 finished, 1 errored, 1 running', from the trials' statuses."""
    words = {"TERMINATED": "finished", "ERROR": "errored", "RUNNING": "running",
             "PENDING": "pending", "PAUSED": "paused"}
    counts = trials["status"].astype(str).value_counts()
    parts = [f"{int(counts[k])} {w}" for k, w in words.items() if counts.get(k, 0)]
    return f"{len(trials)} trials: {', '.join(parts)}"


def table(path: str | Path, trials: pd.DataFrame | None = None) -> pd.DataFrame:
    """The trials as a person reads them: best first, the metric and what was searched.

    Columns: trial_id, status, env_steps, the ranking metric (with score_std and score_min
    where it is the score of several seeds), then the searched fields of a
    sweep (named without ``config/``), or for train runs the config fields that differ
    between runs. Constants, host names and Tune's bookkeeping are left out; trials that
    cannot be ranked follow the ranked ones.
    """
    trials = load_trials(path) if trials is None else trials
    if st.exists(st.join(str(path), "sweep.json")):
        settings = sweep_settings(path)
        metric, mode = settings["metric"], settings.get("mode", "max")
        fields = [f"config/{k}" for k in settings["search_space"]]
    else:  # train runs
        metric, mode = "eval_return_mean", "max"
        fields = [c for c in trials.columns if c.startswith("config/")
                  and trials[c].astype(str).nunique() > 1]
    best = ranked(trials, metric, mode)
    rest = trials[~trials["trial_id"].isin(best["trial_id"])]
    out = pd.concat([best, rest], ignore_index=True)
    spread = [c for c in ("score_std", "score_min") if c in out and metric == "score"]
    columns = ["trial_id", "status", "env_steps", metric, *spread, *fields]
    out = out.reindex(columns=columns)
    return out.rename(columns=lambda c: c.removeprefix("config/"))


def export_parquet(path: str | Path, out_dir: str | Path) -> tuple[Path, Path]:
    """Write trials.parquet and curves.parquet for a sweep; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    trials = load_trials(path)
    trials["status"] = trials["status"].astype(str)
    trials.to_parquet(out / "trials.parquet")
    load_curves(path).to_parquet(out / "curves.parquet")
    return out / "trials.parquet", out / "curves.parquet"
