"""Tuner against tuner: a2c_ray's sweep and rl-baselines3-zoo's optimizer at equal env steps.

    python -m benchmarks.returns.peer_sweep --env Acrobot-v1 --trial-steps 100000
    python -m benchmarks.returns.peer_sweep --env HalfCheetah-v5 --trial-steps 300000
    python -m benchmarks.returns.peer_sweep --env Acrobot-v1 --report

For one env, a trial budget T and a tuning budget B = ``--trials-worth`` x T training env steps
(33 by default), each tuning procedure runs as a whole, ``--tuner-seeds`` times with different
tuner seeds; its own pick is then trained with its own library on the ``--test-seeds`` (10,020
on), which no procedure used, at T steps:

- ``a2c_ray``: ``python -m a2c_ray.tune`` with its defaults (3 seeds a trial, TPE, ASHA with
  grace T/10 and factor 3, the top 3 re-trained on 5 validation seeds), ``--max-steps T`` and
  ``--num-samples`` set so that the expected search steps plus the validation's 15 T come to B
  (``a2c_ray_samples``); its pick is ``best_config.json``, trained with ``python -m
  a2c_ray.train --config``;
- ``a2c_ray-budget``: the same sweep held to B by its own ``--budget-steps B`` (the search
  stops starting trials once its trials have trained B less the validation's share), with
  ``--num-samples`` three times the above as an upper bound only: ``a2c_ray`` overspent B by
  15 to 64% on Acrobot-v1, since asynchronous ASHA passes more trials than the arithmetic;
- ``a2c_ray-noval``: ``a2c_ray-budget`` with no validation (``--confirm-top 0``): the search
  spends all of B and its best trial on the training seeds is the pick. The repick rows
  (``--repick search``) found the validation's picks no better than the search's best; this row
  asks whether the 15 T the validation costs buy more as search;
- ``a2c_ray-random``: ``a2c_ray`` with ``--sampler random`` (is TPE worth it here?);
- ``a2c_ray-space``: ``a2c_ray`` with ``--search-space`` the default space fitted to the trial
  budget (``budget_fitted_space``): no ``rollout_length`` so long that a trial on the fewest
  envs makes fewer than ``MIN_UPDATES_AT_GRACE`` updates before ASHA's first rung. On
  HalfCheetah-v5 at 300k, ``rollout_length`` 1000 (12 to 19 updates a trial on 16 or 25 envs)
  took 24% and 47% of two searches' env steps and never learned: is that what holds the
  default back at small trial budgets?
- ``zoo``: rl-baselines3-zoo's ``python -m rl_zoo3.train --algo a2c -optimize`` with its TPE
  sampler, median pruner, A2C sampler and evaluation, the zoo's hyperparameters for the env
  (for a ``-v5`` MuJoCo env its ``-v4`` entry, which the zoo has not renamed), ``--n-jobs 2``
  as the zoo's README example runs it (two trials at once, one a core here), and
  ``--max-total-trials`` raised until its trials' training env steps come to B
  (``zoo_trial_steps`` counts them from the study); its pick is the study's best trial,
  trained with ``python -m rl_zoo3.train`` from a hyperparameter file holding the zoo's entry
  and that trial's parameters, as a zoo user copies them;
- untuned rows on the same seeds: a2c_ray's defaults (``python -m a2c_ray.train`` with no
  config), Stable-Baselines3's A2C defaults (``policy: MlpPolicy`` alone) and the zoo's
  published hyperparameters for the env, the last two trained with ``rl_zoo3.train``.

Every test run is evaluated alike: ``--eval-episodes`` deterministic episodes on fresh envs,
episode k reset with seed + 1,000,003 + k, observation statistics frozen, raw rewards (a2c_ray's
own final evaluation; for SB3, ``benchmarks.returns.sb3_a2c.evaluate`` on the saved model and
VecNormalize statistics). Each unit records its env steps (training, evaluation apart), its
wall time and the machine's mean 1-minute load while it ran.

Resumable: a finished unit is in the record (``WORK/<env>/record.json``) and skipped; a killed
a2c_ray sweep continues with ``--resume``; a killed zoo study marks its running trials FAIL
and continues with the trials it lacks; an unfinished test run starts again. The record is
written after every unit, so the results land in parts. ``--pack FILE`` puts an unfinished
run in one file and ``--unpack FILE`` back in a work directory on another machine.
``--report`` prints the README table from the record alone.

``--repick RULE`` asks what another rule would have picked, at no tuning cost: for each a2c_ray
tuning run of ``--rows`` in the record, the candidate its validation ranks first by the statistic
RULE over the validation seeds (``core.scores.rank_by``; the sweep ranks by the mean), or with
RULE ``search`` the search's own best trial, as if there were no validation (what the
validation's share of B buys). A pick that differs is trained on the test seeds as the row
``PROCEDURE@RULE``, or its test runs copied where another row trained the same configuration
(a2c_ray's runs are exact); one that does not keeps the run's own test figures. The evidence
(the validation's returns, or the search's score) goes into the record beside it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from a2c_ray.cli import Parser, fail
from a2c_ray.core.config import EVAL_SEED_OFFSET
from a2c_ray.core.rungs import asha_milestones, seeds_after
from a2c_ray.core.scores import STATISTICS, interval, rank_by, seed_stats

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
TEST_SEED_START = 10_020  # test seeds no other benchmark or procedure uses
TUNERS = ("a2c_ray", "zoo", "a2c_ray-budget", "a2c_ray-noval", "a2c_ray-random", "a2c_ray-space")
UNTUNED = ("a2c_ray-defaults", "sb3-defaults", "zoo-published")
# --repick: a validation ranked by another statistic, or none ("search": the search's best trial
# by its score on the training seeds, as the sweep would pick without a validation)
REPICKS = (*(s for s in STATISTICS if s != "mean"), "search")
ROWS = TUNERS + UNTUNED
ZOO_JOBS = 2
# a2c_ray's sweep defaults the sample count is derived from (SweepConfig): 3 seeds a trial,
# grace a tenth of the budget, factor 3, the top 3 re-trained on 5 validation seeds
A2C_SEEDS, A2C_GRACE_SHARE, A2C_FACTOR, A2C_CONFIRM = (3,), 0.1, 3.0, 3 * 5
MIN_UPDATES_AT_GRACE = 10  # a2c_ray-space: updates a trial makes at least before the first rung


def a2c_ray_expected_steps(trial_steps: int, seeds: tuple[int, ...] = A2C_SEEDS,
                           grace_share: float = A2C_GRACE_SHARE,
                           factor: float = A2C_FACTOR) -> float:
    """Expected training env steps of one a2c_ray trial under ASHA, all its seeds together.

    Successive halving's arithmetic: a trial goes past its k-th rung with chance factor**-k,
    with the seeds it has there (``core.rungs.seeds_after``). Ray's asynchronous ASHA lets
    more trials on while its rungs are thin, so a sweep spends somewhat more; the record
    keeps what it spent.
    """
    milestones = asha_milestones(max(1, round(trial_steps * grace_share)), trial_steps, factor)
    edges = [0.0, *milestones, float(trial_steps)]
    total = 0.0
    for k in range(len(edges) - 1):
        held = seeds_after(edges[k], milestones, seeds)
        total += factor ** -k * held * (edges[k + 1] - edges[k])
    return total


def a2c_ray_samples(trial_steps: int, budget: int) -> int:
    """``--num-samples`` whose expected search steps and the validation fill ``budget``."""
    search = budget - A2C_CONFIRM * trial_steps
    return max(1, round(search / a2c_ray_expected_steps(trial_steps)))


def budget_fitted_space(env: str, trial_steps: int,
                        grace_share: float = A2C_GRACE_SHARE) -> dict[str, Any]:
    """a2c_ray's default search space for ``env`` with the rollouts a trial budget cannot use.

    The space the sweep itself searches for the env (``tuning.plan.fit_space``: no Box-only
    fields for other actions), less every ``rollout_length`` of which one rollout on the
    fewest envs the space offers is more than the first rung's steps over
    ``MIN_UPDATES_AT_GRACE``: at 300k env steps a trial (first rung 30k, 4 envs at fewest),
    1000 goes and 128 stays; at 1M, 1000 stays.
    """
    import gymnasium as gym

    from a2c_ray.core.config import A2CConfig
    from a2c_ray.tuning.plan import fewest_envs, fit_space
    from a2c_ray.tuning.space import load_search_space

    base = A2CConfig(env_id=env).to_dict()
    made = gym.make(env)
    try:
        space, _ = fit_space(load_search_space(), None, base, made.action_space)
    finally:
        made.close()
    envs, workers = fewest_envs(space, base)
    longest = grace_share * trial_steps / MIN_UPDATES_AT_GRACE / (envs * workers)
    rollouts = space.get("rollout_length")
    if rollouts is None or rollouts["type"] != "categorical":
        return space
    kept = [v for v in rollouts["values"] if v <= longest]
    if not kept:
        raise ValueError(f"no rollout_length of {rollouts['values']} fits {trial_steps:,} env "
                         f"steps a trial (at most {longest:.3g} on {envs} envs)")
    return {**space, "rollout_length": {**rollouts, "values": kept}}


# ---------------------------------------------------------------------------------------------
# the zoo's side


def zoo_entry(env: str) -> tuple[dict[str, Any], str]:
    """The zoo's A2C hyperparameters for ``env`` and where they came from.

    The zoo 2.9.2 has MuJoCo entries for ``-v4`` only; a ``-v5`` env takes its ``-v4`` entry.
    """
    import rl_zoo3
    import yaml

    table = yaml.safe_load((Path(rl_zoo3.__file__).parent / "hyperparams" / "a2c.yml").read_text())
    if env in table:
        return dict(table[env]), env
    if env.endswith("-v5") and env[:-1] + "4" in table:
        return dict(table[env[:-1] + "4"]), env[:-1] + "4"
    fail(f"--env {env}: rl-baselines3-zoo 2.9.2 has no A2C hyperparameters for it (nor a -v4 "
         "entry for a -v5 env); choose an env of its hyperparams/a2c.yml")
    raise AssertionError


def zoo_conf(env: str, entry: dict[str, Any], path: Path) -> Path:
    """A zoo hyperparameter file holding ``entry`` for ``env`` (``-conf``)."""
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({env: entry}, sort_keys=True))
    return path


def zoo_pick_entry(entry: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The zoo's entry with a trial's parameters, as the zoo's objective builds its model.

    The parameters go through the zoo's own converter (``convert_onpolicy_params``); the
    policy's keyword arguments are written as the Python text the zoo evaluates.
    """
    from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER

    converted = HYPERPARAMS_CONVERTER["a2c"](dict(params))
    kwargs = converted.pop("policy_kwargs")
    text = (f"dict(net_arch={kwargs['net_arch']!r}, "
            f"activation_fn=nn.{kwargs['activation_fn'].__name__})")
    plain = {k: (v.item() if hasattr(v, "item") else v) for k, v in converted.items()}
    return {**entry, **plain, "policy_kwargs": text}


