"""Checkers for the GRU4Rec chapter's exercises (numpy in, numpy out)."""
from __future__ import annotations

import numpy as np

from recbook.exercises.check import check


def _score_matrix(rng):
    B, S = rng.integers(2, 6), rng.integers(0, 5)
    return rng.normal(0, 2, (B, B + S)).astype(np.float64)


def bpr_max_reference(R, bpreg):
    """CIKM'18 BPR-max on R [B, B + S] (row i's target is column i), mean over rows."""
    B = R.shape[0]
    neg = np.ones_like(R, dtype=bool)
    neg[np.arange(B), np.arange(B)] = False
    r_i = R[np.arange(B), np.arange(B)][:, None]
    e = np.where(neg, np.exp(R - R.max(1, keepdims=True)), 0.0)
    s = e / e.sum(1, keepdims=True)
    rank = -np.log((s / (1 + np.exp(-(r_i - R)))).sum(1) + 1e-24)
    return float((rank + bpreg * (s * R ** 2).sum(1)).mean())


def check_bpr_max(fn) -> bool:
    """``fn(R, bpreg) -> float``: the BPR-max loss averaged over the rows of R."""
    def make(rng):
        return _score_matrix(rng), float(rng.uniform(0, 2))
    return check(fn, bpr_max_reference, make, name="bpr_max",
                 hint="s_j is a softmax over the negatives only: the diagonal gets weight 0")


def logq_reference(R, ids, support, alpha):
    """Subtract log q of each column: supp for the B target columns, supp^α for the samples."""
    B = R.shape[0]
    log_q = np.log(support[ids].astype(np.float64))
    log_q[B:] *= alpha
    return R - log_q[None, :]


def check_logq(fn) -> bool:
    """``fn(R, ids, support, alpha) -> R'``: the logQ-corrected score matrix."""
    def make(rng):
        R = _score_matrix(rng)
        support = np.r_[0, rng.integers(1, 100, 20)]
        ids = rng.integers(1, 21, R.shape[1])
        return R, ids, support, float(rng.uniform(0, 1))
    return check(fn, logq_reference, make, name="logq_correction",
                 hint="the first B columns were drawn ∝ supp, the extra samples ∝ supp^α")
