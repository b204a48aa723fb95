"""Shared test fixtures: a tiny vocabulary and random batches that keep the data contract."""
import os

import numpy as np
import pytest

import recbook  # noqa: F401  (quiets TensorFlow before any test imports it)
from recbook.data import Meta

os.environ.setdefault("RECBOOK_PROGRESS", "none")


def make_meta(n_users=20, n_items=30, n_cats=5, max_len=8, seed=0):
    rng = np.random.default_rng(seed)
    item_cat = np.concatenate([[0], rng.integers(1, n_cats + 1, n_items)])
    return Meta(n_users=n_users, n_items=n_items, n_cats=n_cats, item_cat=item_cat,
                profile={"gender": 2, "age": 7}, max_len=max_len)


def make_ctr_batch(meta, B=6, T=None, seed=0, lengths=None):
    """A random batch with every CTR key; row 0 has an empty history unless lengths is given."""
    rng = np.random.default_rng(seed)
    T = T or meta.max_len
    L = np.asarray(lengths) if lengths is not None else rng.integers(0, T + 1, B)
    if lengths is None:
        L[0] = 0
    mask = np.arange(T)[None] < L[:, None]
    hist = np.where(mask, rng.integers(1, meta.n_items + 1, (B, T)), 0)
    neg = np.where(mask, rng.integers(1, meta.n_items + 1, (B, T)), 0)
    target = rng.integers(1, meta.n_items + 1, B)
    return {
        "user": rng.integers(1, meta.n_users + 1, B),
        "gender": rng.integers(1, 3, B), "age": rng.integers(1, 8, B),
        "target_item": target, "target_cat": meta.item_cat[target],
        "hist_items": hist, "hist_cats": meta.item_cat[hist], "hist_len": L,
        "neg_hist_items": neg, "neg_hist_cats": meta.item_cat[neg],
        "hist_gaps": np.where(mask, rng.uniform(1, 1e5, (B, T)), 0).astype(np.float32),
        "label": rng.integers(0, 2, B).astype(np.float32),
    }


@pytest.fixture
def meta():
    return make_meta()


@pytest.fixture
def ctr_batch(meta):
    return make_ctr_batch(meta)
