"""``python -m a2c_ray.train``, one configuration on one or more seeds.

Writes to DIR (or DIR/seed_S for each seed when several are given, all trained at once on
Ray): progress.csv, TensorBoard events under tensorboard/, checkpoint/ and summary.json.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

from a2c_ray.cli import Parser, UsageError, prepare_ray, run_cli
from a2c_ray.core import (
    A2CConfig,
    ConfigError,
    SpaceError,
    image_parts,
    parse_override,
    read_config,
)
from a2c_ray.run import CheckpointError, is_checkpoint, load_config
from a2c_ray.sampling import EnvIdError, env_spaces


def build_parser() -> Parser:
    """The command's arguments."""
    p = Parser(prog="python -m a2c_ray.train", description=__doc__.split("\n")[0])
    p.add_argument("--env", help="gymnasium id, e.g. HalfCheetah-v5 or package.module:EnvId-v0 "
                   "(default: the config's env_id)")
    p.add_argument("--max-steps", "--total-steps", dest="total_steps", type=int,
                   help="environment steps to train for (default: the config's "
                   "total_env_steps; on --resume, the saved run's)")
    p.add_argument("--seed", type=int, nargs="+", help="one or more seeds (default: the "
                   "config's seed); several seeds train at once, each into DIR/seed_S")
    p.add_argument("--out", required=True, help="output directory DIR")
    p.add_argument("--config", help="JSON file of A2CConfig fields (a sweep's best_config.json)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config field (value read as JSON); repeatable")
    p.add_argument("--num-rollout-workers", type=int, help="Ray rollout actors (0: sample "
                   "in this process)")
    p.add_argument("--envs-per-worker", type=int, help="environments per worker")
    p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint; a "
                   "larger --max-steps extends the run, any other flag must match it")
    p.add_argument("--address", help="Ray cluster to join (default: start a local Ray sized "
                   "for the workers)")
    p.add_argument("--progress", choices=("auto", "bar", "log"), default="auto",
                   help="progress bar, or plain log lines; auto picks by terminal")
    p.add_argument("--track", choices=("mlflow", "wandb"), help="also send every seed's run "
                   "to this experiment tracker (MLFLOW_TRACKING_URI, WANDB_PROJECT, "
                   "WANDB_MODE=offline ...); the experiment or group is DIR's name")
    p.add_argument("--sequential", action="store_true", help="several seeds one after another "
                   "(default: all at once on Ray, one CPU each, times 1 + rollout workers)")
    return p


def make_config(args: Any) -> tuple[A2CConfig, dict[str, Any]]:
    """Defaults, then --config, then the explicit flags, then --set; validated.

    Also returns what the user asked for explicitly (the file, the flags, --set), which a
    resumed run checks against its saved config.
    """
    values: dict[str, Any] = {}
    if args.config:
        values.update(read_config(args.config).to_dict())
    flags = {"env_id": args.env, "total_env_steps": args.total_steps,
             "num_rollout_workers": args.num_rollout_workers,
             "envs_per_worker": args.envs_per_worker}
    values.update({k: v for k, v in flags.items() if v is not None})
    if args.seed:
        values["seed"] = args.seed[0]
    for text in args.overrides:
        key, value = parse_override(text)
        values[key] = value
    return A2CConfig.from_dict(values), values


def resumed_config(saved: A2CConfig, asked: dict[str, Any], where: str) -> A2CConfig:
    """The config a resumed run continues with: the saved one, with a new budget if asked.

    Any other field asked for that differs from the saved run raises UsageError naming the
    field and both values: a run cannot change its configuration halfway.
    """
    wanted = A2CConfig.from_dict({**saved.to_dict(), **asked})  # validated, types coerced
    for key in asked:
        if key != "total_env_steps" and getattr(wanted, key) != getattr(saved, key):
            raise UsageError(
                f"--resume: {key} is {getattr(saved, key)!r} in the run at {where} but "
                f"{getattr(wanted, key)!r} was asked; a resumed run keeps its configuration "
                "(only --max-steps may change): drop the flag, or start a new run in another "
                "--out directory")
    return saved.replace(total_env_steps=wanted.total_env_steps)


def _check_out_dir(run_dir: Path, resume: bool) -> Path | None:
    ckpt = run_dir / "checkpoint"
    has_ckpt = is_checkpoint(ckpt)
    if resume and not has_ckpt:
        raise UsageError(f"--resume: {str(ckpt)!r} holds no checkpoint to resume from")
    if not resume and (has_ckpt or (run_dir / "progress.csv").exists()):
        raise UsageError(
            f"--out {str(run_dir)!r} already holds a run: pass --resume to continue it, or "
            "choose another directory"
        )
    return ckpt if resume else None


