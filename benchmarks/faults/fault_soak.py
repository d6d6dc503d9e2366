"""A seeded fault soak: one sweep on the fake autoscaling cluster, faults at random moments.

    python -m benchmarks.faults.fault_soak --faults 30 --seed 0 --storage local
    python -m benchmarks.faults.fault_soak --faults 30 --seed 0 --storage s3

Starts the cluster guide's fake autoscaling cluster (``cluster/local.yaml``: a head without
CPUs, up to two one-CPU worker nodes the autoscaler adds as trials queue) on a port of its
own, and, with ``--storage s3``, a local S3 endpoint (moto's server, as the tests use). It runs
one CartPole sweep there (``--num-samples`` trials, 2 seeds each, ASHA, a checkpoint every
iteration) and injects ``--faults`` faults, kinds and moments drawn from ``--seed``:

* the driver SIGKILLed, sent SIGINT (the process group, as a terminal's Ctrl-C) or SIGTERM,
  or signalled twice (the second signal during the clean stop); each followed by
  ``--resume``;
* a resume started while the previous driver is still stopping (SIGTERM, then at once
  ``--resume``);
* a seed actor (``ray::SeedRunner``) SIGKILLed; a worker node's raylet and its workers
  SIGKILLed (the autoscaler starts another);
* on S3, the endpoint stopped for 2-8 s and started again.

When the sweep has ended, it checks, each on its own:

* ``trials``: ``--num-samples`` trials in Tune's saved state and in the Optuna study, one to
  one by their training seeds, each study trial ended as Tune ended it (COMPLETE at the
  budget, PRUNED when ASHA stopped it, FAIL on error); the study's redraws of a repeated
  configuration and trials lost with a killed driver are FAIL and say so in a user attribute;
* ``seeds``: no training seed used by two trials;
* ``rows``: each trial's result.json and progress.csv hold the same env steps, strictly
  increasing, none missing (no gap wider than one report);
* ``scores``: every finished trial's last score equal to that of its configuration and
  seeds trained once without faults, in this process, to the same env step (the trial's own
  code: ``tuning.trial``), which the exact resume makes checkable;
* ``summary``: summary.json, best_config.json and ``a2c_ray.results`` agree on the best
  trial and its configuration;
* ``drivers``: every driver ended as its fault says (0 at the end, 130 or 143 after a signal,
  killed by SIGKILL, or by a second SIGTERM that came while it had no handler: before Ray was
  up, or once its clean stop had ended and it was exiting), none with an error.

Prints a table of the faults and the invariants, writes the JSON record (``--json``), and
exits 1 if an invariant fails. ``--cpu-hog`` runs a busy loop on every core beside it all
(``--cpu-hog N``: N of them), as a shared machine is. tests/test_fault_soak.py runs a short
version beside a busy loop.
``python -m benchmarks.faults.fault_soak --summarize RECORD...`` prints records as one table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.s3_endpoint import S3Endpoint, free_port

ROOT = Path(__file__).resolve().parents[2]
TUNE = [sys.executable, "-m", "a2c_ray.tune"]
RAY = [sys.executable, "-m", "ray.scripts.scripts"]
DRIVER_FAULTS = ("driver SIGKILL", "driver SIGINT", "driver SIGTERM", "second signal",
                 "resume while stopping")
CLUSTER_FAULTS = ("seed actor SIGKILL", "raylet kill")
S3_FAULTS = ("S3 outage",)
# -15: a SIGTERM that came while the driver was still importing, before it set its handlers;
# 15: one that came while ray.init was joining the cluster, whose own handler (Ray's C++
# logging.cc, "SIGTERM received") ends the process before a2c_ray's handlers are set, and
# before this driver has written anything
EXPECTED_EXIT = {"driver SIGKILL": {-9}, "driver SIGINT": {130},
                 "driver SIGTERM": {143, -15, 15}, "second signal": {130, 143},
                 "resume while stopping": {143, -15, 15}}
SPACE = {"learning_rate": {"type": "float", "low": 3e-4, "high": 3e-3, "log": True},
         "gae_lambda": {"type": "float", "low": 0.9, "high": 1.0}}


@dataclass
class Driver:
    """One ``python -m a2c_ray.tune`` process of the soak, and the fault that ended it."""

    proc: subprocess.Popen[bytes]
    log: Path
    resumed: bool
    ended_by: str | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid


class Soak:
    """The sweep, its cluster, its drivers and the faults, in ``workdir``."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.workdir = workdir
        self.port = free_port()
        # a user's shell: HOME here (the Optuna study of an S3 sweep lives under it) and none
        # of the Ray settings of the process that started the soak
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "TUNE_"))}
        self.env.update(HOME=str(workdir / "home"), TUNE_GLOBAL_CHECKPOINT_S="1")
        self.s3: S3Endpoint | None = None
        if args.storage == "s3":
            self.s3 = S3Endpoint()
            self.s3.start()
            self.env.update(self.s3.env)
            os.environ.update(self.s3.env)  # this process reads the results there too
            import boto3

            boto3.client("s3").create_bucket(Bucket="soak")
            self.storage = "s3://soak/a2c"
        else:
            self.storage = str(workdir / "results")
        self.exp = f"{self.storage}/{args.name}"
        self.session: str | None = None
        self.gcs_address = ""
        self.drivers: list[Driver] = []
        self.faults: list[dict[str, Any]] = []
        self.start_s = time.monotonic()

    # the cluster ---------------------------------------------------------------------------

    def start_cluster(self) -> None:
        import yaml
        from ray._private.services import get_node_ip_address

        from tests.processes import session_of_gcs_port

        # cluster/local.yaml on a port of its own: the fake provider's nodes join the head at
        # 6379 unless its config names another address
        config = yaml.safe_load((ROOT / "cluster" / "local.yaml").read_text())
        self.gcs_address = f"{get_node_ip_address()}:{self.port}"
        config["provider"]["gcs_address"] = self.gcs_address
        config["available_node_types"]["ray.worker.cpu"]["min_workers"] = self.args.min_workers
        path = self.workdir / "local.yaml"
        path.write_text(yaml.safe_dump(config))
        r = subprocess.run(
            [*RAY, "start", "--head", "--num-cpus", "0", "--port", str(self.port),
             f"--autoscaling-config={path}", "--include-dashboard=false"],
            env={**self.env, "RAY_FAKE_CLUSTER": "1"}, capture_output=True, text=True,
            timeout=180, cwd=ROOT)
        if r.returncode != 0:
            sys.exit(f"ray start failed: {r.stdout[-2000:]}{r.stderr[-2000:]}")
        self.session = session_of_gcs_port(self.port)
        if self.session is None:
            sys.exit(f"no Ray session on port {self.port}: {r.stdout[-2000:]}")

    def add_node(self) -> None:
        """A one-CPU worker node, as cluster/local.yaml's worker type has it."""
        r = subprocess.run([*RAY, "start", "--address", self.gcs_address, "--num-cpus", "1"],
                           env=self.env, capture_output=True, text=True, timeout=180, cwd=ROOT)
        if r.returncode != 0:
            sys.exit(f"ray start (a worker node) failed: {r.stdout[-2000:]}{r.stderr[-2000:]}")

    def stop_cluster(self) -> None:
        from tests.processes import kill_session

        if self.session is not None:
            kill_session(self.session)
            self.session = None
        record = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        if record.is_file() and record.read_text().strip().endswith(f":{self.port}"):
            record.unlink()  # as `ray stop` does: no later `ray.init()` looks for it

    def worker_raylets(self) -> list[Any]:
        """The raylets of the worker nodes (the head's is the one the soak started)."""
        from tests.processes import raylets

        return [p for p in raylets(self.session or "")
                if "--head" not in " ".join(_cmdline(p))
                and "is_head_node=true" not in " ".join(_cmdline(p)).lower()]

    def seed_actors(self) -> list[Any]:
        from tests.processes import session_processes

        return [p for p in session_processes(self.session or "")
                if "ray::SeedRunner" in " ".join(_cmdline(p))]

    # drivers ---------------------------------------------------------------------------------

    def sweep_args(self) -> list[str]:
        a = self.args
        where = ["--address", f"127.0.0.1:{self.port}", "--storage-path", self.storage]
        if a.storage == "local":
            where.append("--shared-storage")  # the fake nodes share this machine's disk
        return where

    def start_driver(self, resumed: bool) -> Driver:
        from a2c_ray.core import storage as st

        a = self.args
        if resumed and not st.exists(f"{self.exp}/sweep.json"):
            resumed = False  # stopped while starting: its command runs again as it was
        if resumed:
            args = ["--resume", "--name", a.name, *self.sweep_args()]
        else:
            space = self.workdir / "space.json"
            space.write_text(json.dumps(SPACE))
            args = ["--env", "CartPole-v1", "--num-samples", str(a.num_samples),
                    "--seeds-per-trial", "2", "--max-steps", str(a.max_steps),
                    "--grace-steps", str(a.max_steps // 4), "--reduction-factor", "2",
                    "--checkpoint-every", "1", "--set", "eval_episodes=2", "--confirm-top", "0",
                    "--search-space", str(space), "--seed", str(a.seed), "--name", a.name,
                    *self.sweep_args()]
        log = self.workdir / "drivers" / f"{len(self.drivers):03d}.log"
        log.parent.mkdir(exist_ok=True)
        with log.open("w") as out:
            proc = subprocess.Popen(TUNE + args, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, env=self.env, cwd=self.workdir)
        driver = Driver(proc, log, resumed)
        self.drivers.append(driver)
        return driver

    @property
    def driver(self) -> Driver:
        return self.drivers[-1]

    def wait_driver(self, driver: Driver, timeout_s: float = 600) -> int:
        try:
            return driver.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.ended_by = (driver.ended_by or "") + " (hung: SIGKILLed by the soak)"
            return driver.proc.wait()

    # faults ------------------------------------------------------------------------------

    def kinds(self) -> tuple[str, ...]:
        return DRIVER_FAULTS + CLUSTER_FAULTS + (S3_FAULTS if self.s3 else ())

    def inject(self, kind: str) -> str | None:
        """Inject one fault; a detail for the record, or None where it had nothing to hit."""
        d = self.driver
        if kind in DRIVER_FAULTS:
            d.ended_by = kind
            if kind == "driver SIGKILL":
                os.killpg(d.pid, signal.SIGKILL)
            elif kind == "driver SIGINT":
                os.killpg(d.pid, signal.SIGINT)
            elif kind == "driver SIGTERM":
                os.kill(d.pid, signal.SIGTERM)
            elif kind == "second signal":
                os.killpg(d.pid, signal.SIGINT)
                gap = self.rng.uniform(0.05, 2.0)
                time.sleep(gap)
                if d.proc.poll() is None:
                    os.kill(d.pid, signal.SIGTERM)
                    kind_detail = f"SIGTERM {gap:.2f} s after SIGINT"
                else:
                    kind_detail = f"stopped within {gap:.2f} s of SIGINT"
                self.wait_driver(d)
                self.start_driver(resumed=True)
                return kind_detail
            elif kind == "resume while stopping":
                os.kill(d.pid, signal.SIGTERM)
                self.start_driver(resumed=True)  # the old one is still saving its state
                return f"driver {len(self.drivers) - 1} started while {len(self.drivers) - 2} stops"
            self.wait_driver(d)
            self.start_driver(resumed=True)
            return None
        if kind == "seed actor SIGKILL":
            actors = self.seed_actors()
            if not actors:
                return None
            victim = self.rng.choice(actors)
            victim.kill()
            return f"pid {victim.pid}"
        if kind == "raylet kill":
            nodes = self.worker_raylets()
            if not nodes:
                return None
            raylet = self.rng.choice(nodes)
            with contextlib.suppress(Exception):
                for p in [*raylet.children(recursive=True), raylet]:
                    p.kill()
            # A cloud's autoscaler sees the instance gone and launches another; Ray's fake
            # provider never notices a node it started has died, and keeps counting it. So the
            # soak starts the node that replaces it, a few seconds on, as an instance boots.
            time.sleep(self.rng.uniform(1.0, 5.0))
            self.add_node()
            return f"raylet pid {raylet.pid}, a new node started"
        assert kind == "S3 outage" and self.s3 is not None
        down = self.rng.uniform(2.0, 8.0)
        self.s3.stop()
        time.sleep(down)
        self.s3.start()
        return f"down {down:.1f} s"

    def run(self) -> None:
        """The sweep from its first driver to one that exits 0, with the faults on the way."""
        self.start_driver(resumed=False)
        injected = 0
        while True:
            d = self.driver
            if injected < self.args.faults:
                delay = self.rng.uniform(self.args.min_gap, self.args.max_gap)
                kind = self.rng.choice(self.kinds())
                deadline = time.monotonic() + delay
                while time.monotonic() < deadline and d.proc.poll() is None:
                    time.sleep(0.05)
                if d.proc.poll() is None:
                    at = time.monotonic() - self.start_s
                    detail = self.inject(kind)
                    if detail is None and kind not in DRIVER_FAULTS:
                        continue  # nothing of that kind ran: draw again
                    injected += 1
                    self.faults.append({"at_s": round(at, 1), "kind": kind, "driver": len(
                        self.drivers) - 1 if kind not in DRIVER_FAULTS else len(self.drivers) - 2,
                        "detail": detail})
                    print(f"[{at:6.1f} s] fault {injected}/{self.args.faults}: {kind}"
                          + (f" ({detail})" if detail else ""), flush=True)
                    continue
            rc = self.wait_driver(d, timeout_s=1800)
            if rc == 0:
                return
            d.ended_by = d.ended_by or f"exit {rc} (no fault)"
            print(f"driver {len(self.drivers) - 1} exited {rc} unasked: resuming", flush=True)
            if len(self.drivers) > 4 * self.args.faults + 10:
                sys.exit("the sweep keeps failing: see " + str(d.log))
            time.sleep(1)
            self.start_driver(resumed=True)

    def close(self) -> None:
        """Every driver ended (SIGKILLed where the soak stops early), the cluster stopped."""
        try:
            for d in self.drivers:
                if d.proc.poll() is None:
                    self.wait_driver(d, timeout_s=300)
        finally:
            for d in self.drivers:
                if d.proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(d.pid, signal.SIGKILL)
            self.stop_cluster()


def _hog(cores: int) -> Any:
    """Start a busy loop per core; returns the function that ends them."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]

    def stop() -> None:
        for h in hogs:
            h.kill()
            h.wait()

    return stop


def _cmdline(p: Any) -> list[str]:
    try:
        return list(p.cmdline())
    except Exception:  # gone, or a zombie
        return []


# invariants ----------------------------------------------------------------------------------


def _params(row: Any) -> dict[str, Any]:
    """A trial's searched fields and seeds, as Tune gave them (its params.json)."""
    from a2c_ray.core import storage as st

    if row["trial_dir"] is None or not isinstance(row["trial_dir"], str):
        return {}
    uri = st.join(row["trial_dir"], "params.json")
    return json.loads(st.read_text(uri)) if st.exists(uri) else {}


def _check(name: str, problems: list[str], detail: str) -> dict[str, Any]:
    return {"invariant": name, "holds": not problems, "detail": detail,
            "problems": problems[:20]}


def check_trials(soak: Soak, plan: Any, trials: Any) -> dict[str, Any]:
    import optuna

    from a2c_ray.core.seeds import train_seeds
    from a2c_ray.results import tune_trial_states

    config = plan.config
    problems = []
    saved = tune_trial_states(soak.exp) or {}
    if len(saved) != config.num_samples:
        problems.append(f"Tune holds {len(saved)} trials, --num-samples is {config.num_samples}")
    study = optuna.load_study(study_name=plan.name, storage=plan.optuna_storage)
    marked = [t for t in study.trials if {"duplicate_of", "lost_at_restore"} & set(t.user_attrs)]
    ran = [t for t in study.trials if t not in marked]
    if len(ran) != config.num_samples:
        problems.append(f"the study holds {len(ran)} trials (and {len(marked)} marked), "
                        f"--num-samples is {config.num_samples}")
    problems += [f"study trial {t.number} marked but {t.state.name}" for t in marked
                 if t.state != optuna.trial.TrialState.FAIL]
    by_seeds = {tuple(train_seeds(config.seed, t.number, config.seeds_most)): t for t in ran}
    S = optuna.trial.TrialState
    for _, row in trials.iterrows():
        seeds = tuple(_params(row).get("seeds") or row["config/seeds"])
        study_trial = by_seeds.pop(seeds, None)
        if study_trial is None:
            problems.append(f"Tune trial {row['trial_id']} (seeds {seeds}) has no study trial")
            continue
        if row["status"] == "TERMINATED":
            full = row["env_steps"] >= config.max_steps or config.stopped_trials != "pruned"
            want = S.COMPLETE if full else S.PRUNED
        else:
            want = S.FAIL
        if study_trial.state != want:
            problems.append(f"Tune trial {row['trial_id']} {row['status']} at "
                            f"{row['env_steps']} env steps; study trial {study_trial.number} "
                            f"{study_trial.state.name}, not {want.name}")
    problems += [f"study trial {t.number} has no Tune trial" for t in by_seeds.values()]
    return _check("trials", problems, f"{len(saved)} in Tune, {len(ran)} in the study "
                  f"(+{len(marked)} marked FAIL)")


def check_seeds(trials: Any) -> dict[str, Any]:
    seen: dict[int, str] = {}
    problems = []
    for _, row in trials.iterrows():
        for s in _params(row).get("seeds") or row["config/seeds"]:
            if s in seen:
                problems.append(f"seed {s} in trials {seen[s]} and {row['trial_id']}")
            seen[s] = str(row["trial_id"])
    return _check("seeds", problems, f"{len(seen)} training seeds, each in one trial")


def check_rows(plan: Any, trials: Any) -> dict[str, Any]:
    import io

    import pandas as pd

    from a2c_ray.core import storage as st
    from a2c_ray.tuning.schedule import report_every

    problems, rows = [], 0
    every = report_every(plan.config)
    for _, row in trials.iterrows():
        trial_dir, name = row["trial_dir"], str(row["trial_id"])
        files = {e.name for e in st.list_dir(trial_dir)}
        if "result.json" not in files:
            if row["status"] == "TERMINATED":
                problems.append(f"{name}: finished without a result.json")
            continue
        lines = st.read_text(st.join(trial_dir, "result.json")).splitlines()
        try:
            steps = [int(json.loads(line)["env_steps"]) for line in lines if line.strip()]
        except (json.JSONDecodeError, KeyError) as err:
            problems.append(f"{name}: result.json has a broken row ({err})")
            continue
        rows += len(steps)
        batch = plan.trial_config({k: v for k, v in _params(row).items()
                                   if k != "seeds"}).batch_size
        widest = every + batch  # a report lands on the first batch at or past its step
        if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
            problems.append(f"{name}: result.json env steps not strictly increasing")
        gaps = [b - a for a, b in zip([0, *steps], steps, strict=False)]
        if gaps and max(gaps) > widest:
            problems.append(f"{name}: a gap of {max(gaps)} env steps in result.json (a report "
                            f"is at most {widest} apart)")
        if "progress.csv" in files:
            csv = pd.read_csv(io.StringIO(st.read_text(st.join(trial_dir, "progress.csv"))))
            if csv["env_steps"].astype(int).tolist() != steps:
                problems.append(f"{name}: progress.csv env steps differ from result.json's")
        else:
            problems.append(f"{name}: no progress.csv")
    return _check("rows", problems, f"{rows} rows in {len(trials)} trials, each env step once")


def reference_score(plan: Any, exp: str, params: dict[str, Any], env_steps: int) -> float:
    """The score of ``params`` (its seeds included) trained once, without faults, to
    ``env_steps``: the trial's own stepping and scoring (``tuning.trial``)."""
    from a2c_ray.run.lockstep import SeedGroup
    from a2c_ray.tuning.trial import (
        TrialSpec,
        evaluations,
        next_report,
        trial_configs,
        trial_metrics,
    )

    spec = TrialSpec.of(plan, exp)
    configs = trial_configs(params, spec)
    with SeedGroup(configs, spec.score_evals, None, evaluations(configs[0], spec)) as group:
        per_seed: list[dict[str, Any]] = []
        while group.env_steps < env_steps and not group.done:
            per_seed = group.run(next_report(group.env_steps, configs[0], spec))
    return float(trial_metrics(per_seed, spec.statistic)["score"])


def check_scores(soak: Soak, plan: Any, trials: Any, limit: int | None) -> dict[str, Any]:
    import ray
    import torch

    torch.set_num_threads(1)  # as every trial process has it
    finished = trials[trials["status"] == "TERMINATED"]
    if limit is not None:
        finished = finished.sample(n=min(limit, len(finished)), random_state=soak.args.seed)
    problems = []
    ray.init(address="local", num_cpus=2, include_dashboard=False, configure_logging=False,
             log_to_driver=False)
    try:
        for _, row in finished.iterrows():
            want = reference_score(plan, soak.exp, _params(row), int(row["env_steps"]))
            got = float(row["score"])
            if not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9):
                problems.append(f"{row['trial_id']}: score {got!r} at {row['env_steps']} env "
                                f"steps, {want!r} without faults")
    finally:
        ray.shutdown()
    return _check("scores", problems, f"{len(finished)} finished trials against fault-free "
                  "runs of their configuration and seeds")


