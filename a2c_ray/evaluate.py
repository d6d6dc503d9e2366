"""``python -m a2c_ray.evaluate`` rolls out a checkpoint's policy, writes a GIF.

--checkpoint takes a checkpoint directory, a train run directory, a Ray Tune trial or
checkpoint directory, or a whole sweep directory (then the best trial's latest checkpoint).
Rendering is off-screen (MUJOCO_GL=egl unless set).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from a2c_ray.cli import Parser, UsageError, run_cli
from a2c_ray.core import ConfigError
from a2c_ray.core import storage as st
from a2c_ray.run import CheckpointError, checkpoint, load_checkpoint
from a2c_ray.sampling import EnvIdError, env_spaces, success_rate

os.environ.setdefault("MUJOCO_GL", "egl")  # off-screen rendering: no display needed
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame's (classic control) likewise


def find_checkpoint(path: str | Path) -> str:
    """Resolve a checkpoint, run, trial or sweep directory (local or s3://) to one checkpoint.

    A sweep means its best trial (``a2c_ray.results.ranked``): the confirmed winner's sweep
    trial after ``--confirm-top``. A trial of several seeds means its first seed's checkpoint
    (``.../seed-<seed>``; pass that directory of another seed to see that one).
    """
    uri = st.resolve(path)
    if not st.exists(uri):
        raise CheckpointError(f"--checkpoint {str(path)!r} does not exist")
    found = checkpoint.resolve(uri)
    if found is not None:
        return checkpoint.seed_checkpoints(found)[0]
    if st.exists(st.join(uri, "sweep.json")):
        from a2c_ray.results import best_trials

        for trial_dir in best_trials(uri)["trial_dir"].dropna():
            found = checkpoint.resolve(trial_dir)
            if found is not None:
                return checkpoint.seed_checkpoints(found)[0]
    raise CheckpointError(
        f"--checkpoint {str(path)!r} holds no a2c_ray checkpoint: expected a checkpoint, run, "
        "trial or sweep directory"
    )


def load_policy(path: str | Path) -> tuple[Any, Any, Any]:
    """(config, model, observation normaliser or None) from a checkpoint-like path."""
    from a2c_ray.core import RunningMeanStd, vector_columns
    from a2c_ray.model import ActorCritic

    config, learner, _ = load_checkpoint(find_checkpoint(path))
    obs_space, action_space = env_spaces(config.env_id)
    model = ActorCritic(obs_space, action_space, config)
    model.load_state_dict(learner["model"])
    model.requires_grad_(False)
    normalize = None
    if config.normalize_obs:
        rms = RunningMeanStd.from_state(learner["obs_rms"])
        columns = vector_columns(obs_space)
        normalize = lambda obs: rms.normalize(obs, config.clip_obs, columns)  # noqa: E731
    return config, model, normalize


def evaluate(
    path: str | Path, episodes: int | None = None, seed: int | None = None,
    gif: str | Path | None = None, size: int = 320, max_frames: int = 500, fps: int = 30,
) -> dict[str, Any]:
    """Episodes of a checkpoint's policy as its evaluations ran; optionally a GIF of the first.

    By default the run's own evaluation protocol: its ``eval_episodes`` episodes, episode k
    reset with its ``eval_seed`` + k. On a run's final checkpoint that reproduces the last
    ``eval_return_mean`` the run reported. ``result["protocol"]`` says which was used.
    """
    checkpoint = find_checkpoint(path)  # before loading torch: a wrong path fails at once
    config, model, normalize = load_policy(checkpoint)
    from a2c_ray.sampling import eval_deterministic, run_episodes

    deterministic = eval_deterministic(config.env_id, config.eval_policy)
    own = episodes in (None, config.eval_episodes) and seed in (None, config.eval_seed)
    episodes = config.eval_episodes if episodes is None else episodes
    seed = config.eval_seed if seed is None else seed
    render_kwargs = {}
    if gif is not None and _is_mujoco_id(config.env_id):
        render_kwargs = {"width": size, "height": size}
    returns, lengths, successes, frames = run_episodes(
        model, config.env_id, episodes, seed, normalize, deterministic=deterministic,
        render_first=gif is not None, render_kwargs=render_kwargs, max_frames=max_frames,
    )
    if gif is not None:
        write_gif(frames, gif, fps)
    acting = "deterministic" if deterministic else "stochastic (seeded)"
    protocol = (f"{episodes} {acting} episodes, reset seeds {seed} to {seed + episodes - 1}"
                + (", the run's own evaluation" if own else ""))
    return {"env_id": config.env_id, "checkpoint": checkpoint, "episodes": episodes,
            "seed": seed, "protocol": protocol, "return_mean": float(returns.mean()),
            "return_std": float(returns.std()), "length_mean": float(lengths.mean()),
            "returns": returns.tolist(), "gif": str(gif) if gif else None,
            # where the env reports ``is_success``, else None
            "success_rate": None if math.isnan(rate := success_rate(successes)) else rate}


def _is_mujoco_id(env_id: str) -> bool:
    import gymnasium as gym

    spec = gym.spec(env_id) if ":" not in env_id else None
    return spec is not None and "mujoco" in str(spec.entry_point)


def write_gif(frames: list[np.ndarray], path: str | Path, fps: int = 30,
              margin: int = 12) -> Path:
    """An animated, looping GIF of RGB frames [H, W, 3], cropped to what is not background.

    A render on a white background (classic control: 600 x 400, mostly white) is cropped to
    the box holding every pixel that is not white in any frame, plus ``margin``; any other
    render (MuJoCo's skybox and floor) keeps its size.
    """
    import imageio.v3 as iio

    video = np.stack(frames)  # [F, H, W, 3]
    mask = (video != 255).any(axis=(0, 3))  # [H, W]: not white in some frame
    if (video[0, 0, 0] == 255).all() and mask.any():
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        top, bottom = max(rows[0] - margin, 0), min(rows[-1] + margin + 1, mask.shape[0])
        left, right = max(cols[0] - margin, 0), min(cols[-1] + margin + 1, mask.shape[1])
        video = video[:, top:bottom, left:right]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, video, extension=".gif", duration=1000 / fps, loop=0)
    return path


def main() -> int:
    """Entry point."""
    p = Parser(prog="python -m a2c_ray.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", required=True,
                   help="checkpoint, train run, Tune trial or sweep directory")
    p.add_argument("--episodes", type=int, help="episodes, acting as the run's eval_policy "
                   "says (default: the run's eval_episodes, as its own evaluations)")
    p.add_argument("--gif", help="write a GIF of the first episode here")
    p.add_argument("--seed", type=int, help="episode k resets with seed + k (default: the "
                   "run's evaluation seed)")
    p.add_argument("--size", type=int, default=320, help="rendered frame size (MuJoCo)")
    p.add_argument("--max-frames", type=int, default=500, help="frames kept in the GIF")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args()
    if args.episodes is not None and args.episodes < 1:
        raise UsageError(f"--episodes {args.episodes} must be >= 1")
    result = evaluate(args.checkpoint, args.episodes, args.seed, args.gif, args.size,
                      args.max_frames)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['env_id']}: return {result['return_mean']:.1f} +- "
              f"{result['return_std']:.1f} over {result['protocol']} (checkpoint "
              f"{result['checkpoint']})")
        if args.gif:
            print(f"wrote {args.gif}")
    return 0


def cli() -> None:
    """Console entry point ``a2c-ray-evaluate``: main() with one-line errors, exit code 2."""
    # ConfigError: e.g. the run's own network cannot be imported here
    run_cli(main, (UsageError, CheckpointError, EnvIdError, ConfigError))


if __name__ == "__main__":
    cli()
