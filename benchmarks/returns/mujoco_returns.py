"""Returns at 1M steps on MuJoCo: a2c_ray's sweep against SB3 A2C and RLlib, on test seeds.

One command per environment runs the whole protocol (after Eimer et al. 2023: tune on
training seeds, report on test seeds nothing else used) and writes
``benchmarks/results/returns_<EnvId>.json``:

    python -m benchmarks.returns.mujoco_returns --env HalfCheetah-v5 \
        --rllib-python ~/rllib-venv/bin/python

1. a sweep (``python -m a2c_ray.tune``) over ``benchmarks/search_space_mujoco.json`` with
   observation normalisation fixed on, started from ``--start-from`` configs (by default the
   env's preset if there is one, else ``benchmarks/mujoco_start.json``), every trial scored on
   ``--seeds-per-trial`` training seeds, ASHA on env steps (grace 100k, maximum 1M);
2. ``--confirm-top K``: the K best configurations re-trained at the full budget on
   ``--seeds`` test seeds (10000, 10001, ...); the one with the best mean there becomes
   ``a2c_ray/presets/<EnvId>.json``. Its mean on those seeds is therefore the best of K, an
   optimistic figure; the record keeps all K, and step 5 checks the winner on a fresh seed;
3. SB3 A2C with rl-baselines3-zoo's MuJoCo settings, as the published agent ran them, on the
   first ``--sb3-seeds`` test seeds (``benchmarks/returns/sb3_a2c.py``); a seed the committed record
   already holds is taken from it;
4. RLlib configured as A2C (``benchmarks/returns/rllib_a2c.py``) from the new preset, on the first
   ``--rllib-seeds`` test seeds, under ``--rllib-python``: RLlib pins an older gymnasium, so
   it lives in a virtual environment of its own (``pip install -e ".[rllib]"``);
5. the preset trained with ``python -m a2c_ray.train --config`` on a seed no other step used
   (20000), to check that it reproduces the reported mean within one standard deviation;
   ``--check-seeds N`` adds seeds 20001 to 20000 + N - 1 and sets their mean against the
   test mean (the difference and its standard error).

All sides are evaluated alike: 10 deterministic episodes from fixed start seeds, observations
normalised with the training statistics, raw rewards; every 50k steps for the curves and once
at the end for the table. Every step is resumable: finished peer runs and sweeps are kept in
``--work-dir`` and skipped when the command runs again, and an interrupted sweep or training
run resumes.
``--pack FILE`` writes an interrupted protocol to one file (a few MB: no TensorBoard files, no
checkpoint a resume does not read), and ``--unpack FILE`` puts it back in a work directory on
another machine before the same command resumes it there. SB3
runs with rewards normalised too (``sb3_a2c.py --norm-reward``, the zoo yml as read today)
found under ``WORK/sb3_norm_reward/<EnvId>/`` are recorded and drawn beside the others; this
script does not start them. ``--peers-only`` trains nothing of ours: it keeps the committed
record's a2c_ray side, preset check and sweep, runs the peers' missing seeds and records every
peer run in ``--work-dir`` (a seed added by hand, say); ``--check-only`` likewise keeps all
but the preset check, and trains the check seeds no run holds yet. ``--report`` draws
``docs/mujoco_returns.png`` and prints the README table from the JSON files alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from a2c_ray.cli import Parser, fail
from a2c_ray.core.seeds import TEST_SEED_START
from a2c_ray.results import seed_stats
from a2c_ray.results.analysis import param_importances
from a2c_ray.run.checkpoint import is_checkpoint

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
SPACE = ROOT / "benchmarks" / "search_space_mujoco.json"
START = ROOT / "benchmarks" / "mujoco_start.json"
PRESETS = ROOT / "a2c_ray" / "presets"
FIGURE = ROOT / "docs" / "mujoco_returns.png"
CONFIRM_SEED = TEST_SEED_START  # the confirmation's first test seed
CHECK_SEED = 20_000  # used by nothing else: the preset's reproduction check
CURVE_EVERY = 50_000
TICK_S = 60  # how often a running sweep's wall time is written
PEERS = ("sb3", "sb3_norm_reward", "rllib")  # the record's peer sides

# Published A2C at 1M env steps: rl-baselines3-zoo's one agent (v3 envs) and Tianshou's best
# average over 10 seeds; the goals the protocol set itself, on the test seeds.
ANCHORS = {
    "HalfCheetah-v5": {"zoo": "3041 +- 157", "tianshou": "1830 +- 1068",
                       "goal": {"mean": 4500, "worst": 3000}},
    "Hopper-v5": {"zoo": "733 +- 377", "tianshou": "1253 +- 458",
                  "goal": {"mean": 2500, "worst": 1500}},
    "Walker2d-v5": {"zoo": "582 +- 128", "tianshou": "1092 +- 709",
                    "goal": {"mean": 2500, "worst": 1500}},
    "Ant-v5": {"zoo": "-44", "tianshou": "3485 +- 433", "goal": {"mean": 3500, "worst": 2000}},
}


def _run(cmd: list[str], log: Path, tick: Callable[[], None] | None = None) -> int:
    """Run a command, its output appended to ``log``; returns the exit status.

    Ctrl-C in a terminal reaches the command too (one process group), and the command stops
    on its own: a sweep saves its state first, which takes seconds. So this waits for it,
    where ``subprocess.run`` would kill it a quarter of a second after the Ctrl-C. ``tick``
    runs every ``TICK_S`` seconds while the command does.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    print("$", " ".join(cmd), f"  (log: {log})", flush=True)
    with log.open("a") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, "MUJOCO_GL": "egl"})
        while True:
            try:
                return proc.wait(timeout=TICK_S)
            except subprocess.TimeoutExpired:
                if tick is not None:
                    tick()
            except KeyboardInterrupt:
                print("interrupted: waiting for the command to stop", flush=True)


