"""Plumbing for the DIEN chapter: attention and interest states out of a trained model (on any
device), a recent-rows subsample of a CTR split, seed tables, and the interest-path figure.

Framework-neutral where it can be: a model is a PyTorch ``recbook.torch.dien.DIEN`` (on a CPU or a
GPU) or its Keras twin ``recbook.tf.dien.DIEN``; arrays come back as numpy, never as device
tensors, so the chapter runs on a Colab GPU as it does on a CPU.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from recbook.data.batches import iterate
from recbook.arrays import to_numpy


def _is_torch(model) -> bool:
    return hasattr(model, "parameters") and hasattr(model, "state_dict")


def _forward_parts(model, batch):
    """(logits, parts) of ``model(batch, return_attention=True)`` in inference mode."""
    if _is_torch(model):
        import torch

        model.eval()
        with torch.no_grad():
            return model(batch, return_attention=True)
    return model(batch, training=False, return_attention=True)


def attention_weights(model, part: dict, batch_size: int = 1024) -> np.ndarray:
    """DIEN's a_t [rows, T] (Eq. 8, zeros on padding) for every row of ``part``, as numpy."""
    if len(part["hist_len"]) == 0:
        raise ValueError("attention_weights got an empty part (no rows)")
    out = [to_numpy(_forward_parts(model, b)[1]["attention"]).astype(np.float64)
           for b in iterate(part, batch_size)]
    return np.concatenate(out)


def item_embeddings(model) -> np.ndarray:
    """The item table [n_items + 1, d] (row 0 is padding) as numpy, from either framework."""
    table = model.item_emb.table
    return to_numpy(table.weight if _is_torch(model) else table.embeddings)


def recent_rows(part: dict, per_user: int) -> dict:
    """Each user's last ``per_user`` rows of a CTR split (the loaders keep a user's rows in
    time order, a positive beside its negative), the rest dropped: recent rows carry the
    longest histories, so a small budget sees what DIEN's GRUs need."""
    if per_user < 1:
        raise ValueError(f"per_user must be >= 1, got {per_user}")
    user = np.asarray(part["user"])
    order = np.argsort(user, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(user[order])) + 1]
    counts = np.diff(np.r_[starts, len(user)])
    from_end = np.empty(len(user), dtype=np.int64)
    from_end[order] = np.repeat(counts, counts) - 1 - (np.arange(len(user))
                                                        - np.repeat(starts, counts))
    keep = np.flatnonzero(from_end < per_user)
    return {k: v[keep] for k, v in part.items()}


def seed_table(runs: dict, metrics=("auc", "gauc")) -> pd.DataFrame:
    """{model: [per-seed metric dicts]} -> one row per model: mean and std (ddof=1) of each
    metric, and the number of seeds."""
    rows = {}
    for name, rs in runs.items():
        if not rs:
            raise ValueError(f"{name!r} has no runs")
        row = {}
        for m in metrics:
            v = np.array([r[m] for r in rs], dtype=np.float64)
            row[f"{m} mean"] = v.mean()
            row[f"{m} std"] = v.std(ddof=1) if len(v) > 1 else 0.0
        rows[name] = {**row, "seeds": len(rs)}
    return pd.DataFrame(rows).T


def per_seed(runs: dict, metrics=("auc", "gauc")) -> dict:
    """{model: [per-seed metric dicts]} -> {model: {metric: [values]}}, what ``claims.check``
    reads."""
    return {name: {m: [r[m] for r in rs] for m in metrics} for name, rs in runs.items()}


def probe_candidates(part: dict, row: int, items, item_cat) -> dict:
    """Row ``row`` of ``part`` repeated once per candidate in ``items`` (the same history and
    user), with the candidates as targets: attention for several candidates side by side."""
    items = np.asarray(items, dtype=np.int64)
    probe = {k: np.repeat(v[row:row + 1], len(items), axis=0) for k, v in part.items()}
    probe["target_item"] = items
    probe["target_cat"] = np.asarray(item_cat)[items]
    return probe


def user_sequences(events: pd.DataFrame, users, max_len: int, column: str = "interest"):
    """The last ``max_len`` events of each user in ``users`` as padded arrays:
    (items [U, T], ``column`` values [U, T], lengths [U])."""
    seqs = [events[events.user == u].tail(max_len) for u in users]
    items = np.zeros((len(seqs), max_len), np.int64)
    values = np.zeros((len(seqs), max_len), np.int64)
    lens = np.array([len(s) for s in seqs], dtype=np.int64)
    for r, s in enumerate(seqs):
        items[r, :len(s)], values[r, :len(s)] = s.item.to_numpy(), s[column].to_numpy()
    return items, values, lens


def interest_states(model, items, lens, item_cat) -> np.ndarray:
    """The extractor's states h_t (Eqs. 2-5) of the real steps of each row, stacked [n, H]
    in row order (a PyTorch DIEN, on whichever device it sits)."""
    import torch

    from recbook.torch.layers import sequence_mask

    model.eval()
    dev = next(model.parameters()).device
    it = torch.as_tensor(np.asarray(items), device=dev)
    cats = torch.as_tensor(np.asarray(item_cat)[np.asarray(items)], device=dev)
    mask = sequence_mask(torch.as_tensor(np.asarray(lens), device=dev), it.shape[1])
    with torch.no_grad():
        h = model.extractor(model.behaviours(it, cats), mask)
    return to_numpy(h[mask])


