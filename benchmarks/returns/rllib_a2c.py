"""RLlib configured as A2C, from one of our presets, under our evaluation protocol.

    python -m benchmarks.returns.rllib_a2c --config a2c_ray/presets/HalfCheetah-v5.json \
        --seed 10000 --out run.json
    python -m benchmarks.returns.rllib_a2c --config a2c_ray/presets/HalfCheetah-v5.json \
        --throughput 2 --steps 200000 --out throughput.json

Run it in a virtual environment of its own with ``pip install -e ".[rllib]"``: RLlib pins an
older gymnasium than a2c_ray installs (Ray 2.60's RLlib: gymnasium 1.2.2).

RLlib removed its A2C in Ray 2.11, so this is PPO on the new API stack reduced to A2C: one epoch
over one minibatch equal to the train batch (the probability ratio is exactly 1 when the gradient
is taken, so the clipped surrogate's gradient is the policy gradient), clipping that never binds
(``clip_param`` and ``vf_clip_param`` 1e10), no KL term (``use_kl_loss=False``). From the preset
it takes the batch (``envs_per_worker`` x ``rollout_length`` per sampler), gamma, GAE lambda,
the learning rate and its schedule, vf and entropy coefficients, the gradient-norm clip, the
network (sizes, activation, separate policy and value networks, a state-independent log std),
observations normalised and clipped (RLlib's MeanStdFilter) and rewards scaled by a running
return std and clipped (gymnasium's NormalizeReward, one per env). RLlib has no equivalent of
the preset's ``value_grad_steps``, ``td_lambda``, ``log_std_init`` or Adam epsilon; those stay
at RLlib's behaviour (one value step on GAE targets, log std starting at 0, eps 1e-8).

The evaluation is a2c_ray's (and benchmarks/returns/sb3_a2c.py's): every ``--eval-every`` steps
and at the end, 10 deterministic episodes (the mean action) on fresh environments, episode k
reset with seed + 1_000_003 + k, observations normalised with the training statistics frozen,
raw rewards.

``--throughput K`` measures training speed instead: our trainer with K rollout actors and RLlib
with K env runners, the same preset and batch, one after the other in this one process and
Ray, each for ``--steps`` env steps, evaluation off; it writes env steps per second of each,
from the end of the first iteration to the last (start-up left out on both sides).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from a2c_ray.core.config import EVAL_SEED_OFFSET, A2CConfig
from a2c_ray.sampling.envs import make_env  # MuJoCo's harmless warnings not shown

NEVER_BINDS = 1e10


def _env_creator(env_id: str, gamma: float, normalize_reward: bool, clip: float) -> Any:
    def make(_ctx: Any = None) -> Any:
        import gymnasium as gym

        env = make_env(env_id)
        if normalize_reward:
            env = gym.wrappers.NormalizeReward(env, gamma=gamma)
            env = gym.wrappers.TransformReward(env, lambda r: float(np.clip(r, -clip, clip)))
        return env

    return make


def algo_config(cfg: A2CConfig, seed: int, steps: int, samplers: int) -> Any:
    """PPO reduced to A2C with ``cfg``'s settings; ``samplers`` env runners (0: in the learner)."""
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.connectors.env_to_module import MeanStdFilter
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
    from ray.tune.registry import register_env

    name = f"a2c_ray_{cfg.env_id}"
    register_env(name, _env_creator(cfg.env_id, cfg.gamma, cfg.normalize_reward,
                                    cfg.clip_reward))
    batch = cfg.envs_per_worker * cfg.rollout_length * max(1, samplers)
    lr: Any = cfg.learning_rate
    if cfg.lr_schedule == "linear":
        lr = [[0, cfg.learning_rate], [steps, 0.0]]
    filt = (lambda env, spaces, device: MeanStdFilter(clip_by_value=cfg.clip_obs)) \
        if cfg.normalize_obs else None
    return (
        PPOConfig()
        .environment(name)
        .env_runners(num_env_runners=samplers, num_envs_per_env_runner=cfg.envs_per_worker,
                     rollout_fragment_length=cfg.rollout_length,
                     env_to_module_connector=filt, num_cpus_per_env_runner=1)
        .learners(num_learners=0)
        .training(lr=lr, gamma=cfg.gamma, lambda_=cfg.gae_lambda,
                  train_batch_size_per_learner=batch, minibatch_size=batch, num_epochs=1,
                  clip_param=NEVER_BINDS, vf_clip_param=NEVER_BINDS, use_kl_loss=False,
                  kl_coeff=0.0, entropy_coeff=cfg.ent_coef, vf_loss_coeff=cfg.vf_coef,
                  grad_clip=cfg.max_grad_norm, grad_clip_by="global_norm")
        .rl_module(model_config=DefaultModelConfig(
            fcnet_hiddens=[cfg.layer_size] * cfg.n_layers, fcnet_activation=cfg.activation,
            vf_share_layers=cfg.shared_network, free_log_std=True))
        .debugging(seed=seed)
    )


def _obs_filter(algo: Any) -> Any:
    """The training observation filter (merged over env runners), or None without one."""
    from ray.rllib.utils.filter import MeanStdFilter, RunningStat

    state = algo.get_state(components="env_runner")["env_runner"]
    conn = state.get("env_to_module_connector", {}).get("MeanStdFilter")
    if not conn:
        return None
    s = conn[None]
    f = MeanStdFilter(s["shape"], demean=s["de_mean_to_zero"], destd=s["de_std_to_one"],
                      clip=s["clip_by_value"])
    f.running_stats = RunningStat.from_state(s["running_stats"][0])
    return f


