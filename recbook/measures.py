"""Mechanism measures: a number for what each paper's model is supposed to do inside, always next
to the number that chance (or uniform attention) gives on the same rows.

numpy only (no torch, no TensorFlow, no scikit-learn): pass numpy arrays (a torch or eager
TensorFlow tensor is converted). Every measure returns a :class:`Score`: the mean over the rows
(or users, or items) that count, the same mean of the baseline, the per-row values behind both,
and how many rows were left out and why. :func:`over_seeds` summarises one measure over several seeds as mean ± std.

* attention (DIN, DIEN, BST): :func:`attention_share` (weight on the planted relevant positions;
  baseline: uniform weights over the real positions) and :func:`attention_rank_corr` (Spearman
  correlation of the weights with the planted relevance; baseline 0).
* interests (MIND, ComiRec-DR, ComiRec-SA): :func:`capsule_alignment` (NMI and purity of the
  behaviour -> capsule assignment against the behaviours' categories; baseline: the same
  assignment permuted within the user) and :func:`interests_recovered` (share of a user's planted
  interests that some capsule holds a majority of; same permutation baseline).
* embeddings (every t-SNE): :func:`neighbour_purity` (share of each item's k nearest neighbours,
  by cosine, with its category; baseline: the share that k random other items would have).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recbook.arrays import to_numpy


@dataclass(frozen=True)
class Score:
    """A measure and its baseline. ``value``/``baseline``: means of ``per_row``/``per_row_baseline``
    over the ``n`` rows that count; ``excluded``: rows left out, by reason."""
    name: str
    baseline_name: str
    value: float
    baseline: float
    n: int
    per_row: np.ndarray = field(repr=False)
    per_row_baseline: np.ndarray = field(repr=False)
    excluded: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """value / baseline (nan when the baseline is 0)."""
        return self.value / self.baseline if self.baseline else float("nan")

    @property
    def lift(self) -> float:
        return self.value - self.baseline

    @property
    def se(self) -> float:
        """Standard error of the mean per-row difference value - baseline (nan below 2 rows)."""
        d = self.per_row - self.per_row_baseline
        return float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")

    def __str__(self) -> str:
        ratio = f", ×{self.ratio:.2f}" if np.isfinite(self.ratio) else ""
        left = sum(self.excluded.values())
        out = f"; {left} left out" if left else ""
        return (f"{self.name} {self.value:.3f} vs {self.baseline_name} {self.baseline:.3f}"
                f"{ratio} ({self.n} rows{out})")


def _score(name, baseline_name, per_row, per_base, excluded) -> Score:
    per_row = np.asarray(per_row, dtype=np.float64)
    per_base = np.asarray(per_base, dtype=np.float64)
    if len(per_row) == 0:
        raise ValueError(f"{name}: no row counts (left out: {excluded})")
    return Score(name, baseline_name, float(per_row.mean()), float(per_base.mean()),
                 len(per_row), per_row, per_base, {k: int(v) for k, v in excluded.items() if v})


# ------------------------------------------------------------------------------ shapes

def _array(x, name: str, ndim: int | None = None) -> np.ndarray:
    a = to_numpy(x)
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {a.shape}")
    return a


def real_mask(shape, mask=None, hist_len=None) -> np.ndarray:
    """[B, T] bool of the real (non-padded) positions: ``mask`` when given, else
    ``arange(T) < hist_len``, else every position."""
    if mask is not None and hist_len is not None:
        raise ValueError("give mask or hist_len, not both")
    if mask is not None:
        m = _array(mask, "mask").astype(bool)
        if m.shape != tuple(shape):
            raise ValueError(f"mask must have shape {tuple(shape)}, got {m.shape}")
        return m
    if hist_len is not None:
        n = _array(hist_len, "hist_len", 1)
        if n.shape != (shape[0],) or (n < 0).any() or (n > shape[1]).any():
            raise ValueError(f"hist_len must be [{shape[0]}] with values in 0..{shape[1]}, got "
                             f"shape {n.shape}, range {n.min() if n.size else '-'}.."
                             f"{n.max() if n.size else '-'}")
        return np.arange(shape[1])[None, :] < n[:, None]
    return np.ones(shape, dtype=bool)


# ---------------------------------------------------------------------------- attention

def normalise_rows(weights, mask=None, hist_len=None, shift: str = "auto") -> np.ndarray:
    """Each row's weights over its real positions as shares summing to 1 (0 on padding).

    ``shift``: "none" divides by the row sum (softmax weights: DIEN, BST); "min" first subtracts
    the row's smallest real weight; "auto" is "min" when any real weight in the array is
    negative, else "none". Why the shift: DIN's weights are an MLP's raw outputs, unnormalised
    and possibly negative, so a share is only defined up to the offset; subtracting each row's
    minimum is invariant to that offset and gives the weakest position nothing, so it can only
    lower the share of the relevant positions (it never makes DIN look better than uniform).
    A row whose real weights are all equal (sum 0 after the shift) is uniform."""
    w = _array(weights, "weights", 2).astype(np.float64)
    m = real_mask(w.shape, mask, hist_len)
    if not np.isfinite(w[m]).all():
        raise ValueError("weights has non-finite values at real positions")
    if shift not in ("auto", "none", "min"):
        raise ValueError(f"shift must be 'auto', 'none' or 'min', got {shift!r}")
    if shift == "auto":
        shift = "min" if (w[m] < 0).any() else "none"
    w = np.where(m, w, 0.0)
    if shift == "min":
        low = np.where(m, w, np.inf).min(1, keepdims=True)
        w = np.where(m, w - np.where(np.isfinite(low), low, 0.0), 0.0)
    elif (w < 0).any():
        raise ValueError("weights has negative values; use shift='min' (or 'auto')")
    total = w.sum(1, keepdims=True)
    uniform = m / np.maximum(m.sum(1, keepdims=True), 1)
    return np.where(total > 0, w / np.where(total > 0, total, 1.0), uniform)


def _relevance(relevance, shape, name="relevance") -> np.ndarray:
    r = _array(relevance, name, 2)
    if r.shape != tuple(shape):
        raise ValueError(f"{name} must have the shape of weights {tuple(shape)}, got {r.shape}")
    r = r.astype(np.float64)
    if (r < 0).any() or not np.isfinite(r).all():
        raise ValueError(f"{name} must be finite and >= 0 (bool, or graded relevance)")
    return r


def attention_share(weights, relevant, mask=None, hist_len=None, shift: str = "auto") -> Score:
    """Share of each row's attention on its planted relevant positions, against uniform.

    ``weights`` [B, T] (softmax or raw: see :func:`normalise_rows` for ``shift``); ``relevant``
    [B, T] bool (graded relevance counts where > 0); real positions from ``mask`` or
    ``hist_len``. Per row: sum of the normalised weights on relevant real positions; baseline:
    (relevant real positions) / (real positions), what uniform weights (or Base's sum pooling)
    give. Rows with no relevant or no irrelevant real position are left out (the share is then
    1 or 0 whatever the weights) and counted in ``excluded``."""
    w = _array(weights, "weights", 2)
    m = real_mask(w.shape, mask, hist_len)
    rel = (_relevance(relevant, w.shape, "relevant") > 0) & m
    shares = normalise_rows(w, m, shift=shift)
    n_rel, n_real = rel.sum(1), m.sum(1)
    keep = (n_rel > 0) & (n_rel < n_real)
    excluded = {"no real position": (n_real == 0).sum(),
                "no relevant position": ((n_real > 0) & (n_rel == 0)).sum(),
                "no irrelevant position": ((n_real > 0) & (n_rel == n_real)).sum()}
    per = (shares * rel).sum(1)[keep]
    base = (n_rel / np.maximum(n_real, 1))[keep]
    return _score("share on relevant", "uniform", per, base, excluded)


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean of their ranks), as Spearman needs."""
    order = np.argsort(x, kind="mergesort")
    sx = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sx)) + 1]
    ends = np.r_[starts[1:], len(x)]
    ranks = np.empty(len(x))
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e - 1) / 2.0
    return ranks


