"""Session-based baselines and next-item evaluation as the GRU4Rec papers run them (numpy only).

- ``MostPopular``: every session gets the most frequent training items.
- ``ItemKNN``: the ICLR'16 paper's strongest baseline: items similar to the session's *last*
  item, similarity = co-occurrence in sessions, regularised cosine (official ``baselines.py``:
  sim(i, j) = cooc(i, j) / ((supp_i + λ)^α (supp_j + λ)^(1 − α)), λ = 20, α = 0.5).
- ``SampleStore``: GRU4Rec's pre-computed store of extra negative samples, drawn with
  probability ∝ support^α (CIKM'18); shared by the PyTorch and TensorFlow models.
- ``evaluate_next_item``: next-item prediction over the whole catalogue, event by event through
  session-parallel batches in time order; Recall@K, MRR@K, NDCG@K (official ``evaluation.py``).

Every recommender here, and the GRU4Rec models, is a callable ``batch -> scores [B, N + 1]``
reading ``batch["input_item"]`` and ``batch["reset"]`` (column 0, padding, is never ranked).
"""
from __future__ import annotations

import numpy as np
from scipy import sparse

from recbook.arrays import to_numpy

from recbook.metrics import rank_metrics, rank_of_target, sampled_rank


def item_support(items, n_items: int) -> np.ndarray:
    """supp_i = number of training events of item i, int64 [n_items + 1] (supp_0 = 0)."""
    items = np.asarray(items, dtype=np.int64)
    if items.size and (items.min() < 1 or items.max() > n_items):
        raise ValueError(f"items must lie in 1..n_items={n_items}, found "
                         f"{items.min()}..{items.max()}")
    supp = np.bincount(items, minlength=n_items + 1).astype(np.int64)
    supp[0] = 0
    return supp