def evaluate(algo: Any, env_id: str, episodes: int, seed: int) -> float:
    """Mean return of ``episodes`` episodes of the mean action, episode k reset with seed + k."""
    import torch

    module = algo.get_module()
    filt = _obs_filter(algo)
    returns = []
    for k in range(episodes):
        env = make_env(env_id)
        low, high = env.action_space.low, env.action_space.high
        obs, _ = env.reset(seed=seed + k)
        total, done = 0.0, False
        while not done:
            x = filt(obs, update=False) if filt is not None else obs
            with torch.no_grad():
                out = module.forward_inference({"obs": torch.as_tensor(x[None],
                                                                       dtype=torch.float32)})
            mean = out["action_dist_inputs"][0, : low.shape[0]].numpy()
            # RLlib's default (normalize_actions): policy outputs in [-1, 1] map to the bounds
            action = low + (np.clip(mean, -1.0, 1.0) + 1.0) * (high - low) / 2.0
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        env.close()
        returns.append(total)
    return float(np.mean(returns))


def _steps(result: dict) -> int:
    return int(result["env_runners"]["num_env_steps_sampled_lifetime"])


def run(cfg: A2CConfig, seed: int, steps: int, eval_every: int, episodes: int) -> dict:
    """Train for ``steps`` env steps on ``seed``; evaluate every ``eval_every`` and at the end."""
    import ray
    import torch

    # one core per run, as each a2c_ray trial (torch's default is a thread per core)
    torch.set_num_threads(1)
    ray.init(num_cpus=max(1, cfg.num_rollout_workers) + 1, include_dashboard=False,
             log_to_driver=False)
    algo = algo_config(cfg, seed, steps, cfg.num_rollout_workers).build_algo()
    curve: list[tuple[int, float]] = []
    eval_seed = seed + EVAL_SEED_OFFSET
    start, done, next_eval = time.perf_counter(), 0, eval_every
    while done < steps:
        done = _steps(algo.train())
        if done >= next_eval and done < steps:
            curve.append((done, evaluate(algo, cfg.env_id, episodes, eval_seed)))
            next_eval += eval_every
            print(f"{done} steps, {time.perf_counter() - start:.0f} s: eval return "
                  f"{curve[-1][1]:.1f}", flush=True)
    wall = time.perf_counter() - start
    curve.append((done, evaluate(algo, cfg.env_id, episodes, eval_seed)))
    algo.stop()
    ray.shutdown()
    return {"env_id": cfg.env_id, "seed": seed, "env_steps": done,
            "eval_return_last": curve[-1][1], "eval_episodes": episodes,
            "curve": {"env_steps": [s for s, _ in curve], "eval_return": [r for _, r in curve]},
            "wall_s": wall, "settings": {"algorithm": "PPO reduced to A2C",
                                         "ray": ray.__version__, "from_config": cfg.to_dict()}}


def throughput(cfg: A2CConfig, samplers: int, steps: int, out_dir: Path) -> dict:
    """Training env steps/s of our trainer and of RLlib, ``samplers`` samplers each."""
    import ray

    from a2c_ray.run.trainer import train

    ray.init(num_cpus=samplers + 1, include_dashboard=False, log_to_driver=False)
    ours_cfg = A2CConfig.from_dict({**cfg.to_dict(), "num_rollout_workers": samplers,
                                    "total_env_steps": steps, "eval_interval_steps": 0,
                                    "checkpoint_interval": 10**9})
    train(ours_cfg, str(out_dir / "ours"))
    import pandas as pd

    rows = pd.read_csv(out_dir / "ours" / "progress.csv").iloc[[0, -1]]
    ours = float(rows["env_steps"].diff().iloc[1] / rows["time_total_s"].diff().iloc[1])

    algo = algo_config(cfg, 0, steps, samplers).build_algo()
    first = _steps(algo.train())
    start, done = time.perf_counter(), first
    while done < steps:
        done = _steps(algo.train())
    theirs = (done - first) / (time.perf_counter() - start)
    algo.stop()
    ray.shutdown()
    return {"env_id": cfg.env_id, "samplers": samplers, "env_steps": steps,
            "batch": cfg.envs_per_worker * cfg.rollout_length * samplers,
            "a2c_ray_steps_per_s": ours, "rllib_steps_per_s": theirs,
            "ratio": ours / theirs, "cpus": os.cpu_count(), "ray": ray.__version__}


def main() -> None:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="a2c_ray config JSON (a preset)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--eval-every", type=int, default=50_000)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--throughput", type=int, metavar="K", help="measure speed with K samplers "
                   "on each side instead of training for returns")
    p.add_argument("--out", required=True, help="JSON file to write")
    a = p.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")
    cfg = A2CConfig.from_dict(json.loads(Path(a.config).read_text()))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if a.throughput is not None:
        with tempfile.TemporaryDirectory() as runs:  # our run's files: only its speed is kept
            result = throughput(cfg, a.throughput, a.steps, Path(runs))
        line = (f"{cfg.env_id}, {a.throughput} samplers: a2c_ray "
                f"{result['a2c_ray_steps_per_s']:.0f} steps/s, RLlib "
                f"{result['rllib_steps_per_s']:.0f} steps/s, ratio {result['ratio']:.2f}")
    else:
        result = run(cfg, a.seed, a.steps, a.eval_every, a.eval_episodes)
        line = (f"RLlib as A2C {cfg.env_id} seed {a.seed}: {result['eval_return_last']:.1f} "
                f"after {result['env_steps']} steps, {result['wall_s']:.0f} s")
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(out)
    print(line)


if __name__ == "__main__":
    main()
