"""The DIN chapter's plumbing: activation weights over a split, a few rows of a split, one
user's history against chosen candidates, seed tables.

Framework-free (numpy and pandas): a model of either framework goes in, numpy comes out (a
device tensor never reaches numpy: :func:`recbook.arrays.to_numpy` moves it to the CPU first).
"""
from __future__ import annotations

import contextlib
import importlib

import numpy as np
import pandas as pd

from recbook.data import batches
from recbook.data.batches import iterate
from recbook.metrics import auc, gauc, relaimpr
from recbook.arrays import to_numpy


def _no_grad(model):
    """torch.no_grad() for a PyTorch model (imported only then), else nothing."""
    if any(c.__module__.split(".")[0] == "torch" for c in type(model).__mro__):
        return importlib.import_module("torch").no_grad()
    return contextlib.nullcontext()


def activation_weights(model, split: dict, batch_size: int = 1024) -> np.ndarray:
    """DIN's activation weights a(e_j, v_A) for every row of ``split``: float [N, T] (0 on
    padding), in inference mode (a PyTorch model is put in eval mode; Keras gets
    ``training=False``, its default)."""
    if hasattr(model, "eval") and callable(model.eval):
        model.eval()
    out = []
    with _no_grad(model):
        for batch in iterate(split, batch_size):
            _, att = model(batch, return_attention=True)
            if "activation" not in att:
                raise KeyError(f"model returned attention {sorted(att)}, not 'activation'")
            out.append(to_numpy(att["activation"]).astype(np.float64))
    if not out:
        raise ValueError("activation_weights: the split has no rows")
    return np.concatenate(out)


def rows(split: dict, index) -> dict:
    """The rows ``index`` (ints or a bool mask) of every array of ``split``."""
    index = np.asarray(index)
    n = len(next(iter(split.values())))
    if index.dtype == bool and index.shape != (n,):
        raise ValueError(f"a bool row mask must have shape ({n},), got {index.shape}")
    if index.dtype != bool and index.size and (index.min() < 0 or index.max() >= n):
        raise IndexError(f"row indices must lie in 0..{n - 1}, got {index.min()}..{index.max()}")
    return {k: v[index] for k, v in split.items()}


def subsample(split: dict, n: int, seed: int = 0) -> dict:
    """``n`` rows of ``split``, drawn by ``seed``, order kept (``recbook.data.batches.subsample``)."""
    return batches.subsample(split, n=n, seed=seed)


def same_category(split: dict) -> np.ndarray:
    """[N, T] bool: real history positions whose category is the candidate's (the "related"
    behaviours of DIN's local activation where no ground truth is planted)."""
    cats = np.asarray(split["hist_cats"])
    real = np.arange(cats.shape[1])[None, :] < np.asarray(split["hist_len"])[:, None]
    return real & (cats == np.asarray(split["target_cat"])[:, None])


def popular_item(split: dict, cat: int) -> int:
    """The clicked candidate of category ``cat`` most often in ``split`` (ties: smaller id)."""
    pos = (np.asarray(split["label"]) > 0) & (np.asarray(split["target_cat"]) == cat)
    items = np.asarray(split["target_item"])[pos]
    if items.size == 0:
        raise ValueError(f"no clicked candidate of category {cat} in the split")
    ids, counts = np.unique(items, return_counts=True)
    return int(ids[np.argmax(counts)])


def probe(split: dict, row: int, items, meta) -> dict:
    """Row ``row`` of ``split`` (one user, one history) repeated once per candidate in
    ``items``: the same history scored against each candidate (categories from
    ``meta.item_cat``)."""
    items = np.asarray(items, dtype=np.int64)
    if items.ndim != 1 or items.size == 0:
        raise ValueError(f"items must be a non-empty 1-D list of item ids, got {items.shape}")
    if items.min() < 1 or items.max() > meta.n_items:
        raise ValueError(f"item ids must lie in 1..{meta.n_items}, got {items.min()}.."
                         f"{items.max()}")
    one = rows(split, [row])
    out = {k: np.repeat(v, len(items), axis=0) for k, v in one.items()}
    out["target_item"] = items
    out["target_cat"] = np.asarray(meta.item_cat)[items]
    return out


def seed_table(runs: dict, metrics=("auc", "gauc"), digits: int = 4) -> pd.DataFrame:
    """``runs``: {model: [{metric: value} per seed]} -> one row per model, a column per metric
    with "mean ± std" (sample std, ddof=1), and the number of seeds."""
    table = {}
    for name, results in runs.items():
        if not results:
            raise ValueError(f"{name!r} has no runs")
        row = {}
        for m in metrics:
            v = np.array([r[m] for r in results], dtype=np.float64)
            sd = v.std(ddof=1) if len(v) > 1 else 0.0
            row[m.upper()] = f"{v.mean():.{digits}f} ± {sd:.{digits}f}"
        row["seeds"] = len(results)
        table[name] = row
    return pd.DataFrame(table).T


def per_metric(runs: dict, metrics=("auc", "gauc")) -> dict:
    """{model: [{metric: value} per seed]} -> {model: {metric: [values]}}, the shape that
    :func:`recbook.claims.check` and :func:`recbook.viz.seed_bars` take."""
    return {name: {m: [r[m] for r in results] for m in metrics} for name, results in runs.items()}


