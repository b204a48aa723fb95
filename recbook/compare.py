"""One model of a family, one budget, one seed: quality, training seconds, parameter count.

The "Comparison" chapter (chapters/summary.md) puts every model of a family on ONE dataset and
split with ONE training budget (``epochs``), in PyTorch (``framework="torch"``) or in its
TensorFlow twin (``"tf"``; the default where the book runs TensorFlow only):

* ranking (CTR): Base, DIN, DIEN, BST on ``load_ctr`` (leave-last-out by time); AUC and GAUC
  on the test impressions;
* retrieval: most popular, item-kNN, GRU4Rec, YouTube DNN, MIND, ComiRec-DR, ComiRec-SA on
  ``load_next_item`` with ComiRec's protocol (users split 8:1:1; a test user's first 80 % of
  behaviours in, the rest the truth); Recall@50 and HitRate@50 over the whole catalogue. This is
  the protocol of the ComiRec paper, which compares exactly these models (GRU4Rec included:
  each training user's sequence is one session, and a test user's history is fed step by step).

Everything but the number of epochs and the data comes from each model's chapter: the
architecture from its "quick" preset (``recbook.config``), its optimiser, learning rate and
batch size as its chapter trains it (the retrieval models with the ComiRec chapter's shared
settings: d, K, 10 × batch-size negatives). The models, ``fit``, the baselines, the metrics and
the faiss retrieval are the package's own; nothing here re-implements them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recbook import metrics, parallel, retrieval
from recbook.arrays import to_numpy
from recbook.baselines import ItemKNN, MostPopular, item_support
from recbook.book import Framework
from recbook.config import preset

RANKING = ("Base", "DIN", "DIEN", "BST")
RETRIEVAL = ("most popular", "item-kNN", "GRU4Rec", "YouTube DNN", "MIND", "ComiRec-DR",
             "ComiRec-SA")
FAMILIES = {"ranking": RANKING, "retrieval": RETRIEVAL}
PRIMARY = {"ranking": "auc", "retrieval": "recall@50"}  # the metric the plot and claims use
COUNTED = ("most popular", "item-kNN")  # counted from the training data, not trained


@dataclass
class Run:
    """One training run: test metrics, seconds spent training (counting, for the baselines)
    and the number of trained parameters (0 for the counted baselines)."""
    model: str
    seed: int
    metrics: dict = field(default_factory=dict)
    train_seconds: float = 0.0
    n_params: int = 0
    epochs: int = 0  # epochs trained (0 for the counted baselines)
    best_epoch: int = 0  # the epoch whose weights were kept (early stopping), else the last

    def row(self) -> dict:
        return {"model": self.model, "seed": self.seed, **self.metrics,
                "train s": self.train_seconds, "parameters": self.n_params,
                "epochs": self.epochs, "best epoch": self.best_epoch}


def family_of(model: str) -> str:
    for family, names in FAMILIES.items():
        if model in names:
            return family
    raise ValueError(f"unknown model {model!r}; ranking models: {', '.join(RANKING)}; "
                     f"retrieval models: {', '.join(RETRIEVAL)}")


def load(family: str, dataset: str = "synthetic", n_users: int | None = None, max_len: int = 20,
         seed: int = 0, train_rows: int | None = None):
    """The one dataset and split of a family (``n_users`` only for the built-in data).

    ``train_rows``: keep a random subset of that many training rows (drawn with ``seed``), the
    same for every model; validation and test stay whole. It keeps a real dataset inside the
    chapter's CPU budget without changing the test users or the evaluation."""
    from recbook.data import load_ctr, load_next_item
    from recbook.data.batches import subsample

    if family not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)}, got {family!r}")
    size = {"n_users": n_users} if dataset == "synthetic" and n_users else {}
    loader = load_ctr if family == "ranking" else load_next_item
    data = loader(dataset, max_len=max_len, seed=seed, **size)
    if train_rows is not None:
        if train_rows < 1:
            raise ValueError(f"train_rows must be >= 1, got {train_rows}")
        data.train = subsample(data.train, n=train_rows, seed=seed)
    return data


def _epochs(history) -> tuple[int, int]:
    """(epochs trained, the epoch whose weights were kept) from a fit History."""
    trained = len(history.rows)
    best = history.best["epoch"] if history.best else trained
    return trained, int(best)


