"""Stable-Baselines3 A2C with rl-baselines3-zoo's MuJoCo settings, under our evaluation protocol.

    python -m benchmarks.returns.sb3_a2c --env HalfCheetah-v5 --seed 10000 --out run.json
    python -m benchmarks.returns.sb3_a2c --env FetchReachDense-v4 --settings course --seed 0 \
        --out r.json

rl-baselines3-zoo (hyperparams/a2c.yml, "mujoco-defaults", shared by HalfCheetah, Hopper,
Walker2d and Ant): ``normalize: true``, ``n_timesteps: 1e6``, ``policy: MlpPolicy``, one
environment (the zoo's default ``n_envs``), and SB3's A2C defaults for the rest (RMSprop lr
7e-4, n_steps 5, gamma 0.99, gae_lambda 1.0, vf_coef 0.5, max_grad_norm 0.5, 64x64 tanh
MLPs). ``normalize`` is applied as the published HalfCheetah-v3 agent's saved
hyperparameters (its model card) show it: ``normalize_kwargs: {norm_obs: True, norm_reward:
False}``, observations only. ``--norm-reward`` runs the yml as the zoo reads it today,
VecNormalize's defaults with rewards normalised too; that reading ended lower on HalfCheetah
and higher on Hopper (benchmarks/returns/README.md).

``--settings zoo-atari`` is the zoo's A2C entry for Atari (hyperparams/a2c.yml, "atari"), as
its train script builds it: SB3's ``make_atari_env`` (``AtariWrapper``: 30 no-ops, 4 frames
skipped with max pooling, life loss ends an episode and rewards clipped in training, FIRE on
reset, 84x84 grey) and ``VecFrameStack`` of 4, ``CnnPolicy``, 16 envs, ``ent_coef`` 0.01,
``vf_coef`` 0.25, ``RMSpropTFLike(eps=1e-5)``, SB3's defaults for the rest. One change, for a
v5 id: ``frameskip=1`` goes to ``gym.make`` so that the wrapper's skip of 4 is the only one (the
zoo's own Atari ids, ``NoFrameskip-v4``, skip none); v5's sticky actions (0.25) stay, as in
a2c_ray's runs. Its evaluation plays whole games under the same wrapper, without the life-loss
end and the clipping.

``--settings course`` is the Hugging Face Deep RL course's A2C unit for goal-conditioned robot
arms (PandaReachDense-v3 there; the zoo publishes no A2C settings for them):
``MultiInputPolicy``, 4 environments, ``VecNormalize(norm_obs=True, norm_reward=True,
clip_obs=10)``, SB3's A2C defaults for the rest.

The evaluation is a2c_ray's: every ``--eval-every`` steps and at the end, 10 deterministic
episodes (``--eval-policy stochastic``: actions drawn, Atari only) on fresh environments,
episode k reset with seed + 1_000_003 + k, observations normalised with the training
statistics frozen, raw rewards. The run writes one JSON: the final
return, the learning curve and the wall time.

A run resumes: after each evaluation, at the start of the next rollout (so that every step
counted has been trained on), the model with its optimizer's state, VecNormalize's statistics
and the curve so far are saved in ``--checkpoint`` (by default beside ``--out``: ``NAME.ckpt/``),
and a run whose checkpoint is there goes on from it; the checkpoint goes once the JSON is
written. Unlike a2c_ray's resume this one is not exact: SB3 saves no environment state, so the
resumed part starts fresh episodes (its envs seeded seed + 100,003 x the part's number) and its
training-episode statistics anew. The JSON lists the parts, each with its env steps and
training throughput, as they may have run on different machines.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from a2c_ray.core.config import EVAL_SEED_OFFSET  # so both sides see the same start states

ZOO_SETTINGS = {"policy": "MlpPolicy", "n_envs": 1, "normalize": True}
COURSE_SETTINGS = {"policy": "MultiInputPolicy", "n_envs": 4, "normalize": True,
                   "norm_reward": True}
ATARI_SETTINGS = {"policy": "CnnPolicy", "n_envs": 16, "normalize": False, "frame_stack": 4,
                  "ent_coef": 0.01, "vf_coef": 0.25,
                  "optimizer": "RMSpropTFLike(eps=1e-5)", "env_kwargs": {"frameskip": 1}}
SETTINGS = {"zoo-mujoco": ZOO_SETTINGS, "course": COURSE_SETTINGS, "zoo-atari": ATARI_SETTINGS}
PART_SEED_STRIDE = 100_003  # a resumed part's envs start from seed + this x the part's number


def _atari_eval_env(env_id: str):
    """The zoo's Atari pipeline for evaluation: whole games, raw scores."""
    import ale_py
    import gymnasium as gym
    from stable_baselines3.common.atari_wrappers import AtariWrapper

    gym.register_envs(ale_py)
    env = gym.make(env_id, **ATARI_SETTINGS["env_kwargs"])
    return AtariWrapper(env, terminal_on_life_loss=False, clip_reward=False)


