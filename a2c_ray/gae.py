"""``a2c_ray.gae``, the contract's path to GAE and TD(lambda) (``a2c_ray.core.gae`` holds them)."""

from a2c_ray.core import compute_gae, td_lambda_returns

__all__ = ["compute_gae", "td_lambda_returns"]