def zoo_trial_steps(trial: Any, trial_steps: int, n_envs: int) -> tuple[int, bool]:
    """Training env steps of one finished zoo trial, and whether that is an upper bound.

    The zoo evaluates every ``int(T / n_evaluations) // n_envs`` vector steps (one evaluation
    per 100k steps) and stops a pruned trial at the evaluation that pruned it; a complete
    trial trains whole rollouts of ``n_steps * n_envs`` until it has ``T``. A trial the zoo
    pruned for a NaN has no such record and counts as ``T`` (the bound).
    """
    from optuna.trial import TrialState

    n_eval = max(1, trial_steps // 100_000)
    every = max(int(trial_steps / n_eval) // n_envs, 1) * n_envs
    rollout = int(trial.params["n_steps"]) * n_envs
    whole = math.ceil(trial_steps / rollout) * rollout
    if trial.state == TrialState.COMPLETE:
        return whole, False
    reported = len(trial.intermediate_values)
    if trial.state == TrialState.PRUNED and reported and reported < n_eval:
        return reported * every, False
    if trial.state == TrialState.PRUNED and reported == n_eval:
        return whole, False  # pruned at its last evaluation: it trained the whole budget
    return trial_steps, True


def zoo_study_steps(storage: str, study: str, trial_steps: int, n_envs: int) -> dict[str, Any]:
    """The zoo study's trials counted: states, training env steps, evaluation episodes."""
    import optuna

    s = optuna.load_study(study_name=study, storage=storage)
    steps, bounded, states = 0, 0, {}
    episodes = 0
    for t in s.trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
        if t.state.name in ("COMPLETE", "PRUNED"):
            # a FAIL is a trial a killed process left running (zoo_fail_running): its partial
            # training informs nothing, and counts as no steps
            n, bound = zoo_trial_steps(t, trial_steps, n_envs)
            steps += n
            bounded += bound
            episodes += 5 * len(t.intermediate_values)  # the zoo's --eval-episodes 5
    return {"train_env_steps": steps, "trials_by_state": states, "nan_bounded": bounded,
            "eval_episodes": episodes}


def zoo_fail_running(storage: str, study: str) -> int:
    """Mark trials a killed zoo process left RUNNING as FAIL; how many."""
    import optuna
    from optuna.trial import TrialState

    try:
        s = optuna.load_study(study_name=study, storage=storage)
    except KeyError:
        return 0
    stale = [t for t in s.trials if t.state == TrialState.RUNNING]
    for t in stale:
        s._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
    return len(stale)


def zoo_best(storage: str, study: str) -> dict[str, Any]:
    """The study's best trial, as the zoo reports it at the end of ``-optimize``."""
    import optuna

    best = optuna.load_study(study_name=study, storage=storage).best_trial
    return {"number": best.number, "value": best.value, "params": best.params}


# ---------------------------------------------------------------------------------------------
# running things


class Load:
    """The machine's mean 1-minute load average over a block, sampled every ``every`` s."""

    def __init__(self, every: float = 15.0) -> None:
        self.every, self.samples = every, []
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(os.getloadavg()[0])

    @contextmanager
    def measure(self) -> Iterator[Load]:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()

    @property
    def mean(self) -> float:
        return float(np.mean(self.samples)) if self.samples else os.getloadavg()[0]


def run(cmd: list[str], log: Path) -> float:
    """Run ``cmd`` with its output in ``log``; its wall time. A failure stops the benchmark."""
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT)
    if code:
        tail = log.read_text().splitlines()[-15:]
        raise RuntimeError(f"{' '.join(cmd)} exited {code}; the end of {log}:\n" + "\n".join(tail))
    return time.perf_counter() - start


class Bench:
    """One env's side-by-side in a work directory, and its record."""

    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.env, self.T = a.env, a.trial_steps
        self.B = a.trials_worth * a.trial_steps
        self.dir = Path(a.work_dir).expanduser().resolve() / a.env
        self.path = self.dir / "record.json"
        self.test_seeds = list(range(a.test_seed_start, a.test_seed_start + a.test_seeds))
        self.lock = threading.Lock()
        self.record = self._load()

    def _load(self) -> dict[str, Any]:
        if self.path.exists():
            record = json.loads(self.path.read_text())
            asked = {"trial_steps": self.T, "budget_steps": self.B,
                     "test_seeds": self.test_seeds, "eval_episodes": self.a.eval_episodes}
            for key, value in asked.items():
                if record[key] != value:
                    fail(f"{self.path} was made with {key} {record[key]}, not {value}: use "
                         "another --work-dir, or the same flags")
            return record
        import gymnasium
        import optuna
        import ray
        import rl_zoo3
        import stable_baselines3
        import torch

        return {"env": self.env, "trial_steps": self.T, "budget_steps": self.B,
                "trials_worth": self.a.trials_worth, "test_seeds": self.test_seeds,
                "eval_episodes": self.a.eval_episodes,
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                            "processor": platform.processor() or platform.machine()},
                "versions": {"a2c_ray": _git_commit(), "rl_zoo3": rl_zoo3.__version__,
                             "stable_baselines3": stable_baselines3.__version__,
                             "ray": ray.__version__, "optuna": optuna.__version__,
                             "torch": torch.__version__, "gymnasium": gymnasium.__version__},
                "tuning": [], "tests": []}

    def save(self) -> None:
        with self.lock:
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.record, indent=1))
            tmp.replace(self.path)

    def tuning(self, procedure: str, seed: int) -> dict[str, Any] | None:
        return next((u for u in self.record["tuning"]
                     if u["procedure"] == procedure and u["tuner_seed"] == seed), None)

    def test(self, row: str, tuner_seed: int | None, seed: int) -> dict[str, Any] | None:
        return next((u for u in self.record["tests"] if u["row"] == row
                     and u["tuner_seed"] == tuner_seed and u["seed"] == seed), None)

    # -- tuning runs -----------------------------------------------------------------------

    def a2c_ray_command(self, procedure: str, seed: int, resume: bool = False) -> list[str]:
        """The ``a2c_ray.tune`` command of one a2c_ray tuning run, or of its resume.

        A resumed sweep keeps the search space it started with (``--search-space`` is for a
        new sweep only).
        """
        store = self.dir / "tuning"
        name = f"{procedure}_s{seed}"
        samples = a2c_ray_samples(self.T, self.B)
        cmd = [sys.executable, "-m", "a2c_ray.tune", "--env", self.env, "--max-steps",
               str(self.T), "--num-samples", str(samples), "--seed", str(seed),
               "--storage-path", str(store), "--name", name]
        if procedure == "a2c_ray-random":
            cmd += ["--sampler", "random"]
        if procedure == "a2c_ray-budget":
            cmd[cmd.index("--num-samples") + 1] = str(3 * samples)
            cmd += ["--budget-steps", str(self.B)]
        if procedure == "a2c_ray-noval":  # the search spends all of B; its best is the pick
            whole = max(1, round(self.B / a2c_ray_expected_steps(self.T)))
            cmd[cmd.index("--num-samples") + 1] = str(3 * whole)
            cmd += ["--budget-steps", str(self.B), "--confirm-top", "0"]
        if resume:
            cmd.append("--resume")
        elif procedure == "a2c_ray-space":
            space = store / f"{name}_space.json"
            if not space.exists():  # a resumed run's file stays the one its sweep searched
                space.parent.mkdir(parents=True, exist_ok=True)
                space.write_text(json.dumps(budget_fitted_space(self.env, self.T), indent=1))
            cmd += ["--search-space", str(space)]
        return cmd

    def tune_a2c_ray(self, procedure: str, seed: int) -> dict[str, Any]:
        name = f"{procedure}_s{seed}"
        store = self.dir / "tuning"
        exp = store / name
        resume = (exp / "sweep.json").exists()
        cmd = self.a2c_ray_command(procedure, seed)  # the record's: the new sweep's command
        attempts = self._attempts(store / f"{name}_attempts")
        self._attempt(store / f"{name}_attempts", attempts,
                      self.a2c_ray_command(procedure, seed, resume=True) if resume else cmd,
                      self.dir / "logs" / f"{name}.log", resumed=resume)
        if not (exp / "best_config.json").exists():
            raise RuntimeError(f"{exp}: the sweep ended without best_config.json")
        from a2c_ray.results import load_curves

        def steps(where: Path) -> Any:  # each trial's and seed's env steps, each counted once
            return load_curves(str(where)).groupby(["trial_id", "seed"])["env_steps"].max()

        search = steps(exp)
        confirm = steps(exp / "confirm") if (exp / "confirm").is_dir() else search.iloc[:0]
        summary = json.loads((exp / "summary.json").read_text())
        pick = json.loads((exp / "best_config.json").read_text())
        return {"procedure": procedure, "tuner_seed": seed, "command": " ".join(cmd[1:]),
                "num_samples": int(cmd[cmd.index("--num-samples") + 1]),
                "trials": int(summary["num_trials"]),
                "search_env_steps": int(search.sum()), "validation_env_steps": int(confirm.sum()),
                "train_env_steps": int(search.sum() + confirm.sum()),
                **_walls(attempts), "pick": pick,
                "pick_trial": summary.get("confirmed_best_trial_id", summary["best_trial_id"])}

    def tune_zoo(self, seed: int) -> dict[str, Any]:
        name = f"zoo_s{seed}"
        where = self.dir / "tuning" / name
        where.mkdir(parents=True, exist_ok=True)
        storage = f"sqlite:///{where / 'study.db'}"
        entry, source = zoo_entry(self.env)
        conf = [] if source == self.env else ["-conf", str(zoo_conf(self.env, entry,
                                                                     where / "a2c.yml"))]
        n_envs = int(entry.get("n_envs", 1))
        attempts = self._attempts(where)
        trials = self.a.trials_worth
        while True:
            counted = zoo_study_steps(storage, name, self.T, n_envs) if attempts else None
            if counted is not None:
                used = counted["train_env_steps"]
                done = sum(counted["trials_by_state"].get(s, 0) for s in ("COMPLETE", "PRUNED"))
                if used + self.T / 2 >= self.B:
                    break
                trials = done + math.ceil((self.B - used) / self.T)
            stale = zoo_fail_running(storage, name)
            # a new tuner seed for every launch: the zoo seeds its TPE sampler with --seed, and
            # a relaunch with the same seed would draw its first trials again
            launch_seed = seed + 1000 * len(attempts)
            cmd = [sys.executable, "-m", "rl_zoo3.train", "--algo", "a2c", "--env", self.env,
                   "-n", str(self.T), "-optimize", "--n-jobs", str(ZOO_JOBS), "--sampler", "tpe",
                   "--pruner", "median", "--storage", storage, "--study-name", name,
                   "--max-total-trials", str(trials), "--seed", str(launch_seed),
                   "-f", str(where / "logs"), "--no-optim-plots", *conf]
            self._attempt(where, attempts, cmd, self.dir / "logs" / f"{name}.log",
                          max_total_trials=trials, seed=launch_seed, stale_trials_failed=stale)
        best = zoo_best(storage, name)
        return {"procedure": "zoo", "tuner_seed": seed, "command": attempts[0]["command"],
                "hyperparams_from": source, "trials": sum(counted["trials_by_state"].values()),
                **counted, **_walls(attempts), "pick": zoo_pick_entry(entry, best["params"]),
                "pick_trial": best["number"], "pick_value": best["value"]}

    @staticmethod
    def _attempts(where: Path) -> list[dict[str, Any]]:
        """The runs of a tuning unit so far; one that was killed lasted until its log's end."""
        path = where / "attempts.json"
        attempts = json.loads(path.read_text()) if path.exists() else []
        for at in attempts:
            if "wall_s" not in at:
                end = Path(at["log"]).stat().st_mtime if Path(at["log"]).exists() else at["start"]
                at.update(wall_s=end - at["start"], load1_mean=math.nan, killed=True)
        return attempts

    def _attempt(self, where: Path, attempts: list[dict[str, Any]], cmd: list[str],
                 log: Path, **info: Any) -> None:
        """Run one attempt of a tuning unit, its start saved first, its wall time after."""
        at = {"start": time.time(), "log": str(log), "command": " ".join(cmd[1:]), **info}
        attempts.append(at)
        self._save_attempts(where, attempts)
        with Load().measure() as load:
            at["wall_s"] = run(cmd, log)
        at["load1_mean"] = load.mean
        self._save_attempts(where, attempts)

    @staticmethod
    def _save_attempts(where: Path, attempts: list[dict[str, Any]]) -> None:
        where.mkdir(parents=True, exist_ok=True)
        (where / "attempts.json").write_text(json.dumps(attempts, indent=1))

    # -- test runs -------------------------------------------------------------------------

    def train_a2c_ray(self, out: Path, seed: int, config: Path | None) -> dict[str, Any]:
        shutil.rmtree(out, ignore_errors=True)
        cmd = [sys.executable, "-m", "a2c_ray.train", "--max-steps", str(self.T), "--seed",
               str(seed), "--out", str(out), "--progress", "log",
               "--set", f"eval_episodes={self.a.eval_episodes}"]
        cmd += ["--config", str(config)] if config else ["--env", self.env]
        wall = run(cmd, out.parent / f"{out.name}.log")
        summary = json.loads((out / "summary.json").read_text())
        return {"return": summary["eval_return_mean"], "env_steps": summary["env_steps"],
                "wall_s": wall}

    def train_zoo(self, out: Path, seed: int, entry: dict[str, Any] | None) -> dict[str, Any]:
        """Train with ``rl_zoo3.train`` (the zoo's own file where ``entry`` is None)."""
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        conf: list[str] = []
        if entry is None:
            entry, source = zoo_entry(self.env)
            if source != self.env:
                conf = ["-conf", str(zoo_conf(self.env, entry, out / "a2c.yml"))]
        else:
            conf = ["-conf", str(zoo_conf(self.env, entry, out / "a2c.yml"))]
        cmd = [sys.executable, "-m", "rl_zoo3.train", "--algo", "a2c", "--env", self.env,
               "-n", str(self.T), "--seed", str(seed), "--eval-freq", "-1", "-f", str(out),
               "--num-threads", "1", "--log-interval", "-2", *conf]
        wall = run(cmd, out.parent / f"{out.name}.log")
        ret, steps = evaluate_zoo_run(out, self.env, self.a.eval_episodes,
                                      seed + EVAL_SEED_OFFSET)
        return {"return": ret, "env_steps": steps, "wall_s": wall}

    def test_runs(self, row: str, tuner_seed: int | None, one: Callable[[Path, int], dict]) -> None:
        where = self.dir / "test" / (row if tuner_seed is None else f"{row}_s{tuner_seed}")
        todo = [s for s in self.test_seeds if self.test(row, tuner_seed, s) is None]

        def go(seed: int) -> None:
            with Load().measure() as load:
                result = one(where / f"seed_{seed}", seed)
            with self.lock:
                self.record["tests"].append({"row": row, "tuner_seed": tuner_seed, "seed": seed,
                                             **result, "load1_mean": load.mean})
            self.save()
            print(f"  {row} {'' if tuner_seed is None else f's{tuner_seed} '}seed {seed}: "
                  f"{result['return']:.1f} ({result['env_steps']} steps, {result['wall_s']:.0f} s)",
                  flush=True)

        with ThreadPoolExecutor(self.a.jobs) as pool:
            for f in [pool.submit(go, s) for s in todo]:
                f.result()

    # -- the whole ------------------------------------------------------------------------

    def run_all(self, rows: list[str]) -> None:
        for seed in self.a.tuner_seeds:
            for procedure in [p for p in TUNERS if p in rows]:
                unit = self.tuning(procedure, seed)
                if unit is None:
                    print(f"{self.env}: tuning {procedure} s{seed}", flush=True)
                    unit = (self.tune_zoo(seed) if procedure == "zoo"
                            else self.tune_a2c_ray(procedure, seed))
                    self.record["tuning"].append(unit)
                    self.save()
                    print(f"  {unit['train_env_steps']:,} env steps, {unit['wall_s']:.0f} s",
                          flush=True)
                self.test_runs(procedure, seed, self._pick_runner(unit))
            if seed == self.a.tuner_seeds[0]:
                self.untuned([r for r in UNTUNED if r in rows])

    def untuned(self, rows: list[str]) -> None:
        runners = {"a2c_ray-defaults": lambda out, s: self.train_a2c_ray(out, s, None),
                   "sb3-defaults": lambda out, s: self.train_zoo(
                            out, s, {"policy": "MlpPolicy", "n_timesteps": self.T}),
                   "zoo-published": lambda out, s: self.train_zoo(out, s, None)}
        for row in rows:
            self.test_runs(row, None, runners[row])

    def _pick_runner(self, unit: dict[str, Any]) -> Callable[[Path, int], dict]:
        if unit["procedure"] == "zoo":
            return lambda out, s: self.train_zoo(out, s, unit["pick"])
        config = self.dir / "tuning" / f"{unit['procedure']}_s{unit['tuner_seed']}_pick.json"
        config.write_text(json.dumps(unit["pick"], indent=1))
        return lambda out, s: self.train_a2c_ray(out, s, config)

    def repick(self, rows: list[str], rule: str) -> None:
        """Every a2c_ray run's pick under another rule (``REPICKS``); see the module."""
        self.record.setdefault("repicks", [])
        for unit in self.record["tuning"]:
            procedure, seed = unit["procedure"], unit["tuner_seed"]
            if procedure == "zoo" or procedure not in rows or seed not in self.a.tuner_seeds:
                continue
            entry = next((r for r in self.record["repicks"] if r["procedure"] == procedure
                          and r["tuner_seed"] == seed and r["statistic"] == rule), None)
            if entry is None:
                entry = self._repick_entry(unit, rule)
                self.record["repicks"].append(entry)
                self.save()
            print(f"{self.env}: {procedure} s{seed} picked by {rule}: trial "
                  f"{entry['pick_trial']}{' (its own pick)' if entry['same'] else ''}", flush=True)
            if entry["same"]:
                continue
            row = f"{procedure}@{rule}"
            if self._reuse_tests(row, seed, entry["pick"]):
                continue
            config = self.dir / "tuning" / f"{procedure}_s{seed}_pick_{rule}.json"
            config.write_text(json.dumps(entry["pick"], indent=1))
            self.test_runs(row, seed, lambda out, s, c=config: self.train_a2c_ray(out, s, c))

    def _repick_entry(self, unit: dict[str, Any], rule: str) -> dict[str, Any]:
        """The record of one run's pick under ``rule``, with the evidence it was made on."""
        exp = self.dir / "tuning" / f"{unit['procedure']}_s{unit['tuner_seed']}"
        path = exp / ("summary.json" if rule == "search" else "confirmation.json")
        if not path.is_file():
            fail(f"--repick {rule}: no {path}; the sweep's files are needed on this machine")
        if rule == "search":
            summary = json.loads(path.read_text())
            trial, config = summary["best_trial_id"], summary["best_config"]
            evidence: dict[str, Any] = {"search_score": summary["best_metric"]}
        else:
            validation = json.loads(path.read_text())
            best = validation[rank_by([c["returns"] for c in validation], rule)[0]]
            trial, config = best["sweep_trial_id"], best["config"]
            evidence = {"validation": [{"trial": c["sweep_trial_id"], "seeds": c["seeds"],
                                        "returns": c["returns"]} for c in validation]}
        same = trial == unit["pick_trial"]
        return {"procedure": unit["procedure"], "tuner_seed": unit["tuner_seed"],
                "statistic": rule, "pick_trial": trial, "same": same, **evidence,
                **({} if same else {"pick": config})}

    def _reuse_tests(self, row: str, tuner_seed: int, pick: dict[str, Any]) -> bool:
        """Copy the test runs of a row that trained the same configuration, if one did.

        a2c_ray's runs are exact (a configuration and a seed give the same run), so a
        configuration two rules or two tuning runs both picked is trained once; the copies
        name the row they came from. False where no row has all the test seeds of it.
        """
        from a2c_ray.core.config import A2CConfig

        def same(config: dict[str, Any]) -> bool:
            a, b = (A2CConfig.from_dict({**c, "seed": 0}).to_dict() for c in (config, pick))
            return a == b

        trained = [(u["procedure"], u["tuner_seed"], u["pick"]) for u in self.record["tuning"]
                   if u["procedure"] != "zoo"]
        trained += [(f"{r['procedure']}@{r['statistic']}", r["tuner_seed"], r["pick"])
                    for r in self.record.get("repicks", []) if not r["same"]]
        for source, source_seed, config in trained:
            if (source, source_seed) == (row, tuner_seed) or not same(config):
                continue
            tests = {t["seed"]: t for t in self.record["tests"]
                     if t["row"] == source and t["tuner_seed"] == source_seed}
            if set(self.test_seeds) <= set(tests):
                with self.lock:
                    have = {t["seed"] for t in self.record["tests"]
                            if t["row"] == row and t["tuner_seed"] == tuner_seed}
                    self.record["tests"] += [
                        {**tests[s], "row": row, "tuner_seed": tuner_seed,
                         "copied_from": f"{source} s{source_seed}"}
                        for s in self.test_seeds if s not in have]
                self.save()
                print(f"  {row} s{tuner_seed}: the configuration {source} s{source_seed} "
                      "trained; its test runs copied", flush=True)
                return True
        return False


