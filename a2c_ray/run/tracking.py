"""Experiment trackers: MLflow and Weights & Biases, optional, for runs and sweeps.

``--track mlflow`` or ``--track wandb`` sends what a run logs to the tracker its environment
names: MLflow's ``MLFLOW_TRACKING_URI`` (default ``./mlruns``), W&B's ``WANDB_PROJECT``,
``WANDB_MODE=offline`` and the rest. A train run is one tracker run per seed (its config as
parameters, every iteration's metrics at its env step, summary.json as an artifact); a sweep's
callbacks are the sweep's own (``tuning.tracking``). Neither library is a dependency: ``check``
says, before anything runs, when the one asked for is not installed or cannot be reached.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

TRACKERS = ("mlflow", "wandb")
INSTALL = {"mlflow": "mlflow", "wandb": "wandb"}
# the W&B modes that need no server
WANDB_LOCAL_MODES = ("offline", "disabled", "dryrun")


class TrackerError(ValueError):
    """The tracker asked for is not installed or cannot be reached: one line, exit code 2."""


def check(kind: str) -> None:
    """Raise TrackerError unless ``kind``'s library imports and its backend answers.

    MLflow: one request to the tracking URI, without retries; W&B: a logged-in API key, unless
    ``WANDB_MODE`` is offline, and then one request to its server.
    """
    if kind not in TRACKERS:
        raise TrackerError(f"--track {kind}: expected one of {', '.join(TRACKERS)}")
    try:
        module = __import__(kind)
    except ImportError:
        raise TrackerError(f"--track {kind}: {kind} is not installed: pip install "
                           f"{INSTALL[kind]} (or pip install -e \".[track]\")") from None
    if kind == "mlflow":
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        uri = module.get_tracking_uri()
        try:
            module.MlflowClient(uri).search_experiments(max_results=1)
        except Exception as err:  # noqa: BLE001  (any failure to reach the store)
            message = " ".join(str(err).split())[:200]
            raise TrackerError(f"--track mlflow: the tracking URI {uri} cannot be reached "
                               f"(MLFLOW_TRACKING_URI): {message}") from None
        return
    mode = os.environ.get("WANDB_MODE", "online")
    if mode in WANDB_LOCAL_MODES:
        return
    if not (os.environ.get("WANDB_API_KEY") or _netrc_key()):
        raise TrackerError("--track wandb: not logged in to Weights & Biases: run wandb login, "
                           "set WANDB_API_KEY, or WANDB_MODE=offline to log locally")
    import urllib.error
    import urllib.request

    base = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
    try:
        urllib.request.urlopen(base, timeout=10)  # noqa: S310  (the user's own server URL)
    except urllib.error.HTTPError:
        pass  # an HTTP error is an answer: the server is there
    except OSError as err:
        raise TrackerError(f"--track wandb: {base} cannot be reached (WANDB_BASE_URL): {err}; "
                           "WANDB_MODE=offline logs locally") from None


def _netrc_key() -> str | None:
    """The W&B API key ``wandb login`` wrote to ~/.netrc, if any."""
    import netrc
    from urllib.parse import urlparse

    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        entry = netrc.netrc().authenticators(host or "")
    except (OSError, netrc.NetrcParseError):
        return None
    return entry[2] if entry else None


def flat_numbers(values: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric values of a (nested) dict, keys joined with '/': what a tracker can plot."""
    out: dict[str, float] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_numbers(value, f"{name}/"))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if value == value:  # NaN: not reported this iteration
                out[name] = float(value)
    return out


def track_spec(kind: str, experiment: str) -> tuple[str, str, str | None]:
    """What a run's process needs to open its tracker run, also in another process.

    The kind, the experiment or group, and MLflow's tracking URI as this process resolves it.
    """
    uri = None
    if kind == "mlflow":
        import mlflow

        uri = mlflow.get_tracking_uri()
    return kind, experiment, uri


class RunTracker:
    """One train run in a tracker: parameters once, metrics every iteration, then artifacts.

    Args:
        spec: ``track_spec``'s kind, experiment (MLflow) or group (W&B), and tracking URI.
        name: the run's name.
        config: the run's configuration, logged as parameters.
    """

    def __init__(self, spec: tuple[str, str, str | None], name: str,
                 config: dict[str, Any]) -> None:
        kind, experiment, uri = spec
        self.kind = kind
        if kind == "mlflow":
            import mlflow

            self.mlflow = mlflow
            if uri is not None:
                mlflow.set_tracking_uri(uri)
            mlflow.set_experiment(experiment)
            self.run = mlflow.start_run(run_name=name)
            mlflow.log_params({k: str(v) for k, v in config.items()})
        else:
            import wandb

            self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "a2c_ray"),
                                  group=experiment, name=name, config=config, reinit=True)
            self.run.define_metric("*", step_metric="env_steps")

    def log(self, metrics: dict[str, float]) -> None:
        """One iteration's metrics, at its env step."""
        values = flat_numbers(metrics)
        step = int(metrics["env_steps"])
        if self.kind == "mlflow":
            self.mlflow.log_metrics(values, step=step, run_id=self.run.info.run_id)
        else:
            self.run.log(values)

    def finish(self, files: list[Path]) -> None:
        """Attach ``files`` (those that exist) and end the run."""
        files = [f for f in files if f.is_file()]
        if self.kind == "mlflow":
            for f in files:
                self.mlflow.log_artifact(str(f), run_id=self.run.info.run_id)
            self.mlflow.end_run()
        else:
            for f in files:
                self.run.save(str(f), base_path=str(f.parent), policy="now")
            self.run.finish()