def sweep(a: argparse.Namespace, work: Path) -> Path:
    """Run (or resume, or reuse) the sweep with its confirmation; returns its directory."""
    name = f"returns_{a.env}"
    exp = work / name
    if (exp / "summary.json").exists() and (exp / "confirmation.json").exists():
        print(f"sweep {exp} already finished: reusing it")
        return exp
    starts = a.start_from or [str(PRESETS / f"{a.env}.json") if (PRESETS / f"{a.env}.json")
                              .exists() else str(START)]
    cmd = [sys.executable, "-m", "a2c_ray.tune", "--storage-path", str(work), "--name", name]
    if (exp / "sweep.json").exists():
        cmd += ["--resume", "--confirm-top", str(a.confirm_top), "--confirm-seeds",
                str(a.seeds)]
    else:
        cmd += ["--env", a.env, "--num-samples", str(a.num_samples), "--max-steps",
                str(a.max_steps), "--grace-steps", str(a.grace_steps), "--seed", "0",
                "--seeds-per-trial", str(a.seeds_per_trial),
                "--search-space", str(SPACE), "--set", "normalize_obs=true",
                "--set", f"eval_interval_steps={CURVE_EVERY // 2}",
                "--confirm-top", str(a.confirm_top), "--confirm-seeds", str(a.seeds)]
        cmd += [x for s in starts for x in ("--start-from", s)]
    if a.max_concurrent:
        cmd += ["--max-concurrent-trials", str(a.max_concurrent)]
    # the sweep's wall time adds up over its runs: an interrupted one resumes where it stopped.
    # It is written every TICK_S too, so a run whose machine goes away still counts.
    wall = exp / "bench_wall_s.txt"
    done = float(wall.read_text()) if wall.exists() else 0.0
    start = time.time()

    def count() -> None:
        if exp.exists():
            wall.write_text(f"{done + time.time() - start:.0f}\n")

    code = _run(cmd, work / "logs" / f"{name}.log", tick=count)
    count()
    if code in (130, 143):  # a2c_ray.tune's exit after SIGINT or SIGTERM
        sys.exit(f"the sweep was interrupted: the same command resumes it ({exp})")
    if code != 0:
        sys.exit(f"the sweep failed: see {work / 'logs' / f'{name}.log'}")
    return exp


def _latest_only(trial: Path) -> set[Path]:
    """What a trial's ``checkpoint/`` needs to resume: nothing once finished, else the latest."""
    store, result = trial / "checkpoint", trial / "result.json"
    rows = result.read_text().splitlines() if result.exists() else []
    if not (store / "latest").is_file() or (rows and json.loads(rows[-1]).get("done")):
        return set()
    return {store / "latest", store / (store / "latest").read_text().strip()}


