"""Reading BST's attention: the plumbing behind the BST chapter's figures and numbers.

BST lays the sequence out left-aligned (slot L − 1 = the most recent behaviour, slot L = the
target), the data right-padded (column 0 = the oldest behaviour). These helpers move the
attention back into the data's layout, so it lines up with ``hist_items``, ``hist_cats`` and the
built-in data's ``relevant``, and summarise it against uniform attention. Torch and TensorFlow
models alike; every array that leaves here is numpy on the CPU.
"""
from __future__ import annotations

import numpy as np

from recbook import measures
from recbook.data import batches
from recbook.arrays import to_numpy


def subsample(split: dict, n: int, seed: int = 0) -> dict:
    """``n`` rows of a split, drawn by ``seed``, order kept (``recbook.data.batches.subsample``)."""
    return batches.subsample(split, n=n, seed=seed)


def self_attention(model, split: dict, batch_size: int = 1024) -> np.ndarray:
    """The first block's attention [N, h, L + 1, L + 1] in the model's layout, evaluation mode
    (no dropout), batch by batch; torch (``eval`` + ``no_grad``) or Keras (``training=False``)."""
    n = len(split["label"])
    out = []
    for i in range(0, n, batch_size):
        part = {k: v[i:i + batch_size] for k, v in split.items()}
        if hasattr(model, "eval"):  # torch
            import torch
            model.eval()
            with torch.no_grad():
                att = model(part, return_attention=True)[1]
        else:
            att = model(part, training=False, return_attention=True)[1]
        out.append(to_numpy(att["self_attention"]).astype(np.float64))
    return np.concatenate(out)


def to_history_layout(rows: np.ndarray, hist_len) -> np.ndarray:
    """Attention over the model's L history slots ([..., L], one row per sample on axis 0) ->
    the data's right-padded layout [..., L] (column i = the i-th oldest behaviour, 0 on
    padding): slot L − n + i holds behaviour i of a history of n."""
    rows = np.asarray(rows)
    n = np.asarray(hist_len).astype(np.int64)
    L = rows.shape[-1]
    if n.shape != (rows.shape[0],) or (n < 0).any() or (n > L).any():
        raise ValueError(f"hist_len must be [{rows.shape[0]}] with values in 0..{L}, got shape "
                         f"{n.shape}")
    col = np.arange(L)
    src = (L - n)[:, None] + col[None, :]  # [N, L]
    real = col[None, :] < n[:, None]
    shape = (rows.shape[0],) + (1,) * (rows.ndim - 2) + (L,)
    out = np.take_along_axis(rows, np.clip(src, 0, L - 1).reshape(shape), -1)
    return np.where(real.reshape(shape), out, 0.0)


def target_row(attention: np.ndarray, hist_len, target_in_sequence: bool = True) -> np.ndarray:
    """The target's row of ``self_attention`` [N, h, L + 1, L + 1] over the history only, in the
    data's layout: [N, h, L]. (The weight the target puts on itself is left out; the row is not
    renormalised: :func:`recbook.measures.attention_share` normalises it over the history.)"""
    a = np.asarray(attention)
    if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"attention must be [N, h, L + 1, L + 1], got shape {a.shape}")
    if not target_in_sequence:
        raise ValueError("a model without the target in the sequence has no target row")
    L = a.shape[-1] - 1
    return to_history_layout(a[:, :, -1, :L], hist_len)


def share_on(weights: np.ndarray, marked, hist_len) -> measures.Score:
    """:func:`recbook.measures.attention_share` of the head-averaged target row [N, h, L] (or
    [N, L]) on the ``marked`` positions [N, L] (the planted ``relevant``, or same-genre)."""
    w = np.asarray(weights)
    w = w.mean(1) if w.ndim == 3 else w
    return measures.attention_share(w, marked, hist_len=hist_len)


def per_head_share(weights: np.ndarray, marked, hist_len) -> np.ndarray:
    """Share ÷ uniform for each head of the target row [N, h, L]: [h]."""
    w = np.asarray(weights)
    if w.ndim != 3:
        raise ValueError(f"weights must be [N, h, L], got shape {w.shape}")
    return np.array([measures.attention_share(w[:, k], marked, hist_len=hist_len).ratio
                     for k in range(w.shape[1])])


def by_recency(weights: np.ndarray, hist_len, k: int = 10) -> np.ndarray:
    """Mean weight ÷ uniform of the k-th most recent behaviour, k = 1..``k``, over the rows
    whose history has at least k behaviours: [k] (1 = what uniform attention gives). The rows'
    weights are first normalised over their history (head-averaged when [N, h, L])."""
    w = np.asarray(weights)
    w = w.mean(1) if w.ndim == 3 else w
    n = np.asarray(hist_len).astype(np.int64)
    shares = measures.normalise_rows(w, hist_len=n)
    ratio = shares * n[:, None]
    out = np.full(k, np.nan)
    for j in range(1, k + 1):
        rows = np.flatnonzero(n >= j)
        if len(rows):
            out[j - 1] = ratio[rows, n[rows] - j].mean()
    return out


def same_category(hist_cats, target_cat, hist_len) -> np.ndarray:
    """[N, L] bool: the real history positions whose category equals the target's (real data
    has no planted relevance; a behaviour of the candidate's genre is DIN's and BST's cue)."""
    c = np.asarray(hist_cats)
    real = np.arange(c.shape[1])[None, :] < np.asarray(hist_len)[:, None]
    return real & (c == np.asarray(target_cat)[:, None])


def genre_labels(split: dict, row: int, cat_names, width: int = 12) -> list[str]:
    """Column labels for one row's real history (oldest first), then the target: the genre name
    of each film, cut to ``width`` characters."""
    n = int(split["hist_len"][row])
    cats = list(np.asarray(split["hist_cats"][row, :n])) + [int(split["target_cat"][row])]
    return [str(cat_names[c])[:width] for c in cats]


def seed_table(runs: dict, metrics=("auc", "gauc")) -> "pd.DataFrame":
    """``{(name, seed): {metric: value, "epochs": n, "seconds": s}}`` -> one row per name:
    each metric as "mean ± std" over its seeds (sample std; a single seed shows its value),
    the best epoch's number (mean), seconds per epoch (mean) and the number of seeds."""
    import pandas as pd

    names = list(dict.fromkeys(name for name, _ in runs))
    rows = {}
    for name in names:
        got = [r for (n, _), r in runs.items() if n == name]
        row = {}
        for m in metrics:
            v = np.array([r[m] for r in got], dtype=np.float64)
            row[m.upper()] = (f"{v.mean():.4f} ± {v.std(ddof=1):.4f}" if len(v) > 1
                              else f"{v[0]:.4f}")
        for key, label in (("epochs", "best epoch"), ("seconds", "s / epoch")):
            if all(key in r for r in got):
                row[label] = round(float(np.mean([r[key] for r in got])), 1)
        row["seeds"] = len(got)
        rows[name] = row
    return pd.DataFrame(rows).T


def per_seed(runs: dict, metric: str) -> dict:
    """``{(name, seed): result}`` -> ``{name: {metric: [value per seed]}}``, the shape
    :func:`recbook.claims.check` reads."""
    out: dict = {}
    for (name, _), r in runs.items():
        out.setdefault(name, {metric: []})[metric].append(float(r[metric]))
    return out