def evaluate_zoo_run(out: Path, env: str, episodes: int, eval_seed: int) -> tuple[float, int]:
    """A zoo run's saved model under a2c_ray's evaluation; its mean return and env steps."""
    import torch
    from stable_baselines3 import A2C
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from benchmarks.returns.sb3_a2c import evaluate

    torch.set_num_threads(1)
    run_dir = next((out / "a2c").glob(f"{env.split('/')[-1]}_*"))
    model = A2C.load(run_dir / f"{env}.zip", device="cpu")
    stats = run_dir / env / "vecnormalize.pkl"
    if stats.exists():
        import gymnasium as gym

        norm = VecNormalize.load(str(stats), DummyVecEnv([lambda: gym.make(env)]))
        norm.training = False
    else:
        norm = _Identity()
    return evaluate(model, norm, env, episodes, eval_seed), int(model.num_timesteps)


class _Identity:
    """Stands for VecNormalize where a run normalised nothing."""

    @staticmethod
    def normalize_obs(obs: np.ndarray) -> np.ndarray:
        return obs


def _walls(attempts: list[dict[str, Any]]) -> dict[str, Any]:
    """Wall time over a unit's attempts, killed ones included; the mean load where measured."""
    wall = sum(a["wall_s"] for a in attempts)
    timed = [a for a in attempts if not math.isnan(a["load1_mean"])]
    weight = sum(a["wall_s"] for a in timed)
    load = sum(a["wall_s"] * a["load1_mean"] for a in timed) / weight if weight else math.nan
    return {"wall_s": wall, "load1_mean": load, "attempts": len(attempts),
            "killed_attempts": sum(bool(a.get("killed")) for a in attempts)}


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# ---------------------------------------------------------------------------------------------
# the table