def pack(a: argparse.Namespace, work: Path, dest: Path) -> None:
    """An unfinished protocol of ``--env`` in one file, to resume on another machine.

    Holds the sweep (and confirmation) directory, the finished peer runs, an unfinished SB3
    run's checkpoint (``sb3_a2c.py`` resumes from it) and the logs; leaves
    out what resuming does not read: TensorBoard event files, and checkpoints other than an
    unfinished trial's latest. ``--unpack`` puts it back in a work directory; the same
    command then resumes there (a moved sweep finds its study: ``core.storage.moved_study``).
    """
    exp = work / f"returns_{a.env}"
    if not (exp / "sweep.json").exists():
        fail(f"--pack: no sweep of {a.env} in {work} (no {exp / 'sweep.json'})")
    keep: set[Path] = set()
    for store in exp.rglob("checkpoint"):
        if store.is_dir() and store.parent.name.startswith("run_"):
            keep |= _latest_only(store.parent)

    def wanted(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        path = work / info.name
        if path.name.startswith("events.out.tfevents"):
            return None
        stores = [q for q in path.parents if q.name == "checkpoint"]
        if stores and stores[0].parent.name.startswith("run_") and not (
                path in keep or any(q in keep for q in path.parents)):
            return None
        return info

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    with tarfile.open(part, "w:gz") as tar:
        tar.add(exp, arcname=exp.name, filter=wanted)
        for side in PEERS:
            for run in sorted((work / side / a.env).glob("seed_*.json")):
                tar.add(run, arcname=str(run.relative_to(work)))
            for ckpt in sorted((work / side / a.env).glob("seed_*.ckpt")):
                tar.add(ckpt, arcname=str(ckpt.relative_to(work)))
        for log in sorted((work / "logs").glob(f"*{a.env}*.log")):
            tar.add(log, arcname=str(log.relative_to(work)))
    part.replace(dest)
    print(f"wrote {dest} ({dest.stat().st_size / 1e6:.1f} MB); resume with --unpack {dest}")


def unpack(a: argparse.Namespace, work: Path, src: Path) -> None:
    """Inverse of ``pack``, into ``work``; never over a sweep of ``--env`` already there."""
    exp = work / f"returns_{a.env}"
    if exp.exists():
        fail(f"--unpack: {exp} exists; unpack into another --work-dir")
    if not src.is_file():
        fail(f"--unpack: no file {src}; give a file that --pack wrote")
    try:
        tar = tarfile.open(src)
    except tarfile.TarError as e:
        fail(f"--unpack: {src} is not a tar archive ({e}); give a file that --pack wrote")
    with tar:
        names = tar.getnames()
        if not names or any(n.split("/")[0] not in {exp.name, *PEERS, "logs"} for n in names):
            fail(f"--unpack: {src} does not hold {a.env}'s protocol only; it holds "
                 f"{sorted({n.split('/')[0] for n in names})[:5]}")
        tar.extractall(work, filter="data")
    print(f"unpacked {src} into {work}")


def _train(config: Path, seed: int, out: Path, log: Path, steps: int | None = None) -> int:
    """``python -m a2c_ray.train`` into ``out`` unless it finished there; its exit status.

    A run stopped midway resumes from its checkpoint; one stopped before its first checkpoint
    (the presets' ``checkpoint_interval``, 50 updates: seconds) starts again.
    """
    if (out / "summary.json").exists():
        return 0
    cmd = [sys.executable, "-m", "a2c_ray.train", "--config", str(config), "--seed", str(seed),
           "--out", str(out), "--progress", "log"]
    if steps is not None:
        cmd += ["--total-steps", str(steps)]
    if is_checkpoint(out / "checkpoint"):
        cmd.append("--resume")
    elif out.exists():
        print(f"{_shown(out)} stopped before its first checkpoint: starting it again")
        shutil.rmtree(out)
    return _run(cmd, log)


def _seeds(n: int, first: int = CONFIRM_SEED) -> list[int]:
    return [first + j for j in range(n)]


def _parallel(jobs: int, fn: Any, items: list[Any]) -> list[Any]:
    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(fn, items))


