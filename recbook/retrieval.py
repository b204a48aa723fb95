"""Top-K retrieval over the item catalogue, for one or several interest vectors per user.

Refused, each with the argument named: a k (or one of ks) that is not an integer in
1..n_items; embeddings or queries that are not numbers, of the wrong rank, of width 0, or
holding NaN/inf (a NaN score would rank anywhere); a catalogue with no item besides the padding
row; queries whose width differs from the items'; K = 0 interests, a mask of the wrong shape or
dtype, a row with every interest masked; ``exclude`` that is not [B, L] integer ids in 0..N.
Valid edge cases give exact results: 0 query rows give [0, k] arrays; a row whose ``exclude``
leaves fewer than k items is padded with id 0 and score -inf.

Retrieval models give ``item_embeddings()`` [n_items + 1, d] (row 0 = padding) and
``user_interests(batch)`` [B, K, d]; this module finds the items with the largest inner
product. ``ItemIndex`` wraps an exact faiss ``IndexFlatIP`` (what MIND and ComiRec serve with)
and a numpy brute force that returns the same items, for tests and for readers without faiss.
"""
from __future__ import annotations

import numpy as np

from recbook import metrics
from recbook.arrays import to_numpy


def _float32(x, name: str, ndim: int | None) -> np.ndarray:
    """``x`` (numpy, a torch or TF tensor on any device) as contiguous float32; refuses
    non-numbers, a wrong rank, a zero width and NaN/inf (a NaN score would rank anywhere),
    naming ``name``."""
    a = to_numpy(x)
    if a.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold numbers, got dtype {a.dtype}")
    a = np.ascontiguousarray(a, dtype=np.float32)
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    if a.ndim and a.shape[-1] == 0:
        raise ValueError(f"{name} has vectors of width 0, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")
    return a


def _check_k(k, n_items: int, name: str = "k") -> int:
    """A cut-off: an integer (not a bool) in 1..n_items."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"{name} must be an integer in 1..n_items={n_items}, got {k!r} "
                        f"({type(k).__name__})")
    if not 1 <= k <= n_items:
        raise ValueError(f"{name}={k} must lie in 1..n_items={n_items}")
    return int(k)


def _exclude_matrix(exclude, n_rows: int, n_items: int) -> np.ndarray:
    e = np.asarray(exclude)
    if e.dtype.kind not in "iu":
        raise ValueError(f"exclude must hold integer item ids (0-padded), got dtype {e.dtype}")
    e = e.astype(np.int64, copy=False)
    if e.ndim != 2 or e.shape[0] != n_rows:
        raise ValueError(f"exclude must be [B, L] item ids (0-padded) with B={n_rows}, "
                         f"got shape {e.shape}")
    if (e < 0).any() or (e > n_items).any():
        raise ValueError(f"exclude ids must lie in 0..{n_items}")
    return e


def _top_sorted(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the k best (score descending, then id ascending: a deterministic tie-break)."""
    order = np.lexsort((ids, -scores), axis=-1)[:, :k]
    return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)


class ItemIndex:
    """Exact maximum-inner-product search over items 1..N.

    ``item_embeddings`` is [N + 1, d] with row 0 the padding item, which is left out of the
    index, so it is never returned; returned ids are item ids (faiss position + 1).
    ``metric="ip"`` scores by inner product (MIND, ComiRec), ``"cosine"`` by cosine similarity.
    ``use_faiss=False`` (or faiss missing) uses a numpy brute force with the same results; exact
    ties between different items may be ordered differently by faiss.
    """

    def __init__(self, item_embeddings, metric: str = "ip", use_faiss: bool = True):
        if metric not in ("ip", "cosine"):
            raise ValueError(f"metric must be 'ip' or 'cosine', got {metric!r}")
        e = _float32(item_embeddings, "item_embeddings", 2)
        if e.shape[0] < 2:
            raise ValueError(f"item_embeddings must have n_items + 1 >= 2 rows (row 0 = "
                             f"padding), got shape {e.shape}")
        self.metric = metric
        self.n_items, self.dim = e.shape[0] - 1, e.shape[1]
        self.vectors = self._normalise(e[1:])
        self._faiss = None
        if use_faiss:
            try:
                import faiss
            except ImportError:  # the numpy path gives the same items
                faiss = None
            if faiss is not None:
                self._faiss = faiss.IndexFlatIP(self.dim)
                self._faiss.add(self.vectors)

    @property
    def uses_faiss(self) -> bool:
        return self._faiss is not None

    def _normalise(self, x: np.ndarray) -> np.ndarray:
        if self.metric == "ip":
            return x
        norm = np.linalg.norm(x, axis=-1, keepdims=True)
        return np.ascontiguousarray(x / np.maximum(norm, 1e-12), dtype=np.float32)

    def _raw_search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self._faiss is not None:
            scores, pos = self._faiss.search(q, k)
            return scores, pos.astype(np.int64) + 1
        out_s = np.empty((q.shape[0], k), np.float32)
        out_i = np.empty((q.shape[0], k), np.int64)
        step = max(1, 2**24 // max(self.n_items, 1))  # bound the [rows, N] score block
        for a in range(0, q.shape[0], step):
            s = q[a:a + step] @ self.vectors.T
            ids = np.broadcast_to(np.arange(1, self.n_items + 1), s.shape)
            part = np.argpartition(-s, k - 1, axis=1)[:, :k] if k < self.n_items else \
                np.broadcast_to(np.arange(self.n_items), s.shape)
            out_s[a:a + step], out_i[a:a + step] = _top_sorted(
                np.take_along_axis(s, part, 1), np.take_along_axis(ids, part, 1), k)
        return out_s, out_i

    def search(self, queries, k: int, exclude=None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k items per query: ``(scores [B, k], ids [B, k])``, best first.

        ``exclude`` [B, L] (e.g. ``hist_items``, 0-padded) drops those items from row b's
        results. It is a post-filter over an over-fetched list: row b fetches k + (number of its
        distinct excluded items), so at least k survive whenever the catalogue has them. A row
        left with fewer than k items is padded with id 0 and score -inf.
        """
        q = self._normalise(_float32(queries, "queries", 2))
        if q.shape[1] != self.dim:
            raise ValueError(f"queries have dimension {q.shape[1]}, the items {self.dim}")
        k = _check_k(k, self.n_items)
        if exclude is None:
            return self._raw_search(q, k)
        e = _exclude_matrix(exclude, q.shape[0], self.n_items)
        n_drop = np.array([np.count_nonzero(np.unique(r)) for r in e])
        fetch = min(k + int(n_drop.max(initial=0)), self.n_items)
        scores, ids = self._raw_search(q, fetch)
        dropped = (ids[:, :, None] == e[:, None, :]).any(axis=2)
        return _keep_first(scores, ids, ~dropped, k)


def _keep_first(scores, ids, keep, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the first k entries where ``keep`` (entries are already sorted best first)."""
    scores = np.where(keep, scores, -np.inf).astype(np.float32)
    ids = np.where(keep, ids, 0)
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]  # kept entries first, in order
    return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)