def n_params(model) -> int:
    """Trained parameters of a PyTorch module or a Keras model."""
    if hasattr(model, "parameters"):
        return int(sum(p.numel() for p in model.parameters()))
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def default_framework() -> str:
    """The framework a run uses: "torch", unless the book runs TensorFlow's cells only
    (``recbook.book.use`` or ``RECBOOK_FRAMEWORKS``): then "tf", so that a TensorFlow reader
    never imports torch."""
    from recbook.book import enabled

    return "torch" if "pytorch" in enabled() else "tf"


def _framework(framework: str | None) -> Framework:
    """The twin a run uses ("torch" or "tf"; None: ``default_framework()``), imported from that
    twin only: ``recbook.book.Framework.of``."""
    return Framework.of(framework or default_framework())


# ------------------------------------------------------------------------------------ ranking

def _ranking_model(name: str, meta, build):
    """(model, training arguments) as the model's chapter builds and trains it (quick preset);
    ``build``: recbook.torch.build or recbook.tf.build."""
    if name in ("Base", "DIN"):
        cfg = preset("din", "quick")
        # the DIN chapter's "DIN (PReLU)" and Base: no mini-batch aware regulariser (λ = 0)
        model = build("base_model" if name == "Base" else "din", cfg, meta, mba_lambda=0.0)
        return model, {k: cfg[k] for k in ("batch_size", "optimizer", "lr")}
    if name == "DIEN":
        cfg = preset("dien", "quick")
        return build("dien", cfg, meta), {k: cfg[k] for k in ("batch_size", "lr", "lr_decay")}
    cfg = preset("bst", "quick")
    return build("bst", cfg, meta), {k: cfg[k] for k in ("batch_size", "optimizer", "lr")}


def _ranking_quality(model, split, predict) -> dict:
    s = predict(model, split)
    return {"auc": metrics.auc(split["label"], s),
            "gauc": metrics.gauc(split["user"], split["label"], s)}


def _stopping(patience, evaluate, family: str) -> dict:
    """fit's arguments: early stopping on the validation primary metric when ``patience``."""
    if patience is None:
        return {"evaluate": None}
    return {"evaluate": evaluate, "monitor": PRIMARY[family], "patience": patience}


def _run_ranking(name: str, data, epochs: int, seed: int, patience=None, fw=None) -> Run:
    fw = fw or _framework(None)
    fw.seed(seed)  # the initial weights depend on the seed, as the batch order does
    model, train_args = _ranking_model(name, data.meta, fw.build)
    if hasattr(model, "set_id_counts"):  # DIN/Base: n_j of the mini-batch aware regulariser
        model.set_id_counts(data.train)
    start = time.perf_counter()
    valid = lambda m: _ranking_quality(m, data.valid, fw.predict)  # noqa: E731
    history = fw.fit(model, data.train, epochs=epochs, seed=seed, desc=f"{name} seed {seed}",
                     **_stopping(patience, valid, "ranking"), **train_args)
    seconds = time.perf_counter() - start
    return Run(name, seed, _ranking_quality(model, data.test, fw.predict), seconds,
               n_params(model), *_epochs(history))


# ---------------------------------------------------------------------------------- retrieval

KS = (20, 50)


def _train_sequences(data) -> pd.DataFrame:
    """Each training user's whole sequence as one session (session, item, time), in time order:
    what GRU4Rec and item-kNN learn from (the same users the other models train on)."""
    from recbook.data.samples import sessions, sort_events

    ev = sort_events(data.source.events)
    ev = ev[ev.user.isin(np.unique(data.train["user"]))]
    return sessions(ev[["user", "item", "time"]], gap=np.inf)


def _top_from_scores(scores: np.ndarray, n: int) -> np.ndarray:
    """Top-n item ids per row of a dense [B, n_items + 1] score matrix (column 0 is padding)."""
    scores = np.asarray(scores, dtype=np.float64).copy()
    scores[:, 0] = -np.inf
    top = np.argpartition(-scores, n, axis=1)[:, :n]
    order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable")
    return np.take_along_axis(top, order, 1)


def _last_items(test) -> np.ndarray:
    L = test["hist_len"]
    return np.where(L > 0, test["hist_items"][np.arange(len(L)), np.maximum(L - 1, 0)], 0)