def spearman(x, y) -> float:
    """Spearman rank correlation of two 1-D arrays (average ranks for ties); nan when either is
    constant."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of one length, got {x.shape} and {y.shape}")
    rx, ry = _ranks(x) - (len(x) - 1) / 2, _ranks(y) - (len(y) - 1) / 2
    den = np.sqrt((rx ** 2).sum() * (ry ** 2).sum())
    return float((rx * ry).sum() / den) if den > 0 else float("nan")


def attention_rank_corr(weights, relevance, mask=None, hist_len=None) -> Score:
    """Spearman correlation, per row over the real positions, between the weights and the
    planted relevance (graded when given, e.g. exp(-gap / tau); else the bool mask); baseline 0,
    what uniform weights (or any weights ignoring relevance, on average) give.

    Ranks do not change under a row's shift or scaling, so raw DIN weights need no
    normalisation. A row whose real weights are all equal (uniform attention) scores 0; rows
    whose relevance is constant over the real positions (none or all relevant) are left out."""
    w = _array(weights, "weights", 2).astype(np.float64)
    m = real_mask(w.shape, mask, hist_len)
    rel = _relevance(relevance, w.shape)
    if not np.isfinite(w[m]).all():
        raise ValueError("weights has non-finite values at real positions")
    per, excluded = [], {"fewer than 2 real positions": 0, "constant relevance": 0}
    for b in range(w.shape[0]):
        x, y = w[b, m[b]], rel[b, m[b]]
        if len(x) < 2:
            excluded["fewer than 2 real positions"] += 1
        elif np.ptp(y) == 0:
            excluded["constant relevance"] += 1
        else:
            rho = spearman(x, y)
            per.append(0.0 if np.isnan(rho) else rho)  # constant weights: no ranking, 0
    return _score("rank correlation", "uniform", per, np.zeros(len(per)), excluded)


# ---------------------------------------------------------------------------- interests

def nmi(labels, clusters) -> float:
    """Normalised mutual information of two labellings of the same items (arithmetic-mean
    normalisation, scikit-learn's default): 1 = the same partition, ~0 = independent. Both
    labellings a single group: 1."""
    a, b = np.asarray(labels).ravel(), np.asarray(clusters).ravel()
    if a.shape != b.shape:
        raise ValueError(f"labels and clusters must have one length, got {a.shape}, {b.shape}")
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    if ia.max(initial=0) == 0 and ib.max(initial=0) == 0:
        return 1.0
    joint = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(joint, (ia, ib), 1.0)
    p = joint / joint.sum()
    pa, pb = p.sum(1), p.sum(0)
    nz = p > 0
    mi = float((p[nz] * np.log(p[nz] / np.outer(pa, pb)[nz])).sum())
    ha = -float((pa * np.log(pa)).sum())
    hb = -float((pb * np.log(pb)).sum())
    den = (ha + hb) / 2
    return max(mi, 0.0) / den if den > 0 else 0.0


def purity(labels, clusters) -> float:
    """Share of items whose label is their cluster's most common label."""
    a, b = np.asarray(labels).ravel(), np.asarray(clusters).ravel()
    if a.shape != b.shape:
        raise ValueError(f"labels and clusters must have one length, got {a.shape}, {b.shape}")
    _, ia = np.unique(a, return_inverse=True)
    return sum(np.bincount(ia[b == c]).max() for c in np.unique(b)) / max(len(a), 1)


def assignments(routing, n_interests=None) -> np.ndarray:
    """Behaviour -> capsule: argmax over the capsules of ``routing`` [B, T, K] (routing
    coefficients or attention of each behaviour to each capsule), restricted to the first
    ``n_interests[b]`` capsules of a user when given (MIND's dynamic K'_u)."""
    r = _array(routing, "routing", 3).astype(np.float64)
    if n_interests is not None:
        k = _array(n_interests, "n_interests", 1)
        if k.shape != (r.shape[0],) or (k < 1).any() or (k > r.shape[2]).any():
            raise ValueError(f"n_interests must be [{r.shape[0]}] with values in 1..{r.shape[2]}"
                             f", got shape {k.shape}")
        r = np.where(np.arange(r.shape[2])[None, None, :] < k[:, None, None], r, -np.inf)
    return r.argmax(2)


def _user_rows(assign, cats, mask, hist_len, n_interests):
    a = _array(assign, "assign")
    if a.ndim == 3:
        a = assignments(a, n_interests)
    elif a.ndim != 2:
        raise ValueError(f"assign must be [B, T] capsule ids or [B, T, K] routing, got {a.shape}")
    c = _array(cats, "cats", 2)
    if c.shape != a.shape:
        raise ValueError(f"cats must have shape {a.shape}, got {c.shape}")
    m = real_mask(a.shape, mask, hist_len)
    return a, c, m


def capsule_alignment(assign, cats, mask=None, hist_len=None, n_interests=None,
                      n_perm: int = 10, seed: int = 0) -> dict[str, Score]:
    """Do a user's capsules split the behaviours by planted interest (category)?

    ``assign`` [B, T] capsule ids, or [B, T, K] routing/attention (argmax over capsules, the
    first ``n_interests[b]`` only when given); ``cats`` [B, T] the behaviours' categories; real
    positions from ``mask``/``hist_len``. Per user: NMI and purity of the assignment against the
    categories; baseline: the same with the user's assignment randomly permuted over the
    behaviours (the same capsule sizes), ``n_perm`` permutations from ``seed``, averaged. Users
    with fewer than 2 behaviours or a single category (nothing to split) are left out, and when
    ``n_interests`` is given so are users with a single capsule.
    Returns ``{"nmi": Score, "purity": Score}``."""
    a, c, m = _user_rows(assign, cats, mask, hist_len, n_interests)
    k_user = None if n_interests is None else np.asarray(n_interests)
    rng = np.random.default_rng(seed)
    got = {"nmi": ([], []), "purity": ([], [])}
    excluded = {"fewer than 2 behaviours": 0, "a single category": 0, "a single capsule": 0}
    for b in range(a.shape[0]):
        x, y = a[b, m[b]], c[b, m[b]]
        if len(x) < 2:
            excluded["fewer than 2 behaviours"] += 1
            continue
        if len(np.unique(y)) < 2:
            excluded["a single category"] += 1
            continue
        if k_user is not None and k_user[b] < 2:
            excluded["a single capsule"] += 1
            continue
        perms = [rng.permutation(x) for _ in range(n_perm)]
        for key, f in (("nmi", nmi), ("purity", purity)):
            got[key][0].append(f(y, x))
            got[key][1].append(np.mean([f(y, p) for p in perms]))
    return {"nmi": _score("NMI", "random assignment", *got["nmi"], excluded),
            "purity": _score("purity", "random assignment", *got["purity"], excluded)}


def _planted_sets(planted, n_rows: int) -> list[set]:
    if isinstance(planted, np.ndarray) and planted.ndim == 2:
        if planted.shape[0] != n_rows:
            raise ValueError(f"planted must have {n_rows} rows, got shape {planted.shape}")
        return [set(int(v) for v in row if v > 0) for row in planted]
    planted = list(planted)
    if len(planted) != n_rows:
        raise ValueError(f"planted must give {n_rows} rows (sets of categories), "
                         f"got {len(planted)}")
    return [set(int(v) for v in s if v > 0) for s in planted]


def _recovered(x, y, interests, majority) -> float:
    got = set()
    for j in np.unique(x):
        vals, counts = np.unique(y[x == j], return_counts=True)
        top = counts.argmax()
        if counts[top] > majority * counts.sum():
            got.add(int(vals[top]))
    return len(got & interests) / len(interests)


def interests_recovered(assign, cats, planted, mask=None, hist_len=None, n_interests=None,
                        majority: float = 0.5, n_perm: int = 10, seed: int = 0) -> Score:
    """Share of a user's planted interests that some capsule recovers.

    A planted interest (a category) of a user is *recovered* when some capsule holds more than
    ``majority`` of its assigned behaviours in that category (a capsule recovers at most one
    interest). Only the planted interests that occur among the user's real behaviours count (the
    others cannot be recovered from them); users with none are left out. ``assign``, ``cats``,
    masks: as :func:`capsule_alignment`; ``planted``: [B, M] int categories (0 = none, e.g.
    ``held_interests``' cats) or B sets. Baseline: the same with the assignment permuted within
    the user (same capsule sizes), ``n_perm`` times from ``seed``."""
    a, c, m = _user_rows(assign, cats, mask, hist_len, n_interests)
    sets = _planted_sets(planted, a.shape[0])
    if not 0 <= majority < 1:
        raise ValueError(f"majority must be in [0, 1), got {majority}")
    rng = np.random.default_rng(seed)
    per, base = [], []
    excluded = {"no planted interest among the behaviours": 0}
    for b in range(a.shape[0]):
        x, y = a[b, m[b]], c[b, m[b]]
        interests = sets[b] & set(int(v) for v in y)
        if not interests:
            excluded["no planted interest among the behaviours"] += 1
            continue
        per.append(_recovered(x, y, interests, majority))
        base.append(np.mean([_recovered(rng.permutation(x), y, interests, majority)
                             for _ in range(n_perm)]))
    return _score("interests recovered", "random assignment", per, base, excluded)


# --------------------------------------------------------------------------- embeddings

def neighbour_purity(emb, labels, k: int = 10, n: int | None = None, seed: int = 0,
                     chunk: int = 512) -> Score:
    """Category purity of each item's ``k`` nearest neighbours (cosine) in the embedding space.

    ``emb`` [N, d] and ``labels`` [N] (e.g. the whole item table and ``meta.item_cat``): rows
    with label 0 (the padding row 0) and rows with a zero vector are left out. Per item: the
    share of its k nearest other items with its label. Baseline per item: (n_c - 1) / (N - 1),
    the expected share among k random other items, whose mean over items is about
    sum_c p_c^2. ``n``: score a random sample of that many items (``seed``) against all."""
    x = _array(emb, "emb", 2).astype(np.float64)
    y = _array(labels, "labels", 1)
    if y.shape != (x.shape[0],):
        raise ValueError(f"labels must be [{x.shape[0]}] (one per row of emb), got {y.shape}")
    if not np.isfinite(x).all():
        raise ValueError("emb has non-finite values")
    norm = np.linalg.norm(x, axis=1)
    pad, zero = y == 0, (norm == 0) & (y != 0)
    keep = ~pad & ~zero
    x, y = x[keep] / norm[keep, None], y[keep]
    if len(y) <= k:
        raise ValueError(f"neighbour_purity needs more than k = {k} items, got {len(y)}")
    _, inv, counts = np.unique(y, return_inverse=True, return_counts=True)
    queries = np.arange(len(y))
    if n is not None and n < len(y):
        queries = np.sort(np.random.default_rng(seed).choice(len(y), n, replace=False))
    per = np.empty(len(queries))
    for s in range(0, len(queries), chunk):
        q = queries[s:s + chunk]
        sim = x[q] @ x.T
        sim[np.arange(len(q)), q] = -np.inf  # never its own neighbour
        nn = np.argpartition(-sim, k, axis=1)[:, :k]
        per[s:s + len(q)] = (y[nn] == y[q, None]).mean(1)
    base = (counts[inv[queries]] - 1) / (len(y) - 1)
    excluded = {"padding (label 0)": pad.sum(), "zero vector": zero.sum()}
    return _score(f"{k}-NN purity", "chance", per, base, excluded)


# -------------------------------------------------------------------------------- seeds

@dataclass(frozen=True)
class SeedSummary:
    """One measure over several seeds: mean and sample std (ddof=1; 0 for one seed)."""
    name: str
    baseline_name: str
    mean: float
    std: float
    baseline_mean: float
    baseline_std: float
    ratio_mean: float
    values: tuple
    baselines: tuple

    @property
    def n_seeds(self) -> int:
        return len(self.values)

    def __str__(self) -> str:
        # a ratio to a baseline of 0 (e.g. a rank correlation against uniform weights) means
        # nothing: the difference is the figure to read then
        ratio = f"×{self.ratio_mean:.2f}; " if np.isfinite(self.ratio_mean) else ""
        return (f"{self.name} {self.mean:.3f} ± {self.std:.3f} vs {self.baseline_name} "
                f"{self.baseline_mean:.3f} ± {self.baseline_std:.3f} ({ratio}"
                f"{self.n_seeds} seed{'s' if self.n_seeds != 1 else ''})")


def over_seeds(scores) -> SeedSummary:
    """Mean ± std over seeds of a list of :class:`Score` (one per seed, one measure)."""
    scores = list(scores)
    if not scores or not all(isinstance(s, Score) for s in scores):
        raise ValueError("over_seeds needs a non-empty list of Score (one per seed)")
    if len({s.name for s in scores}) != 1:
        raise ValueError(f"over_seeds got different measures: {sorted({s.name for s in scores})}")
    v = np.array([s.value for s in scores])
    b = np.array([s.baseline for s in scores])
    sd = (lambda a: float(a.std(ddof=1)) if len(a) > 1 else 0.0)
    r = np.array([s.ratio for s in scores])
    return SeedSummary(scores[0].name, scores[0].baseline_name, float(v.mean()), sd(v),
                       float(b.mean()), sd(b), float(np.nanmean(r)) if np.isfinite(r).any()
                       else float("nan"), tuple(v.tolist()), tuple(b.tolist()))


def mean_std(values, digits: int = 3) -> str:
    """"mean ± std (n seeds)" of per-seed values (sample std, ddof=1)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError("mean_std got no values")
    sd = v.std(ddof=1) if v.size > 1 else 0.0
    return f"{v.mean():.{digits}f} ± {sd:.{digits}f} ({v.size} seed{'s' if v.size != 1 else ''})"
