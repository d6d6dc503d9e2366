"""Layer 5, one configuration: a steppable run and ``train(config)``.

Also the run's logger, the Ray rollout actors, checkpoints that never unpickle, and storage
paths (local or s3://).
"""