def _gru4rec_interests(model, test, batch_size: int = 512) -> np.ndarray:
    """[B, 1, d + 1]: the GRU4Rec state after each test user's last behaviour, fed step by step
    from a reset (positions past ``hist_len`` are padding; the state at the last real one is
    kept). ``model.user_interests`` advances the state one step, as in session serving."""
    from recbook.book import inference  # torch.no_grad() for a PyTorch model

    out, width = [], int(model.item_embeddings().shape[1])  # [h, 1]: d + 1
    with inference(model):
        for i in range(0, len(test["hist_len"]), batch_size):
            items, L = test["hist_items"][i:i + batch_size], test["hist_len"][i:i + batch_size]
            # padded steps repeat the last real item (any valid id: their state is discarded);
            # an empty history keeps the zero state, whose scores are the item biases b_y
            last = np.maximum(L - 1, 0)
            steps = np.where(np.arange(items.shape[1]) < L[:, None], items,
                             np.maximum(items[np.arange(len(L)), last], 1)[:, None])
            model.reset_state()
            V = np.zeros((len(L), 1, width), dtype=np.float32)
            V[:, :, -1] = 1.0
            for t in range(int(L.max())):
                v = to_numpy(model.user_interests({"input_item": steps[:, t],
                                                 "reset": np.full(len(L), t == 0)}))
                V = np.where((t < L)[:, None, None], v, V)
            out.append(V)
    return np.concatenate(out)


def _gru4rec_quality(model, split, n: int) -> dict:
    if hasattr(model, "eval"):  # a PyTorch module: inference mode
        model.eval()
    index = retrieval.ItemIndex(to_numpy(model.item_embeddings()))
    ids = retrieval.topk_multi_interest(index, _gru4rec_interests(model, split), n)[1]
    return metrics.ranking_metrics(ids, split["truth_items"], KS)


def _run_retrieval(name: str, data, epochs: int, seed: int, patience=None, fw=None) -> Run:
    fw = fw or _framework(None)
    test, meta, n = data.test, data.meta, max(KS)
    truth = test["truth_items"]
    fw.seed(seed)
    if name in COUNTED:
        start = time.perf_counter()
        seqs = _train_sequences(data)
        rec = (MostPopular(item_support(seqs.item, meta.n_items)) if name == "most popular"
               else ItemKNN(seqs.session, seqs.item, meta.n_items))
        seconds = time.perf_counter() - start
        # both score from the user's last behaviour (item-kNN: its neighbours, ICLR'16 §4.1)
        ids = _top_from_scores(rec({"input_item": _last_items(test)}), n)
        return Run(name, seed, metrics.ranking_metrics(ids, truth, KS), seconds, 0)
    if name == "GRU4Rec":
        from recbook.data.samples import SessionParallelBatches
        P = preset("gru4rec", "quick")
        seqs = _train_sequences(data)
        model = fw.build("gru4rec", P, meta, seed=seed,
                         item_support=item_support(seqs.item, meta.n_items))
        start = time.perf_counter()
        history = fw.fit(model, lambda epoch: SessionParallelBatches(seqs, P["batch_size"]),
                         epochs=epochs, optimizer=fw.optimizer(P["lr"], P["momentum"]),
                         seed=seed, desc=f"{name} seed {seed}",
                         **_stopping(patience, lambda m: _gru4rec_quality(m, data.valid, n),
                                     "retrieval"))
        seconds = time.perf_counter() - start
        return Run(name, seed, _gru4rec_quality(model, test, n), seconds, n_params(model),
                   *_epochs(history))
    cfg = preset("comirec", "quick")  # the ComiRec chapter's shared settings for all four
    key = {"YouTube DNN": "youtube_dnn", "MIND": "mind", "ComiRec-DR": "comirec_dr",
           "ComiRec-SA": "comirec_sa"}[name]
    # the official code's 10 × batch negatives: the ComiRecs take the ratio, MIND and YouTube
    # DNN a count
    n_neg = {"n_neg": cfg["neg_ratio"] * cfg["batch_size"]} if key in ("youtube_dnn",
                                                                      "mind") else {}
    fw.seed(seed)  # the initial weights (nothing drew from the seeded streams since)
    model = fw.build(key, cfg, meta, **n_neg)
    lr = cfg["lr_dr"] if name == "ComiRec-DR" else cfg["lr"]
    start = time.perf_counter()
    evaluate = fw.module("youtube_dnn").evaluate_retrieval
    valid = lambda m: evaluate(m, data.valid, ks=KS, seed=seed)  # noqa: E731
    history = fw.fit(model, data.train, epochs=epochs, batch_size=cfg["batch_size"], lr=lr,
                     seed=seed, desc=f"{name} seed {seed}",
                     **_stopping(patience, valid, "retrieval"))
    seconds = time.perf_counter() - start
    quality = evaluate(model, test, ks=KS, seed=seed)
    return Run(name, seed, quality, seconds, n_params(model), *_epochs(history))


