"""The typed, validated configuration of one A2C run."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACTIVATIONS = ("tanh", "relu", "elu", "gelu", "silu")
OPTIMIZERS = ("adam", "rmsprop", "rmsprop_tf")
LR_SCHEDULES = ("constant", "linear")
EVAL_POLICIES = ("auto", "deterministic", "stochastic")


EVAL_HISTORY = 10  # evaluations a run remembers; a sweep's score averages at most this many
# Critic steps per batch where value_grad_steps is not given: the built-in MLP's, a user's
# network's. A one-hidden-layer critic (96 ELU units) of a user's factory fell behind its TD
# targets with 10 and ended CartPole-v1 between 125 and 500 at 100k steps; with 25, at 500 on
# 10 of 10 seeds (docs/algorithm.md). The built-in MLP keeps its 10, and its runs.
VALUE_GRAD_STEPS = {False: 10, True: 25}
EVAL_SEED_OFFSET = 1_000_003  # evaluation episodes never share seeds with training envs


class ConfigError(ValueError):
    """A configuration value is missing, unknown, ill-typed or out of range.

    Raised for a field's value, it also names them: ``owner`` (the dataclass), ``field``,
    ``value`` and ``reason`` (what was expected), so a command line can say the same with its
    own flag's name.
    """

    def __init__(self, message: str, *, owner: str = "", field: str = "", value: Any = None,
                 reason: str = "") -> None:
        super().__init__(message)
        self.owner, self.field, self.value, self.reason = owner, field, value, reason


def field_error(owner: str, name: str, value: Any, reason: str) -> ConfigError:
    """``owner.name=value reason``, as one line, with its parts kept."""
    return ConfigError(f"{owner}.{name}={value!r} {reason}", owner=owner, field=name, value=value,
                       reason=reason)


def value_range(lo: float | None, hi: float | None, lo_open: bool = False,
                hi_open: bool = False) -> dict[str, Any]:
    """A field's metadata: its value must lie in [lo, hi] (ends open where asked, None: none)."""
    return {"range": (lo, hi, lo_open, hi_open)}


def choices(*options: str) -> dict[str, Any]:
    """A field's metadata: its value must be one of ``options``."""
    return {"choices": options}