def atari_episodes(model, env_id: str, episodes: int, seed: int,
                   deterministic: bool = True) -> list[float]:
    """Whole games' scores, episode k reset with seed + k.

    4 frames stacked channels-last from zeros, as ``VecFrameStack`` stacks them.
    """
    returns = []
    stack = ATARI_SETTINGS["frame_stack"]
    for k in range(episodes):
        env = _atari_eval_env(env_id)
        frame, _ = env.reset(seed=seed + k)
        frames = np.zeros((*frame.shape[:2], stack), dtype=np.uint8)
        frames[..., -1] = frame[..., 0]
        total, done = 0.0, False
        while not done:
            action, _ = model.predict(frames[None], deterministic=deterministic)
            frame, reward, terminated, truncated, _ = env.step(int(action[0]))
            frames = np.roll(frames, -1, axis=-1)
            frames[..., -1] = frame[..., 0]
            total += float(reward)
            done = terminated or truncated
        env.close()
        returns.append(total)
    return returns


def episodes_run(model, vec_normalize, env_id: str, episodes: int,
                 seed: int) -> tuple[list[float], list[float]]:
    """Returns and successes of ``episodes`` deterministic episodes, episode k reset with seed + k.

    A success is the ``is_success`` of the episode's last info, NaN where it has none.
    """
    from a2c_ray.sampling.envs import episode_success, make_env  # the same env ids

    returns, successes = [], []
    for k in range(episodes):
        env = make_env(env_id)
        obs, _ = env.reset(seed=seed + k)
        total, done = 0.0, False
        while not done:
            batch = ({key: v[None] for key, v in obs.items()} if isinstance(obs, dict)
                     else obs[None])
            action, _ = model.predict(vec_normalize.normalize_obs(batch), deterministic=True)
            obs, reward, terminated, truncated, info = env.step(action[0])
            total += float(reward)
            done = terminated or truncated
        env.close()
        returns.append(total)
        successes.append(episode_success(info))
    return returns, successes


def evaluate(model, vec_normalize, env_id: str, episodes: int, seed: int) -> float:
    """Mean return of ``episodes`` deterministic episodes, episode k reset with seed + k."""
    return float(np.mean(episodes_run(model, vec_normalize, env_id, episodes, seed)[0]))


def _rate(successes: list[float]) -> float | None:
    from a2c_ray.sampling import success_rate

    rate = success_rate(successes)
    return None if np.isnan(rate) else rate


def _save_checkpoint(path: Path, model, env, state: dict) -> None:
    """The model (with its optimizer), VecNormalize's statistics and ``state``, saved together.

    The files are named by the env step, and state.json, replaced whole and last, names the
    ones it goes with: a kill at any moment leaves a state.json whose files are all there,
    the new set or the one before. The files it no longer names go after it.
    """
    from stable_baselines3.common.vec_env import VecNormalize

    path.mkdir(parents=True, exist_ok=True)
    files = {"model": f"model_{model.num_timesteps}.zip"}
    model.save(path / files["model"])
    if isinstance(env, VecNormalize):
        files["vecnormalize"] = f"vecnormalize_{model.num_timesteps}.pkl"
        env.save(str(path / files["vecnormalize"]))
    tmp = path / "state.tmp.json"
    tmp.write_text(json.dumps({**state, "files": files}))
    tmp.replace(path / "state.json")
    for old in path.iterdir():
        if old.name not in (*files.values(), "state.json"):
            old.unlink()


