"""A sweep in an experiment tracker: Ray Tune's own callbacks, one run per trial, and its end.

``--track mlflow`` or ``--track wandb`` on ``python -m a2c_ray.tune``: each trial is a run of
the tracker, grouped under the sweep's name, with its whole configuration and every report at
its env step (Tune's ``MLflowLoggerCallback`` and ``WandbLoggerCallback``, adapted here), and a
last run holds the sweep's summary, best config, confirmation and report. What a train run
sends, which tracker is reachable, and the numbers both send are ``run.tracking``'s.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from a2c_ray.run import flat_numbers


def sweep_callbacks(kind: str, sweep_name: str, base: dict[str, Any]) -> list[Any]:
    """Ray Tune's own tracker callback for a sweep: one run per trial, named by the sweep.

    Each trial's parameters are its whole configuration: the sweep's fixed fields (``base``)
    with its searched ones and its seeds, where Tune's callbacks give the searched ones only.
    (The subclasses are made here, where Ray may be imported; Tune saves them by value.)
    """
    if kind == "mlflow":
        import mlflow
        from ray.air.integrations.mlflow import MLflowLoggerCallback

        class WholeConfigMLflow(MLflowLoggerCallback):
            def log_trial_start(self, trial: Any) -> None:
                super().log_trial_start(trial)
                fixed = {k: v for k, v in base.items() if k not in trial.config}
                self.mlflow_util.log_params(run_id=self._trial_runs[trial], params_to_log=fixed)

            def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
                # Tune's callback writes one metric per request (half a second a report on
                # a SQLite store), the trial's config again as metrics, and NaN for a score
                # not yet measured (which MLflow's min and max then show); here the measured
                # numbers at the report's env step, in one batch
                from mlflow.entities import Metric

                step = result.get("timesteps_total") or result["training_iteration"]
                now = int(time.time() * 1000)
                values = flat_numbers({k: v for k, v in result.items() if k != "config"})
                self.mlflow_util._get_client().log_batch(
                    self._trial_runs[trial],
                    metrics=[Metric(k, v, now, step) for k, v in values.items()])

        return [WholeConfigMLflow(tracking_uri=mlflow.get_tracking_uri(),
                                  experiment_name=sweep_name)]
    from ray.air.integrations.wandb import WandbLoggerCallback, _WandbLoggingActor

    class FlushingActor(_WandbLoggingActor):
        """Tune's W&B logging actor, waiting for wandb-core to write the run's last records.

        Tune's class is private (tests/test_tracking.py's W&B test fails if it changes). Tune
        kills the actor as soon as its ``run`` returns, and wandb-core, its child, was killed
        with it before it wrote the last block of an offline run: a busy machine lost a trial's
        last reports from its ``.wandb`` file.
        """

        def run(self) -> None:
            super().run()
            self._wandb.teardown()

    class WholeConfigWandb(WandbLoggerCallback):
        _logger_actor_cls = FlushingActor

        def _start_logging_actor(self, trial: Any, exclude_results: list[str],
                                 **kwargs: Any) -> None:
            kwargs["config"] = {**base, **kwargs.get("config", {})}
            super()._start_logging_actor(trial, exclude_results, **kwargs)

    return [WholeConfigWandb(project=os.environ.get("WANDB_PROJECT", "a2c_ray"),
                             group=sweep_name)]


def log_sweep_end(kind: str, sweep_name: str, summary: dict[str, Any],
                  files: list[Path]) -> None:
    """The sweep's end as one more run: its summary's numbers and its files as artifacts."""
    numbers = flat_numbers({k: v for k, v in summary.items() if k != "best_config"})
    if kind == "mlflow":
        import mlflow

        mlflow.set_experiment(sweep_name)
        with mlflow.start_run(run_name=f"{sweep_name} summary"):
            mlflow.log_params({"best_trial_id": summary.get("best_trial_id"),
                               "chosen_on": summary.get("chosen_on", "")})
            mlflow.log_metrics(numbers)
            for f in files:
                if f.is_file():
                    mlflow.log_artifact(str(f))
        return
    import wandb

    run = wandb.init(project=os.environ.get("WANDB_PROJECT", "a2c_ray"), group=sweep_name,
                     name=f"{sweep_name} summary", config=summary.get("best_config") or {},
                     reinit=True)
    run.summary.update({**numbers, "summary": json.dumps(summary, default=str)})
    for f in files:
        if f.is_file():
            run.save(str(f), base_path=str(f.parent), policy="now")
    run.finish()
