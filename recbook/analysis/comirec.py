"""The ComiRec chapter's plumbing: seeds of training runs, which interest each behaviour belongs
to, the planted interests behind a history, the accuracy-diversity figure, and one real user's
interests against genres.

Framework-agnostic: a model is a recbook PyTorch or TensorFlow retrieval model (``model(batch,
return_attention=True)``, ``user_interests``, ``item_embeddings``); every tensor is moved to
numpy with ``recbook.arrays.to_numpy`` (``.detach().cpu()`` first), so the chapter runs on a GPU too.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from recbook import measures, parallel
from recbook.data import batches
from recbook.arrays import to_numpy


def _rows(arrays: dict, batch_size: int):
    n = len(next(iter(arrays.values())))
    for s in range(0, n, batch_size):
        yield {k: v[s:s + batch_size] for k, v in arrays.items()}


def extractor_weights(model, arrays: dict, batch_size: int = 512) -> np.ndarray:
    """[B, T, K]: how much behaviour t goes to interest k inside the extractor.

    Dynamic routing (ComiRec-DR, MIND): the last iteration's coupling c_ij (a softmax over the
    interests: a behaviour's shares). Self-attention (ComiRec-SA): the heads' weights A^T (each
    head's softmax runs over the positions, so a behaviour's K weights need not sum to 1)."""
    out = []
    for part in _rows(arrays, batch_size):
        att = model(part, return_attention=True)[1]
        if "routing" in att:
            out.append(to_numpy(att["routing"]))
        elif "attention" in att:
            out.append(np.swapaxes(to_numpy(att["attention"]), 1, 2))
        else:
            raise KeyError(f"the model's attention dict has neither 'routing' nor 'attention' "
                           f"(got {sorted(att)})")
    return np.concatenate(out)


def readout_assignment(model, arrays: dict, batch_size: int = 512) -> np.ndarray:
    """[B, T] the interest that would retrieve each behaviour's item: argmax_k e_iᵀ v_u^(k)
    (eqs. 8 and 11), over the user's existing interests only (MIND's K'_u)."""
    E = to_numpy(model.item_embeddings())
    out = []
    for part in _rows(arrays, batch_size):
        V = to_numpy(model.user_interests(part))
        mask = to_numpy(model.interest_mask(part)).astype(bool)
        s = np.einsum("btd,bkd->btk", E[part["hist_items"]], V)
        out.append(np.where(mask[:, None, :], s, -np.inf).argmax(-1))
    return np.concatenate(out)


def planted_at_history_end(source, arrays: dict) -> np.ndarray:
    """[B, M] the planted interest categories (0 = none) each user held when the history of
    ``arrays`` (prefix samples: ``truth_len`` future events follow it) ends. Built-in data only
    (``source.held_interests``)."""
    if source is None or not hasattr(source, "held_interests"):
        raise ValueError("planted interests exist only for the built-in synthetic data")
    ev = source.events
    users = np.asarray(arrays["user"], dtype=np.int64)
    truth = np.asarray(arrays["truth_len"], dtype=np.int64)
    last = np.empty(len(users), dtype=np.int64)
    for i, (u, n_future) in enumerate(zip(users, truth)):
        times = np.sort(ev.time.to_numpy()[ev.user.to_numpy() == u])
        if len(times) <= n_future:
            raise ValueError(f"user {u} has {len(times)} events but truth_len {n_future}")
        last[i] = times[len(times) - n_future - 1]
    return source.held_interests(users, last)[0]


def interest_scores(model, arrays: dict, planted=None) -> dict:
    """The mechanism numbers of one trained model on ``arrays`` (test users), each a
    ``recbook.measures.Score`` with its random-assignment baseline: ``"extractor NMI"`` (argmax of
    :func:`extractor_weights`), ``"retrieval NMI"`` (:func:`readout_assignment`) against the
    behaviours' categories, and with ``planted`` ([B, M]) ``"interests recovered"`` by the
    retrieval assignment."""
    hl, cats = arrays["hist_len"], arrays["hist_cats"]
    n_k = to_numpy(model.interest_mask(arrays)).sum(1)
    n_k = n_k if (n_k < n_k.max()).any() else None  # MIND's K'_u: only the existing capsules
    routed = measures.capsule_alignment(extractor_weights(model, arrays), cats, hist_len=hl,
                                        n_interests=n_k)["nmi"]
    ro = readout_assignment(model, arrays)
    out = {"extractor NMI": routed,
           "retrieval NMI": measures.capsule_alignment(ro, cats, hist_len=hl)["nmi"]}
    if planted is not None:
        out["interests recovered"] = measures.interests_recovered(ro, cats, planted,
                                                                  hist_len=hl)
    return out


def largest_interest_share(assign: np.ndarray, hist_len) -> float:
    """Mean over users of the share of a user's behaviours that its most-used interest takes
    (``assign`` [B, T] interest ids; 1/K would be an even split)."""
    a, n = np.asarray(assign), np.asarray(hist_len)
    shares = [np.bincount(a[b, :n[b]]).max() / n[b] for b in range(len(a)) if n[b] > 0]
    if not shares:
        raise ValueError("no user with a history")
    return float(np.mean(shares))


