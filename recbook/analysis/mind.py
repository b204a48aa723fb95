"""The MIND chapter's plumbing: routing read out of a trained model (either framework), the
capsules scored against categories, and tables of one user's capsules.

A model here is a trained ``recbook.torch.mind.MIND`` or ``recbook.tf.mind.MIND``: both take
numpy batches and ``routing_logits=``, so one numpy draw of the initial logits b_ij ~ N(0, σ²)
gives both frameworks the same routing, and every number below repeats for a given ``seed``.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recbook import measures
from recbook.arrays import to_numpy  # also what the chapter calls A.to_numpy


def _inference(model):
    """torch: no autograd graph (evaluation only); TensorFlow builds none in eager calls."""
    if hasattr(model, "parameters") and hasattr(model, "eval"):  # a torch Module
        import torch
        model.eval()
        return torch.no_grad()
    return contextlib.nullcontext()


def initial_logits(model, arrays: dict, seed: int = 0) -> np.ndarray:
    """b_ij ~ N(0, σ²) (Algorithm 1, line 2): float32 [B, T, K], drawn by numpy from ``seed``."""
    B, T = arrays["hist_items"].shape
    ex = model.extractor
    rng = np.random.default_rng(seed)
    return (ex.sigma * rng.standard_normal((B, T, ex.K))).astype(np.float32)


@contextlib.contextmanager
def routing_iterations(model, r: int):
    """Route ``r`` times inside the block (serving-time change; the weights stay as trained)."""
    if r < 1:
        raise ValueError(f"routing iterations must be >= 1, got {r}")
    old = model.extractor.iterations
    model.extractor.iterations = r
    try:
        yield model
    finally:
        model.extractor.iterations = old


def routing(model, arrays: dict, seed: int = 0, batch_size: int = 1024):
    """(w [B, T, K], K'_u [B]): the final coupling coefficients and each user's capsule count."""
    if not hasattr(model, "extractor"):
        raise TypeError(f"{type(model).__name__} has no routing (a MIND model is needed)")
    b0 = initial_logits(model, arrays, seed)
    ws, ks = [], []
    with _inference(model):
        for s in range(0, len(arrays["hist_len"]), batch_size):
            part = {k: v[s:s + batch_size] for k, v in arrays.items()}
            att = model(part, return_attention=True, routing_logits=b0[s:s + batch_size])[1]
            ws.append(to_numpy(att["routing"]))
            ks.append(to_numpy(att["interest_mask"]).sum(1))
    return np.concatenate(ws), np.concatenate(ks)


def planted_sets(interests: pd.DataFrame, users) -> list[set]:
    """Every category a user held as an interest in any session (the built-in data's truth:
    ``data.source.interests``), one set per row of ``users``."""
    held = interests.groupby("user").cat.agg(lambda c: set(int(x) for x in c))
    return [held.get(int(u), set()) for u in np.asarray(users)]


def alignment(model, arrays: dict, planted=None, seed: int = 0) -> dict:
    """Capsules against the behaviours' categories, each with its random-assignment baseline:
    ``{"nmi", "purity"}`` (:func:`recbook.measures.capsule_alignment`, users with K'_u >= 2)
    and, with ``planted`` (one set of categories per row), ``"recovered"``
    (:func:`recbook.measures.interests_recovered`)."""
    w, k = routing(model, arrays, seed)
    args = dict(hist_len=arrays["hist_len"], n_interests=k, seed=seed)
    out = measures.capsule_alignment(w, arrays["hist_cats"], **args)
    if planted is not None:
        out["recovered"] = measures.interests_recovered(w, arrays["hist_cats"], planted, **args)
    return out


def nmi_by_iterations(model, arrays: dict, iterations=(1, 2, 3, 5, 7, 10),
                      seed: int = 0) -> pd.DataFrame:
    """Capsule NMI of the trained model when it routes r times at serving time, per r, beside
    the random-assignment baseline: how far the clustering is from converged."""
    rows = {}
    for r in iterations:
        with routing_iterations(model, r):
            s = alignment(model, arrays, seed=seed)["nmi"]
        rows[r] = {"NMI": s.value, "random assignment": s.baseline, "ratio": s.ratio}
    return pd.DataFrame(rows).T.rename_axis("routing iterations")


def _labels(cats, names) -> list[str]:
    return [str(names[c]) if names is not None else f"cat {c}" for c in cats]


def routing_table(model, arrays: dict, row: int, seed: int = 0, cat_names=None) -> pd.DataFrame:
    """Behaviour x capsule coupling coefficients of one row at every routing iteration."""
    one = {k: v[row:row + 1] for k, v in arrays.items()}
    with _inference(model):
        b0 = initial_logits(model, one, seed)
        att = model(one, return_attention=True, routing_logits=b0)[1]
    its = to_numpy(att["routing_iterations"])[0]  # [iterations, T, K]
    L, K_u = int(one["hist_len"][0]), int(to_numpy(att["interest_mask"]).sum())
    index = [f"{i + 1:>2}: item {it} ({c})" for i, (it, c) in enumerate(zip(
        one["hist_items"][0, :L], _labels(one["hist_cats"][0, :L], cat_names)))]
    cols = [f"cap {j + 1}" for j in range(K_u)]
    return pd.concat({f"iteration {t + 1}": pd.DataFrame(w[:L, :K_u], index=index, columns=cols)
                      for t, w in enumerate(its)}, axis=1)


def _top_counts(cats, names, n: int = 3) -> str:
    vals, counts = np.unique(cats, return_counts=True)
    order = np.argsort(-counts, kind="stable")[:n]
    return ", ".join(f"{lab} {c}" for lab, c in zip(_labels(vals[order], names), counts[order]))


def capsule_categories(model, arrays: dict, row: int, item_cat, cat_names=None, top: int = 10,
                       seed: int = 0) -> pd.DataFrame:
    """One user's capsules: how many behaviours each one holds (argmax of w_ij), their most
    common categories, and the categories of the ``top`` items its interest vector retrieves
    (inner product over the whole catalogue; ``item_cat``: category of every item id)."""
    one = {k: v[row:row + 1] for k, v in arrays.items()}
    b0 = initial_logits(model, one, seed)
    w, k = routing(model, one, seed)
    with _inference(model):
        V = to_numpy(model.user_interests(one, routing_logits=b0))[0]
        E = to_numpy(model.item_embeddings())
    L, K_u = int(one["hist_len"][0]), int(k[0])
    assign, cats = w[0, :L, :K_u].argmax(1), one["hist_cats"][0, :L]
    item_cat = np.asarray(item_cat)
    rows = {}
    for j in range(K_u):
        scores = E[1:] @ V[j]
        best = 1 + np.argsort(-scores, kind="stable")[:top]  # item ids (row 0 is padding)
        mine = cats[assign == j]
        rows[f"capsule {j + 1}"] = {
            "behaviours": len(mine),
            "their categories": _top_counts(mine, cat_names) if len(mine) else "-",
            f"top {top} retrieved": _top_counts(item_cat[best], cat_names)}
    return pd.DataFrame(rows).T


def by_model(results: dict) -> dict:
    """``{(model, seed): {metric: value}}`` -> ``{model: {metric: [value per seed]}}``, the
    form ``recbook.claims.check`` and ``recbook.viz.seed_bars`` take (seeds in run order)."""
    out: dict = {}
    for key, metrics in results.items():
        if not (isinstance(key, tuple) and len(key) == 2):
            raise ValueError(f"results keys must be (model, seed) pairs, got {key!r}")
        for m, v in metrics.items():
            out.setdefault(key[0], {}).setdefault(m, []).append(float(v))
    return out


def seed_table(results: dict, metrics) -> pd.DataFrame:
    """One row per model: "mean ± std" of each metric over its seeds, and the seed count."""
    rows = {}
    for name, per in by_model(results).items():
        missing = [m for m in metrics if m not in per]
        if missing:
            raise KeyError(f"{name!r} has no {missing}; it has {sorted(per)}")
        row = {m: measures.mean_std(per[m], digits=4).rsplit(" (", 1)[0] for m in metrics}
        rows[name] = {**row, "seeds": len(per[metrics[0]])}
    return pd.DataFrame(rows).T


def users_to_show(arrays: dict, k_user, n: int = 3, min_len: int = 12, min_capsules: int = 3,
                  min_per_cat: int = 3) -> np.ndarray:
    """Rows worth a routing figure: at least ``min_len`` behaviours, ``min_capsules`` capsules
    (K'_u) and two categories with ``min_per_cat`` behaviours each (something to separate);
    the first ``n`` of them."""
    k_user = np.asarray(k_user)
    rows = []
    for r in np.flatnonzero((arrays["hist_len"] >= min_len) & (k_user >= min_capsules)):
        counts = np.bincount(arrays["hist_cats"][r, :arrays["hist_len"][r]])
        if (counts[1:] >= min_per_cat).sum() >= 2:
            rows.append(int(r))
        if len(rows) == n:
            break
    return np.array(rows, dtype=np.int64)


def routing_figure(w, k_user, arrays: dict, row: int, cat_names=None, marked=(), title=None):
    """Heatmap of one row's final coupling coefficients: capsules x behaviours, each behaviour
    labelled by its category (``*`` after a category in ``marked``, e.g. planted interests)."""
    from recbook import viz

    L, K_u = int(arrays["hist_len"][row]), int(k_user[row])
    cats = arrays["hist_cats"][row, :L]
    labels = [f"{lab}{'*' if c in marked else ''}" for c, lab in zip(cats, _labels(cats, cat_names))]
    return viz.attention_heatmap(np.asarray(w)[row, :L, :K_u].T, labels=labels,
                                 row_labels=[f"capsule {j + 1}" for j in range(K_u)],
                                 title=title or f"user {arrays['user'][row]}: routing")


@dataclass
class Runs:
    """Trained runs keyed by ``(model, seed)``: test metrics, histories, models, seconds."""
    results: dict = field(default_factory=dict)
    histories: dict = field(default_factory=dict)
    trained: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)

    def add(self, key: tuple, seconds: float, history, results: dict, model) -> None:
        """Keep one run's training seconds, history, test metrics and model under ``key``
        = (model name, seed)."""
        self.seconds[key], self.histories[key] = seconds, history
        self.results[key], self.trained[key] = results, model

    def table(self, metrics) -> pd.DataFrame:
        """:func:`seed_table`, with each model's mean training seconds and its best epochs."""
        out = seed_table(self.results, list(metrics))
        sec = pd.Series(self.seconds, dtype=float)
        out["train s (mean)"] = sec.groupby(level=0).mean().round(1) if len(sec) else np.nan
        best = {k: (h.best or {}).get("epoch") for k, h in self.histories.items()}
        out["best epochs"] = pd.Series(best, dtype=object).groupby(level=0).agg(
            lambda e: " ".join(map(str, e))) if best else ""
        return out

    def curves(self, seed: int = 0) -> dict:
        """{model: history} of one seed, for ``recbook.viz.learning_curves``."""
        return {n: h for (n, s), h in self.histories.items() if s == seed}
