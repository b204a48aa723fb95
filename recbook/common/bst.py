"""BST's framework-free pieces: the choices a constructor accepts and the time-gap buckets.

Both twins (recbook/torch/bst.py, recbook/tf/bst.py) import these, so a bucket means the same
gap in either framework; the numpy ``time_bucket`` is also what the chapter and its exercise read.
"""
from __future__ import annotations

import numpy as np

POSITIONS = ("time", "index", "sinusoidal", "none")
POOLINGS = ("concat", "target")


def time_boundaries(n_buckets: int = 32) -> np.ndarray:
    """Bucket edges 2^k − 1 seconds, k = 1..n_buckets − 1: bucket(gap) = ⌊log2(1 + gap)⌋
    capped at n_buckets − 1, one bucket per doubling (1 minute: 5, 1 hour: 11, 1 day: 16)."""
    return (2.0 ** np.arange(1, n_buckets) - 1).astype(np.float32)


def time_bucket(gaps, n_buckets: int = 32) -> np.ndarray:
    """pos(v_i) = t(v_t) − t(v_i) in seconds -> bucket 0..n_buckets − 1 (numpy, for reading)."""
    return (np.asarray(gaps, np.float32)[..., None] >= time_boundaries(n_buckets)).sum(-1)