def train_seeds(builders: dict, train_one, seeds=(0, 1, 2), workers: int | None = None) -> dict:
    """Run ``train_one(name, build, seed) -> (model, history, test_metrics)`` for every model of
    ``builders`` ({name: () -> model}) and seed; returns {name: {"models": [...], "histories":
    [...], "test": {metric: [value per seed]}}}. The runs are independent, so
    ``recbook.parallel`` trains them side by side on a multi-core CPU (the same numbers);
    ``workers=1`` runs them in turn (TensorFlow must: its runtime does not survive a fork)."""
    if not builders or not seeds:
        raise ValueError("train_seeds needs at least one builder and one seed")
    done = parallel.run_each(lambda name, seed: train_one(name, builders[name], seed),
                             [(name, seed) for name in builders for seed in seeds], workers)
    runs = {}
    for name in builders:
        r = runs[name] = {"models": [], "histories": [], "test": {}}
        for seed in seeds:
            model, history, test = done[name, seed]
            r["models"].append(model)
            r["histories"].append(history)
            for k, v in test.items():
                r["test"].setdefault(k, []).append(float(v))
    return runs


def seed_table(runs: dict, metrics) -> pd.DataFrame:
    """{model: {metric: [per seed]}} -> a table of "mean ± std" strings (ddof=1)."""
    rows = {}
    for name, r in runs.items():
        test = r["test"] if "test" in r else r
        rows[name] = {m: measures.mean_std(test[m], 4).split(" (")[0] for m in metrics}
    return pd.DataFrame(rows).T[list(metrics)]


def lambda_figure(curves: dict, lams, x_label: str = "λ"):
    """The accuracy-diversity trade-off as two panels against λ (no labels to overlap):
    Recall@50 and Diversity@50, one line per model, mean ± std over seeds.
    ``curves``: {model: array [seeds, len(lams), 2] of (recall, diversity)}."""
    import matplotlib.pyplot as plt

    lams = np.asarray(lams, dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for name, c in curves.items():
        c = np.asarray(c, dtype=float)
        if c.ndim != 3 or c.shape[1:] != (len(lams), 2):
            raise ValueError(f"curves[{name!r}] must be [seeds, {len(lams)}, 2], got {c.shape}")
        for ax, j in zip(axes, (0, 1)):
            mean = c[:, :, j].mean(0)
            sd = c[:, :, j].std(0, ddof=1) if len(c) > 1 else np.zeros_like(mean)
            ax.errorbar(lams, mean, yerr=sd, marker="o", capsize=3, label=name)
    for ax, title in zip(axes, ("Recall@50 (accuracy)", "Diversity@50")):
        ax.set_xscale("symlog", linthresh=lams[lams > 0].min() if (lams > 0).any() else 1.0)
        ax.set_xticks(lams)
        ax.set_xticklabels([f"{v:g}" for v in lams], fontsize=8)
        ax.set(xlabel=x_label, title=title)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    return fig


def interest_genres(assign_row, hist_items, hist_len: int, genres, cat_names) -> pd.DataFrame:
    """One user's interests against genres: rows = interests, columns = genres, cells = how many
    of the behaviours that the interest takes (``assign_row`` [T]) carry the genre (a film
    counts once for each of its genres). ``genres``: item id -> sequence of genre ids (or
    names); ``cat_names``: genre id -> name. Genres that no behaviour carries are dropped."""
    a = np.asarray(assign_row)[:hist_len]
    items = np.asarray(hist_items)[:hist_len]
    names = list(cat_names)
    counts = {}
    for k, i in zip(a, items):
        for g in genres[int(i)]:
            g = names[g] if isinstance(g, (int, np.integer)) else str(g)
            counts.setdefault(int(k), {}).setdefault(g, 0)
            counts[int(k)][g] += 1
    table = pd.DataFrame(counts).T.fillna(0).astype(int).sort_index()
    table.index = [f"interest {k}" for k in table.index]
    order = [n for n in names if n in table.columns]
    return table[order]


def subsample(arrays: dict, frac: float | None, seed: int = 0) -> dict:
    """A random ``frac`` of the rows of ``arrays`` (drawn once from ``seed``, order kept);
    ``frac`` None or 1: all of them (``recbook.data.batches.subsample``)."""
    return arrays if frac is None else batches.subsample(arrays, frac=frac, seed=seed)


def count_heatmap(table: pd.DataFrame, title: str, ax=None):
    """A small count table (e.g. :func:`interest_genres`) as a heatmap with the counts written
    in the cells (white on dark cells, black on light ones)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(0.55 * table.shape[1] + 2.5, 0.5 * table.shape[0] + 1.6))
    v = table.to_numpy()
    im = ax.imshow(v, cmap="Blues", aspect="auto", vmin=0)
    for (r, c), x in np.ndenumerate(v):
        ax.text(c, r, str(x), ha="center", va="center", fontsize=8,
                color="white" if x > 0.6 * v.max() else "black")
    ax.set_xticks(range(v.shape[1]), table.columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(v.shape[0]), table.index, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.figure.colorbar(im, ax=ax, label="behaviours")
    ax.figure.tight_layout()
    return ax.figure
