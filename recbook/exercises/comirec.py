"""Checkers for the ComiRec chapter's exercises (numpy in, numpy out)."""
from __future__ import annotations

import numpy as np

from recbook import aggregation
from recbook.exercises.check import check


def hard_readout_reference(V, e):
    """Eq. 8: for each row, the interest vector V[b, k] with the largest V[b, k] · e[b]."""
    k = np.einsum("bkd,bd->bk", V, e).argmax(1)
    return V[np.arange(V.shape[0]), k]


def check_hard_readout(fn) -> bool:
    """``fn(V [B, K, d], e [B, d]) -> v_u [B, d]``."""
    def make(rng):
        B, K, d = rng.integers(1, 6), rng.integers(1, 5), rng.integers(2, 6)
        return rng.normal(size=(B, K, d)), rng.normal(size=(B, d))
    return check(fn, hard_readout_reference, make, name="hard_readout",
                 hint="argmax over the K interests of the inner product with the target, per row")


def diversity_reference(ids, item_cat):
    """Eq. 17 for one list of N >= 2 distinct items."""
    return aggregation.diversity_at_n(np.asarray(ids)[None, :], item_cat)


def _catalogue(rng):
    n_items, n_cats = int(rng.integers(8, 20)), int(rng.integers(2, 5))
    return n_items, np.r_[0, rng.integers(1, n_cats + 1, n_items)].astype(np.int64)


def check_diversity(fn) -> bool:
    """``fn(ids [N], item_cat [n_items + 1]) -> float``: Diversity@N of one list."""
    def make(rng):
        n_items, item_cat = _catalogue(rng)
        return rng.permutation(np.arange(1, n_items + 1))[: rng.integers(2, 8)], item_cat
    return check(fn, diversity_reference, make, name="diversity",
                 hint="count the pairs j < k from different categories, divide by N(N-1)/2")


def greedy_reference(scores, ids, item_cat, n, lam):
    """The greedy aggregation (eq. 12) of one user's candidate list: n item ids."""
    return aggregation.greedy_select(np.asarray(scores)[None], np.asarray(ids)[None], item_cat,
                                     n, lam)[0]


def check_greedy(fn) -> bool:
    """``fn(scores [M], ids [M], item_cat, n, lam) -> ids [n]`` (candidates sorted by score)."""
    def make(rng):
        n_items, item_cat = _catalogue(rng)
        M = int(rng.integers(4, n_items))
        ids = rng.permutation(np.arange(1, n_items + 1))[:M]
        scores = -np.sort(-rng.normal(size=M))
        lam = float(rng.choice([0, 0.3, 5]))
        return scores, ids, item_cat, int(rng.integers(1, M + 1)), lam
    return check(fn, greedy_reference, make, name="greedy_aggregation",
                 hint="at each step take argmax of score − λ · (items of its category chosen so "
                      "far); on a tie keep the earlier candidate")