def weight_groups(weights, split: dict, relevant=None) -> pd.DataFrame:
    """Raw activation weights [N, T] summarised by kind of history position: mean, standard
    deviation and count over the real positions of each group. Groups: "relevant" (the planted
    truth, when ``relevant`` [N, T] is given), "same category, not relevant" and "other
    category"; without ``relevant``: "same category" and "other category"."""
    w = to_numpy(weights).astype(np.float64)
    same = same_category(split)
    if w.shape != same.shape:
        raise ValueError(f"weights must have the history shape {same.shape}, got {w.shape}")
    real = np.arange(w.shape[1])[None, :] < np.asarray(split["hist_len"])[:, None]
    if relevant is None:
        groups = {"same category": same, "other category": real & ~same}
    else:
        rel = to_numpy(relevant).astype(bool) & real
        if rel.shape != w.shape:
            raise ValueError(f"relevant must have shape {w.shape}, got {rel.shape}")
        groups = {"relevant": rel, "same category, not relevant": same & ~rel,
                  "other category": real & ~same}
    out = {name: {"mean": w[g].mean() if g.any() else np.nan,
                  "std": w[g].std() if g.any() else np.nan, "positions": int(g.sum())}
           for name, g in groups.items()}
    return pd.DataFrame(out).T


def ctr_scores(split: dict, logits) -> dict:
    """AUC and GAUC (eq. 10: per-user AUC weighted by impressions) of ``logits`` on ``split``."""
    logits = to_numpy(logits)
    return {"auc": auc(split["label"], logits),
            "gauc": gauc(split["user"], split["label"], logits)}


def variant_table(results: dict, n_train: int, base: str = "Base") -> pd.DataFrame:
    """One row per variant of ``results`` ({name: {"auc", "gauc", "seconds"}}, seconds per
    epoch): AUC, GAUC, RelaImpr (eq. 11) against ``base``, seconds per epoch, samples/s."""
    if base not in results:
        raise KeyError(f"the base model {base!r} is not among {list(results)}")
    b = results[base]
    rows_ = {name: {"AUC": r["auc"], "GAUC": r["gauc"],
                    "RelaImpr AUC %": 100 * relaimpr(r["auc"], b["auc"]),
                    "RelaImpr GAUC %": 100 * relaimpr(r["gauc"], b["gauc"]),
                    "s / epoch": r["seconds"], "samples / s": n_train / r["seconds"]}
             for name, r in results.items()}
    return pd.DataFrame(rows_).T.round({"AUC": 4, "GAUC": 4, "RelaImpr AUC %": 1,
                                        "RelaImpr GAUC %": 1, "s / epoch": 2,
                                        "samples / s": 0})


# ------------------------------------------------------------------------------ the figure

def _box(ax, x, y, w, h, text, colour):
    from matplotlib.patches import FancyBboxPatch
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02", fc=colour, ec="k"))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=8)


def _arrow(ax, x0, y0, x1, y1):
    ax.annotate("", (x1, y1), (x0, y0), arrowprops=dict(arrowstyle="->", lw=0.8))


def architecture_figure():
    """The paper's Fig. 2 redrawn: Base (sum pooling, eq. 1) beside DIN (a weight per
    behaviour from the local activation unit, eq. 3). Returns the Figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    xs = (2.5, 4.15, 5.8)  # the three behaviours e_1..e_3
    for ax, din in zip(axes, (False, True)):
        ax.set_xlim(0, 10), ax.set_ylim(0, 10), ax.axis("off")
        ax.set_title("DIN: weighted sum, weights from the ad" if din
                     else "Base: sum pooling (eq. 1)", fontsize=10)
        _box(ax, 0.1, 0.3, 1.9, 0.8, "profile", "#ddd")
        for k, x in enumerate(xs):
            _box(ax, x, 0.3, 1.3, 0.8, f"e_{k + 1}", "#cde")
        _box(ax, 7.9, 0.3, 1.9, 0.8, "ad  v_A", "#fdc")
        top = 1.1
        if din:
            for x in xs:
                _box(ax, x, 2.0, 1.3, 0.8, "a(e_j, v_A)", "#efe")
                _arrow(ax, x + 0.65, 1.1, x + 0.65, 2.0)
                _arrow(ax, 8.85, 1.1, x + 1.2, 2.2)
            top = 2.8
        _box(ax, 3.3, 3.7, 2.6, 0.8, "Σ w_j e_j  (eq. 3)" if din else "Σ e_j  (eq. 1)", "#cde")
        for x in xs:
            _arrow(ax, x + 0.65, top, 4.6, 3.7)
        _box(ax, 2.2, 5.3, 5.6, 0.8, "concat [profile, v_U, v_A]", "#eee")
        for x0, y0 in ((1.05, 1.1), (4.6, 4.5), (8.85, 1.1)):
            _arrow(ax, x0, y0, 5.0, 5.3)
        _box(ax, 3.3, 6.9, 3.4, 0.8, "MLP 200-80 (PReLU / Dice)", "#efe")
        _box(ax, 4.0, 8.5, 2.0, 0.8, "σ → p(click)", "#fdc")
        _arrow(ax, 5.0, 6.1, 5.0, 6.9), _arrow(ax, 5.0, 7.7, 5.0, 8.5)
    fig.tight_layout()
    return fig


def describe(data) -> str:
    """What a data cell prints: sizes, the source, split sizes and click rate, and (built-in
    data) the share of history positions planted as relevant."""
    meta = data.meta
    lines = [f"{data.name}: {meta.n_users} users, {meta.n_items} items, {meta.n_cats} "
             f"categories, profile {meta.profile}, histories of up to {meta.max_len}",
             "source: " + getattr(data.source, "origin", "generated by recbook.data.synthetic"),
             f"samples: train {len(data.train['label'])}, valid {len(data.valid['label'])}, "
             f"test {len(data.test['label'])}; click rate {np.mean(data.train['label']):.3f}"]
    if "relevant" in data.train:
        rel = np.sum(data.train["relevant"]) / np.sum(data.train["hist_len"])
        lines.append(f"planted: {rel:.1%} of the history positions are relevant to the "
                     "candidate")
    return "\n".join(lines)