def check_summary(soak: Soak, plan: Any, trials: Any) -> dict[str, Any]:
    from a2c_ray.core import storage as st
    from a2c_ray.results import ranked, sweep_summary

    problems = []
    summary = sweep_summary(soak.exp) or {}
    best = ranked(trials, plan.metric, plan.mode)
    if best.empty:
        problems.append("no trial with a score")
    elif str(best.iloc[0]["trial_id"]) != summary.get("best_trial_id"):
        problems.append(f"summary.json's best is {summary.get('best_trial_id')}, the readers' "
                        f"{best.iloc[0]['trial_id']}")
    if summary.get("num_trials") != plan.config.num_samples:
        problems.append(f"summary.json counts {summary.get('num_trials')} trials")
    best_config = json.loads(st.read_text(st.join(soak.exp, "best_config.json")))
    if best_config != (summary.get("confirmed_best_config") or summary.get("best_config")):
        problems.append("best_config.json is not summary.json's best configuration")
    return _check("summary", problems, f"best trial {summary.get('best_trial_id')}")


def check_drivers(soak: Soak) -> dict[str, Any]:
    problems = []
    for i, d in enumerate(soak.drivers):
        rc, text = d.proc.returncode, d.log.read_text()
        if i == len(soak.drivers) - 1:
            ok = rc == 0
        else:
            ok = d.ended_by in EXPECTED_EXIT and rc in EXPECTED_EXIT[d.ended_by] | {0}
            # the second signal (SIGTERM) where the driver had no handler of its own: still
            # importing, before Ray was up, or late in the interpreter's exit after the clean
            # stop had ended, whose finalisation gives SIGTERM back to the default
            ok = ok or (d.ended_by == "second signal" and rc == -signal.SIGTERM and (
                "Connected to Ray cluster" not in text or "\ninterrupted: " in text))
        if not ok:
            tail = text[-600:].strip().replace("\n", " | ")
            problems.append(f"driver {i} ({d.ended_by or 'no fault'}) exited {rc}: {tail}")
    return _check("drivers", problems, f"{len(soak.drivers)} drivers")


