"""ComiRec's controllable aggregation module and Diversity@N (Cen et al., KDD 2020, Sec. 3.5
and 4.1), in numpy only.

Serving: each of a user's K interest vectors retrieves its own top-N items; the union of those
K·N candidates is re-ranked into one list of N items by greedily maximising

    Q(u, S) = Σ_{i∈S} f(u, i) + λ Σ_{i∈S} Σ_{j∈S} g(i, j)                     (eq. 12)

with f(u, i) = max_k e_iᵀ v_u^(k) (eq. 11) and g(i, j) = δ(CATE(i) ≠ CATE(j)) (eq. 13).
λ = 0 gives the plain top-N by f; a large λ fills the list with as many categories as the
candidates offer. Diversity@N (eq. 17) is the share of pairs in a list from different categories.

The greedy step: adding item i to S (|S| = s) raises Q by f(u, i) + λ·(s − c_S(CATE(i))) up to a
constant factor (each new pair is counted in both orders), where c_S(c) is how many items of S
have category c. s is the same for every candidate, so the argmax is that of f(u, i) − λ·c_S —
what the official code (THUDM/ComiRec, src/train.py, ``coef``) computes. We use that form too;
ties go to the candidate retrieved with the higher score (the earlier one in the merged list).
"""
from __future__ import annotations

import numpy as np

from recbook.arrays import to_numpy

from recbook.retrieval import ItemIndex


def _item_cat(item_cat) -> np.ndarray:
    c = np.asarray(item_cat)
    if c.ndim != 1 or c.shape[0] < 2 or not np.issubdtype(c.dtype, np.integer):
        raise ValueError(f"item_cat must be an integer vector of length n_items + 1 (entry 0 for "
                         f"padding), got dtype {c.dtype} and shape {c.shape}")
    return c.astype(np.int64)


def _lists(ids, item_cat: np.ndarray, name: str) -> np.ndarray:
    i = np.asarray(ids)
    if i.ndim != 2 or not np.issubdtype(i.dtype, np.integer):
        raise ValueError(f"{name} must be an integer [B, L] matrix of item ids, got dtype "
                         f"{i.dtype} and shape {i.shape}")
    if (i < 0).any() or (i >= item_cat.shape[0]).any():
        raise ValueError(f"{name} ids must lie in 0..{item_cat.shape[0] - 1} (0 = no item), "
                         f"found range [{i.min()}, {i.max()}]")
    return i.astype(np.int64)


def diversity_at_n(ids, item_cat) -> float:
    """Eq. 17: mean over rows of Σ_{j<k} δ(CATE(î_j) ≠ CATE(î_k)) / (N(N − 1)/2).

    ``ids`` [B, N] recommended item ids (0 = an empty slot, left out of that row's pairs);
    ``item_cat`` [n_items + 1]. A row with fewer than 2 items has diversity 0.
    """
    cat = _item_cat(item_cat)
    i = _lists(ids, cat, "ids")
    c = cat[i]
    real = i != 0
    pairs = real[:, :, None] & real[:, None, :] & np.triu(np.ones((i.shape[1],) * 2, bool), 1)
    differ = (c[:, :, None] != c[:, None, :]) & pairs
    n = real.sum(1)
    total = n * (n - 1) / 2
    per_row = np.divide(differ.sum((1, 2)), total, out=np.zeros(len(n)), where=total > 0)
    return float(per_row.mean())