def run(env_id: str, seed: int, steps: int, eval_every: int, episodes: int,
        norm_reward: bool = False, settings: str = "zoo-mujoco",
        eval_policy: str = "deterministic", checkpoint: Path | None = None) -> dict:
    """Train SB3 A2C with ``settings`` for ``steps`` steps; evaluate along the way.

    With ``checkpoint``, the run saves itself there after each evaluation and, where a
    checkpoint is there already, goes on from it (the module's docstring says what is kept).
    """
    import torch
    from stable_baselines3 import A2C
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    from a2c_ray.sampling.envs import make_env

    chosen = SETTINGS[settings]
    norm_reward = norm_reward or chosen.get("norm_reward", False)
    torch.set_num_threads(1)
    atari = settings == "zoo-atari"
    saved = (json.loads((checkpoint / "state.json").read_text())
             if checkpoint is not None and (checkpoint / "state.json").exists() else None)
    if saved is not None and (saved["env_id"], saved["seed"], saved["settings"]) != (
            env_id, seed, settings):
        raise SystemExit(f"--checkpoint {checkpoint}: it holds {saved['env_id']} seed "
                         f"{saved['seed']} --settings {saved['settings']}, not {env_id} seed "
                         f"{seed} --settings {settings}; give another --checkpoint")
    parts: list[dict] = saved["parts"] if saved else []
    env_seed = seed + PART_SEED_STRIDE * len(parts)
    if atari:
        import ale_py
        import gymnasium as gym
        from stable_baselines3.common.env_util import make_atari_env
        from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
        from stable_baselines3.common.vec_env import VecFrameStack

        gym.register_envs(ale_py)
        env = VecFrameStack(make_atari_env(env_id, n_envs=chosen["n_envs"], seed=env_seed,
                                           env_kwargs=chosen["env_kwargs"]),
                            chosen["frame_stack"])
        kwargs = {"ent_coef": chosen["ent_coef"], "vf_coef": chosen["vf_coef"],
                  "policy_kwargs": {"optimizer_class": RMSpropTFLike,
                                    "optimizer_kwargs": {"eps": 1e-5}}}
    else:
        venv = make_vec_env(lambda: make_env(env_id), n_envs=chosen["n_envs"], seed=env_seed)
        if saved is not None:
            env = VecNormalize.load(str(checkpoint / saved["files"]["vecnormalize"]), venv)
        else:
            env = VecNormalize(venv, norm_reward=norm_reward)
        kwargs = {}
    if saved is not None:
        model = A2C.load(checkpoint / saved["files"]["model"], env=env, device="cpu")
        model.set_random_seed(env_seed)
        print(f"resuming from {checkpoint} at {model.num_timesteps} env steps", flush=True)
    else:
        model = A2C(chosen["policy"], env, seed=seed, device="cpu", **kwargs)
    curve: list[tuple[int, float, float | None]] = (
        [tuple(c) for c in saved["curve"]] if saved else [])
    eval_seed = seed + EVAL_SEED_OFFSET
    eval_time = [0.0]
    part = {"env_steps_from": model.num_timesteps, "load_1min_at_start": os.getloadavg()[0]}
    start = time.perf_counter()

    def state_now() -> dict:
        wall = time.perf_counter() - start
        done = {**part, "env_steps_to": model.num_timesteps, "wall_s": wall,
                "train_s": wall - eval_time[0]}
        return {"env_id": env_id, "seed": seed, "settings": settings, "curve": curve,
                "parts": [*parts, done]}

    def evaluation() -> tuple[int, float, float | None]:
        begin = time.perf_counter()
        if atari:
            returns = atari_episodes(model, env_id, episodes, eval_seed,
                                     deterministic=eval_policy == "deterministic")
            successes = []
        else:
            returns, successes = episodes_run(model, env, env_id, episodes, eval_seed)
        eval_time[0] += time.perf_counter() - begin
        return model.num_timesteps, float(np.mean(returns)), _rate(successes)

    class Eval(BaseCallback):
        due = False  # a checkpoint at the next rollout's start

        def _on_step(self) -> bool:
            # with n envs, num_timesteps grows by n a step: evaluate on crossing a multiple
            if eval_every > 0 and self.num_timesteps % eval_every < chosen["n_envs"]:
                curve.append(evaluation())
                self.due = checkpoint is not None
                # the log keeps the curve as it grows: a run cut short still shows it
                games = [e["r"] for e in self.model.ep_info_buffer]
                print(f"env steps {curve[-1][0]}: evaluation {curve[-1][1]:.2f}, training "
                      f"episodes {np.mean(games) if games else float('nan'):.2f} (last "
                      f"{len(games)})", flush=True)
            return True

        def _on_rollout_start(self) -> None:
            # here every step counted has been trained on: a resume loses none
            if self.due:
                _save_checkpoint(checkpoint, model, env, state_now())
                self.due = False

    model.learn(steps - model.num_timesteps, callback=Eval(), reset_num_timesteps=saved is None)
    final = evaluation()
    if curve and curve[-1][0] == model.num_timesteps:
        curve.pop()  # evaluated before the last update; the final policy replaces it
    curve.append(final)
    env.close()
    parts = state_now()["parts"]
    wall = sum(p["wall_s"] for p in parts)
    train_s = sum(p["train_s"] for p in parts)
    for p in parts:
        p["env_steps_per_s"] = (p["env_steps_to"] - p["env_steps_from"]) / p["train_s"]
    out = {"env_id": env_id, "seed": seed, "env_steps": model.num_timesteps,
           "eval_return_last": final[1], "eval_episodes": episodes, "eval_policy": eval_policy,
           "curve": {"env_steps": [c[0] for c in curve], "eval_return": [c[1] for c in curve]},
           "wall_s": wall, "env_steps_per_s": model.num_timesteps / train_s,
           "settings": {**chosen, "norm_reward": norm_reward, "sb3_defaults": True,
                        "name": settings}}
    if len(parts) > 1:  # resumed: each part's throughput, as they may have run on other hosts
        out["parts"] = parts
    if final[2] is not None:  # the env reports is_success
        out["eval_success_last"] = final[2]
        out["curve"]["eval_success"] = [c[2] for c in curve]
    return out