def _shown(path: Path) -> str:
    """A path as a record names it: from the repository's root where it lies inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def keep_committed(a: argparse.Namespace, work: Path) -> None:
    """Peer runs this env's committed record holds become work-dir runs, so none is re-run.

    1M steps of SB3 take half an hour a seed here: a peer's run of a seed is taken from
    ``benchmarks/results/returns_<EnvId>.json`` (its ``from`` says so). An RLlib run counts
    only while its preset is unchanged (``rllib``).
    """
    committed = RESULTS / f"returns_{a.env}.json"
    if not committed.exists():
        return
    record = json.loads(committed.read_text())
    for side in PEERS:
        runs = record.get(side, {}).get("runs", [])
        for run in runs:
            path = work / side / a.env / f"seed_{run['seed']}.json"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps({
                    **run, "env_id": a.env, "settings": record[side]["settings"],
                    "from": run.get("from", _shown(committed))}))


def sb3(a: argparse.Namespace, work: Path) -> list[Path]:
    """SB3 A2C on the first ``--sb3-seeds`` test seeds, ``--jobs`` at a time; its result files."""
    out = [work / "sb3" / a.env / f"seed_{s}.json" for s in _seeds(a.sb3_seeds)]
    if a.skip_sb3:
        return [p for p in out if p.exists()]

    def one(path: Path) -> int:
        seed = path.stem.split("_")[1]
        return _run([sys.executable, "benchmarks/returns/sb3_a2c.py", "--env", a.env,
                     "--seed", seed,
                     "--steps", str(a.max_steps), "--eval-every", str(CURVE_EVERY),
                     "--out", str(path)], work / "logs" / f"sb3_{a.env}_{seed}.log")

    _parallel(a.jobs, one, [p for p in out if not p.exists()])
    return [p for p in out if p.exists()]


def rllib(a: argparse.Namespace, work: Path) -> list[Path]:
    """RLlib configured as A2C on the first ``--rllib-seeds`` test seeds; its result files.

    RLlib pins an older gymnasium than a2c_ray, so it runs under ``--rllib-python`` (a virtual
    environment with ``pip install -e ".[rllib]"``); without it, runs already done are kept.
    """
    out = [work / "rllib" / a.env / f"seed_{s}.json" for s in _seeds(a.rllib_seeds)]
    preset = json.loads((PRESETS / f"{a.env}.json").read_text())

    def current(path: Path) -> bool:  # trained from this preset (seed and budget aside)
        if not path.exists():
            return False
        was = json.loads(path.read_text())["settings"]["from_config"]
        return all(was.get(k) == v for k, v in preset.items()
                   if k not in ("seed", "total_env_steps"))

    todo = [p for p in out if not current(p)]
    if todo and a.rllib_python:
        def one(path: Path) -> int:
            seed = path.stem.split("_")[1]
            return _run([a.rllib_python, "benchmarks/returns/rllib_a2c.py", "--config",
                         str(PRESETS / f"{a.env}.json"), "--seed", seed, "--steps",
                         str(a.max_steps), "--eval-every", str(CURVE_EVERY), "--out",
                         str(path)], work / "logs" / f"rllib_{a.env}_{seed}.log")

        _parallel(a.jobs, one, todo)
    return [p for p in out if current(p)]


def _curve(progress: Path) -> dict[str, list[float]]:
    """Eval returns every CURVE_EVERY steps from a trial's progress.csv, and the final one."""
    import pandas as pd

    df = pd.read_csv(progress).dropna(subset=["env_steps"])
    steps, returns = [], []
    for g in range(CURVE_EVERY, int(df["env_steps"].max()) + 1, CURVE_EVERY):
        row = df[df["env_steps"] >= g].iloc[0]
        steps.append(int(g))
        returns.append(float(row["eval_return_last"]))
    last = df.iloc[-1]
    if not steps or steps[-1] != int(last["env_steps"]):
        steps.append(int(last["env_steps"]))
        returns.append(float(last["eval_return_last"]))
    return {"env_steps": steps, "eval_return": returns}


