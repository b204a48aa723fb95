"""Plumbing for the GRU4Rec chapter: training over seeds, tables of mean ± std, subsampling.

Framework-neutral: a run is any callable ``seed -> (history, test metrics, item table)``, so
the PyTorch and TensorFlow cells share it (item tables may be tensors of either framework).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import measures, parallel
from ..arrays import to_numpy

def item_vectors(model) -> np.ndarray:
    """GRU4Rec's item table W_y as numpy [n_items + 1, d] (row 0: padding), in either
    framework: the rows w_j of ``model.item_embeddings()`` = [W_y, b_y], without the bias."""
    return to_numpy(model.item_embeddings())[:, :-1]


def last_events(sessions: pd.DataFrame, n: int) -> pd.DataFrame:
    """Each session's last ``n`` events (rows in the frame's order, which is time order)."""
    if "session" not in sessions.columns:
        raise KeyError(f"sessions needs a 'session' column, has {list(sessions.columns)}")
    if int(n) < 2:
        raise ValueError(f"n must be >= 2 (one event has no next item), got {n}")
    return sessions.groupby("session", sort=False).tail(int(n))


@dataclass
class SeedRuns:
    """What :func:`run_seeds` collected: per-seed histories, test metrics and neighbour purity."""
    histories: dict = field(default_factory=dict)  # "seed s" -> history
    metrics: dict = field(default_factory=dict)  # metric -> [value per seed]
    purity: list = field(default_factory=list)  # measures.Score per seed
    seconds: list = field(default_factory=list)  # wall seconds per seed (training + test)
    epochs: list = field(default_factory=list)  # epochs run per seed (early stopping)
    models: dict = field(default_factory=dict)  # seed -> trained model, where run returns it

    def summary(self) -> measures.SeedSummary:
        """Neighbour purity over the seeds (mean ± std, with its chance baseline)."""
        return measures.over_seeds(self.purity)


def _epochs_run(history) -> int:
    h = history.as_dict() if hasattr(history, "as_dict") else dict(history)
    return len(h.get("epoch", h.get("train_loss", [])))


def run_seeds(run, seeds, labels, k: int = 10, workers: int | None = None) -> SeedRuns:
    """Call ``run(seed) -> (history, test_metrics, item_table[, model])`` for every seed and
    keep the histories, the test metrics, the models and the ``k``-NN category purity of the
    item table (rows = item ids, row 0 padding) against ``labels`` (e.g. ``meta.item_cat``).
    The seeds are independent: ``recbook.parallel`` runs them side by side on a multi-core CPU
    (the same numbers); ``workers=1`` runs them in turn (TensorFlow must)."""
    seeds = list(seeds)
    if not seeds:
        raise ValueError("run_seeds needs at least one seed")

    def timed(s):
        start = time.time()
        result = run(s)
        return result, time.time() - start

    out = SeedRuns()
    for s, (result, seconds) in zip(seeds, parallel.starmap(timed, [(s,) for s in seeds],
                                                            workers)):
        history, metrics, table = result[:3]
        if len(result) > 3:
            out.models[s] = result[3]
        out.seconds.append(seconds)
        out.histories[f"seed {s}"] = history
        out.epochs.append(_epochs_run(history))
        for m, v in metrics.items():
            out.metrics.setdefault(m, []).append(float(v))
        out.purity.append(measures.neighbour_purity(to_numpy(table), to_numpy(labels), k=k))
    return out


def mean_std_table(results: dict, metrics=("recall@20", "mrr@20"), digits: int = 4):
    """``{name: {metric: value or [values per seed]}}`` -> a table of "mean ± std" strings with
    the number of seeds (a single value is one run: no ± shown)."""
    rows = {}
    for name, r in results.items():
        row = {}
        for m in metrics:
            if m not in r:
                raise KeyError(f"{name!r} has no {m!r}; it has {sorted(r)}")
            v = np.atleast_1d(np.asarray(r[m], dtype=np.float64))
            sd = f" ± {v.std(ddof=1):.{digits}f}" if v.size > 1 else ""
            row[m] = f"{v.mean():.{digits}f}{sd}"
        row["runs"] = int(max(np.atleast_1d(r[m]).size for m in metrics))
        rows[name] = row
    return pd.DataFrame(rows).T


def per_seed(results: dict) -> dict:
    """``{name: {metric: value or values}}`` -> ``{name: {metric: [values]}}`` (claims input)."""
    return {n: {m: np.atleast_1d(np.asarray(v, dtype=np.float64)).tolist()
                for m, v in r.items()} for n, r in results.items()}


def purity_text(summary: measures.SeedSummary, what: str = "category") -> str:
    """One sentence: neighbour purity over seeds against chance."""
    n = len(summary.values)
    return (f"{summary.name} same-{what} share {summary.mean:.3f} ± {summary.std:.3f} "
            f"vs chance {summary.baseline_mean:.3f} (×{summary.ratio_mean:.1f}, {n} seed"
            f"{'s' if n != 1 else ''})")


def twin_text(pt: SeedRuns, tf: SeedRuns, metrics=("recall@20", "mrr@20")) -> str:
    """The twins compared: TensorFlow's runs against PyTorch's seed mean ± std, the distance in
    PyTorch seed standard deviations, and the book's rule (:func:`recbook.claims.effect`:
    "tie / within noise" means the same model as far as the seeds can tell)."""
    from .. import claims

    lines = []
    for m in metrics:
        p, t = np.asarray(pt.metrics[m], dtype=np.float64), np.asarray(tf.metrics[m])
        sd = p.std(ddof=1) if p.size > 1 else float("nan")
        label = claims.effect(t, p, m, names=("TensorFlow", "PyTorch")).label
        lines.append(f"{m}: TensorFlow {t.mean():.4f} ({t.size} run{'s' if t.size != 1 else ''})"
                     f" vs PyTorch {p.mean():.4f} ± {sd:.4f} ({p.size} seeds): "
                     f"{abs(t.mean() - p.mean()) / sd:.1f} PyTorch seed std apart ({label})")
    return "\n".join(lines)


def target_text(summary: measures.SeedSummary, times: float = 3.0) -> str:
    """Whether every seed's purity reaches ``times`` × its chance baseline."""
    ok = all(v >= times * b for v, b in zip(summary.values, summary.baselines))
    return f"target {times:g}× chance: {'met' if ok else 'NOT met'} in every seed"
