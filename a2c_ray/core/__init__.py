"""Layer 1, core data: no Ray, no torch.

The typed, validated configuration of one run (``config``), GAE and TD(lambda) in numpy
(``gae``), the typed batch and weight broadcast between sampling and learning (``batch``), the
running mean and variance (``stats``), the supported spaces (``spaces``), the seed sets
(``seeds``), the statistics a sweep ranks seeds by (``scores``), ASHA's rungs as arithmetic
(``rungs``), and local or s3:// paths for every layer that keeps files (``storage``).
"""