@dataclass(frozen=True)
class A2CConfig:
    """Every hyperparameter of an A2C + GAE run.

    Validated on creation: a bad value raises ConfigError naming the field and its allowed
    range. One training iteration collects ``rollout_length`` steps from each of
    ``max(1, num_rollout_workers) * envs_per_worker`` environments, then makes one update.
    """

    # The run.
    env_id: str = "CartPole-v1"
    """gymnasium id, or package.module:EnvId-v0 to import your own"""
    seed: int = field(default=0, metadata=value_range(0, 2**31 - 1))
    """seeds the network, the envs (worker i's with seed + i) and the evaluation episodes"""
    total_env_steps: int = field(default=1_000_000, metadata=value_range(1, None))
    """the run's budget in env steps; the learning-rate schedule follows it"""
    num_rollout_workers: int = field(default=0, metadata=value_range(0, 1024))
    """Ray rollout actors; 0 samples in the learner's own process"""
    envs_per_worker: int = field(default=8, metadata=value_range(1, 4096))
    """environments each worker steps"""
    rollout_length: int = field(default=32, metadata=value_range(1, 100_000))
    """steps each env takes per iteration"""

    # Returns and advantages.
    gamma: float = field(default=0.99, metadata=value_range(0.0, 1.0))
    """the discount"""
    gae_lambda: float = field(default=0.95, metadata=value_range(0.0, 1.0))
    """GAE's lambda: 1 is the discounted reward to go minus V(s), 0 the one-step TD error"""
    td_lambda: float | None = field(default=None, metadata=value_range(0.0, 1.0))
    """the lambda of the critic's TD(lambda) targets; None: the same as gae_lambda"""

    # Optimisation.
    learning_rate: float = field(default=1e-3, metadata=value_range(0.0, 1.0, lo_open=True))
    """the optimizer's step size at the start"""
    lr_schedule: str = field(default="linear", metadata=choices(*LR_SCHEDULES))
    """constant, or linear: decaying to 0 over total_env_steps"""
    optimizer: str = field(default="adam", metadata=choices(*OPTIMIZERS))
    """adam, rmsprop (PyTorch's, as SB3 uses) or rmsprop_tf (TensorFlow's, as the original A2C)"""
    optimizer_eps: float = field(default=1e-5, metadata=value_range(0.0, 1.0, lo_open=True))
    """the optimizer's epsilon"""
    rmsprop_alpha: float = field(default=0.99, metadata=value_range(0.0, 1.0, hi_open=True))
    """RMSprop's smoothing constant"""
    vf_coef: float = field(default=0.5, metadata=value_range(0.0, 100.0))
    """the value loss's weight in the joint loss"""
    ent_coef: float = field(default=0.0, metadata=value_range(0.0, 10.0))
    """the entropy bonus's weight"""
    max_grad_norm: float = field(default=0.5, metadata=value_range(0.0, None, lo_open=True))
    """gradients are clipped to this global norm"""
    epochs_per_rollout: int = field(default=1, metadata=value_range(1, 1000))
    """passes over each rollout's batch, in shuffled minibatches; the default, one full-batch
    step, is standard A2C"""
    minibatch_size: int = field(default=0, metadata=value_range(0, None))
    """transitions per minibatch; 0, or a size at least the batch, is the whole batch"""
    value_grad_steps: int | None = field(default=None, metadata=value_range(1, 1000))
    """critic regression steps per batch (the a2c-optuna project's "baseline gradient steps");
    1 is the standard joint A2C loss. None: 10 for the built-in MLP (which made CartPole-v1
    reach 500 on 10 of 10 seeds), 25 for your own network, whose critic may be shallower and
    then falls behind its targets with 10 (set on creation)"""

    # Network.
    n_layers: int = field(default=2, metadata=value_range(0, 16))
    """hidden layers of the built-in MLP, actor and critic alike; 0: the heads read the
    observation, or an image's CNN features, directly (as SB3's CnnPolicy)"""
    layer_size: int = field(default=64, metadata=value_range(1, 8192))
    """units per hidden layer"""
    activation: str = field(default="tanh", metadata=choices(*ACTIVATIONS))
    """the hidden layers' activation"""
    shared_network: bool = False
    """actor and critic share their hidden layers"""
    shared_encoder: bool = True
    """image observations: one CNN (the Nature DQN CNN, as SB3's NatureCNN) shared by actor
    and critic, as SB3's A2C does, or one each"""
    ortho_init: bool = True
    """orthogonal initialisation, with a small gain on the policy head (as SB3)"""
    log_std_init: float = field(default=0.0, metadata=value_range(-20.0, 2.0))
    """the Gaussian policy's state-independent log-std at the start (Box actions)"""
    network: str | None = None
    """your own networks: "package.module:function", called as function(obs_dim, n_params) (and
    obs_space=, the env's observation space, where it takes that keyword) and
    returning (actor, critic), torch modules mapping [B, obs_dim] to [B, n_params] and [B, 1];
    None is the built-in MLP (n_layers, layer_size, activation, shared_network and ortho_init
    then have no effect)"""

    # gSDE, generalized State-Dependent Exploration (Raffin et al. 2021; SB3's use_sde).
    use_sde: bool = False
    """gSDE for Box actions: the exploration noise is the policy's last hidden features times a
    noise matrix drawn per env"""
    sde_sample_freq: int = field(default=-1, metadata=value_range(-1, None))
    """env steps between draws of the noise matrices; -1: at each rollout's start"""
    sde_log_std_init: float = field(default=-2.0, metadata=value_range(-20.0, 2.0))
    """the log-std of every noise matrix entry at the start"""

    # Normalisation.
    normalize_advantage: bool = True
    """advantages normalised per batch (per minibatch with minibatches)"""
    normalize_obs: bool = False
    """observations normalised by running statistics, frozen for evaluation"""
    normalize_reward: bool = False
    """rewards scaled by the running standard deviation of the discounted return"""
    clip_obs: float = field(default=10.0, metadata=value_range(0.0, None, lo_open=True))
    """normalised observations are clipped to +-clip_obs"""
    clip_reward: float = field(default=10.0, metadata=value_range(0.0, None, lo_open=True))
    """scaled rewards are clipped to +-clip_reward"""

    # Atari (ALE/...-v5 ids): training only; the returns logged and evaluated are the game's.
    atari_life_loss: bool = True
    """losing a life ends the episode for the learner (no bootstrapping across it); the game
    goes on"""
    atari_clip_reward: bool = True
    """the learner's rewards are their sign (-1, 0, 1)"""

    # Evaluation and saving.
    eval_interval_steps: int = field(default=25_000, metadata=value_range(0, None))
    """env steps between deterministic evaluations; 0 evaluates only at the end"""
    eval_episodes: int = field(default=10, metadata=value_range(1, 10_000))
    """episodes per evaluation, from fixed start seeds"""
    eval_policy: str = field(default="auto", metadata=choices(*EVAL_POLICIES))
    """how evaluation acts: the policy's mode (deterministic) or a draw from it (stochastic,
    seeded); auto: stochastic for Atari games, as rl-baselines3-zoo evaluates them (a
    deterministic policy can stall: Breakout waits for FIRE after a life lost), deterministic
    elsewhere"""
    checkpoint_interval: int = field(default=100, metadata=value_range(1, None))
    """iterations between checkpoints; one is always written at the end"""

    def __post_init__(self) -> None:
        if self.value_grad_steps is None:
            object.__setattr__(self, "value_grad_steps", VALUE_GRAD_STEPS[self.network is not None])
        for f in dataclasses.fields(self):
            check_field(f, getattr(self, f.name))
        if not self.env_id.strip():
            raise ConfigError("A2CConfig.env_id='' is empty: expected a gymnasium id")
        if self.sde_sample_freq == 0:
            raise ConfigError("A2CConfig.sde_sample_freq=0 is not allowed: expected -1 (once "
                              "per rollout) or a number of env steps >= 1")
        if self.network is not None:
            module, sep, name = self.network.partition(":")
            if not (sep and module.strip() and name.strip()):
                raise ConfigError(f"A2CConfig.network={self.network!r} is not an import path: "
                                  "expected 'package.module:function'")
            if self.use_sde:
                raise ConfigError(
                    f"A2CConfig.use_sde=True needs the built-in MLP's hidden features, but "
                    f"network={self.network!r}: expected use_sde=false with your own network")

    @property
    def num_envs(self) -> int:
        """Environments stepped per iteration, over all workers."""
        return max(1, self.num_rollout_workers) * self.envs_per_worker

    @property
    def batch_size(self) -> int:
        """Transitions per update: rollout_length x num_envs."""
        return self.rollout_length * self.num_envs

    @property
    def eval_seed(self) -> int:
        """Reset seed of the first evaluation episode; episode k resets with eval_seed + k."""
        return self.seed + EVAL_SEED_OFFSET

    @property
    def critic_lambda(self) -> float:
        """The lambda of the critic's TD(lambda) targets."""
        return self.gae_lambda if self.td_lambda is None else self.td_lambda

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> A2CConfig:
        """Build a config from a dict, rejecting unknown keys and ill-typed values."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in values.items():
            if key not in known:
                raise ConfigError(
                    f"unknown config key {key!r}: expected one of {', '.join(sorted(known))}"
                )
            kwargs[key] = coerce_field(known[key], value)
        return cls(**kwargs)

    @classmethod
    def from_json(cls, path: str | Path) -> A2CConfig:
        """Load a config from a local JSON file of field values."""
        try:
            text = Path(path).read_text()
        except FileNotFoundError:
            raise ConfigError(f"config file {str(path)!r} does not exist") from None
        return cls.from_json_text(text, str(path))

    @classmethod
    def from_json_text(cls, text: str, source: str) -> A2CConfig:
        """Parse the JSON text of a config file; ``source`` names it in errors."""
        try:
            values = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"config file {source!r} is not valid JSON: {err}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"config file {source!r} must hold a JSON object of fields")
        return cls.from_dict(values)

    def replace(self, **changes: Any) -> A2CConfig:
        """A copy with some fields changed, validated and coerced like from_dict."""
        return A2CConfig.from_dict({**self.to_dict(), **changes})


def field_names() -> list[str]:
    """Names of every A2CConfig field."""
    return [f.name for f in dataclasses.fields(A2CConfig)]


def parse_override(text: str) -> tuple[str, Any]:
    """Parse one ``key=value`` override; the value is read as JSON, else as a string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {text!r} is not of the form key=value")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value


