"""The sweep's pick on fresh seeds: a real sweep at 1M steps, its top 3 then on 10 test seeds.

    python -m benchmarks.selection.selection_check --env HalfCheetah-v5
    python -m benchmarks.selection.selection_check --env HalfCheetah-v5 --report

The selection replay (``selection_replay.py``) decides the sweep's defaults on a table of runs
at a reduced budget; this is the check at the full one. It runs the sweep as a user does,
with every selection default as ``SweepConfig`` has it (seeds per trial, the score's
statistic, ASHA's grace period, the top 3 re-trained on 5 validation seeds and the best there
picked), over ``benchmarks/search_space_mujoco.json`` with observation normalisation fixed on
and the env's preset as its first trial, as the MuJoCo protocol does (``mujoco_returns.py``).
Then each of the 3 candidates the validation seeds ranked is trained on the same 10 test
seeds, 10010 to 10019 (the test seeds after the ones the presets' protocol chose on, so no
step of the presets' making or of this sweep used them), in the confirmation's own way
(``tuning.confirm``: the full budget, 10 deterministic episodes at the end). The pick's test
mean is then set against the best of the three: the check holds where the pick is within one
standard error of that best (the best's own standard error over its 10 seeds).

The seeds the check's test runs use choose nothing: all three are trained on them, and the
pick was made before they ran. Everything resumes: the sweep with ``--resume``, the test runs
from their checkpoints. The record goes to ``benchmarks/results/selection_check_<env>.json``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from a2c_ray.cli import Parser, fail

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
SPACE = ROOT / "benchmarks" / "search_space_mujoco.json"
PRESETS = ROOT / "a2c_ray" / "presets"
TEST_FIRST, TEST_COUNT = 10, 10  # test seeds 10010 to 10019: the 11th to the 20th
CANDIDATES, VALIDATION = 3, 5
SETTINGS = ("env", "num_samples", "seed", "max_steps", "grace_steps", "reduction_factor",
            "seeds_per_trial", "score", "score_evals", "sampler", "confirm_top",
            "confirm_seeds")  # the sweep's, from its sweep.json, in the record


def _sweep(a: Any, work: Path) -> Path:
    """Run or resume the sweep with its validation; returns its directory."""
    name = f"check_{a.env}"
    exp = work / name
    if (exp / "confirmation.json").exists():
        print(f"sweep {exp} finished: reusing it", flush=True)
        return exp
    cmd = [sys.executable, "-m", "a2c_ray.tune", "--storage-path", str(work), "--name", name,
           "--confirm-top", str(CANDIDATES), "--confirm-seeds", str(VALIDATION)]
    if (exp / "sweep.json").exists():
        cmd += ["--resume"]
    else:
        cmd += ["--env", a.env, "--num-samples", str(a.num_samples), "--seed", str(a.seed),
                "--max-steps", str(a.max_steps),
                "--search-space", str(SPACE), "--set", "normalize_obs=true"]
        preset = PRESETS / f"{a.env}.json"
        if preset.exists():
            cmd += ["--start-from", str(preset)]
    log = work / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    print("$", " ".join(cmd), f"  (log: {log})", flush=True)
    with log.open("a") as out:
        code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                               env={**os.environ, "MUJOCO_GL": "egl"})
    if code != 0:
        sys.exit(f"the sweep ended with exit code {code}: see {log}; the same command resumes it")
    return exp


def _test(exp: Path) -> list[dict[str, Any]]:
    """Every validation candidate trained on the check's test seeds, in the sweep's order."""
    from a2c_ray.cli import prepare_ray

    prepare_ray(None)
    from a2c_ray.core.seeds import test_seeds
    from a2c_ray.run.actors import ensure_ray
    from a2c_ray.tuning.confirm import Candidate, confirm
    from a2c_ray.tuning.control import StopSignals, open_saved
    from a2c_ray.tuning.resources import local_cpus

    plan = open_saved(exp.name, str(exp.parent))
    ranking = json.loads((exp / "confirmation.json").read_text())
    candidates = [Candidate(r["sweep_trial_id"], r["sweep_metric"], r["sweep_score_std"],
                            r["config"]) for r in ranking]
    ensure_ray(num_cpus=local_cpus(plan))
    seeds = test_seeds(TEST_FIRST + TEST_COUNT)[TEST_FIRST:]
    with StopSignals(f"continue with: python {' '.join(sys.argv)}") as stop:
        tested = confirm(plan, candidates, seeds, stop, name="check_test")
        if stop.received is not None:
            sys.exit(stop.exit_code)
    by_trial = {r["sweep_trial_id"]: r for r in tested}
    return [by_trial[c.trial_id] for c in candidates]


def _stats(r: dict[str, Any]) -> dict[str, Any]:
    keys = ("seeds", "returns", "mean", "sem", "worst", "iqm", "mean_ci95", "iqm_ci95")
    return {k: r[k] for k in keys if k in r}


def record(exp: Path, tested: list[dict[str, Any]], wall_s: float) -> dict[str, Any]:
    """The check's record: the sweep's settings, each candidate on both seed sets, the check."""
    plan = json.loads((exp / "sweep.json").read_text())
    summary = json.loads((exp / "summary.json").read_text())
    validation = json.loads((exp / "confirmation.json").read_text())
    rows = []
    for rank, (val, test) in enumerate(zip(validation, tested, strict=True), 1):
        rows.append({"validation_rank": rank, "sweep_trial_id": val["sweep_trial_id"],
                     "sweep_score": val["sweep_metric"], "validation": _stats(val),
                     "test": _stats(test), "config": val["config"]})
    pick = rows[0]
    best = max(rows, key=lambda r: r["test"]["mean"])
    gap = best["test"]["mean"] - pick["test"]["mean"]
    return {
        "env_id": plan["env"], "sweep": {k: plan[k] for k in SETTINGS},
        "num_trials": summary["num_trials"], "trials_by_status": summary["trials_by_status"],
        "seed_sets": {"chose": f"training seeds (the search), validation seeds "
                      f"{validation[0]['seeds'][0]}..{validation[0]['seeds'][-1]} (the pick)",
                      "measured": f"test seeds {tested[0]['seeds'][0]}.."
                      f"{tested[0]['seeds'][-1]}, which chose nothing"},
        "candidates": rows, "pick": pick["sweep_trial_id"],
        "best_on_test": best["sweep_trial_id"], "gap": gap, "best_sem": best["test"]["sem"],
        "holds": bool(gap <= best["test"]["sem"]),
        "wall_s": round(wall_s), "cpus": os.cpu_count(), "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d"),
    }


def report(rec: dict[str, Any]) -> str:
    """The record as the benchmarks README's table."""
    lines = [f"{rec['env_id']}: {rec['num_trials']} trials; chosen on {rec['seed_sets']['chose']}"
             f"; measured on {rec['seed_sets']['measured']}", "",
             "| candidate (sweep trial) | sweep score | validation mean +- s.e. (5) | test mean "
             "+- s.e. (10) | worst test seed | test IQM |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rec["candidates"]:
        v, t = r["validation"], r["test"]
        tag = " (the pick)" if r["sweep_trial_id"] == rec["pick"] else ""
        tag += " (best on test)" if r["sweep_trial_id"] == rec["best_on_test"] else ""
        lines.append(f"| {r['validation_rank']}. {r['sweep_trial_id']}{tag} | "
                     f"{r['sweep_score']:.0f} | {v['mean']:.0f} +- {v['sem']:.0f} | "
                     f"{t['mean']:.0f} +- {t['sem']:.0f} | {t['worst']:.0f} | {t['iqm']:.0f} |")
    verdict = "holds" if rec["holds"] else "fails"
    lines += ["", f"The pick is {rec['gap']:.0f} below the best on test seeds, whose standard "
              f"error is {rec['best_sem']:.0f}: the check {verdict}."]
    return "\n".join(lines)


def main() -> int:
    """Run (or resume) the check, write its record and print its table."""
    p = Parser(prog="python -m benchmarks.selection.selection_check",
               description=__doc__.split("\n")[0])
    p.add_argument("--env", default="HalfCheetah-v5", help="the MuJoCo task")
    p.add_argument("--num-samples", type=int, default=30, help="the sweep's trials")
    p.add_argument("--seed", type=int, default=0, help="the sweep's seed")
    p.add_argument("--max-steps", type=int, default=1_000_000,
                   help="env steps a trial, a validation run and a test run train at most")
    p.add_argument("--work-dir", type=Path,
                   default=Path("~/a2c_ray_results/benchmarks/selection_check").expanduser(),
                   help="where the sweep and its runs go")
    p.add_argument("--report", action="store_true", help="print the committed record's table")
    a = p.parse_args()
    out = RESULTS / f"selection_check_{a.env}.json"
    if a.report:
        if not out.exists():
            fail(f"--report: no record at {out}; run the check first")
        print(report(json.loads(out.read_text())))
        return 0
    if a.num_samples < CANDIDATES:
        fail(f"--num-samples {a.num_samples}: expected at least {CANDIDATES}")
    a.work_dir.mkdir(parents=True, exist_ok=True)
    wall_file = a.work_dir / f"wall_s_{a.env}.txt"
    before = float(wall_file.read_text()) if wall_file.exists() else 0.0
    start = time.time()
    try:
        exp = _sweep(a, a.work_dir)
        tested = _test(exp)
    finally:
        wall_file.write_text(f"{before + time.time() - start:.0f}\n")
    rec = record(exp, tested, before + time.time() - start)
    out.write_text(json.dumps(rec, indent=2))
    print(report(rec))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
