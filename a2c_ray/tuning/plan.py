"""A new sweep's plan from its configuration, and a resume checked against a saved plan.

``plan`` fixes what every trial shares (the env, the budget, evaluation and checkpoints, the
user's fixed fields), fits the search space to the env's action space, reads the start points
and checks a user's network, before anything is written. ``check_resume`` holds a resumed
sweep to the settings it started with.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from gymnasium import spaces as gym_spaces

from a2c_ray.core import DEFAULT_STORAGE, A2CConfig, field_error, image_parts, read_config
from a2c_ray.core import storage as st
from a2c_ray.sampling import env_spaces
from a2c_ray.tuning.config import RESUME_APPLIES, SEARCH_EVAL_EPISODES, SweepConfig, SweepPlan
from a2c_ray.tuning.space import (
    BOX_ONLY,
    GSDE_FIELDS,
    IMAGE_CONFIG,
    IMAGE_SPACE,
    NOT_SEARCHABLE,
    SearchSpaceError,
    load_search_space,
    space_point,
)

log = logging.getLogger("a2c_ray")


def default_study_url(name: str, exp: str) -> str:
    """The Optuna study's default SQLite URL.

    The file is in the sweep's directory; for a sweep on S3 (SQLite needs a local file) in
    ~/a2c_ray_results/NAME.optuna/ on the machine that starts it.
    """
    db = exp if "://" not in exp else st.join(DEFAULT_STORAGE, f"{name}.optuna")
    return f"{st.SQLITE}{Path(db) / 'optuna.db'}"


def plan(config: SweepConfig) -> SweepPlan:
    """The plan of a new sweep: the trials' fixed config, the fitted space, the start points.

    Checks what needs the environment (its id, its action space against the search space, a
    user's network) and the start points, before anything is written.

    Raises:
        ConfigError: a field or a start point that cannot be used.
        SearchSpaceError: an invalid search space file.
    """
    if config.name is None:
        raise field_error("SweepConfig", "name", None, "is not set: plan() needs a name")
    base: dict[str, Any] = {"eval_interval_steps": min(25_000, config.grace_steps),
                            "eval_episodes": SEARCH_EVAL_EPISODES, **config.overrides}
    given = set(config.overrides)
    final_episodes = base["eval_episodes"] if "eval_episodes" in given else (
        A2CConfig().eval_episodes)
    base.update(env_id=config.env, seed=config.seed, total_env_steps=config.max_steps,
                num_rollout_workers=config.num_rollout_workers,
                checkpoint_interval=config.checkpoint_every)
    A2CConfig.from_dict(base)  # validate the fixed part
    obs_space, action_space = env_spaces(config.env)
    space_path = config.search_space
    if space_path is None and image_parts(obs_space):
        # images: the Atari space, and the shipped Atari configuration's values for the rest
        space_path = str(IMAGE_SPACE)
        fixed_image = json.loads(IMAGE_CONFIG.read_text())
        base = {**{k: v for k, v in fixed_image.items() if k not in NOT_SEARCHABLE}, **base}
    space, note = fit_space(load_search_space(space_path), config.search_space, base,
                            action_space)
    space, budget_note = fit_batches(space, config.search_space, base, config.grace_steps)
    note = "; ".join(filter(None, [note, budget_note]))
    if space_path != config.search_space:
        note = "; ".join(filter(None, [f"images: searching {IMAGE_SPACE.name}, the rest as "
                                       f"a2c_ray/{IMAGE_CONFIG.name}", note]))
    from a2c_ray.model import check_model  # torch, only now

    check_model(A2CConfig.from_dict(base), obs_space, action_space)  # e.g. a bad network
    fixed = sorted(set(space) & given)
    if fixed:
        raise field_error("SweepConfig", "overrides", ", ".join(fixed),
                          "is searched by the search space: remove it from one of them")
    starts: list[dict[str, Any]] = []
    for path in config.start_from:
        start = read_config(path)
        values = {**start.to_dict(), "td_lambda": start.critic_lambda}
        try:
            starts.append(space_point(space, values))
        except SearchSpaceError as err:
            raise field_error("SweepConfig", "start_from", path,
                              f"cannot start the sweep: {err}") from None
        ignored = sorted(k for k, v in values.items() if k not in space
                         and k in base and base[k] != v)
        if ignored:
            log.info("--start-from %s: %s not searched; the sweep's fixed values apply",
                     path, ", ".join(ignored))
    exp = st.join(config.storage_path, config.name)
    return SweepPlan(config=config, base_config=base, search_space=space,
                     start_points=tuple(starts), final_eval_episodes=final_episodes,
                     optuna_storage=config.optuna_storage or default_study_url(config.name, exp),
                     space_note=note)


def fit_space(space: dict[str, Any], path: str | None, base: dict[str, Any],
              action_space: Any) -> tuple[dict[str, Any], str]:
    """The search space without the fields that cannot act in this sweep, and a note on them.

    The Gaussian's log-std and gSDE act only on Box actions, and gSDE only with the built-in
    MLP: the default space leaves them out elsewhere (the note says so), and a space file that
    names them there is refused.
    """
    if not isinstance(action_space, gym_spaces.Box):
        fields, why = BOX_ONLY, f"{base['env_id']}'s actions are {action_space}, not a Box"
    elif base.get("network") is not None:
        fields, why = GSDE_FIELDS, f"--set network={base['network']} replaces the built-in MLP"
    else:
        return space, ""
    idle = sorted(set(space) & set(fields))
    if not idle:
        return space, ""
    if path is not None:
        raise SearchSpaceError(f"--search-space {path}: {', '.join(idle)} cannot act in this "
                               f"sweep ({why}): remove them from the space")
    return {k: v for k, v in space.items() if k not in idle}, (
        f"not searching {', '.join(idle)}: {why}")


def fewest_envs(space: dict[str, Any], base: dict[str, Any]) -> tuple[int, int]:
    """The fewest envs per rollout actor a trial of this space can have, and its actors.

    A batch is rollout_length x envs_per_worker x the actors (at least one: without rollout
    actors the learner samples); the envs are the space's smallest where it searches them,
    else the fixed value.
    """
    fixed = A2CConfig.from_dict(base)
    entry = space.get("envs_per_worker")
    envs = (fixed.envs_per_worker if entry is None else min(entry["values"])
            if entry["type"] == "categorical" else entry["low"])
    return envs, max(1, fixed.num_rollout_workers)


def fit_batches(space: dict[str, Any], path: str | None, base: dict[str, Any],
                grace_steps: int) -> tuple[dict[str, Any], str]:
    """The space without the rollout lengths whose one batch is past ASHA's first rung.

    A trial reports once a batch (rollout_length x envs_per_worker x the rollout actors, at
    least one) has trained, so a batch longer than the first rung puts the trial's first report,
    and the rung's comparison of it, past the rung: on more training than the trials it is
    compared with, and in a small sweep past the trial's whole budget (one batch of 1000 steps
    on 25 envs in a sweep of 2,048-step trials trains 25,000). The default space drops every
    ``rollout_length`` of which one batch on the fewest envs the space offers is more than
    the first rung, keeping the shortest where none fits (the note says what went); a sweep of
    1M-step trials (first rung 100k) and the README's quick start (10k) keep them all. A space
    file is the user's: it keeps them, and the log names them.
    """
    rollouts = space.get("rollout_length")
    if rollouts is None or rollouts["type"] != "categorical":
        return space, ""
    envs, actors = fewest_envs(space, base)
    past = [v for v in rollouts["values"] if v * envs * actors > grace_steps]
    if not past:
        return space, ""
    on = f"{envs} envs" + (f" x {actors} rollout actors" if actors > 1 else "")
    why = (f"one batch of {'them' if len(past) > 1 else 'it'} on {on} is more than "
           f"ASHA's first rung at {grace_steps:,} env steps, so such a trial would first be "
           f"compared on more training than the rest")
    listed = ", ".join(map(str, past))
    if path is not None:
        log.warning("--search-space %s: rollout_length %s: %s", path, listed, why)
        return space, ""
    kept = [v for v in rollouts["values"] if v not in past] or [min(rollouts["values"])]
    dropped = ", ".join(str(v) for v in past if v not in kept)
    if not dropped:
        return space, ""
    stays = "" if kept[0] not in past else (
        f" (the shortest, {kept[0]}, stays though its batch is past the rung too)")
    return {**space, "rollout_length": {**rollouts, "values": kept}}, (
        f"not searching rollout_length {dropped}: {why}{stays}")


def check_resume(plan: SweepPlan, asked: dict[str, Any]) -> None:
    """A resumed sweep keeps its settings: a field asked for that differs from them raises.

    ``asked`` maps SweepConfig fields to the values the caller gave. The fields of
    ``RESUME_APPLIES`` say where the sweep is and how to run it, and apply; everything else
    is fixed once trials have been suggested with it.

    Raises:
        ConfigError: naming the field, the value asked and the sweep's.
    """
    keep = ("a resumed sweep keeps its settings: drop it, or start a new sweep (--start-from "
            "its best_config.json) to change them")
    for name in sorted(set(asked) - set(RESUME_APPLIES)):
        value = asked[name]
        if name == "overrides":
            for key, v in value.items():
                if plan.base_config.get(key) != v:
                    raise field_error("SweepConfig", name, f"{key}={v!r}",
                                      f"differs from the sweep's "
                                      f"{key}={plan.base_config.get(key)!r}; {keep}")
            continue
        if name in ("search_space", "start_from"):
            raise field_error("SweepConfig", name, value, "applies to a new sweep only; the "
                              f"sweep keeps the one it started with ({plan.exp}/sweep.json)")
        was = getattr(plan.config, name)
        if value != was:
            raise field_error("SweepConfig", name, value, f"differs from the sweep's {was}; "
                              f"{keep}")