def _base_type(f: dataclasses.Field) -> str:
    return str(f.type).replace(" | None", "")


def coerce_field(f: dataclasses.Field, value: Any, owner: str = "A2CConfig") -> Any:
    """``value`` as field ``f``'s type: bool, int, float or str, optionally None.

    Converts only where that is unambiguous (an integral float for an int, "true" for a
    bool); raises ConfigError otherwise.
    """
    kind = _base_type(f)
    optional = "None" in str(f.type)
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()  # numpy scalars, e.g. from a pandas frame of trial configs
    if value is None and optional:
        return None
    bad = field_error(owner, f.name, value, f"has the wrong type: expected {f.type}")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise bad
    if kind == "int":
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise bad
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad
        return float(value)
    if kind == "str":
        if not isinstance(value, str):
            raise bad
        return value
    raise bad  # pragma: no cover - every field has one of the kinds above


def check_field(f: dataclasses.Field, value: Any, owner: str = "A2CConfig") -> None:
    """Raise ConfigError unless ``value`` has field ``f``'s type, choices and range."""
    coerce_field(f, value, owner)  # type check
    if value is None:
        return
    if "choices" in f.metadata and value not in f.metadata["choices"]:
        raise field_error(owner, f.name, value, "is not allowed: expected one of "
                          f"{', '.join(map(str, f.metadata['choices']))}")
    if "range" in f.metadata:
        lo, hi, lo_open, hi_open = f.metadata["range"]
        ok = not (isinstance(value, float) and math.isnan(value))
        if lo is not None:
            ok = ok and (value > lo if lo_open else value >= lo)
        if hi is not None:
            ok = ok and (value < hi if hi_open else value <= hi)
        if not ok:
            left = "(" if lo_open else "["
            right = ")" if hi_open else "]"
            lo_s = "-inf" if lo is None else f"{lo:g}"
            hi_s = "inf" if hi is None else f"{hi:g}"
            raise field_error(owner, f.name, value, f"is out of range: expected "
                              f"{_base_type(f)} in {left}{lo_s}, {hi_s}{right}")
