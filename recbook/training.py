"""The framework-free half of training: batches per epoch, progress display, history, early stop.

recbook/torch/train.py and recbook/tf/train.py hold only what differs between frameworks (the
gradient step, saving weights); everything a reader sees — the progress bar, the per-epoch log
line, the history behind the learning curves — is written once here.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

from recbook.data.batches import iterate


def check_fit(model, train, batch_size, framework: str, model_ok: bool) -> None:
    """What both ``fit``s refuse before training starts, each with what was expected.

    ``model_ok``: whether ``model`` is a model of this ``framework`` ("torch" or "tf"); the
    other framework's model is named as such. ``train`` must be a dict of numpy arrays with one
    length (``data.train``, not the ``Dataset``; not lists, not a DataFrame) or a callable
    ``epoch -> batches``; ``batch_size`` an integer >= 1.
    """
    other = {"torch": "tf", "tf": "torch"}[framework]
    name = f"{type(model).__module__}.{type(model).__qualname__}"
    if not model_ok:
        hint = (f"; it is a recbook.{other} model: train it with recbook.{other}.train.fit"
                if type(model).__module__.startswith(f"recbook.{other}") else "")
        kind = "PyTorch (torch.nn.Module)" if framework == "torch" else "Keras (keras.Model)"
        raise TypeError(f"recbook.{framework}.train.fit trains a {kind} recbook model, got "
                        f"{name}{hint}")
    if not callable(getattr(model, "loss", None)):
        raise TypeError(f"fit trains by model.loss(batch) -> (loss, logs); {name} has no loss")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if callable(train) and not isinstance(train, dict):
        return
    if hasattr(train, "train") and hasattr(train, "meta"):
        raise TypeError(f"train must be a split (a dict of arrays), got the whole "
                        f"{type(train).__name__}: pass its training split, e.g. data.train")
    if not isinstance(train, dict):
        kind = type(train).__name__
        hint = (": for session data, pass lambda epoch: SessionParallelBatches(sessions, "
                "batch_size) (recbook.data.samples)") if kind == "DataFrame" else ""
        raise TypeError(f"train must be a dict of numpy arrays (key -> [N] or [N, T], e.g. "
                        f"data.train) or a callable epoch -> batches, got {kind}{hint}")
    if not train:
        raise ValueError("train is an empty dict: it needs the batch keys the model reads")
    for k, v in train.items():
        if not (hasattr(v, "shape") and hasattr(v, "__getitem__") and hasattr(v, "__len__")):
            raise TypeError(f"train[{k!r}] must be a numpy array (rows are drawn by index "
                            f"arrays), got {type(v).__name__}: wrap it in np.asarray")
    sizes = {k: len(v) for k, v in train.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"train's arrays disagree on their number of rows: {sizes}")
    if not next(iter(sizes.values())):
        raise ValueError(f"train has 0 rows (keys {sorted(train)}): nothing to train on")


def choose_optimizer(model, optimizer, lr: float):
    """``fit``'s optimizer: None takes the model's ``default_optimizer(lr)`` when it has one
    (GRU4Rec: the official IndexedAdagradM), else "adam". "adam" is refused for a model with
    sparse gradients (GRU4Rec's item tables), the same in both frameworks: torch's Adam cannot
    take them, and Keras' would move every row's moments on every step."""
    if optimizer is None:
        default = getattr(model, "default_optimizer", None)
        return default(lr) if default is not None else "adam"
    if optimizer == "adam" and getattr(model, "sparse_gradients", False):
        raise ValueError(f"{type(model).__name__} learns its item tables from sparse (row) "
                         "gradients, which Adam cannot take (torch) or turns dense (Keras): "
                         "leave optimizer unset (the official IndexedAdagradM, "
                         "adagrad_m(lr)), or pass 'adagrad', 'sgd' or adagrad_m(lr, momentum)")
    return optimizer


def epoch_batches(train, epoch: int, batch_size: int, seed: int, min_rows: int = 1):
    """The batches of one epoch: a dict of arrays is reshuffled each epoch, a callable asked.

    A last batch of fewer than ``min_rows`` rows is left out: a model that normalises by batch
    statistics (Dice, batch norm) cannot train on one row (its variance is 0). The rows are
    reshuffled every epoch, so a different row sits out each time and none is lost for good."""
    if callable(train):
        return train(epoch), None
    n = len(next(iter(train.values())))
    drop = 0 < n % batch_size < min_rows
    return (iterate(train, batch_size, shuffle=True, seed=seed + epoch, drop_last=drop),
            n // batch_size if drop else -(-n // batch_size))


def progress_mode() -> str:
    """'bar' in a live notebook, 'log' (one line per epoch) elsewhere.

    The book build sets RECBOOK_PROGRESS=log: a tqdm bar executed there would leave one line per
    refresh in the static HTML. 'none' silences training entirely (tests).
    """
    mode = os.environ.get("RECBOOK_PROGRESS")
    if mode:
        if mode not in ("bar", "log", "none"):
            raise ValueError(f"RECBOOK_PROGRESS must be 'bar', 'log' or 'none', got {mode!r}")
        return mode
    return "bar" if "ipykernel" in sys.modules else "log"


class History:
    """One row per epoch: epoch, train_* means, valid_* metrics, seconds."""

    def __init__(self, name: str | None = None):
        self.name = name
        self.rows: list[dict] = []
        self.best: dict | None = None

    def as_dict(self) -> dict[str, list]:
        keys = list(dict.fromkeys(k for row in self.rows for k in row))
        return {k: [row.get(k, np.nan) for row in self.rows] for k in keys}

    def __repr__(self):
        return f"History({self.name!r}, epochs={len(self.rows)}, best={self.best})"


class EpochProgress:
    """A tqdm bar over one epoch's steps (live notebooks) or nothing (log mode)."""

    def __init__(self, mode: str, epoch: int, epochs: int, total, desc: str | None):
        self.bar = None
        if mode == "bar":
            from tqdm.auto import tqdm
            label = f"{desc + ' ' if desc else ''}epoch {epoch}/{epochs}"
            self.bar = tqdm(total=total, desc=label, leave=False)

    def step(self, logs: dict):
        if self.bar is not None:
            self.bar.update(1)
            if self.bar.n % 20 == 0:
                self.bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def epoch_line(row: dict, desc: str | None, monitor: str | None = None) -> str:
    """One log line per epoch. With a ``monitor``, only the training losses and the monitored
    validation figure are printed (the book's column holds about 80 characters; every figure
    stays in the History)."""
    keep = (lambda k: k.startswith("train_") or k == f"valid_{monitor}") if monitor else \
        (lambda k: True)
    parts = [f"{desc}" if desc else "", f"epoch {row['epoch']}"]
    parts += [f"{k} {v:.4f}" for k, v in row.items()
              if k not in ("epoch", "seconds") and keep(k)]
    parts.append(f"{row['seconds']:.1f}s")
    return " | ".join(p for p in parts if p)


class EarlyStopping:
    """Tracks the monitored metric; says when to keep the weights and when to stop."""

    def __init__(self, monitor: str | None, mode: str = "max", patience: int | None = None):
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.monitor, self.mode, self.patience = monitor, mode, patience
        self.best_value, self.best_epoch, self.bad_epochs = None, None, 0

    def update(self, row: dict) -> bool:
        """True when this epoch is the best so far (its weights should be kept)."""
        if self.monitor is None:
            return False
        if self.monitor not in row:
            raise KeyError(f"monitor {self.monitor!r} is not among the epoch's figures "
                           f"{sorted(row)}; evaluate() must return it without the 'valid_' prefix")
        value = row[self.monitor]
        better = (self.best_value is None or
                  (value > self.best_value if self.mode == "max" else value < self.best_value))
        if better:
            self.best_value, self.best_epoch, self.bad_epochs = value, row["epoch"], 0
        else:
            self.bad_epochs += 1
        return better

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.bad_epochs > self.patience


def run_epochs(step, train, evaluate, epochs, batch_size, seed, stopper, desc,
               on_best, on_epoch_end=None, name=None, min_rows: int = 1) -> History:
    """The loop both frameworks share. ``step(batch) -> logs`` is one gradient step;
    ``on_best()`` snapshots the weights; ``on_epoch_end(epoch)`` decays the learning rate;
    ``min_rows``: see :func:`epoch_batches` (2 for a model with batch statistics)."""
    mode, history = progress_mode(), History(name or desc)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        batches, total = epoch_batches(train, epoch, batch_size, seed, min_rows)
        bar, sums, n = EpochProgress(mode, epoch, epochs, total, desc), {}, 0
        for batch in batches:
            logs = step(batch)
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            n += 1
            bar.step(logs)
        bar.close()
        if n == 0:
            raise ValueError("the training data gave no batch in this epoch")
        row = {"epoch": epoch, **{f"train_{k}": v / n for k, v in sums.items()}}
        if evaluate is not None:
            row.update({f"valid_{k}": float(v) for k, v in evaluate().items()})
        row["seconds"] = time.perf_counter() - start
        history.rows.append(row)
        monitor_row = {k.removeprefix("valid_"): v for k, v in row.items()
                       if k.startswith("valid_")} | {"epoch": epoch}
        if stopper.update(monitor_row):
            history.best = dict(row)
            on_best()
        if mode != "none":
            print(epoch_line(row, desc, stopper.monitor), flush=True)
        if on_epoch_end is not None:
            on_epoch_end(epoch)
        if stopper.should_stop:
            if mode != "none":
                print(f"early stop: no better {stopper.monitor} for {stopper.bad_epochs} epochs; "
                      f"best was epoch {stopper.best_epoch}", flush=True)
            break
    return history
