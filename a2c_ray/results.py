"""Loading sweep results into pandas: reads Ray Tune's files, never the trainer.

Works on a local directory or an s3:// URI, and on a sweep that is still running (partly
written lines are skipped). Also reads a directory of ``python -m a2c_ray.train`` runs
(``DIR/seed_S/progress.csv``), each run counting as one trial.

    python -m a2c_ray.results SWEEP_DIR --parquet OUT_DIR
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd

from a2c_ray import storage as st

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


def _run_dirs(path: str) -> list[str]:
    """Trial (or run) directories directly under path: a progress.csv or params.json inside."""
    dirs = []
    for info in st.list_dir(path):
        if info.type.name == "Directory" and any(
            st.exists(st.join(info.path, f)) for f in ("progress.csv", "params.json")
        ):
            dirs.append(info.path)
    return sorted(dirs)


def _statuses(path: str) -> dict[str, tuple[str, str]]:
    """Trial directory name -> (trial id, status), from Tune's newest experiment_state file."""
    states = sorted(i.path for i in st.list_dir(path)
                    if i.base_name.startswith("experiment_state-")
                    and i.base_name.endswith(".json"))
    if not states:
        return {}
    try:
        data = json.loads(st.read_text(states[-1]))
    except json.JSONDecodeError:
        return {}
    out = {}
    for trial_json, _runtime in data.get("trial_data", []):
        trial = json.loads(trial_json)
        dirname = Path(trial.get("relative_logdir") or trial["trial_id"]).name
        out[dirname] = (trial["trial_id"], trial["status"])
    return out


def load_trials(path: str | Path) -> pd.DataFrame:
    """One row per trial: trial_id, status, config/* and the final metrics.

    Args:
        path: a sweep directory STORAGE/NAME (local or s3://), or a directory of train runs.

    Returns:
        A typed DataFrame sorted by trial_id. ``config/*`` holds each trial's full
        configuration (the sweep's fixed fields and its searched ones); the metric columns
        are the last reported values; ``trial_dir`` points at the trial's files.
    """
    path = str(path)
    base: dict[str, Any] = {}
    if st.exists(st.join(path, "sweep.json")):
        base = json.loads(st.read_text(st.join(path, "sweep.json"))).get("base_config", {})
    statuses = _statuses(path)
    rows = []
    for run_dir in _run_dirs(path):
        results = (_json_lines(st.read_text(st.join(run_dir, "result.json")))
                   if st.exists(st.join(run_dir, "result.json")) else [])
        progress_uri = st.join(run_dir, "progress.csv")
        if results:
            last = results[-1]
        elif st.exists(progress_uri):  # a train run
            progress = _csv(st.read_text(progress_uri))
            last = progress.iloc[-1].to_dict() if len(progress) else {}
        else:  # a trial that has reported nothing yet
            last = {}
        if st.exists(st.join(run_dir, "params.json")):
            params = json.loads(st.read_text(st.join(run_dir, "params.json")))
        elif st.exists(st.join(run_dir, "summary.json")):
            params = json.loads(st.read_text(st.join(run_dir, "summary.json")))["config"]
        else:
            params = {}
        trial_id, status = statuses.get(Path(run_dir).name, (None, None))
        trial_id = str(last.get("trial_id") or trial_id or Path(run_dir).name)
        if status is None:
            errored = st.exists(st.join(run_dir, "error.txt"))
            status = ("ERROR" if errored else "PENDING" if not last
                      else "TERMINATED" if not results else "RUNNING")
        row = {"trial_id": trial_id, "status": status, "trial_dir": run_dir}
        row.update({f"config/{k}": v for k, v in {**base, **params}.items()})
        row.update({k: v for k, v in last.items()
                    if k not in ("config", "trial_id") and not isinstance(v, dict | list)})
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=["trial_id", "status", "trial_dir"])
    df["status"] = pd.Categorical(df["status"], categories=STATUSES)
    return df.convert_dtypes().sort_values("trial_id").reset_index(drop=True)


def load_curves(path: str | Path) -> pd.DataFrame:
    """Learning curves in long form: trial_id, env_steps, one column per metric.

    Rows a resumed trial logged twice (after a restore from a checkpoint) keep the last.
    """
    path = str(path)
    frames = []
    for run_dir in _run_dirs(path):
        if not st.exists(st.join(run_dir, "progress.csv")):
            continue
        df = _csv(st.read_text(st.join(run_dir, "progress.csv")))
        if df.empty or "env_steps" not in df:
            continue
        trial_id = (str(df["trial_id"].iloc[-1]) if "trial_id" in df
                    else Path(run_dir).name)
        df = df.dropna(subset=["env_steps"])  # a short, half-written last line
        df = df.drop(columns=[c for c in ("trial_id", "config") if c in df])
        df = df.drop_duplicates("env_steps", keep="last").sort_values("env_steps")
        df.insert(0, "trial_id", trial_id)
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=["trial_id", "env_steps"])
    out = pd.concat(frames, ignore_index=True)
    front = ["trial_id", "env_steps"]
    return out[front + [c for c in out.columns if c not in front]]


def export_parquet(path: str | Path, out_dir: str | Path) -> tuple[Path, Path]:
    """Write trials.parquet and curves.parquet for a sweep; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    trials = load_trials(path)
    trials["status"] = trials["status"].astype(str)
    trials.to_parquet(out / "trials.parquet")
    load_curves(path).to_parquet(out / "curves.parquet")
    return out / "trials.parquet", out / "curves.parquet"


def main() -> int:
    """``python -m a2c_ray.results SWEEP_DIR [--parquet OUT_DIR]``."""
    from a2c_ray.cli import Parser, UsageError

    p = Parser(prog="python -m a2c_ray.results", description="Summarise a sweep's trials.")
    p.add_argument("sweep", help="sweep directory (local or s3://)")
    p.add_argument("--parquet", help="also write trials.parquet and curves.parquet here")
    args = p.parse_args()
    if not st.exists(args.sweep):
        raise UsageError(f"sweep directory {args.sweep!r} does not exist")
    trials = load_trials(args.sweep)
    print(trials.drop(columns=["trial_dir"]).to_string(max_cols=12))
    if args.parquet:
        for written in export_parquet(args.sweep, args.parquet):
            print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    from a2c_ray.cli import UsageError, run_cli

    run_cli(main, (UsageError,))
