"""Layer 3, sampling (gymnasium, no Ray): envs, their vector, and ``RolloutWorker``.

Envs are made from an id; the vector resets an env in the step that ends its episode; a
``RolloutWorker`` turns a weight broadcast into a batch.
"""