def greedy_select(scores, ids, item_cat, n: int, lam: float) -> np.ndarray:
    """The greedy maximisation of eq. 12 over each row's candidates: [B, n] item ids.

    ``scores`` [B, M] = f(u, i) of each candidate, ``ids`` [B, M] (0 = no candidate, e.g. the
    padding of a short list; its score is ignored). A row with fewer than n candidates ends with
    zeros. ``lam`` = λ >= 0; ``lam = 0`` returns the n best candidates by score.
    """
    if lam < 0:
        raise ValueError(f"lam (λ) must be >= 0, got {lam}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    cat = _item_cat(item_cat)
    i = _lists(ids, cat, "ids")
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != i.shape:
        raise ValueError(f"scores {s.shape} and ids {i.shape} must have the same shape")
    if np.isnan(s[i != 0]).any():
        raise ValueError("scores contain NaN at real candidates")
    B, M = i.shape
    rows = np.arange(B)
    c = cat[i]  # CATE(i) of each candidate
    count = np.zeros((B, int(cat.max()) + 1))  # c_S: items already chosen per category
    free = i != 0
    out = np.zeros((B, n), np.int64)
    for step in range(n):
        gain = np.where(free, s - lam * np.take_along_axis(count, c, 1), -np.inf)
        # the best gain; among equal gains the best score, then the earliest candidate
        order = np.lexsort((np.broadcast_to(np.arange(M), (B, M)), -s, -gain), axis=1)
        best = order[:, 0]
        ok = free[rows, best]
        out[:, step] = np.where(ok, i[rows, best], 0)
        count[rows[ok], c[rows[ok], best[ok]]] += 1
        free[rows, best] = False
    return out


def candidates(index: ItemIndex, interests, n: int, mask=None, exclude=None):
    """The aggregation module's input: every interest's own top-n items, merged.

    ``interests`` [B, K, d] (or [B, d]); ``mask`` [B, K] marks existing interests. Returns
    ``(scores [B, K·n], ids [B, K·n])`` sorted by score (then id), each item once with
    f(u, i) = max_k e_iᵀ v_u^(k) over the existing interests (eq. 11); the tail of a row with
    repeated items holds id 0 and score -inf. Needs an inner-product index (``metric="ip"``).
    """
    u = to_numpy(interests, np.float32)
    if u.ndim == 2:
        u = u[:, None, :]
    if u.ndim != 3:
        raise ValueError(f"interests must be [B, K, d] or [B, d], got shape {u.shape}")
    if index.metric != "ip":
        raise ValueError(f"the aggregation scores by inner product (eq. 11); got an index with "
                         f"metric={index.metric!r}")
    B, K, d = u.shape
    m = np.ones((B, K), bool) if mask is None else np.asarray(mask, bool)
    if m.shape != (B, K):
        raise ValueError(f"mask must be [B, K] = {(B, K)}, got shape {m.shape}")
    excl = None if exclude is None else np.repeat(np.asarray(exclude), K, axis=0)
    s, i = index.search(u.reshape(B * K, d), n, exclude=excl)
    s = np.where(m.reshape(-1, 1), s, -np.inf).reshape(B, K * n)
    i = np.where(m.reshape(-1, 1), i, 0).reshape(B, K * n)
    # best score first, then keep each id's first occurrence
    order = np.lexsort((i, -s), axis=1)
    s, i = np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1)
    srt = np.argsort(i, axis=1, kind="stable")
    i_by_id = np.take_along_axis(i, srt, 1)
    dup_sorted = np.zeros_like(i_by_id, dtype=bool)
    dup_sorted[:, 1:] = i_by_id[:, 1:] == i_by_id[:, :-1]
    dup = np.zeros_like(dup_sorted)
    np.put_along_axis(dup, srt, dup_sorted, 1)
    keep = ~dup & (i != 0)
    i = np.where(keep, i, 0)
    # f(u, i) exactly (eq. 11): an item found by interest k may score higher with another
    # interest that did not retrieve it (the official code keeps the retrieving score, a lower
    # bound; the top-n is the same either way, the greedy trade-off is not)
    f = np.einsum("bkd,bmd->bmk", u, index.vectors[np.maximum(i, 1) - 1])
    f = np.where(m[:, None, :], f, -np.inf).max(-1)
    s = np.where(keep, f, -np.inf)
    order = np.lexsort((np.where(keep, i, np.iinfo(np.int64).max), -s), axis=1)
    return np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1)


def controllable_topn(index: ItemIndex, interests, item_cat, n: int, lam: float = 0.0,
                      mask=None, exclude=None) -> np.ndarray:
    """ComiRec's serving with its aggregation module: [B, n] item ids for each user.

    Each interest retrieves its top-n through ``index`` (faiss inner product), the lists are
    merged (``candidates``) and ``greedy_select`` picks n of them with the trade-off λ = ``lam``.
    With ``lam = 0`` this is the merged, de-duplicated top-n of ``recbook.retrieval``.
    """
    s, i = candidates(index, interests, n, mask, exclude)
    return greedy_select(s, i, item_cat, n, lam)
