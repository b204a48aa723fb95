"""Evaluation metrics of the six papers, in numpy only.

Ranking (CTR) side: ``auc``, ``gauc`` and ``relaimpr`` (DIN, arXiv 1706.06978, Sec. 6),
``log_loss``. Retrieval side: Recall / HitRate / NDCG / MRR at K from ranked lists
(GRU4Rec: one next item per row; MIND and ComiRec: a set of future items per row), full-ranking
ranks with explicit tie handling, and the "sampled" rank among 100 negatives for contrast.

Convention shared with the rest of recbook: item ids start at 1 and **0 is padding**. A score
matrix over the whole catalogue has ``n_items + 1`` columns, column ``j`` scoring item ``j``;
column 0 is never ranked.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from recbook.arrays import to_numpy

TIES = ("conservative", "standard", "median")


# --------------------------------------------------------------------------------------------
# input checks


def _vector(x, name: str, dtype=None) -> np.ndarray:
    a = np.asarray(x, dtype=dtype)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    return a


def _binary_labels(labels, n: int) -> np.ndarray:
    y = _vector(labels, "labels")
    if y.shape[0] != n:
        raise ValueError(f"labels has length {y.shape[0]} but scores has length {n}")
    if y.dtype != bool and not np.isin(y, (0, 1)).all():
        bad = np.unique(y[~np.isin(y, (0, 1))])[:5]
        raise ValueError(f"labels must be 0/1, found values {bad.tolist()}")
    return y.astype(bool)


def _finite_scores(scores, name: str = "scores") -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if np.isnan(s).any():
        raise ValueError(f"{name} contains NaN at {np.argwhere(np.isnan(s))[:3].tolist()}")
    return s


# --------------------------------------------------------------------------------------------
# CTR metrics


def _midranks(s: np.ndarray) -> np.ndarray:
    """1-based ranks of ``s`` in ascending order; tied values share their average rank."""
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)  # rank of the last element of each group of equal values
    return (upper - (counts - 1) / 2.0)[inverse]


def auc(labels, scores) -> float:
    """Exact ROC AUC: P(score of a random positive > score of a random negative).

    Rank form (Mann-Whitney U): ``(sum of positives' ranks - P(P+1)/2) / (P N)``, with tied
    scores given their average rank, so a tie between a positive and a negative counts 1/2.
    Deterministic (no sorting order matters) and equal to ``sklearn.metrics.roc_auc_score``.
    """
    s = _finite_scores(_vector(scores, "scores"))
    y = _binary_labels(labels, s.shape[0])
    n_pos = int(y.sum())
    n_neg = y.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"AUC needs both classes; got {n_pos} positive and {n_neg} negative "
                         "labels")
    r = _midranks(s)
    return float((r[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def gauc(users, labels, scores, weights=None) -> float:
    """DIN's group AUC: ``sum_i w_i AUC_i / sum_i w_i`` over users ``i`` (eq. 10 of
    arXiv 1706.06978, in its Metrics paragraph: w_i = number of impressions of user i).

    ``weights`` are per-sample (default 1, so a user's weight is its number of impressions);
    pass ``labels`` as weights to weight users by their clicks instead. Users whose samples are
    all positive or all negative have no AUC and are **skipped**, as in the official DIN/DIEN
    code; their impressions count neither in the numerator nor in the denominator.
    """
    s = _finite_scores(_vector(scores, "scores"))
    y = _binary_labels(labels, s.shape[0])
    u = _vector(users, "users")
    if u.shape[0] != s.shape[0]:
        raise ValueError(f"users has length {u.shape[0]} but scores has length {s.shape[0]}")
    w = np.ones_like(s) if weights is None else _vector(weights, "weights", np.float64)
    if w.shape[0] != s.shape[0]:
        raise ValueError(f"weights has length {w.shape[0]} but scores has length {s.shape[0]}")
    order = np.argsort(u, kind="stable")
    u, y, s, w = u[order], y[order], s[order], w[order]
    starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
    ends = np.r_[starts[1:], u.shape[0]]
    total, weight = 0.0, 0.0
    for a, b in zip(starts, ends):
        n_pos = int(y[a:b].sum())
        if n_pos == 0 or n_pos == b - a:
            continue  # single-class user: AUC undefined, skipped like the official code
        total += w[a:b].sum() * auc(y[a:b], s[a:b])
        weight += w[a:b].sum()
    if weight == 0:
        raise ValueError("GAUC needs at least one user with both a positive and a negative "
                         "sample (with non-zero weight)")
    return float(total / weight)


def relaimpr(auc_model: float, auc_base: float) -> float:
    """DIN's relative improvement (Metrics, Sec. 6 of arXiv 1706.06978):
    ``(AUC(model) - 0.5) / (AUC(base) - 0.5) - 1``.

    0.5 is a random guesser's AUC, so this measures the gain over the base model's lift above
    random (0.1 = 10 % more lift). Works for GAUC values as well.
    """
    if math.isclose(auc_base, 0.5):
        raise ValueError(f"RelaImpr is undefined when the base AUC is 0.5 (got {auc_base})")
    return (auc_model - 0.5) / (auc_base - 0.5) - 1.0


def log_loss(labels, probs, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy of probabilities ``probs``, clipped to [eps, 1 - eps] so that
    a confident mistake costs ``-log(eps)`` instead of infinity."""
    p = _finite_scores(_vector(probs, "probs"), "probs")
    if (p < 0).any() or (p > 1).any():
        raise ValueError(f"probs must lie in [0, 1] (pass probabilities, not logits); got range "
                         f"[{p.min():.4g}, {p.max():.4g}]")
    y = _binary_labels(labels, p.shape[0]).astype(np.float64)
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


# --------------------------------------------------------------------------------------------
# ranking metrics at K from ranked lists


def _truth_matrix(truth, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth as an int64 [B, M] matrix of distinct item ids, 0-padded, and the length of
    each row as given, repeats included (its non-zero entries).

    Accepts a [B] vector (one target per row), a 0-padded [B, M] matrix, or a sequence of B
    iterables of item ids (sets, lists, arrays)."""
    if isinstance(truth, np.ndarray) and truth.dtype != object:
        t = truth.astype(np.int64)
        if t.ndim == 1:
            t = t[:, None]
        if t.ndim != 2:
            raise ValueError(f"truth must be [B] or [B, M], got shape {truth.shape}")
        n_raw = (t != 0).sum(axis=1)
    else:
        raw = [np.asarray(list(r), dtype=np.int64) for r in truth]
        n_raw = np.array([(r != 0).sum() for r in raw], dtype=np.int64)
        rows = [np.unique(r) for r in raw]
        t = np.zeros((len(rows), max((len(r) for r in rows), default=0)), dtype=np.int64)
        for i, r in enumerate(rows):
            t[i, :len(r)] = r
    if t.shape[0] != n_rows:
        raise ValueError(f"truth has {t.shape[0]} rows but ranked has {n_rows}")
    if (t < 0).any():
        raise ValueError("truth item ids must be >= 1 (0 is padding); found negative ids")
    # remove repeated ids inside a row so that |truth| counts distinct items
    t = np.sort(t, axis=1)
    t[:, 1:][t[:, 1:] == t[:, :-1]] = 0
    empty = np.flatnonzero((t == 0).all(axis=1))
    if empty.size:
        raise ValueError(f"truth rows {empty[:5].tolist()} have no target item (all padding)")
    return t, n_raw


def _hits(ranked, truth, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """hits [B, k] (ranked[b, j] is a true item), |truth| per row (distinct items) and the
    length of each truth row as given (repeats included)."""
    r = np.asarray(ranked)
    if r.ndim != 2:
        raise ValueError(f"ranked must be [B, L] item ids, got shape {r.shape}")
    if not 1 <= k <= r.shape[1]:
        raise ValueError(f"k={k} must lie in 1..{r.shape[1]} (the length of the ranked lists)")
    r = r[:, :k].astype(np.int64)
    srt = np.sort(r, axis=1)
    dup = (srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] != 0)
    if dup.any():
        row = int(np.flatnonzero(dup.any(axis=1))[0])
        raise ValueError(f"ranked row {row} lists an item twice in its top {k}; de-duplicate "
                         "first (recbook.retrieval merges interests that way)")
    t, n_raw = _truth_matrix(truth, r.shape[0])
    hits = ((r[:, :, None] == t[:, None, :]) & (t[:, None, :] != 0)).any(axis=2)
    hits &= r != 0  # id 0 fills lists that ran out of items: never a hit
    return hits, (t != 0).sum(axis=1), n_raw


def _discounts(n: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, n + 2))  # position j (0-based) -> 1 / log2(j + 2)


RECALL_DENOMINATORS = ("distinct", "raw")


def _per_row(ranked, truth, k: int, ideal: str = "truth",
             recall_denominator: str = "distinct") -> dict[str, np.ndarray]:
    if ideal not in ("truth", "hits"):
        raise ValueError(f"ideal must be 'truth' or 'hits', got {ideal!r}")
    if recall_denominator not in RECALL_DENOMINATORS:
        raise ValueError(f"recall_denominator must be one of {RECALL_DENOMINATORS}, got "
                         f"{recall_denominator!r}")
    hits, n_true, n_raw = _hits(ranked, truth, k)
    n_hit = hits.sum(axis=1)
    disc = _discounts(k)
    dcg = (hits * disc).sum(axis=1)
    cum = np.r_[0.0, np.cumsum(disc)]  # cum[m] = ideal DCG with m relevant items on top
    idcg = cum[np.minimum(n_true, k)] if ideal == "truth" else cum[n_hit]
    first = np.where(n_hit > 0, hits.argmax(axis=1) + 1, 0)
    return {
        "recall": n_hit / (n_true if recall_denominator == "distinct" else n_raw),
        "hit_rate": (n_hit > 0).astype(np.float64),
        "ndcg": np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0),
        "mrr": np.divide(1.0, first, out=np.zeros(first.shape), where=first > 0),
    }


def recall_at_k(ranked, truth, k: int, recall_denominator: str = "distinct") -> float:
    """Mean over rows of |top-k ∩ truth| / |truth|. ``ranked`` [B, L] item ids, best first;
    ``truth`` a [B] vector (then recall == hit rate), a 0-padded [B, M] matrix or B sets/lists.

    ``recall_denominator``: "distinct" (default) divides by the number of distinct true items,
    so a user who revisits an item is not asked to retrieve it twice (recall 1 is reachable);
    "raw" divides by the length of the truth row as given, repeats included, as ComiRec's
    official evaluation does (src/train.py, ``len(iid_list)``). The numerator is the same:
    a top-k list holds each item once.
    """
    return float(_per_row(ranked, truth, k, recall_denominator=recall_denominator)
                 ["recall"].mean())


def hit_rate_at_k(ranked, truth, k: int) -> float:
    """Fraction of rows with at least one true item in the top k (MIND's HitRate@N)."""
    return float(_per_row(ranked, truth, k)["hit_rate"].mean())


def ndcg_at_k(ranked, truth, k: int, ideal: str = "truth") -> float:
    """Mean NDCG@k with binary relevance: DCG = sum over hits at 1-based position j of
    1/log2(j + 1) (ComiRec, arXiv 2005.09347, its NDCG equation, Eq. 16 as cited in the
    repository's issue #6), divided by the ideal DCG.

    ``ideal="truth"`` (default: the best DCG possible for this row) puts min(|truth|, k) hits
    on top. ``ideal="hits"`` reproduces the official ComiRec code after its NDCG fix
    (commit a3489df, issue #6), which normalises by as many positions as there were hits, so
    any row whose hits sit at the top scores 1 however many true items it missed.
    With a single target both give 1/log2(rank + 1).
    """
    return float(_per_row(ranked, truth, k, ideal)["ndcg"].mean())


def mrr_at_k(ranked, truth, k: int) -> float:
    """Mean reciprocal rank of the first true item in the top k (0 when none is there)."""
    return float(_per_row(ranked, truth, k)["mrr"].mean())


def ranking_metrics(ranked, truth, ks=(20, 50), ideal: str = "truth",
                    recall_denominator: str = "distinct") -> dict[str, float]:
    """All four metrics for every k in ``ks``: keys ``recall@20``, ``hit_rate@20``, ...
    (``ideal``: see ``ndcg_at_k``; ``recall_denominator``: see ``recall_at_k``)."""
    out = {}
    for k in ks:
        for name, v in _per_row(ranked, truth, k, ideal, recall_denominator).items():
            out[f"{name}@{k}"] = float(v.mean())
    return out


# --------------------------------------------------------------------------------------------
# full-catalogue ranks


def _score_matrix(scores, target) -> tuple[np.ndarray, np.ndarray]:
    s = _finite_scores(scores)
    if s.ndim != 2 or s.shape[1] < 2:
        raise ValueError(f"scores must be [B, n_items + 1] (column 0 = padding), got {s.shape}")
    t = _vector(target, "target").astype(np.int64)
    if t.shape[0] != s.shape[0]:
        raise ValueError(f"target has length {t.shape[0]} but scores has {s.shape[0]} rows")
    if (t < 1).any() or (t >= s.shape[1]).any():
        raise ValueError(f"target ids must lie in 1..{s.shape[1] - 1} (0 is padding); found "
                         f"range [{t.min()}, {t.max()}]")
    return s, t


def _candidates(s: np.ndarray, t: np.ndarray, exclude) -> np.ndarray:
    """[B, N+1] bool: items that compete with the target (never padding; never excluded ones,
    except the target itself, which stays rankable even when it is in the history)."""
    valid = np.ones(s.shape, dtype=bool)
    valid[:, 0] = False
    if exclude is not None:
        e = np.asarray(exclude, dtype=np.int64)
        if e.ndim != 2 or e.shape[0] != s.shape[0]:
            raise ValueError(f"exclude must be [B, L] item ids (0-padded) with B={s.shape[0]}, "
                             f"got shape {e.shape}")
        if (e < 0).any() or (e >= s.shape[1]).any():
            raise ValueError(f"exclude ids must lie in 0..{s.shape[1] - 1}")
        np.put_along_axis(valid, e, False, axis=1)
        valid[:, 0] = False
    valid[np.arange(s.shape[0]), t] = True
    return valid


def _rank(s, t, valid, ties: str) -> np.ndarray:
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    ts = s[np.arange(s.shape[0]), t][:, None]
    higher = (valid & (s > ts)).sum(axis=1)
    equal = (valid & (s == ts)).sum(axis=1)  # includes the target itself
    if ties == "conservative":
        return higher + equal
    if ties == "standard":
        return higher + 1
    return higher + (equal + 1) / 2.0


def rank_of_target(scores, target, exclude=None, ties: str = "conservative") -> np.ndarray:
    """1-based rank of ``target[b]`` among all items by ``scores[b]`` ([B, n_items + 1]).

    Column 0 (padding) never competes. ``exclude`` [B, L] (e.g. ``hist_items``, 0-padded)
    removes those items from the competition, as if their scores were -inf; the target itself
    is never removed.

    Ties, as in the official GRU4Rec evaluation (GRU4Rec_PyTorch_Official ``batch_eval``):
    ``"conservative"`` (default, pessimistic) counts every item scoring >= the target, so a
    model that scores all items equally ranks its target last; ``"standard"`` counts only
    strictly higher items + 1 (the 2016 Theano code; flatters constant scores with rank 1);
    ``"median"`` takes the middle of the tied block (a random tie-break in expectation).
    """
    s, t = _score_matrix(scores, target)
    return _rank(s, t, _candidates(s, t, exclude), ties)


def rank_metrics(ranks, ks=(20, 50)) -> dict[str, float]:
    """Recall / MRR / NDCG at each k from 1-based ranks of a single target per row (with one
    target, recall@k equals hit rate@k)."""
    r = np.asarray(ranks, dtype=np.float64)
    out = {}
    for k in ks:
        inside = r <= k
        out[f"recall@{k}"] = float(inside.mean())
        out[f"mrr@{k}"] = float(np.where(inside, 1.0 / r, 0.0).mean())
        out[f"ndcg@{k}"] = float(np.where(inside, 1.0 / np.log2(r + 1.0), 0.0).mean())
    return out


def evaluate_full_ranking(score_fn, batches: Iterable[Mapping], ks=(20, 50),
                          exclude_history: bool = False, ties: str = "conservative",
                          target_key: str = "target_item",
                          history_key: str = "hist_items") -> dict[str, float]:
    """Stream ``batches`` through ``score_fn(batch) -> [B, n_items + 1]`` scores, rank each
    row's ``batch[target_key]`` against the whole catalogue and average Recall / MRR / NDCG at
    every k over all rows. ``exclude_history`` drops ``batch[history_key]`` items from the
    competition. The result also holds ``n``, the number of rows evaluated."""
    ranks = []
    for batch in batches:
        if target_key not in batch:
            raise KeyError(f"batch has no {target_key!r}; keys: {sorted(batch)}")
        if exclude_history and history_key not in batch:
            raise KeyError(f"exclude_history=True needs {history_key!r} in the batch")
        scores = score_fn(batch)
        scores = to_numpy(scores)
        exclude = batch[history_key] if exclude_history else None
        ranks.append(rank_of_target(scores, batch[target_key], exclude=exclude, ties=ties))
    if not ranks:
        raise ValueError("evaluate_full_ranking got no batches")
    r = np.concatenate(ranks)
    return {**rank_metrics(r, ks), "n": int(r.shape[0])}


def sampled_rank(scores, target, n_negatives: int = 100, seed: int = 0, exclude=None,
                 popularity=None, ties: str = "conservative") -> np.ndarray:
    """Rank of the target among itself and ``n_negatives`` sampled items (1..n_negatives + 1).

    The "sampled evaluation" many papers use instead of ranking the whole catalogue: negatives
    are drawn per row without replacement, uniformly or proportionally to ``popularity``
    ([n_items + 1]), never the target, padding or ``exclude``d items. Sampled ranks are far
    smaller than full ranks and can reorder models (Krichene & Rendle, KDD 2020), which is the
    contrast the book shows. Deterministic given ``seed``.
    """
    s, t = _score_matrix(scores, target)
    valid = _candidates(s, t, exclude)
    valid[np.arange(s.shape[0]), t] = False  # candidates for negatives only
    if popularity is not None:
        pop = _vector(popularity, "popularity", np.float64)
        if pop.shape[0] != s.shape[1] or (pop < 0).any():
            raise ValueError(f"popularity must be non-negative with length {s.shape[1]}")
    rng = np.random.default_rng(seed)
    chosen = np.zeros(s.shape, dtype=bool)
    for b in range(s.shape[0]):
        pool = np.flatnonzero(valid[b])
        p = None
        if popularity is not None:
            p = pop[pool]
            if p.sum() <= 0:
                raise ValueError(f"row {b}: candidate negatives all have zero popularity")
            if np.count_nonzero(p) < n_negatives:
                raise ValueError(f"row {b}: fewer than {n_negatives} negatives have popularity > 0")
            p = p / p.sum()
        if pool.size < n_negatives:
            raise ValueError(f"row {b}: only {pool.size} candidate negatives for "
                             f"n_negatives={n_negatives}")
        chosen[b, rng.choice(pool, size=n_negatives, replace=False, p=p)] = True
    chosen[np.arange(s.shape[0]), t] = True
    return _rank(s, t, chosen, ties)