def from_sweep(exp: Path) -> tuple[list[dict], dict, dict]:
    """Our runs, config and method from a finished sweep: its confirmed winner's seeds."""
    summary = json.loads((exp / "summary.json").read_text())
    ranking = json.loads((exp / "confirmation.json").read_text())
    winner = ranking[0]
    # a2c_ray.tune numbers the confirmed configurations in sweep order, best first
    index = next(i for i, r in enumerate(sorted(ranking, key=lambda r: r["sweep_metric"],
                                                reverse=True))
                 if r["sweep_trial_id"] == winner["sweep_trial_id"])
    runs = []
    for trial in sorted((exp / "confirm").glob("run_confirmation_*")):
        params = json.loads((trial / "params.json").read_text())
        if params["config_index"] == index and (trial / "progress.csv").exists():
            runs.append({"seed": params["seed"], **_run_record(trial / "progress.csv")})
    settings = json.loads((exp / "sweep.json").read_text())
    wall = exp / "bench_wall_s.txt"
    method = {
        "kind": "sweep", "num_samples": settings["num_samples"],
        "seeds_per_trial": settings.get("seeds_per_trial", 1),
        "grace_steps": settings["grace_steps"], "max_steps": settings["max_steps"],
        "eval_schedule": settings.get("eval_schedule", "every"),  # where trials evaluated
        "trials_by_status": summary["trials_by_status"],
        "stopped_early": summary["stopped_early"], "best_sweep_metric": summary["best_metric"],
        "wall_s": float(wall.read_text()) if wall.exists() else None,
        "start_points": settings.get("start_points", []),
        # how much each searched field decided whether a trial reached the sweep's top 10%
        "importances": {k: round(float(v), 3) for k, v in param_importances(str(exp)).items()},
        "confirmation": [{k: r[k] for k in ("sweep_trial_id", "sweep_metric", "seeds",
                                            "returns", "mean", "sem")} for r in ranking],
    }
    return runs, winner["config"], method


def from_transfer(a: argparse.Namespace, work: Path) -> tuple[list[dict], dict, dict]:
    """Our runs, config and method without a sweep: ``--transfer-from``'s config on this env."""
    config = {**json.loads(Path(a.transfer_from).read_text()), "env_id": a.env,
              "total_env_steps": a.max_steps}
    path = work / f"transfer_{a.env}" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))
    seeds = _seeds(a.seeds)

    def one(seed: int) -> int:
        return _train(path, seed, path.parent / f"seed_{seed}",
                      work / "logs" / f"transfer_{a.env}_{seed}.log")

    if any(_parallel(a.jobs, one, seeds)):
        sys.exit(f"a transfer run failed: see {work / 'logs'}")
    runs = [{"seed": s, **_run_record(path.parent / f"seed_{s}" / "progress.csv")}
            for s in seeds]
    return runs, config, {"kind": "transfer", "from": Path(a.transfer_from).name}


def _run_record(progress: Path) -> dict:
    curve = _curve(progress)
    return {"eval_return_last": curve["eval_return"][-1], "curve": curve}


def _peer(files: list[Path]) -> dict:
    """One peer's record: its settings, every seed's run and their statistics."""
    runs = [json.loads(p.read_text()) for p in files]
    return {"settings": runs[0]["settings"] if runs else None,
            "runs": [{k: r[k] for k in ("seed", "eval_return_last", "curve", "wall_s", "from")
                      if k in r} for r in runs],
            **seed_stats([r["eval_return_last"] for r in runs])}


def write_preset(a: argparse.Namespace, config: dict) -> None:
    """Our confirmed configuration becomes the env's preset (seed 0: a template)."""
    PRESETS.mkdir(exist_ok=True)
    (PRESETS / f"{a.env}.json").write_text(json.dumps({**config, "seed": 0}, indent=2) + "\n")


def _machine() -> dict[str, Any]:
    """What ran the runs: a seed fixes a run only on the same kind of CPU and libraries.

    PyTorch and NumPy pick their kernels by instruction set (AVX-512, AVX2, ...), and the
    rounding differs with them from the first update on (benchmarks/returns/README.md).
    """
    import torch

    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in
             (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
             if line.startswith("model name")]
    return {"cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu": names[0] if names else platform.processor(),
            "torch": torch.__version__, "torch_cpu": torch.backends.cpu.get_cpu_capability(),
            "numpy": np.__version__}


def collect(a: argparse.Namespace, ours: tuple[list[dict], dict, dict],
            peers: dict[str, list[Path]]) -> dict:
    """One record of our side and the peers' (``sb3``, ``sb3_norm_reward``, ``rllib``)."""
    runs, config, method = ours
    runs = sorted(runs, key=lambda r: r["seed"])
    return {
        "env_id": a.env, "env_steps": a.max_steps, "eval_episodes": 10,
        "machine": _machine(),
        "method": method,
        "ours": {"config": {**config, "seed": 0}, "runs": runs,
                 **seed_stats([r["eval_return_last"] for r in runs])},
        **{side: _peer(files) for side, files in peers.items()},
        "anchors": ANCHORS.get(a.env, {}),
    }