def pca2(x) -> np.ndarray:
    """The first two principal components of the rows of ``x`` [n, d] -> [n, 2]."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"pca2 needs [n >= 2, d] rows, got shape {x.shape}")
    x = x - x.mean(0)
    return x @ np.linalg.svd(x, full_matrices=False)[2][:2].T


def interest_path_figure(xy, colour, lens, title: str):
    """Left: every state, coloured by ``colour`` (e.g. the planted interest); right: the states
    of the row (user) that went through the most distinct interests, joined in time order."""
    import matplotlib.pyplot as plt

    xy, colour, lens = np.asarray(xy), np.asarray(colour), np.asarray(lens)
    if len(xy) != lens.sum() or len(colour) != len(xy):
        raise ValueError(f"xy ({len(xy)}) and colour ({len(colour)}) must hold sum(lens) = "
                         f"{lens.sum()} states")
    ends = np.cumsum(lens)
    parts = np.split(colour, ends[:-1])
    r0 = int(np.argmax([len(set(p)) for p in parts]))
    path = xy[ends[r0] - lens[r0]:ends[r0]]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    kw = dict(cmap="tab20", vmin=colour.min(), vmax=colour.max())
    axes[0].scatter(xy[:, 0], xy[:, 1], c=colour, s=6, **kw)
    axes[0].set_title(title)
    axes[1].plot(path[:, 0], path[:, 1], "-", color="0.7", zorder=1)
    axes[1].scatter(path[:, 0], path[:, 1], c=parts[r0], s=30, zorder=2, **kw)
    axes[1].annotate("start", path[0])
    axes[1].annotate("end", path[-1])
    axes[1].set_title(f"one user's path ({len(set(parts[r0]))} interests; colour as left)")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig, r0


def state_purity(states, labels, k: int = 10) -> "object":
    """k-NN purity of the interest states against their planted interests (a Score with its
    chance baseline): do states of one interest sit together, whichever item was clicked?"""
    from recbook.measures import neighbour_purity

    return neighbour_purity(states, labels, k=k)


def same_category(part: dict) -> np.ndarray:
    """[rows, T] bool: real history positions whose category is the target's (on real data
    the closest thing to a planted relevance: same genre as the candidate film)."""
    cats = np.asarray(part["hist_cats"])
    real = np.arange(cats.shape[1])[None, :] < np.asarray(part["hist_len"])[:, None]
    return real & (cats == np.asarray(part["target_cat"])[:, None])


def shifted(relevant, hist_len, steps: int = 1) -> np.ndarray:
    """``relevant`` moved ``steps`` positions later (position t marked when t - steps was),
    kept inside the real history: tests whether a_t points at the behaviour one step after the
    relevant one (a state h_t that only "arrives" one step late)."""
    rel = np.asarray(relevant, dtype=bool)
    out = np.zeros_like(rel)
    if steps >= 0:
        out[:, steps:] = rel[:, :rel.shape[1] - steps]
    else:
        out[:, :steps] = rel[:, -steps:]
    return out & (np.arange(rel.shape[1])[None, :] < np.asarray(hist_len)[:, None])


def evaluate(model, part: dict, relevant=None, batch_size: int = 1024) -> dict:
    """AUC and GAUC of ``model`` on ``part`` and, where ``relevant`` [rows, T] is given, the
    attention's share on it divided by uniform's (``att_share``), from one forward pass per
    batch: what ``fit`` logs after every epoch."""
    from recbook import measures
    from recbook.metrics import auc, gauc

    logits, att = [], []
    for b in iterate(part, batch_size):
        z, parts = _forward_parts(model, b)
        logits.append(to_numpy(z).astype(np.float64))
        att.append(to_numpy(parts["attention"]).astype(np.float64))
    s = np.concatenate(logits)
    out = {"auc": auc(part["label"], s), "gauc": gauc(part["user"], part["label"], s)}
    if relevant is not None:
        out["att_share"] = measures.attention_share(np.concatenate(att), relevant,
                                                    hist_len=part["hist_len"]).ratio
    return out


def contrast_rows(relevant, hist_len, n: int = 4, low: float = 0.2, high: float = 0.6,
                  seed: int = 0) -> np.ndarray:
    """Rows to draw: ``viz.example_rows`` among the rows whose relevant share of the real
    history lies in [low, high] (a row that is nearly all relevant shows no contrast), falling
    back to every row when fewer than ``n`` qualify."""
    from recbook.viz import example_rows

    rel = np.asarray(relevant, dtype=bool)
    L = np.asarray(hist_len)
    frac = rel.sum(1) / np.maximum(L, 1)
    pool = np.flatnonzero((frac >= low) & (frac <= high) & (L > 0))
    if len(pool) < n:
        pool = np.arange(len(L))
    return pool[example_rows(rel[pool], hist_len=L[pool], n=n, seed=seed)]


