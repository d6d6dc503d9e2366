"""The one private Optuna call (search_space.in_distribution), pinned to its behaviour."""

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from a2c_ray.search_space import in_distribution


@pytest.mark.parametrize("dist,inside,outside", [
    (FloatDistribution(1e-5, 1e-2, log=True), [1e-5, 7e-4, 1e-2], [0.0, 0.02, -1.0]),
    (FloatDistribution(0.9, 0.999), [0.9, 0.95, 0.999], [0.8999, 1.0]),
    (IntDistribution(1, 10), [1, 5, 10], [0, 11]),
    (IntDistribution(8, 64, step=8), [8, 16, 64], [12, 72]),
    (CategoricalDistribution(["adam", "rmsprop", None]), ["adam", None], ["sgd", 3]),
], ids=["float-log", "float", "int", "int-step", "categorical"])
def test_in_distribution_tells_inside_from_outside(dist, inside, outside):
    # If Optuna changes or drops the private _contains, this fails before a sweep does.
    assert all(in_distribution(dist, v) for v in inside)
    assert not any(in_distribution(dist, v) for v in outside)