def main() -> None:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--eval-every", type=int, default=50_000)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--norm-reward", action="store_true", help="VecNormalize on rewards too, as "
                   "the zoo reads `normalize: true` today (default: observations only, as the "
                   "published agent's card shows)")
    p.add_argument("--settings", choices=sorted(SETTINGS), default="zoo-mujoco",
                   help="the zoo's MuJoCo settings (default), its Atari settings, or the Hugging "
                   "Face Deep RL course's for goal-conditioned Dict observations")
    p.add_argument("--eval-policy", choices=("deterministic", "stochastic"),
                   default="deterministic", help="evaluation acts by the policy's mode, or "
                   "draws from it (Atari only; rl-baselines3-zoo evaluates Atari stochastic)")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--checkpoint", help="directory the run saves itself in after each "
                   "evaluation and resumes from (default: beside --out, NAME.ckpt)")
    a = p.parse_args()
    out = Path(a.out)
    checkpoint = Path(a.checkpoint) if a.checkpoint else out.with_suffix(".ckpt")
    result = run(a.env, a.seed, a.steps, a.eval_every, a.eval_episodes,
                 norm_reward=a.norm_reward, settings=a.settings, eval_policy=a.eval_policy,
                 checkpoint=checkpoint)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(out)
    shutil.rmtree(checkpoint, ignore_errors=True)  # the JSON holds all it kept
    print(f"SB3 A2C {a.env} seed {a.seed}: {result['eval_return_last']:.1f} after "
          f"{result['env_steps']} steps, {result['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