def check(a: argparse.Namespace, work: Path, record: dict, kept: dict[int, dict]) -> None:
    """Train the preset on the check seeds and compare with the reported mean.

    Seed ``CHECK_SEED`` is the one-seed check: within one standard deviation of the test mean.
    ``--check-seeds N`` adds the N - 1 seeds after it, ``--jobs`` at a time: their mean and
    standard error against the test mean's, which one seed cannot say (a best-of-K winner's
    mean on the test seeds it was picked on is optimistic). ``kept`` holds runs already
    recorded, by seed (``_kept_check``): those seeds are not trained again, and stay in the
    check whatever ``--check-seeds`` says.
    """
    seeds = sorted({*_seeds(a.check_seeds, CHECK_SEED), *kept})

    def out(seed: int) -> Path:  # the first seed's directory keeps its earlier name
        return work / (f"check_{a.env}" if seed == CHECK_SEED else f"check_{a.env}_{seed}")

    def one(seed: int) -> int:
        log = work / "logs" / f"{out(seed).name}.log"
        code = _train(PRESETS / f"{a.env}.json", seed, out(seed), log, a.max_steps)
        if code != 0:
            print(f"the preset check on seed {seed} failed: see {log}", flush=True)
        return code

    if any(_parallel(a.jobs, one, [s for s in seeds if s not in kept])):
        sys.exit(f"the preset check failed: see {work / 'logs'}")
    machine = _machine()  # the check's new runs ran here
    runs = [kept[s] if s in kept else
            {"seed": s, "eval_return_last":
             json.loads((out(s) / "summary.json").read_text())["eval_return_mean"],
             "machine": machine}
            for s in seeds]
    mean, std, sem = (record["ours"][k] for k in ("mean", "std", "sem"))
    got = runs[0]["eval_return_last"]
    command = (f"python -m a2c_ray.train --config a2c_ray/presets/{a.env}.json --seed "
               f"{' '.join(map(str, seeds))} --out runs/check_{a.env}")
    record["preset_check"] = {"seed": CHECK_SEED, "eval_return_last": got,
                              "within_one_std": bool(abs(got - mean) <= std),
                              "command": command}
    if len(seeds) > 1:
        st = seed_stats([r["eval_return_last"] for r in runs])
        gap, gap_se = mean - st["mean"], float(np.hypot(sem, st["sem"]))
        record["preset_check"].update({
            "runs": runs,
            "over_seeds": {**st, "test_mean_minus_mean": gap, "se_of_difference": gap_se,
                           "within_two_se": bool(abs(gap) <= 2 * gap_se)}})


def _kept_check(record: dict, path: Path) -> dict[int, dict]:
    """The preset-check runs a committed record holds, by seed, each saying where it came from."""
    chk = record.get("preset_check") or {}
    runs = chk.get("runs") or ([chk] if "seed" in chk else [])
    keys = ("seed", "eval_return_last", "machine")
    return {r["seed"]: {**{k: r[k] for k in keys if k in r}, "from": r.get("from", _shown(path))}
            for r in runs}


def _over_seeds(record: dict) -> str:
    """``; seeds 20000 to 20004: mean +- s.e., worst`` where the check ran on several seeds."""
    chk = record.get("preset_check") or {}
    if "over_seeds" not in chk:
        return ""
    st, seeds = chk["over_seeds"], [r["seed"] for r in chk["runs"]]
    return (f"; seeds {seeds[0]} to {seeds[-1]}: {st['mean']:.0f} +- {st['sem']:.0f}, worst "
            f"{st['worst']:.0f}")


