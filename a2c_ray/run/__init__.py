"""Layer 5, one configuration: a steppable run and ``train(config)``.

Also the run's logger, the Ray rollout actors, checkpoints that never unpickle, and several
seeds of one configuration trained in lockstep (``lockstep``), which ``train --seed 0 1 2`` and
a sweep's trial both use.
"""
