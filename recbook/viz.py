"""Plots for the chapters: learning curves, attention heatmaps, t-SNE maps, metric bars.

Every function returns a matplotlib ``Figure`` (a notebook displays it; a script saves it);
none calls ``plt.show``. Tensors from torch or TensorFlow are accepted as they are.
Figures that cannot mislead: attention on a scale where uniform looks uniform
(``attention_heatmap(..., scale="uniform")``), the ground truth outlined in two colours so it
shows on every cell colour, every epoch with the best one marked, legends beside the panels,
log axes with plain-number ticks (:func:`log_ticks`), t-SNE maps titled with a number measured in
the embedding itself (:func:`recbook.measures.neighbour_purity`), seeds as mean ± std bars
(:func:`seed_bars`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patheffects
from matplotlib.colors import LogNorm
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from recbook import measures
from recbook.arrays import to_numpy as _numpy  # any tensor, any device


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


def _best_epoch(h, monitor: str | None, epochs: np.ndarray):
    """The epoch to mark: ``h.best["epoch"]`` (what ``fit``'s early stopping restored) when the
    history has one, else the best value of ``monitor`` (min for a loss, else max)."""
    best = getattr(h, "best", None)
    if isinstance(best, Mapping) and best.get("epoch") is not None:
        return best["epoch"]
    d = h.as_dict() if hasattr(h, "as_dict") else h
    if monitor is None or monitor not in d:
        return None
    v = _series(d[monitor], len(epochs), monitor)
    if np.isnan(v).all():
        return None
    i = np.nanargmin(v) if "loss" in monitor else np.nanargmax(v)
    return epochs[i]


def log_ticks(ax, axis: str = "y"):
    """Readable ticks on a log axis: plain numbers (0.01, 0.2, 5, 100, not 10^-2), at 1-2-5
    steps, or at every integer multiple when the range is under a decade."""
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    target = ax.yaxis if axis == "y" else ax.xaxis
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    lo, hi = sorted(ax.get_ylim() if axis == "y" else ax.get_xlim())
    decades = np.log10(hi / lo) if lo > 0 else np.inf
    subs = (1.0, 2.0, 5.0) if decades > 1 else tuple(range(1, 10))
    target.set_major_locator(LogLocator(base=10, subs=subs))
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(NullFormatter())
    return ax


def learning_curves(histories, metrics: Sequence[str] = ("loss", "auc"), title=None,
                    monitor: str | None = None, logy: Sequence[str] = ()):
    """One panel per metric, x = epoch, every epoch drawn: ``train_<metric>`` solid,
    ``valid_<metric>`` dashed (a bare ``<metric>`` key is drawn dotted). ``histories`` is one
    history or a dict ``{run name: history}`` whose runs are overlaid in different colours; a
    history is a dict of per-epoch lists (``{"epoch": [1, 2], "train_loss": [...],
    "valid_auc": [...]}``) or any object with ``.as_dict()``. Missing values (None) leave gaps.

    The best epoch of each run is marked (a star on its validation curve, a dotted vertical
    line): the epoch ``fit``'s early stopping kept (``history.best``), else the best value of
    ``monitor`` (e.g. "valid_auc"; min for a loss). Panels named in ``logy`` get a log y axis
    with readable ticks. One legend, beside the panels, never over a line."""
    runs = {"": histories} if _is_single_history(histories) else dict(histories)
    if not runs:
        raise ValueError("learning_curves got no history")
    raw = runs
    runs = {name: _as_history(h) for name, h in runs.items()}
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics) + 1.6, 3.4),
                             squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = (("train_", "-", "train"), ("valid_", "--", "valid"), ("", ":", ""))
    handles = {}
    for ax, metric in zip(axes[0], metrics):
        drawn = 0
        for r, (name, h) in enumerate(runs.items()):
            if "epoch" in h:
                epochs = _series(h["epoch"], len(h["epoch"]), "epoch")
            else:  # epochs counted from 1, as long as the first series
                epochs = np.arange(1.0, len(next(iter(h.values()), [])) + 1)
            colour = colours[r % len(colours)]
            best = _best_epoch(raw[name], monitor, epochs)
            small = len(epochs) <= 30  # markers on every epoch while they stay readable
            for prefix, style, split in styles:
                key = prefix + metric
                if key not in h:
                    continue
                label = " ".join(p for p in (name, split) if p) or metric
                y = _series(h[key], len(epochs), key)
                (line,) = ax.plot(epochs, y, style, marker="o" if small else None, markersize=3,
                                  color=colour, label=label)
                handles.setdefault(label, line)
                drawn += 1
                if best is not None and prefix != "train_" and np.any(epochs == best):
                    yb = y[np.flatnonzero(epochs == best)[0]]
                    (star,) = ax.plot([best], [yb], "*", markersize=13, color=colour,
                                      markeredgecolor="black", zorder=5, label="best epoch")
                    handles.setdefault("best epoch (kept)", star)
            if best is not None and drawn:
                ax.axvline(best, color=colour, linestyle=":", linewidth=1, alpha=0.8)
        if drawn == 0:
            keys = sorted({k for h in runs.values() for k in h})
            raise KeyError(f"no run has train_{metric}, valid_{metric} or {metric}; keys: {keys}")
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if metric in logy:
            log_ticks(ax, "y")
    axes[0][-1].legend(list(handles.values()), list(handles), fontsize=8, loc="upper left",
                       bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# attention


def _outline(ax, r, c):
    """A cell outline that shows on any colour: black, with a white halo around it."""
    ax.add_patch(plt.Rectangle((c - 0.42, r - 0.42), 0.84, 0.84, fill=False, edgecolor="black",
                               linewidth=2.0, zorder=3,
                               path_effects=[patheffects.withStroke(linewidth=4.5,
                                                                    foreground="white")]))


def _ratio_ticks(r: float) -> list[float]:
    k = int(np.floor(np.log2(r)))
    step = max(1, int(np.ceil((2 * k + 1) / 7)))  # at most ~7 labelled ticks
    return [2.0 ** e for e in range(-k, k + 1) if e % step == 0]


def _ratio_label(v: float) -> str:
    return f"{v:g}" if v >= 1 else f"1/{1 / v:g}"


def attention_heatmap(weights, labels=None, mask=None, truth=None, title="attention weights",
                      row_labels=None, annotate_max_cells: int = 300, scale: str = "raw",
                      shift: str = "auto", min_range: float = 2.0, max_range: float = 32.0):
    """Heatmap of attention ``weights`` [n, T]: rows are samples (or heads / interests),
    columns history positions; padded cells are left blank.

    ``labels`` is either the [n, T] item ids of each row (``hist_items``; 0 = padding, so it
    also gives the mask, and the ids are written in the cells when there are at most
    ``annotate_max_cells`` of them) or T column labels. ``mask`` [n, T] bool marks real
    positions (default: all, or ``labels != 0``). ``truth`` [n, T] bool marks the
    ground-truth relevant positions with an outline drawn black on white, visible on every
    colour (the built-in data's ``relevant``).

    ``scale="raw"`` colours the weights as they are (viridis, min to max). ``scale="uniform"``
    colours each weight divided by what uniform attention over the row's real positions gives
    (each row normalised first, raw weights shifted as in
    :func:`recbook.measures.normalise_rows`), on a log scale centred at 1 with a symmetric
    diverging colour bar: white = uniform, red = more, blue = less. The bar spans at least
    1/``min_range``..``min_range`` (so tiny deviations from uniform stay white) and at most
    1/``max_range``..``max_range`` (beyond it colours saturate)."""
    if scale not in ("raw", "uniform"):
        raise ValueError(f"scale must be 'raw' or 'uniform', got {scale!r}")
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
    fig, ax = plt.subplots(figsize=(min(max(4.5, 1.5 + 0.45 * t), 14),
                                    min(max(2.2, 1.2 + 0.4 * n), 10)))
    if scale == "uniform":
        shares = measures.normalise_rows(np.where(m & np.isfinite(w), w, 0.0), m, shift=shift)
        ratio = shares * m.sum(1, keepdims=True)
        real = ratio[m]
        positive = real[real > 0]
        r = max(min_range, real.max() if real.size else 1.0,
                1.0 / positive.min() if positive.size else 1.0)
        r = min(r, max_range)
        shown = np.ma.masked_array(np.clip(ratio, 1.0 / r, r), mask=~m)
        cmap = plt.get_cmap("RdBu_r").copy()
        cmap.set_bad("white")
        norm = LogNorm(vmin=1.0 / r, vmax=r)
        im = ax.imshow(shown, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
        bar = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
        bar.set_label("weight ÷ uniform (1 = uniform)", fontsize=8)
        ticks = _ratio_ticks(r)
        bar.ax.yaxis.set_major_locator(FixedLocator(ticks))
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _ratio_label(v)))
        bar.ax.yaxis.set_minor_formatter(NullFormatter())
        dark = np.abs(np.log(np.clip(ratio, 1.0 / r, r))) > 0.6 * np.log(r)
    else:
        shown = np.ma.masked_array(w, mask=~m | ~np.isfinite(w))
        cmap = plt.get_cmap("viridis").copy()
        cmap.set_bad("white")
        vmin, vmax = (float(shown.min()), float(shown.max())) if shown.count() else (0.0, 1.0)
        im = ax.imshow(shown, cmap=cmap, vmin=vmin, vmax=vmax if vmax > vmin else vmin + 1e-9,
                       aspect="auto", interpolation="nearest")
        fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
        dark = w <= (vmin + vmax) / 2
    if truth is not None:
        tr = _numpy(truth).astype(bool)
        if tr.shape != w.shape:
            raise ValueError(f"truth must have the shape of weights {w.shape}, got {tr.shape}")
        for r_, c in zip(*np.nonzero(tr & m)):
            _outline(ax, r_, c)
    if ids is not None and n * t <= annotate_max_cells:
        for r_, c in zip(*np.nonzero(m)):
            ax.text(c, r_, str(ids[r_, c]), ha="center", va="center", fontsize=7, zorder=4,
                    color="white" if dark[r_, c] else "black")
    ax.set_xticks(range(t))
    ax.set_xticklabels(col_labels if col_labels is not None else range(t), fontsize=7,
                       rotation=90 if col_labels is not None else 0)
    ax.set_yticks(range(n))
    ax.set_yticklabels(row_labels if row_labels is not None else range(n), fontsize=7)
    ax.set_xlabel("history position (oldest left)"
                  + ("; outlined: relevant (ground truth)" if truth is not None else ""))
    ax.set_title(title)
    fig.tight_layout()
    return fig


def example_rows(relevant, hist_len=None, mask=None, n: int = 4, min_relevant: int = 2,
                 seed: int = 0) -> np.ndarray:
    """Rows worth showing in an attention figure: at least ``min_relevant`` relevant and at
    least as many irrelevant real positions (else the figure shows no contrast); ``n`` of them,
    drawn by ``seed``, or the rows with the most relevant positions when too few qualify."""
    rel = _numpy(relevant).astype(bool)
    if rel.ndim != 2:
        raise ValueError(f"relevant must be [B, T], got shape {rel.shape}")
    m = measures.real_mask(rel.shape, mask, hist_len)
    n_rel, n_other = (rel & m).sum(1), (~rel & m).sum(1)
    good = np.flatnonzero((n_rel >= min_relevant) & (n_other >= min_relevant))
    if len(good) >= n:
        return np.sort(np.random.default_rng(seed).choice(good, n, replace=False))
    contrast = np.flatnonzero((n_rel > 0) & (n_other > 0))
    order = contrast[np.argsort(-n_rel[contrast], kind="stable")]
    return np.sort(order[:n])


# --------------------------------------------------------------------------------------------
# embeddings


def tsne_embeddings(emb, labels, n: int = 1000, seed: int = 0, label_names=None,
                    perplexity: float = 30.0, max_iter: int = 1000, method: str | None = None,
                    title="t-SNE of embeddings", purity_k: int | None = 10,
                    label_kind: str = "category"):
    """2-D t-SNE (scikit-learn, PCA initialisation, fixed ``seed``) of at most ``n`` rows of
    ``emb`` [N, d], sampled without replacement by ``seed``, coloured by ``labels`` [N]
    (e.g. the category of each item). Up to 20 distinct labels get a legend (names from
    ``label_names``: a dict or a sequence indexed by label); more get a colorbar. Pass item
    rows 1..N (without the padding row 0) and their categories ``item_cat[1:]``.
    ``method`` is sklearn's; by default exact up to 500 points (Barnes-Hut's threads cost more
    than they save there) and Barnes-Hut above.

    A map can show clusters that the embedding lacks (and hide ones it has), so the title also
    gives :func:`recbook.measures.neighbour_purity` with ``k = purity_k`` (None: leave it out),
    measured on all rows of ``emb`` in its own d dimensions, not on the 2-D picture (rows
    labelled 0 are padding and left out); the figure keeps that Score as ``fig.purity`` (None
    when ``purity_k`` is None or there are too few rows)."""
    from sklearn.manifold import TSNE

    x = _numpy(emb).astype(np.float64)
    y = _numpy(labels)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"emb must be [N, d] and labels [N]; got {x.shape} and {y.shape}")
    if x.shape[0] < 5:
        raise ValueError(f"t-SNE needs at least 5 points, got {x.shape[0]}")
    score = None
    if purity_k is not None and x.shape[0] > purity_k + 1:
        score = measures.neighbour_purity(x, y, k=purity_k)
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
    head = f"{title} ({x.shape[0]} points)"
    if score is not None:
        head += (f"\n{purity_k}-NN same-{label_kind} share {score.value:.2f} vs chance "
                 f"{score.baseline:.2f} (×{score.ratio:.1f}; in the {_numpy(emb).shape[1]}-d "
                 f"embedding, {score.n} items)")
    ax.set_title(head, fontsize=10)
    fig.tight_layout()
    fig.purity = score
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


def _seed_values(v, where: str) -> np.ndarray:
    a = np.atleast_1d(_numpy(v).astype(np.float64)).ravel()
    if a.size == 0:
        raise ValueError(f"{where} has no values")
    return a


def seed_bars(results: Mapping, metrics: Sequence[str] | None = None, baselines=None,
              title=None, digits: int = 3, baseline_name: str = "baseline"):
    """A metric per model over seeds: a bar at the mean, an error bar of ± one standard
    deviation (ddof=1), one dot per seed, and "mean ± std" written above.

    ``results``: ``{model: {metric: [value per seed]}}``, or ``{model: [value per seed]}`` for
    one unnamed metric. ``baselines`` (optional, e.g. uniform attention or a random
    assignment): ``{metric: value}`` drawn as one dashed line across the panel, or
    ``{model: {metric: value or [per seed]}}`` drawn as a dashed line over each model's bar (at
    its mean)."""
    if not results:
        raise ValueError("seed_bars got no results")
    models = list(results)
    if not all(isinstance(results[m], Mapping) for m in models):
        results = {m: {"value": results[m]} for m in models}
    if metrics is None:
        metrics = list(dict.fromkeys(k for r in results.values() for k in r))
    per_model = baselines is not None and set(baselines) <= set(models) and all(
        isinstance(baselines[m], Mapping) for m in baselines)
    fig, axes = plt.subplots(1, len(metrics), figsize=(max(3.2, 1.0 * len(models) + 1.6)
                                                        * len(metrics), 3.6), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes[0], metrics):
        if not any(metric in results[m] for m in models):
            raise KeyError(f"no model has metric {metric!r}")
        drew_base = False
        for i, m in enumerate(models):
            if metric not in results[m]:
                continue
            v = _seed_values(results[m][metric], f"results[{m!r}][{metric!r}]")
            sd = v.std(ddof=1) if v.size > 1 else 0.0
            ax.bar(i, v.mean(), color=colours[i % len(colours)], alpha=0.75, width=0.7)
            ax.errorbar(i, v.mean(), yerr=sd, color="black", capsize=4, linewidth=1)
            jitter = np.linspace(-0.15, 0.15, v.size) if v.size > 1 else np.zeros(1)
            ax.plot(i + jitter, v, "o", color="black", markersize=3, zorder=3)
            ax.annotate(f"{v.mean():.{digits}f} ± {sd:.{digits}f}", (i, v.mean() + sd),
                        textcoords="offset points", xytext=(0, 3), ha="center", va="bottom",
                        fontsize=7)
            if per_model and metric in baselines.get(m, {}):
                b = _seed_values(baselines[m][metric], f"baselines[{m!r}][{metric!r}]").mean()
                ax.hlines(b, i - 0.42, i + 0.42, colors="black", linestyles="--", linewidth=1.2,
                          label=None if drew_base else baseline_name, zorder=4)
                drew_base = True
        if baselines is not None and not per_model and metric in baselines:
            ax.axhline(float(baselines[metric]), color="black", linestyle="--", linewidth=1.2,
                       label=baseline_name)
            drew_base = True
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels(models, rotation=30, ha="right", fontsize=8)
        n_seeds = sorted({len(np.atleast_1d(_numpy(results[m][metric]))) for m in models
                          if metric in results[m]})
        ax.set_title(f"{metric} (mean ± std, {'/'.join(map(str, n_seeds))} seeds)"
                     if metric != "value" else f"mean ± std, {'/'.join(map(str, n_seeds))} seeds",
                     fontsize=9)
        ax.margins(y=0.2)
        if drew_base:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