def table(record: dict[str, Any]) -> str:
    """The README table: every row, its tuning runs, their picks on the test seeds.

    A ``PROCEDURE@STAT`` row (``--repick``) is its procedure's tuning runs with the validation
    ranked by STAT: a run whose pick is the same keeps its test figures, and says so.
    """
    lines = [f"{record['env']}: trials of {record['trial_steps']:,} env steps, tuning budget "
             f"{record['budget_steps']:,} ({record['trials_worth']} trials' worth); test seeds "
             f"{record['test_seeds'][0]} to {record['test_seeds'][-1]}, "
             f"{record['eval_episodes']} deterministic episodes each", "",
             "| row | tuning run | pick's test mean +- s.e. | worst seed | tuning env steps (M) "
             "| tuning wall (min) | mean load |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    summary = ["", "| row | tuning runs | mean of the picks' test means | spread between runs "
               "(std; min to max) | IQM over runs x seeds [95% CI] | worst seed | env steps (M) "
               "| wall (min) |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]

    def tests(row: str, tuner_seed: int | None) -> list[float]:
        return [t["return"] for t in record["tests"]
                if t["row"] == row and t["tuner_seed"] == tuner_seed]

    for row in ROWS:
        if row in TUNERS:
            units = [u for u in record["tuning"] if u["procedure"] == row]
            runs = [(row, f"tuner seed {u['tuner_seed']}", u, tests(row, u["tuner_seed"]))
                    for u in units]
        else:
            runs = [(row, "none", None, tests(row, None))]
        groups = [runs]
        for stat in REPICKS:
            again = {(r["procedure"], r["tuner_seed"]): r for r in record.get("repicks", [])
                     if r["statistic"] == stat}
            groups.append([
                (f"{row}@{stat}", f"tuner seed {u['tuner_seed']}"
                 + (", its own pick" if again[row, u["tuner_seed"]]["same"] else ""), u,
                 tests(row if again[row, u["tuner_seed"]]["same"] else f"{row}@{stat}",
                       u["tuner_seed"]))
                for u in (units if row in TUNERS else []) if (row, u["tuner_seed"]) in again])
        for group in groups:
            lines_of, line = _table_rows(group, len(record["test_seeds"]))
            lines += lines_of
            if line:
                summary.append(line)
    return "\n".join(lines + summary)


def _table_rows(runs: list[tuple[str, str, dict[str, Any] | None, list[float]]],
                seeds: int) -> tuple[list[str], str | None]:
    """One row's lines of the per-run table, and its line of the summary (None if no tests)."""
    lines, means, pooled, steps, walls = [], [], [], [], []
    for row, label, unit, returns in runs:
        if not returns:
            continue
        stats = seed_stats(returns)
        means.append(stats["mean"])
        pooled += returns
        n = f" ({len(returns)} of {seeds} seeds)" if len(returns) < seeds else ""
        if unit is not None:
            steps.append(unit["train_env_steps"])
            walls.append(unit["wall_s"])
            lines.append(f"| {row} | {label} | {stats['mean']:.1f} +- {stats['sem']:.1f}{n} | "
                         f"{stats['worst']:.1f} | {unit['train_env_steps'] / 1e6:.2f} | "
                         f"{unit['wall_s'] / 60:.1f} | {unit['load1_mean']:.1f} |")
        else:
            lines.append(f"| {row} | {label} | {stats['mean']:.1f} +- {stats['sem']:.1f}{n} | "
                         f"{stats['worst']:.1f} | 0 | 0 | - |")
    if not means:
        return lines, None
    row, tuned = runs[0][0], runs[0][2] is not None
    lo, hi = interval(pooled, "iqm")
    spread = (f"{np.std(means, ddof=1):.1f}; {min(means):.1f} to {max(means):.1f}"
              if len(means) > 1 else "-")
    return lines, (f"| {row} | {len(means) if tuned else '-'} | {np.mean(means):.1f} | {spread} | "
                   f"{seed_stats(pooled)['iqm']:.1f} [{lo:.1f}, {hi:.1f}] | {min(pooled):.1f} | "
                   f"{np.mean(steps) / 1e6 if steps else 0:.2f} | "
                   f"{np.mean(walls) / 60 if walls else 0:.1f} |")


# ---------------------------------------------------------------------------------------------
# moving an unfinished run


def pack(bench: Bench, dest: Path) -> None:
    """The env's work directory in one file, without what a resume does not read."""
    if not bench.dir.exists():
        fail(f"--pack: nothing of {bench.env} in {bench.dir.parent}")

    def wanted(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        return None if Path(info.name).name.startswith("events.out.tfevents") else info

    part = dest.with_name(dest.name + ".part")
    with tarfile.open(part, "w:gz") as tar:
        tar.add(bench.dir, arcname=bench.env, filter=wanted)
    part.replace(dest)
    print(f"wrote {dest} ({dest.stat().st_size / 1e6:.1f} MB); resume with --unpack {dest}")


def unpack(bench: Bench, src: Path) -> None:
    """Inverse of ``pack``, never over a work directory of the env already there."""
    if bench.dir.exists():
        fail(f"--unpack: {bench.dir} exists; unpack into another --work-dir")
    if not src.is_file():
        fail(f"--unpack: no file {src}; give a file that --pack wrote")
    with tarfile.open(src) as tar:
        tar.extractall(bench.dir.parent, filter="data")
    print(f"unpacked into {bench.dir}; run the same command to resume")


def check_env(env: str, rows: list[str], trial_steps: int) -> None:
    """Exit 2 with one line, before anything is written, for an env a row cannot run."""
    import gymnasium as gym

    try:
        gym.spec(env)
    except gym.error.Error as err:
        fail(f"--env {env}: not a registered gymnasium id ({err})")
    if {"zoo", "zoo-published"} & set(rows):
        zoo_entry(env)
    if "a2c_ray-space" in rows:
        try:
            budget_fitted_space(env, trial_steps)
        except ValueError as err:
            fail(f"--rows a2c_ray-space --trial-steps {trial_steps}: {err}")


def main() -> None:
    p = Parser(prog="python -m benchmarks.returns.peer_sweep", description=__doc__.splitlines()[0])
    p.add_argument("--env", required=True)
    p.add_argument("--trial-steps", type=int, default=300_000, help="T: env steps of a trial")
    p.add_argument("--trials-worth", type=int, default=33, help="B = this x T: env steps a "
                   "tuning run may train, the validation included")
    p.add_argument("--tuner-seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS)
    p.add_argument("--test-seeds", type=int, default=10)
    p.add_argument("--test-seed-start", type=int, default=TEST_SEED_START)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--jobs", type=int, default=2, help="test runs at once, one core each")
    p.add_argument("--work-dir", default="~/peer_sweep")
    p.add_argument("--record", help="read this record instead of WORK/ENV/record.json "
                   "(--report)")
    p.add_argument("--report", action="store_true", help="print the table and exit")
    p.add_argument("--repick", choices=REPICKS, help="each a2c_ray tuning run's pick had its "
                   "validation ranked by this statistic, or with 'search' had there been no "
                   "validation; a pick that differs is trained on the test seeds (row "
                   "PROCEDURE@RULE)")
    p.add_argument("--pack", metavar="FILE")
    p.add_argument("--unpack", metavar="FILE")
    a = p.parse_args()
    if a.trial_steps < 1 or a.trials_worth < 1:
        fail(f"--trial-steps {a.trial_steps} --trials-worth {a.trials_worth}: expected both >= 1")
    if a.report:
        path = Path(a.record) if a.record else RESULTS / f"peer_sweep_{a.env}.json"
        if not path.is_file():
            fail(f"--report: no record {path}; run the benchmark or give --record")
        print(table(json.loads(path.read_text())))
        return
    if a.unpack:
        bench = Bench.__new__(Bench)
        bench.env, bench.dir = a.env, Path(a.work_dir).expanduser().resolve() / a.env
        unpack(bench, Path(a.unpack))
        return
    if not a.pack:
        check_env(a.env, a.rows, a.trial_steps)
    bench = Bench(a)
    if a.pack:
        pack(bench, Path(a.pack))
        return
    bench.save()
    if a.repick:
        bench.repick(a.rows, a.repick)
    else:
        bench.run_all(a.rows)
    print(table(bench.record))


if __name__ == "__main__":
    main()