def invariants(soak: Soak, score_limit: int | None) -> list[dict[str, Any]]:
    from a2c_ray.core import storage as st
    from a2c_ray.results import load_trials
    from a2c_ray.tuning.config import SweepPlan

    plan = SweepPlan.from_json(json.loads(st.read_text(st.join(soak.exp, "sweep.json"))))
    trials = load_trials(soak.exp)
    return [check_trials(soak, plan, trials), check_seeds(trials), check_rows(plan, trials),
            check_scores(soak, plan, trials, score_limit), check_summary(soak, plan, trials),
            check_drivers(soak)]


def summarize(paths: list[Path]) -> str:
    """The records as one Markdown table: a row per soak, its faults and its invariants."""
    records = [json.loads(path.read_text()) for path in paths]
    kinds = [k for k in DRIVER_FAULTS + CLUSTER_FAULTS + S3_FAULTS
             if any(k in r["faults_by_kind"] for r in records)]
    names = [c["invariant"] for c in records[0]["invariants"]] if records else []
    lines = ["| storage | seed | faults | " + " | ".join(kinds) + " | drivers | sweep | with "
             "the checks | " + " | ".join(names) + " |",
             "| --- | ---: | ---: | " + " | ".join("---:" for _ in kinds) + " | ---: | ---: | "
             "---: | " + " | ".join("---" for _ in names) + " |"]
    for r in records:
        held = {c["invariant"]: "holds" if c["holds"] else "**fails**" for c in r["invariants"]}
        lines.append(
            f"| {r['settings']['storage']} | {r['settings']['seed']} | {len(r['faults'])} | "
            + " | ".join(str(r["faults_by_kind"].get(k, 0)) for k in kinds)
            + f" | {r['drivers']} | {r['sweep_s']:.0f} s | {r['wall_s']:.0f} s | "
            + " | ".join(held.get(n, "") for n in names) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the soak, print the faults and the invariants, write the record."""
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--summarize"]:  # python -m benchmarks.faults.fault_soak --summarize RECORD...
        print(summarize([Path(a) for a in argv[1:]]))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--faults", type=int, default=30, help="faults to inject")
    p.add_argument("--seed", type=int, default=0, help="draws the faults, their moments and "
                   "the sweep's own seed")
    p.add_argument("--storage", choices=("local", "s3"), default="local")
    p.add_argument("--num-samples", type=int, default=24)
    p.add_argument("--max-steps", type=int, default=8192, help="each trial's budget")
    p.add_argument("--min-gap", type=float, default=2.0, help="seconds between faults, least")
    p.add_argument("--max-gap", type=float, default=12.0, help="seconds between faults, most")
    p.add_argument("--score-checks", type=int, default=None,
                   help="finished trials retrained for the score check (default: all)")
    p.add_argument("--cpu-hog", type=int, nargs="?", const=os.cpu_count() or 1, default=0,
                   metavar="N", help="busy processes beside the sweep, as on a shared machine "
                   "(the flag alone: one per core)")
    p.add_argument("--min-workers", type=int, default=0, choices=(0, 1, 2),
                   help="worker nodes the autoscaler starts at once (cluster/local.yaml's "
                   "min_workers; 0: as trials queue, as the cluster guide has it)")
    p.add_argument("--name", default="soak")
    p.add_argument("--workdir", type=Path, default=None,
                   help="where the sweep, its logs and HOME go (default: a temporary one)")
    p.add_argument("--json", type=Path, default=None, help="write the record here")
    a = p.parse_args(argv)
    if a.faults < 0 or a.num_samples < 1 or a.cpu_hog < 0 or not 0 < a.min_gap <= a.max_gap:
        p.error("--faults >= 0, --num-samples >= 1, --cpu-hog >= 0 and 0 < --min-gap <= "
                "--max-gap")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the cluster on the way out
    with contextlib.ExitStack() as stack:
        workdir = a.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(
            prefix="fault_soak_")))
        workdir.mkdir(parents=True, exist_ok=True)
        soak = Soak(a, workdir)
        if a.cpu_hog:
            stack.callback(_hog(a.cpu_hog))
        begin = time.monotonic()
        soak.start_cluster()
        try:
            soak.run()
        except BaseException:
            for d in soak.drivers:  # the soak stopped early: nothing to wait for
                if d.proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(d.pid, signal.SIGKILL)
            raise
        finally:
            soak.close()
        sweep_s = time.monotonic() - begin
        checks = invariants(soak, a.score_checks)
        wall_s = time.monotonic() - begin
        if soak.s3 is not None:
            soak.s3.stop()
    kinds: dict[str, int] = {}
    for f in soak.faults:
        kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
    print(f"\n{len(soak.faults)} faults on {a.storage} storage, {len(soak.drivers)} drivers, "
          f"sweep {sweep_s:.0f} s, with the checks {wall_s:.0f} s")
    print("| fault | times |\n| --- | ---: |")
    for kind in soak.kinds():
        print(f"| {kind} | {kinds.get(kind, 0)} |")
    print("\n| invariant | holds | detail |\n| --- | --- | --- |")
    for c in checks:
        print(f"| {c['invariant']} | {'yes' if c['holds'] else 'NO'} | {c['detail']} |")
        for problem in c["problems"]:
            print(f"    {problem}")
    record = {"settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()},
              "faults": soak.faults, "faults_by_kind": kinds, "drivers": len(soak.drivers),
              "sweep_s": round(sweep_s, 1), "wall_s": round(wall_s, 1), "invariants": checks,
              "cpus": os.cpu_count(), "platform": platform.platform()}
    if a.json is not None:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(record, indent=2))
        print(f"wrote {a.json}")
    return 0 if all(c["holds"] for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