def main() -> int:
    """Entry point."""
    args = build_parser().parse_args()
    config, asked = make_config(args)
    # unknown ids, unsupported spaces and a bad network or use_sde fail before any file
    from a2c_ray.model import check_model

    obs_space, action_space = env_spaces(config.env_id)
    check_model(config, obs_space, action_space)
    if image_parts(obs_space) and args.config is None:
        print(f"{config.env_id} observes images: a2c_ray/atari.json holds rl-baselines3-zoo's "
              "A2C Atari settings (--config a2c_ray/atari.json); training with a2c_ray's "
              "defaults", file=sys.stderr)
    track = None
    if args.track:  # a tracker that is not installed or not reachable: before any file
        from a2c_ray.run import check_tracker as check
        from a2c_ray.run import track_spec

        check(args.track)
        track = track_spec(args.track, Path(args.out).name)
    seeds = args.seed or [config.seed]
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"--seed {' '.join(map(str, seeds))} repeats a seed")
    out = Path(args.out)
    runs = [(s, out if len(seeds) == 1 else out / f"seed_{s}") for s in seeds]
    resume_from = {s: _check_out_dir(d, args.resume) for s, d in runs}
    configs = {s: config.replace(seed=s) for s in seeds}
    if args.resume:  # every run checked before any continues
        for seed, run_dir in runs:
            saved = load_config(resume_from[seed])
            run_asked = {**asked, "seed": seed} if args.seed else asked
            configs[seed] = resumed_config(saved, run_asked, str(run_dir))
    prepare_ray(args.address)
    from a2c_ray.run import train

    progress = {"auto": None, "bar": True, "log": False}[args.progress]
    if len(runs) > 1 and not args.sequential:
        summaries = _train_at_once([configs[s] for s, _ in runs], runs, resume_from,
                                   args.address, progress, track)
    else:
        summaries = [train(configs[seed], run_dir, resume_from=resume_from[seed],
                           ray_address=args.address, show_progress=progress, track=track)
                     for seed, run_dir in runs]
    for (seed, run_dir), summary in zip(runs, summaries, strict=True):
        print(f"seed {seed}: eval return {summary['eval_return_mean']:.1f} "
              f"+- {summary['eval_return_std']:.1f} after {summary['env_steps']} steps "
              f"({summary['env_steps_per_s']:.0f} steps/s); results in {run_dir}")
    if len(runs) > 1:
        from a2c_ray.core import intervals, seed_stats

        means = [s["eval_return_mean"] for s in summaries]
        stats, ci = seed_stats(means), intervals(means)
        combined = {
            "env_id": configs[seeds[0]].env_id, "seeds": seeds,
            "eval_return_mean": stats["mean"], "eval_return_std": stats["std"],
            "eval_return_sem": stats["sem"], "eval_return_worst": stats["worst"],
            "eval_return_iqm": stats["iqm"], **ci,
            "runs": {str(s): str(d) for s, d in runs},
            "config": configs[seeds[0]].to_dict(),
        }
        (out / "summary.json").write_text(json.dumps(combined, indent=2))
        print(f"{len(seeds)} seeds: eval return {stats['mean']:.1f} +- {stats['sem']:.1f} "
              f"(standard error), worst {stats['worst']:.1f}, IQM {stats['iqm']:.1f} "
              f"[{ci['iqm_ci95'][0]:.1f}, {ci['iqm_ci95'][1]:.1f}] (95% bootstrap interval)")
    return 0


def _train_at_once(configs: list[A2CConfig], runs: list[tuple[int, Path]],
                   resume_from: dict[int, Path | None], address: str | None,
                   progress: bool | None,
                   track: tuple[str, str, str | None] | None) -> list[dict[str, Any]]:
    """Train the seeds at once, the first in this process and the others as Ray actors.

    The seed group (``run.lockstep.SeedGroup``): each seed a ``Trainer`` writing
    its own DIR/seed_S, as if trained alone, one CPU each and one more per rollout actor. A
    local Ray claims as many CPUs as the seeds need, so they never wait for one another.
    """
    import os

    from a2c_ray.run import SeedGroup, ensure_ray
    from a2c_ray.run import resolve_checkpoint as resolve

    per_seed = configs[0].num_rollout_workers
    needed = len(configs) - 1 + len(configs) * per_seed  # seed actors and rollout actors
    ensure_ray(num_cpus=max(os.cpu_count() or 1, needed), address=address)
    pairs = [(str(run_dir), resolve(resume_from[seed]) if resume_from[seed] else None)
             for seed, run_dir in runs]
    with SeedGroup(configs, 1, runs=pairs, show_progress=progress, track=track) as group:
        group.run(configs[0].total_env_steps)
        return group.summaries()


class _TrainModule(types.ModuleType):
    """This module, callable as the ``train`` function.

    Importing ``a2c_ray.train`` sets the package's attribute ``train`` to this module, which
    would hide the function from ``from a2c_ray import train``; calling it calls the function.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        from a2c_ray.run import train

        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _TrainModule


def cli() -> None:
    """Console entry point ``a2c-ray-train``: main() with one-line errors, exit code 2."""
    from a2c_ray.run import TrackerError

    run_cli(main, (UsageError, ConfigError, EnvIdError, SpaceError, CheckpointError,
                   TrackerError))


if __name__ == "__main__":
    cli()
