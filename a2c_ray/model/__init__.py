"""Layer 2, model (torch): the action-distribution factory and the actor-critic network.

``distributions`` maps an action space (Box, Discrete, MultiDiscrete, MultiBinary) to its
distribution; ``network`` holds the built-in MLP, a user's factory, and the numpy mirror the
samplers run.
"""