# ----------------------------------------------------------------------------------- runners

def run(model: str, data, epochs: int = 1, seed: int = 0, patience: int | None = None,
        framework: str | None = None) -> Run:
    """Train ``model`` (a name of RANKING or RETRIEVAL) on ``data`` (from ``load`` of its family)
    for ``epochs`` with ``seed``; return its test quality, training seconds and parameters.
    ``framework``: "torch" or "tf" (None: ``default_framework()``).

    ``patience``: train to convergence instead of a fixed budget: after each epoch the family's
    primary metric (``PRIMARY``) is measured on ``data.valid``; training stops after
    ``patience`` epochs without a new best (``epochs`` is then the cap) and the best epoch's
    weights are restored before the test."""
    family = family_of(model)
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if patience is not None and patience < 1:
        raise ValueError(f"patience must be >= 1 (or None: a fixed budget), got {patience}")
    wanted = "label" if family == "ranking" else "truth_items"
    if wanted not in data.test:
        raise ValueError(f"{model} is a {family} model: its data needs test[{wanted!r}] "
                         f"(load it with recbook.compare.load({family!r}, ...))")
    fw = _framework(framework)
    return (_run_ranking if family == "ranking" else _run_retrieval)(model, data, epochs, seed,
                                                                      patience, fw)


def run_all(models, data, seeds=(0, 1, 2), epochs: int = 1,
            patience: int | None = None, workers: int | None = None,
            framework: str | None = None) -> pd.DataFrame:
    """One row per (model, seed): metrics, ``train s``, ``parameters``. The counted baselines
    are deterministic and run once (their row is repeated for every seed). Every run seeds
    itself, so ``recbook.parallel`` runs them side by side on a multi-core CPU (the same
    numbers; ``workers=1``: in turn, as TensorFlow's always go: its runtime does not survive a
    fork, ``Framework.workers``). ``framework``: as in ``run``."""
    seeds = list(seeds)
    framework = framework or default_framework()
    if _framework(framework).workers == 1:
        workers = 1
    jobs = [(model, seed) for model in models
            for seed in (seeds[:1] if model in COUNTED else seeds)]
    done = parallel.run_each(
        lambda model, seed: run(model, data, epochs, seed, patience, framework).row(), jobs,
        workers)
    return pd.DataFrame([{**done[model, seeds[0] if model in COUNTED else seed], "seed": seed}
                         for model in models for seed in seeds])


def summarise(runs: pd.DataFrame, metrics_=None) -> pd.DataFrame:
    """Mean ± std over seeds per model (population std, as the chapters print), mean seconds
    and the parameter count; models keep their order of appearance."""
    metrics_ = list(metrics_ or [c for c in runs.columns
                                 if c not in ("model", "seed", "train s", "parameters", "epochs",
                                              "best epoch")])
    order = list(dict.fromkeys(runs["model"]))
    g = runs.groupby("model", sort=False)
    out = pd.DataFrame(index=order)
    for m in metrics_:
        mean, std = g[m].mean(), g[m].std(ddof=0)
        out[m] = [f"{mean[k]:.4f} ± {std[k]:.4f}" for k in order]
    out["train s"] = g["train s"].mean().reindex(order).round(2)
    out["parameters"] = g["parameters"].first().reindex(order).astype(int)
    if "epochs" in runs:  # older run tables have no epoch counts
        out["epochs"] = g["epochs"].mean().reindex(order).round(1)
    out["seeds"] = g["seed"].nunique().reindex(order)
    return out


def ranks(runs_by_dataset: dict, metric: str) -> pd.DataFrame:
    """Each model's rank (1 = best mean ``metric``) on each dataset, side by side:
    ``{dataset name: run_all table}`` -> DataFrame [model x dataset] of ranks."""
    out = {}
    for name, runs in runs_by_dataset.items():
        mean = runs.groupby("model", sort=False)[metric].mean()
        out[name] = mean.rank(ascending=False, method="min").astype(int)
    return pd.DataFrame(out)


def per_model(runs: pd.DataFrame, metric: str) -> dict[str, list[float]]:
    """{model: [metric per seed]}: what ``recbook.claims.check`` takes."""
    return {m: list(map(float, v)) for m, v in runs.groupby("model", sort=False)[metric]}
