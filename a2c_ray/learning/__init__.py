"""Layer 4, learning (torch, no Ray): the learner that consumes batches, and its optimizers.

It never imports sampling: the two meet only in the batch and broadcast of ``core.batch``.
"""
