import numpy as np
import pytest

from recbook import metrics
from recbook.retrieval import ItemIndex, recall_eval, topk_multi_interest


def _emb(n_items=60, d=8, seed=0):
    rng = np.random.default_rng(seed)
    e = rng.normal(size=(n_items + 1, d)).astype(np.float32)
    e[0] = 100.0  # a padding row that would win every search if it were indexed
    return e


def _brute(e, q, k):
    s = q @ e[1:].T
    ids = np.argsort(-s, axis=1, kind="stable")[:, :k] + 1
    return np.take_along_axis(s, ids - 1, 1), ids


@pytest.mark.parametrize("metric", ["ip", "cosine"])
def test_faiss_equals_numpy_and_padding_never_returned(metric):
    e = _emb()
    q = np.random.default_rng(1).normal(size=(25, 8)).astype(np.float32)
    fa, np_ = ItemIndex(e, metric=metric), ItemIndex(e, metric=metric, use_faiss=False)
    assert fa.uses_faiss and not np_.uses_faiss
    s1, i1 = fa.search(q, 10)
    s2, i2 = np_.search(q, 10)
    assert (i1 == i2).all()
    np.testing.assert_allclose(s1, s2, rtol=1e-5, atol=1e-5)
    assert (i1 != 0).all() and i1.min() >= 1 and i1.max() <= 60
    if metric == "ip":
        bs, bi = _brute(e, q, 10)
        assert (i1 == bi).all()
    # the whole catalogue: every item exactly once, still no padding
    _, all_ids = np_.search(q[:2], 60)
    assert sorted(all_ids[0]) == list(range(1, 61))


def test_search_errors():
    idx = ItemIndex(_emb(n_items=5))
    with pytest.raises(ValueError, match="k=6"):
        idx.search(np.zeros((1, 8)), 6)
    with pytest.raises(ValueError, match="dimension"):
        idx.search(np.zeros((1, 3)), 2)
    with pytest.raises(ValueError, match="rows"):
        ItemIndex(np.zeros((1, 4)))


@pytest.mark.parametrize("use_faiss", [True, False])
def test_exclude_history_post_filter(use_faiss):
    e = _emb(n_items=30)
    q = np.random.default_rng(2).normal(size=(4, 8)).astype(np.float32)
    idx = ItemIndex(e, use_faiss=use_faiss)
    _, full = idx.search(q, 30)
    hist = np.zeros((4, 6), np.int64)
    hist[0, :5] = full[0, :5]  # the five best items of row 0
    hist[1, :3] = [full[1, 0], full[1, 0], full[1, 2]]  # a repeated id
    _, ids = idx.search(q, 5, exclude=hist)
    expected0 = [i for i in full[0] if i not in hist[0]][:5]
    assert ids[0].tolist() == expected0
    assert ids[1].tolist() == [i for i in full[1] if i not in hist[1]][:5]
    assert ids[2].tolist() == full[2, :5].tolist()  # nothing excluded
    # a tiny catalogue runs out: padded with 0 / -inf
    small = ItemIndex(_emb(n_items=4), use_faiss=use_faiss)
    s, i = small.search(q[:1], 3, exclude=np.array([[1, 2]]))
    assert sorted(i[0, :2]) == [3, 4] and i[0, 2] == 0 and np.isneginf(s[0, 2])


def test_multi_interest_merge_by_hand():
    # 4 items in 2-D; interest A likes items 1, 2; interest B likes items 2, 3
    e = np.array([[0, 0], [3, 0], [2, 2], [0, 3], [-1, -1]], np.float32)
    interests = np.array([[[1, 0], [0, 1]]], np.float32)  # [B=1, K=2, d=2]
    idx = ItemIndex(e, use_faiss=False)
    s, i = topk_multi_interest(idx, interests, 3)
    # A: item1 3, item2 2; B: item3 3, item2 2 -> item 2 appears twice, keeps score 2 once
    assert i[0].tolist() == [1, 3, 2]
    assert s[0].tolist() == [3.0, 3.0, 2.0]
    # masking interest B: only A's view remains
    s, i = topk_multi_interest(idx, interests, 2, mask=np.array([[True, False]]))
    assert i[0].tolist() == [1, 2] and s[0].tolist() == [3.0, 2.0]
    # an item reached by both interests keeps its best score
    interests2 = np.array([[[1, 0], [1, 1]]], np.float32)  # item 2 scores 2 (A) and 4 (B)
    s, i = topk_multi_interest(idx, interests2, 2)
    assert i[0].tolist() == [2, 1] and s[0].tolist() == [4.0, 3.0]
    with pytest.raises(ValueError, match="no interest"):
        topk_multi_interest(idx, interests, 2, mask=np.array([[False, False]]))


@pytest.mark.parametrize("use_faiss", [True, False])
def test_multi_interest_equals_max_over_interests(use_faiss):
    rng = np.random.default_rng(4)
    e = _emb(n_items=80, seed=4)
    u = rng.normal(size=(6, 3, 8)).astype(np.float32)
    mask = np.ones((6, 3), bool)
    mask[1, 2] = mask[3, 1:] = False
    hist = rng.integers(0, 81, size=(6, 10))
    idx = ItemIndex(e, use_faiss=use_faiss)
    s, i = topk_multi_interest(idx, u, 15, mask=mask, exclude=hist)
    score = np.einsum("bkd,nd->bkn", u, e[1:])
    score = np.where(mask[:, :, None], score, -np.inf).max(axis=1)  # [B, N]
    for b in range(6):
        score[b, hist[b][hist[b] > 0] - 1] = -np.inf
    ref = np.argsort(-score, axis=1, kind="stable")[:, :15] + 1
    assert (i == ref).all()
    assert all(len(set(r)) == 15 for r in i)
    np.testing.assert_allclose(s, np.take_along_axis(score, ref - 1, 1), rtol=1e-5, atol=1e-5)


def test_recall_eval_matches_metrics():
    rng = np.random.default_rng(5)
    e = _emb(n_items=50, seed=5)
    u = rng.normal(size=(8, 2, 8)).astype(np.float32)
    truth = [set(rng.choice(np.arange(1, 51), size=3, replace=False).tolist()) for _ in range(8)]
    idx = ItemIndex(e)
    out = recall_eval(idx, u, truth, ks=(5, 10))
    _, ids5 = topk_multi_interest(idx, u, 5)
    _, ids10 = topk_multi_interest(idx, u, 10)
    assert out["recall@5"] == pytest.approx(metrics.recall_at_k(ids5, truth, 5))
    assert out["ndcg@10"] == pytest.approx(metrics.ndcg_at_k(ids10, truth, 10))
    assert out["hit_rate@10"] == pytest.approx(metrics.hit_rate_at_k(ids10, truth, 10))
    # a single interest vector per user ([B, d]) is accepted too
    single = recall_eval(idx, u[:, 0], truth, ks=(10,))
    _, ids = idx.search(u[:, 0], 10)
    assert single["recall@10"] == pytest.approx(metrics.recall_at_k(ids, truth, 10))
