"""Plots for the chapters: learning curves, attention heatmaps, t-SNE maps, metric bars.

Every function returns a matplotlib ``Figure`` (a notebook displays it; a script saves it);
none calls ``plt.show``. Tensors from torch or TensorFlow are accepted as they are.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator


def _numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):  # torch, without importing it
        x = x.detach().cpu().numpy()
    elif hasattr(x, "numpy") and not isinstance(x, np.ndarray):  # eager TF tensor
        x = x.numpy()
    return np.asarray(x)


# --------------------------------------------------------------------------------------------
# learning curves


def _as_history(h) -> dict:
    if hasattr(h, "as_dict"):
        h = h.as_dict()
    if not isinstance(h, Mapping):
        raise TypeError(f"a history must be a dict of lists or have .as_dict(), got {type(h)}")
    return dict(h)


def _is_single_history(h) -> bool:
    if hasattr(h, "as_dict"):
        return True
    return isinstance(h, Mapping) and any(
        not isinstance(v, Mapping) and not hasattr(v, "as_dict") for v in h.values())


def _series(values, n: int, key: str) -> np.ndarray:
    v = np.array([np.nan if x is None else x for x in values], dtype=np.float64)
    if v.shape != (n,):
        raise ValueError(f"history[{key!r}] has {v.shape[0]} values but there are {n} epochs")
    return v


def learning_curves(histories, metrics: Sequence[str] = ("loss", "auc"), title=None):
    """One panel per metric, x = epoch: ``train_<metric>`` solid, ``valid_<metric>`` dashed
    (a bare ``<metric>`` key is drawn dotted). ``histories`` is one history or a dict
    ``{run name: history}`` whose runs are overlaid in different colours; a history is a dict of
    per-epoch lists (``{"epoch": [1, 2], "train_loss": [...], "valid_auc": [...]}``) or any
    object with ``.as_dict()``. Missing values (None) leave gaps."""
    runs = {"": histories} if _is_single_history(histories) else dict(histories)
    if not runs:
        raise ValueError("learning_curves got no history")
    runs = {name: _as_history(h) for name, h in runs.items()}
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.4), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = (("train_", "-", "train"), ("valid_", "--", "valid"), ("", ":", ""))
    for ax, metric in zip(axes[0], metrics):
        drawn = 0
        for r, (name, h) in enumerate(runs.items()):
            if "epoch" in h:
                epochs = _series(h["epoch"], len(h["epoch"]), "epoch")
            else:  # epochs counted from 1, as long as the first series
                epochs = np.arange(1.0, len(next(iter(h.values()), [])) + 1)
            for prefix, style, split in styles:
                key = prefix + metric
                if key not in h:
                    continue
                label = " ".join(p for p in (name, split) if p) or metric
                ax.plot(epochs, _series(h[key], len(epochs), key), style, marker="o",
                        markersize=3, color=colours[r % len(colours)], label=label)
                drawn += 1
        if drawn == 0:
            keys = sorted({k for h in runs.values() for k in h})
            raise KeyError(f"no run has train_{metric}, valid_{metric} or {metric}; keys: {keys}")
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# attention


def attention_heatmap(weights, labels=None, mask=None, truth=None, title="attention weights",
                      row_labels=None, annotate_max_cells: int = 300):
    """Heatmap of attention ``weights`` [n, T]: rows are samples (or heads / interests),
    columns history positions; padded cells are left blank.

    ``labels`` is either the [n, T] item ids of each row (``hist_items``; 0 = padding, so it
    also gives the mask, and the ids are written in the cells when there are at most
    ``annotate_max_cells`` of them) or T column labels. ``mask`` [n, T] bool marks real
    positions (default: all, or ``labels != 0``). ``truth`` [n, T] bool marks the
    ground-truth relevant positions with a black box (the built-in data's ``relevant``).
    """
    w = _numpy(weights).astype(np.float64)
    if w.ndim != 2:
        raise ValueError(f"weights must be [n, T], got shape {w.shape}")
    n, t = w.shape
    ids = None
    col_labels = None
    if labels is not None:
        lab = _numpy(labels)
        if lab.shape == w.shape:
            ids = lab.astype(np.int64)
        elif lab.shape == (t,):
            col_labels = [str(x) for x in lab]
        else:
            raise ValueError(f"labels must be [n, T] = {w.shape} item ids or T = {t} column "
                             f"labels, got shape {lab.shape}")
    if mask is not None:
        m = _numpy(mask).astype(bool)
        if m.shape != w.shape:
            raise ValueError(f"mask must have the shape of weights {w.shape}, got {m.shape}")
    else:
        m = ids != 0 if ids is not None else np.ones(w.shape, bool)
    shown = np.ma.masked_array(w, mask=~m | ~np.isfinite(w))
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_bad("white")
    vmin, vmax = (float(shown.min()), float(shown.max())) if shown.count() else (0.0, 1.0)
    fig, ax = plt.subplots(figsize=(min(max(4.5, 1.5 + 0.45 * t), 14),
                                    min(max(2.2, 1.2 + 0.4 * n), 10)))
    im = ax.imshow(shown, cmap=cmap, vmin=vmin, vmax=vmax if vmax > vmin else vmin + 1e-9,
                   aspect="auto", interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    if truth is not None:
        tr = _numpy(truth).astype(bool)
        if tr.shape != w.shape:
            raise ValueError(f"truth must have the shape of weights {w.shape}, got {tr.shape}")
        for r, c in zip(*np.nonzero(tr & m)):
            ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="black",
                                       linewidth=1.8))
    if ids is not None and n * t <= annotate_max_cells:
        mid = (vmin + vmax) / 2
        for r, c in zip(*np.nonzero(m)):
            ax.text(c, r, str(ids[r, c]), ha="center", va="center", fontsize=7,
                    color="black" if w[r, c] > mid else "white")
    ax.set_xticks(range(t))
    ax.set_xticklabels(col_labels if col_labels is not None else range(t), fontsize=7,
                       rotation=90 if col_labels is not None else 0)
    ax.set_yticks(range(n))
    ax.set_yticklabels(row_labels if row_labels is not None else range(n), fontsize=7)
    ax.set_xlabel("history position (oldest left)"
                  + ("; boxed: relevant (ground truth)" if truth is not None else ""))
    ax.set_title(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# embeddings


def tsne_embeddings(emb, labels, n: int = 1000, seed: int = 0, label_names=None,
                    perplexity: float = 30.0, max_iter: int = 1000, method: str | None = None,
                    title="t-SNE of embeddings"):
    """2-D t-SNE (scikit-learn, PCA initialisation, fixed ``seed``) of at most ``n`` rows of
    ``emb`` [N, d], sampled without replacement by ``seed``, coloured by ``labels`` [N]
    (e.g. the category of each item). Up to 20 distinct labels get a legend (names from
    ``label_names``: a dict or a sequence indexed by label); more get a colorbar. Pass item
    rows 1..N (without the padding row 0) and their categories ``item_cat[1:]``.
    ``method`` is sklearn's; by default exact up to 500 points (Barnes-Hut's threads cost more
    than they save there) and Barnes-Hut above."""
    from sklearn.manifold import TSNE

    x = _numpy(emb).astype(np.float64)
    y = _numpy(labels)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"emb must be [N, d] and labels [N]; got {x.shape} and {y.shape}")
    if x.shape[0] < 5:
        raise ValueError(f"t-SNE needs at least 5 points, got {x.shape[0]}")
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(x.shape[0], size=min(n, x.shape[0]), replace=False))
    x, y = x[keep], y[keep]
    # sklearn requires perplexity < n_samples; a third of the points keeps neighbourhoods local
    perp = min(perplexity, max(1.0, (x.shape[0] - 1) / 3.0))
    if method is None:
        method = "exact" if x.shape[0] <= 500 else "barnes_hut"
    xy = TSNE(n_components=2, init="pca", random_state=seed, perplexity=perp,
              max_iter=max_iter, method=method).fit_transform(x)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    classes = np.unique(y)
    if len(classes) <= 20:
        cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
        for i, c in enumerate(classes):
            name = c if label_names is None else label_names[c]
            sel = y == c
            ax.scatter(xy[sel, 0], xy[sel, 1], s=8, color=cmap(i), label=str(name))
        ax.legend(fontsize=7, markerscale=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    else:
        sc = ax.scatter(xy[:, 0], xy[:, 1], s=8, c=y, cmap="viridis")
        fig.colorbar(sc, ax=ax, label="label")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{title} ({x.shape[0]} points)")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# comparison


def metric_bars(results: Mapping[str, Mapping[str, float]], metrics: Sequence[str] | None = None,
                title=None, digits: int = 4):
    """Compare models: ``results`` is ``{model: {metric: value}}``; one panel per metric (each
    on its own scale), one bar per model, values written on the bars. A model that lacks a
    metric gets no bar there."""
    if not results:
        raise ValueError("metric_bars got no results")
    if metrics is None:
        metrics = list(dict.fromkeys(k for r in results.values() for k in r))
    models = list(results)
    fig, axes = plt.subplots(1, len(metrics), figsize=(max(3.0, 0.9 * len(models) + 1.5)
                                                        * len(metrics), 3.4), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes[0], metrics):
        vals = [results[m].get(metric, np.nan) for m in models]
        if all(np.isnan(v) for v in vals):
            raise KeyError(f"no model has metric {metric!r}")
        bars = ax.bar(range(len(models)), np.nan_to_num(vals),
                      color=[colours[i % len(colours)] for i in range(len(models))])
        for b, v in zip(bars, vals):
            if not np.isnan(v):
                ax.annotate(f"{v:.{digits}f}", (b.get_x() + b.get_width() / 2, b.get_height()),
                            ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels(models, rotation=30, ha="right", fontsize=8)
        ax.set_title(metric)
        ax.margins(y=0.15)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