class SampleStore:
    """A large block of negative samples drawn ∝ supp^α, generated at once and refilled when
    used up (the official code's sample store: one draw of millions of ids instead of a small
    draw per mini-batch). ``get()`` returns the next ``n_sample`` ids; id 0 (padding) and items
    with zero support are never drawn."""

    def __init__(self, support, n_sample: int, alpha: float = 0.75,
                 store_size: int = 10_000_000, seed: int = 0):
        support = np.asarray(support, dtype=np.float64).copy()
        if support.ndim != 1 or support.shape[0] < 2:
            raise ValueError(f"support must be [n_items + 1], got shape {support.shape}")
        support[0] = 0.0
        if n_sample < 1:
            raise ValueError(f"n_sample must be >= 1, got {n_sample}")
        if (support < 0).any() or support.sum() <= 0:
            raise ValueError("support must be >= 0 with at least one positive item")
        weights = np.where(support > 0, support ** alpha, 0.0)
        self.q = weights / weights.sum()  # q(i): the sampling distribution, q(0) = 0
        self.cdf = np.cumsum(self.q)
        self.cdf[-1] = 1.0
        self.n_sample = n_sample
        self.rows = max(store_size // n_sample, 1)
        self.rng = np.random.default_rng(seed)
        self._refill()

    def _refill(self):
        u = self.rng.random(self.rows * self.n_sample)
        # first index with cdf > u: never 0 (cdf[0] = 0 <= u) nor an item with q = 0
        ids = np.searchsorted(self.cdf, u, side="right")
        self.store = np.minimum(ids, len(self.cdf) - 1).reshape(self.rows, self.n_sample)
        self.pointer = 0

    def get(self) -> np.ndarray:
        if self.pointer >= self.rows:
            self._refill()
        sample = self.store[self.pointer]
        self.pointer += 1
        return sample


class MostPopular:
    """score(j) = supp_j for every session: the trivial baseline."""

    def __init__(self, support):
        self.support = np.asarray(support, dtype=np.float64)

    def __call__(self, batch) -> np.ndarray:
        B = len(batch["input_item"])
        return np.broadcast_to(self.support, (B, len(self.support))).copy()


class ItemKNN:
    """Items most similar to the last item of the session (ICLR'16 §4.1 item-KNN)."""

    def __init__(self, session_ids, items, n_items: int, lmbd: float = 20.0, alpha: float = 0.5,
                 n_sims: int = 100):
        session_ids = np.asarray(session_ids)
        items = np.asarray(items, dtype=np.int64)
        _, rows = np.unique(session_ids, return_inverse=True)
        # S[s, i] = how often item i occurs in session s. As the official CoOccurence, each
        # event of i counts the *distinct* items of its session: cooc(i, j) = Σ_s S[s, i]·[j ∈ s]
        # (not symmetric when items repeat within a session, as in RSC15)
        S = sparse.csr_matrix((np.ones(len(items)), (rows, items)),
                              shape=(rows.max() + 1, n_items + 1))
        in_session = S.copy()
        in_session.data[:] = 1.0
        cooc = (S.T @ in_session).tocsr()
        cooc.setdiag(0)
        cooc.eliminate_zeros()
        supp = item_support(items, n_items).astype(np.float64)
        coo = cooc.tocoo()
        sim = coo.data / ((supp[coo.row] + lmbd) ** alpha * (supp[coo.col] + lmbd) ** (1 - alpha))
        sim = sparse.csr_matrix((sim, (coo.row, coo.col)), shape=cooc.shape)
        self.sim = _top_per_row(sim, n_sims)

    def __call__(self, batch) -> np.ndarray:
        return self.sim[np.asarray(batch["input_item"])].toarray()


def _top_per_row(m: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    """Keep the k largest entries of every row (the official code keeps 100 neighbours)."""
    rows, cols, vals = [], [], []
    for r in range(m.shape[0]):
        lo, hi = m.indptr[r], m.indptr[r + 1]
        d, c = m.data[lo:hi], m.indices[lo:hi]
        keep = np.argsort(-d, kind="stable")[:k]
        rows.append(np.full(len(keep), r)), cols.append(c[keep]), vals.append(d[keep])
    return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=m.shape)


def eval_batches(sess, batch_size: int):
    """Session-parallel batches that visit *every* next-item event once (evaluation).

    Like training's ``SessionParallelBatches`` (sessions in their order, one event per row and
    step, ``reset`` where a row's session starts), but when no session is left a row goes idle
    instead of ending the pass: idle rows repeat a harmless step and are marked
    ``valid = False`` so that metrics skip them (the official evaluation shrinks the batch).
    ``sess``: DataFrame (session, item, time) sorted by session then time.
    """
    sid = np.asarray(sess["session"])
    items = np.asarray(sess["item"], dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
    ends = np.r_[starts[1:], len(sid)]
    keep = ends - starts >= 2  # a one-event session holds no next-item step
    starts, ends = starts[keep], ends[keep]
    if len(starts) == 0:
        raise ValueError("eval_batches: no session with >= 2 events")
    B = min(batch_size, len(starts))
    pos, end = starts[:B].copy(), ends[:B].copy()
    valid = np.ones(B, dtype=bool)
    reset = np.ones(B, dtype=bool)
    nxt = B
    while valid.any():
        yield {"input_item": items[pos], "target_item": items[np.where(valid, pos + 1, pos)],
               "reset": reset.copy(), "valid": valid.copy()}
        pos = np.where(valid, pos + 1, pos)
        reset = valid & (pos + 1 >= end)
        for r in np.flatnonzero(reset):
            if nxt < len(starts):
                pos[r], end[r] = starts[nxt], ends[nxt]
                nxt += 1
            else:
                valid[r] = False


def evaluate_next_item(recommender, batches, k=20, ties: str = "conservative",
                       sampled: int | None = None, seed: int = 0) -> dict:
    """Recall@k, MRR@k and NDCG@k of ``recommender`` over every event of ``batches``.

    ``batches``: session-parallel batches (``input_item``, ``target_item``, ``reset``, and
    ``valid`` from ``eval_batches``) in time order; the recommender sees each event once and
    keeps its own state per row. Each target is ranked against the whole catalogue, ties
    counted against it (``recbook.metrics.rank_of_target``, the official "conservative" mode).
    ``sampled``: rank the target among itself and this many random items instead: the
    protocol of many third-party papers, kept only as a contrast.
    """
    ks = [k] if np.isscalar(k) else list(k)
    all_ranks = []
    for step, batch in enumerate(batches):
        scores = recommender(batch)
        scores = to_numpy(scores, np.float64).copy()
        scores[:, 0] = 0.0  # padding (−inf in the models) never competes anyway
        target = np.asarray(batch["target_item"], dtype=np.int64)
        if "valid" in batch:  # idle rows of eval_batches
            scores, target = scores[batch["valid"]], target[batch["valid"]]
        if sampled is not None:
            r = sampled_rank(scores, target, sampled, seed=seed + step, ties=ties)
        else:
            r = rank_of_target(scores, target, ties=ties)
        all_ranks.append(r)
    if not all_ranks:
        raise ValueError("evaluate_next_item: the batches held no event")
    return rank_metrics(np.concatenate(all_ranks), ks)