def report(figure: str) -> None:
    """The README table and the learning-curve figure, from benchmarks/results alone."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from a2c_ray.results.analysis import plot_band, seed_band

    records = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("returns_*.json"))]
    if not records:
        sys.exit(f"no returns_*.json under {RESULTS}: run an environment first")

    def cell(runs: list[dict]) -> str:
        st = seed_stats([run["eval_return_last"] for run in runs])
        if not st["n"]:
            return "not run"
        sem = "" if np.isnan(st["sem"]) else f" +- {st['sem']:.0f}"
        low = f", worst {st['worst']:.0f}" if st["n"] > 1 else ""
        return f"{st['mean']:.0f}{sem}{low} ({st['n']} seed{'s' if st['n'] > 1 else ''})"

    def method(r: dict) -> str:
        m = r.get("method", {"kind": "sweep"})
        if m["kind"] == "transfer":
            return f"no sweep: {Path(m['from']).stem}'s preset"
        top = len(m.get("confirmation", [])) or 1
        per = m.get("seeds_per_trial", 1)
        return (f"{m.get('num_samples', '?')} trials x {per} seed{'s' if per > 1 else ''}, "
                f"top {top} confirmed")

    def goal(g: Any) -> str:
        return f"{g['mean']} / {g['worst']}" if isinstance(g, dict) else str(g or "")

    print("| env | tuned by | a2c_ray preset: mean +- s.e., worst seed | IQM | goal: mean / "
          "worst | SB3 A2C, zoo agent's settings | SB3 A2C, rewards normalised too | RLlib "
          "configured as A2C | zoo (published) | Tianshou (published) | preset on seed 20000; on "
          "further seeds |")
    print("| --- | --- | --- | ---: | --- | --- | --- | --- | --- | --- | --- |")
    for r in records:
        an = r["anchors"]
        iqm = seed_stats([run["eval_return_last"] for run in r["ours"]["runs"]])["iqm"]
        chk = r.get("preset_check")
        chk = (f"{chk['eval_return_last']:.0f} ({'within' if chk['within_one_std'] else 'outside'}"
               f" 1 std){_over_seeds(r)}") if chk else "not run"
        peers = " | ".join(cell(r.get(side, {}).get("runs", [])) for side in PEERS)
        print(f"| {r['env_id']} | {method(r)} | {cell(r['ours']['runs'])} | {iqm:.0f} | "
              f"{goal(ANCHORS.get(r['env_id'], an).get('goal'))} | {peers} | "
              f"{an.get('zoo', '')} | {an.get('tianshou', '')} | {chk} |")

    if figure == "-":
        return
    fig, axes = plt.subplots(1, len(records), figsize=(4.2 * len(records), 3.4), squeeze=False)
    for ax, r in zip(axes[0], records, strict=True):
        for side, label in (("ours", "a2c_ray preset"), ("sb3", "SB3 A2C (zoo agent)"),
                            ("sb3_norm_reward", "SB3 A2C, rewards normalised"),
                            ("rllib", "RLlib as A2C")):
            runs = r.get(side, {}).get("runs", [])
            if not runs:
                continue
            curves = pd.DataFrame([{"trial_id": run["seed"], "env_steps": x, "eval_return": y}
                                   for run in runs for x, y in zip(
                                       run["curve"]["env_steps"], run["curve"]["eval_return"],
                                       strict=True)])
            points = r["env_steps"] // CURVE_EVERY  # one every CURVE_EVERY steps
            plot_band(seed_band(curves, "eval_return", points=points), label, ax=ax)
        ax.set_title(r["env_id"])
    axes[0][0].set_ylabel("deterministic eval return (10 episodes)")
    fig.tight_layout()
    Path(figure).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure, dpi=110)
    print(f"\nfigure: {figure}")


def protocol(a: argparse.Namespace, work: Path, committed: dict | None) -> dict:
    """Steps 1 to 5 (``committed`` given: the peers alone, into that record); the record."""
    keep_committed(a, work)
    if committed is None:
        ours = from_transfer(a, work) if a.transfer_from else from_sweep(sweep(a, work))
        write_preset(a, ours[1])  # the RLlib peer and the check train it
    peers = {"sb3": sb3(a, work),
             "sb3_norm_reward": sorted((work / "sb3_norm_reward" / a.env).glob("seed_*.json")),
             "rllib": rllib(a, work)}
    if committed is not None:
        return {**committed, **{side: _peer(files) for side, files in peers.items()}}
    record = collect(a, ours, peers)
    check(a, work, record, {})
    return record


def main() -> None:
    """Entry point."""
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("--env", choices=sorted(ANCHORS), help="environment to run")
    p.add_argument("--report", action="store_true", help="only draw the figure and print the "
                   "table from benchmarks/results/returns_*.json")
    p.add_argument("--figure", default=str(FIGURE.relative_to(ROOT)),
                   help="where --report draws the curves ('-': no figure)")
    p.add_argument("--num-samples", type=int, default=30, help="sweep trials")
    p.add_argument("--grace-steps", type=int, default=100_000)
    p.add_argument("--max-steps", type=int, default=1_000_000)
    p.add_argument("--confirm-top", type=int, default=3)
    p.add_argument("--seeds", type=int, default=10, help="confirmation (test) seeds")
    p.add_argument("--seeds-per-trial", type=int, default=3, help="training seeds per sweep "
                   "trial (1: the first headline's one-seed sweeps)")
    p.add_argument("--start-from", action="append", default=[], metavar="CONFIG",
                   help="sweep start points (default: the env's preset, else "
                        "benchmarks/mujoco_start.json)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--transfer-from", metavar="CONFIG", help="no sweep: train this config "
                      "(another env's preset) on the seeds and ship it as this env's preset")
    mode.add_argument("--peers-only", action="store_true", help="keep the committed record's "
                      "a2c_ray side and preset check; run and record the peers only")
    mode.add_argument("--check-only", action="store_true", help="keep the committed record "
                      "but its preset check; train the preset on the --check-seeds seeds no "
                      "run holds yet and record the check")
    p.add_argument("--check-seeds", type=int, default=1, help=f"seeds the preset's check "
                   f"trains, from {CHECK_SEED} on (1: the one-seed check)")
    p.add_argument("--max-concurrent", type=int, help="trials at a time (default: one a CPU)")
    p.add_argument("--jobs", type=int, default=os.cpu_count(), help="peer runs at a time")
    p.add_argument("--sb3-seeds", type=int, help="SB3 test seeds (default: 5 on "
                   "HalfCheetah-v5, else 3)")
    p.add_argument("--skip-sb3", action="store_true", help="keep the SB3 runs already done "
                   "and start no new one")
    p.add_argument("--rllib-python", metavar="PYTHON", help="interpreter of a virtual "
                   "environment with a2c_ray[rllib] installed; without it no RLlib run starts")
    p.add_argument("--rllib-seeds", type=int, default=3, help="RLlib test seeds")
    p.add_argument("--work-dir", default="~/a2c_ray_results/benchmarks",
                   help="sweeps, peer runs and logs")
    carry = p.add_mutually_exclusive_group()
    carry.add_argument("--pack", metavar="FILE", help="only write the env's unfinished "
                       "protocol to FILE (.tar.gz), to resume elsewhere")
    carry.add_argument("--unpack", metavar="FILE", help="first put a --pack file's protocol "
                       "into --work-dir, then run")
    a = p.parse_args()
    if a.report:
        report(a.figure)
        return
    if not a.env:
        p.error("--env is required (or --report)")
    if a.check_seeds < 1:
        fail(f"--check-seeds {a.check_seeds}: give 1 or more seeds")
    if a.sb3_seeds is None:
        a.sb3_seeds = 5 if a.env == "HalfCheetah-v5" else 3
    work = Path(a.work_dir).expanduser()
    if a.pack:
        pack(a, work, Path(a.pack))
        return
    out = RESULTS / f"returns_{a.env}.json"
    keep_record = a.peers_only or a.check_only  # the committed record stays, but one part
    flag = "--peers-only" if a.peers_only else "--check-only"
    if keep_record and not out.exists():
        fail(f"{flag}: no record {out}; run {a.env}'s protocol first")
    if keep_record:
        record = json.loads(out.read_text())
        a.max_steps = record["env_steps"]  # the peers and the check run the record's budget
    if a.check_only:
        preset = PRESETS / f"{a.env}.json"
        if not preset.exists() or json.loads(preset.read_text()) != record["ours"]["config"]:
            fail(f"--check-only: {preset} is not the configuration {out} reports; run "
                 f"{a.env}'s protocol, which writes both")
    if a.unpack:
        unpack(a, work, Path(a.unpack))
    if a.check_only:
        check(a, work, record, _kept_check(record, out))
    else:
        record = protocol(a, work, record if a.peers_only else None)
    RESULTS.mkdir(exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    st = record["ours"]
    peers = "".join(f"; {side}: {record[side]['mean']:.0f}" for side in PEERS
                    if record.get(side, {}).get("n"))
    print(f"a2c_ray: {st['mean']:.0f} +- {st['sem']:.0f} (s.e.), worst {st['worst']:.0f}, IQM "
          f"{st['iqm']:.0f} on {st['n']} test seeds{peers}; preset on seed {CHECK_SEED}: "
          f"{record['preset_check']['eval_return_last']:.0f}{_over_seeds(record)}\nwrote {out}")


if __name__ == "__main__":
    main()
