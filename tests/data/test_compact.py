"""Compact histories (LazyHistory): the same batches as the padded arrays, in O(events) memory."""
import numpy as np
import pandas as pd
import pytest

from recbook.data import LazyHistory, iterate, load_ctr, load_next_item, validate
from recbook.data import samples
from recbook.data.batches import history_index, id_counts

NEG = ("neg_hist_items", "neg_hist_cats")


@pytest.fixture(scope="module")
def ctr_pair():
    kw = dict(max_len=12, seed=3, n_users=120)
    return load_ctr(compact=False, **kw), load_ctr(compact=True, **kw)


def _same_batches(eager: dict, lazy: dict, skip=()):
    assert eager.keys() == lazy.keys()
    for be, bl in zip(iterate(eager, 37, shuffle=True, seed=5),
                      iterate(lazy, 37, shuffle=True, seed=5)):
        for k in eager:
            if k in skip:
                continue
            assert type(bl[k]) is np.ndarray and bl[k].dtype == be[k].dtype, k
            np.testing.assert_array_equal(bl[k], be[k], err_msg=k)


def test_ctr_batches_identical_to_eager(ctr_pair):
    eager, lazy = ctr_pair
    assert isinstance(lazy.train["hist_items"], LazyHistory)
    assert isinstance(eager.train["hist_items"], np.ndarray)
    for part in ("train", "valid", "test"):
        e, z = getattr(eager, part), getattr(lazy, part)
        _same_batches(e, z, skip=NEG)
        np.testing.assert_array_equal(np.asarray(z["hist_gaps"]), e["hist_gaps"])
        np.testing.assert_array_equal(z["relevant"], e["relevant"])  # ground truth unchanged


def test_compact_negatives_keep_the_contract(ctr_pair):
    _, lazy = ctr_pair
    meta, ev = lazy.meta, lazy.source.events
    clicked = set(zip(ev.user, ev.item))
    for batch in iterate(lazy.train, 64):
        validate(batch, meta, ["user", "hist_len", *NEG])  # 0 exactly at padding
        mask = np.arange(meta.max_len)[None] < batch["hist_len"][:, None]
        neg = batch["neg_hist_items"]
        np.testing.assert_array_equal(batch["neg_hist_cats"], np.where(mask, meta.item_cat[neg], 0))
        users = np.broadcast_to(batch["user"][:, None], neg.shape)[mask]
        assert not any((u, i) in clicked for u, i in zip(users, neg[mask]))


def test_next_item_identical_to_eager():
    for split in ("user", "time"):
        kw = dict(max_len=10, seed=1, n_users=80, split=split)
        e, z = load_next_item(compact=False, **kw), load_next_item(compact=True, **kw)
        for part in ("train", "valid", "test"):
            _same_batches(getattr(e, part), getattr(z, part))


def test_id_counts_agree(ctr_pair):
    eager, lazy = ctr_pair
    a, b = id_counts(eager.train, eager.meta), id_counts(lazy.train, lazy.meta)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_auto_switches_on_the_number_of_cells(monkeypatch):
    kw = dict(max_len=8, seed=0, n_users=60)
    assert isinstance(load_ctr(**kw).train["hist_items"], np.ndarray)  # built-in size: eager
    monkeypatch.setattr(samples, "COMPACT_CELLS", 100)
    assert isinstance(load_ctr(**kw).train["hist_items"], LazyHistory)
    with pytest.raises(ValueError, match="compact must be"):
        load_ctr(compact="yes", **kw)


def test_indexing_matches_numpy():
    rng = np.random.default_rng(0)
    values = rng.integers(1, 50, 40).astype(np.int32)
    starts = np.array([0, 0, 5, 12, 20, 20])
    ends = np.array([0, 3, 12, 20, 35, 21])
    idx, hlen, mask = history_index(starts, ends, 6)
    eager = np.where(mask, values[idx], 0).astype(np.int64)
    lazy = LazyHistory(values, ends, hlen, 6)
    assert lazy.shape == eager.shape and len(lazy) == 6 and lazy.dtype == np.int64
    keys = [2, -1, slice(1, 5), slice(None, None, -2), np.array([4, 0, 4]),
            eager.sum(1) > 60, (slice(None), slice(0, 3)), (3, 2), (np.arange(6), hlen - 1),
            (np.array([1, 2]), np.array([-1, 0]))]
    for key in keys:
        got = lazy[key]
        np.testing.assert_array_equal(got, eager[key], err_msg=str(key))
        assert np.shape(got) == eager[key].shape
    np.testing.assert_array_equal(np.asarray(lazy), eager)
    t = rng.integers(100, 200, 6)
    gaps = LazyHistory(values.astype(np.int64), ends, hlen, 6, ref=t)
    want = np.where(mask, (t[:, None] - values[idx]).astype(np.float32), np.float32(0))
    np.testing.assert_array_equal(gaps[:], want)
    assert gaps[:].dtype == np.float32
    with pytest.raises(IndexError, match="out of range"):
        lazy[np.array([6])]
    with pytest.raises(IndexError, match="boolean row mask"):
        lazy[np.ones(3, bool)]
    with pytest.raises(ValueError, match="one entry per row"):
        LazyHistory(values, ends, hlen[:3], 6)


def test_event_log_memory_is_per_event_not_per_cell():
    n_users, per_user, T = 200, 30, 50
    ev = pd.DataFrame({"user": np.repeat(np.arange(1, n_users + 1), per_user),
                       "item": np.tile(np.arange(1, per_user + 1), n_users),
                       "time": np.tile(np.arange(per_user), n_users)})
    from recbook.data import Meta
    meta = Meta(n_users=n_users, n_items=per_user + 5, n_cats=3,
                item_cat=np.r_[0, np.arange(per_user + 5) % 3 + 1], profile={}, max_len=T)
    out = samples.next_item_samples(ev, meta, compact=True)
    h = out["hist_items"]
    assert h.values.nbytes == 4 * len(ev)  # int32 per event, no [N, T] array anywhere
    assert h.shape == (n_users * (per_user - 1), T)