def topk_multi_interest(index: ItemIndex, interests, k: int, mask=None, exclude=None
                        ) -> tuple[np.ndarray, np.ndarray]:
    """ComiRec's serving step (and MIND's): each interest retrieves its own top-k, the lists are
    merged by score, an item found by several interests keeps its best score, and the k best
    distinct items remain: ``(scores [B, k], ids [B, k])``.

    This equals the top-k of the item score max_k <u_k, e_i>: an item in that top-k is within
    the top-k of the interest that scores it best. ``interests`` [B, K, d] (or [B, d] for a
    single vector); ``mask`` [B, K] bool marks the interests that exist (MIND's dynamic
    K'_u): masked ones retrieve nothing. ``exclude`` as in ``ItemIndex.search``.
    """
    u = _float32(interests, "interests", None)
    if u.ndim == 2:
        u = u[:, None, :]
    if u.ndim != 3:
        raise ValueError(f"interests must be [B, K, d] or [B, d], got shape {u.shape}")
    b, n_int, d = u.shape
    if n_int == 0:
        raise ValueError(f"interests has K=0 vectors per user, got shape {u.shape}")
    k = _check_k(k, index.n_items)
    m = np.ones((b, n_int), bool) if mask is None else np.asarray(mask)
    if m.shape != (b, n_int):
        raise ValueError(f"mask must be [B, K] = {(b, n_int)}, got shape {m.shape}")
    if m.dtype != bool and not (m.dtype.kind in "iu" and np.isin(m, (0, 1)).all()):
        raise ValueError(f"mask must be bool (True where an interest exists), got dtype "
                         f"{m.dtype}")
    m = m.astype(bool, copy=False)
    empty = np.flatnonzero(~m.any(axis=1))
    if empty.size:
        raise ValueError(f"rows {empty[:5].tolist()} have no interest left after the mask")
    excl = None if exclude is None else np.repeat(
        _exclude_matrix(exclude, b, index.n_items), n_int, axis=0)
    scores, ids = index.search(u.reshape(b * n_int, d), k, exclude=excl)
    scores = np.where(m.reshape(-1, 1), scores, -np.inf).reshape(b, n_int * k)
    ids = np.where(m.reshape(-1, 1), ids, 0).reshape(b, n_int * k)
    # keep each item's best occurrence: sort by id, best score first within the id
    order = np.lexsort((-scores, ids), axis=-1)
    s_sorted, i_sorted = np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)
    first = np.ones_like(i_sorted, dtype=bool)
    first[:, 1:] = i_sorted[:, 1:] != i_sorted[:, :-1]
    first &= i_sorted != 0
    s_sorted = np.where(first, s_sorted, -np.inf)
    i_sorted = np.where(first, i_sorted, 0)
    top_s, top_i = _top_sorted(s_sorted, np.where(first, i_sorted, np.iinfo(np.int64).max), k)
    top_i = np.where(np.isneginf(top_s), 0, top_i)
    return top_s.astype(np.float32), top_i


def recall_eval(index: ItemIndex, interests, truth_sets, ks=(20, 50), mask=None, exclude=None,
                ideal: str = "truth") -> dict[str, float]:
    """ComiRec-style evaluation: retrieve the top max(ks) items (merged over interests) and
    report ``recall@k``, ``hit_rate@k``, ``ndcg@k`` and ``mrr@k`` against each user's set of
    future items ``truth_sets`` (B sets, a 0-padded [B, M] matrix or a [B] vector).

    A top-k list is a prefix of the top-max(ks) list, so one search serves every k. ``ideal``
    picks the NDCG normalisation (see ``recbook.metrics.ndcg_at_k``).
    """
    ks = tuple(ks) if np.ndim(ks) else (ks,)
    if not ks:
        raise ValueError("ks must name at least one cut-off, e.g. ks=(20, 50)")
    for k in ks:
        _check_k(k, index.n_items, "ks")
    _, ids = topk_multi_interest(index, interests, max(ks), mask=mask, exclude=exclude)
    return metrics.ranking_metrics(ids, truth_sets, ks, ideal=ideal)
