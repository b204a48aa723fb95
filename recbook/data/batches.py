"""A batch is a dict of numpy arrays (see CONTRIBUTING.md): padding, iteration and validation.

Everything here is framework-free. The batch contract is enforced by :func:`validate` (read its
docstring for what is refused and why); each framework's ``RecModel.prepare`` validates a batch
(numpy or eager tensors alike) and converts the keys the model reads once, at the boundary
(``fit``'s step, ``predict``, evaluation, a direct call), into a :class:`Prepared` dict that the
model's inner methods pass along unchecked.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np

from ..arrays import to_numpy
from .meta import Meta

# Which vocabulary each id key indexes ("profile" keys are looked up in meta.profile).
ITEM_KEYS = ("target_item", "hist_items", "neg_hist_items", "input_item")
CAT_KEYS = ("target_cat", "hist_cats", "neg_hist_cats")
HIST_KEYS = ("hist_items", "hist_cats", "neg_hist_items", "neg_hist_cats")  # 0 exactly at padding
FLOAT_KEYS = ("label", "hist_gaps")
BOOL_KEYS = ("relevant", "reset")
TARGET_KEYS = ("target_item", "target_cat", "input_item")  # a target is never padding


def pad_histories(histories: Iterable[Sequence[int]], max_len: int,
                  dtype=np.int64) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad variable-length histories to ``[N, max_len]``, keeping the most recent.

    Each history is ordered oldest first; one longer than ``max_len`` keeps its last ``max_len``
    entries (the most recent ones), so ``out[b, :lengths[b]]`` is real, most recent last.
    Returns ``(out, lengths)`` with ``lengths`` int64 [N].
    """
    if max_len < 0:
        raise ValueError(f"max_len must be >= 0, got {max_len}")
    rows = [np.asarray(h)[-max_len:] if max_len else np.asarray(h)[:0] for h in histories]
    out = np.zeros((len(rows), max_len), dtype=dtype)
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    for b, r in enumerate(rows):
        out[b, :len(r)] = r
    return out, lengths


def history_index(starts: np.ndarray, ends: np.ndarray, max_len: int):
    """Indices of the last ``max_len`` rows in ``[starts[b], ends[b])``, right-padded.

    For an event table sorted by user then time, ``starts``/``ends`` delimit the events before
    each target; returns ``(idx [B, max_len] int64, lengths [B] int64, mask [B, max_len])`` with
    ``idx`` 0 at padding (mask it before use: row 0 is a real event).
    """
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    lengths = np.minimum(ends - starts, max_len)
    if (lengths < 0).any():
        raise ValueError("history_index: an end lies before its start")
    j = np.arange(max_len)[None, :]
    mask = j < lengths[:, None]
    idx = np.where(mask, (ends - lengths)[:, None] + j, 0)
    return idx, lengths, mask


class LazyHistory:
    """A read-only ``[N, T]`` history column that pads its rows only when they are read.

    Full-scale data cannot hold every padded history: Taobao's ~85M next-item rows at T = 50
    are ~34 GB per int64 column. A ``LazyHistory`` keeps one value per *event* of the
    user/time-sorted log (``values``, e.g. the item of each event) plus, per row, where its
    history ends in that log (``ends``, exclusive) and its length (``lengths``, already cut to
    ``width``); row ``b`` is ``values[ends[b] - lengths[b]:ends[b]]`` right-padded with 0, as
    :func:`history_index` builds it. With ``ref`` (one float per row) it is the gap column
    ``ref[b] - values[...]`` (BST's ``hist_gaps``), float32.

    ``column[rows]`` (an int, slice, int array or bool mask, optionally with a column index
    after it) returns a plain numpy array exactly like indexing the eager ``[N, T]`` array, so
    ``batches.iterate`` gathers the padded windows of one mini-batch and the models see the
    batch contract unchanged; ``np.asarray(column)`` pads everything (small data only).
    """

    def __init__(self, values: np.ndarray, ends: np.ndarray, lengths: np.ndarray, width: int,
                 ref: np.ndarray | None = None):
        self.values, self.ends, self.lengths = values, ends, lengths
        self.width, self.ref = int(width), ref
        if len(ends) != len(lengths) or (ref is not None and len(ref) != len(ends)):
            raise ValueError(f"LazyHistory: ends ({len(ends)}), lengths ({len(lengths)}) and "
                             f"ref ({None if ref is None else len(ref)}) must have one entry "
                             "per row")
        self.dtype = np.dtype(np.float32 if ref is not None else np.int64)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.ends), self.width)

    ndim = 2

    def __len__(self) -> int:
        return len(self.ends)

    def __repr__(self):
        return f"LazyHistory(shape={self.shape}, dtype={self.dtype})"

    def _cells(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Values at (rows, cols) (broadcast), 0 at padding."""
        L = self.lengths[rows]
        mask = cols < L
        pos = np.where(mask, self.ends[rows] - L + cols, 0)
        v = self.values[pos]
        if self.ref is not None:
            v = self.ref[rows] - v
        return np.where(mask, v, 0).astype(self.dtype, copy=False)

    def _rows(self, key) -> np.ndarray:
        n = len(self.ends)
        if isinstance(key, slice):
            return np.arange(*key.indices(n))
        key = np.asarray(key)
        if key.dtype == bool:
            if key.shape != (n,):
                raise IndexError(f"boolean row mask of shape {key.shape} for {n} rows")
            return np.flatnonzero(key)
        if key.dtype.kind not in "iu":
            raise IndexError(f"LazyHistory rows must be ints, a slice or a bool mask, got "
                             f"{key.dtype}")
        if key.size and (key.max() >= n or key.min() < -n):
            raise IndexError(f"row index out of range for {n} rows")
        return np.where(key < 0, key + n, key)

    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        scalar = np.ndim(key) == 0 and not isinstance(key, slice)
        rows = self._rows(key)
        if rest and not isinstance(rest[0], slice) and np.ndim(rest[0]) > 0:
            # advanced indexing on both axes: numpy pairs the indices point by point
            cols = np.asarray(rest[0])
            cols = np.where(cols < 0, cols + self.width, cols)
            r, c = np.broadcast_arrays(rows, cols)
            return self._cells(r, c)
        out = self._cells(rows[..., None], np.arange(self.width))
        return out[(() if scalar else (slice(None),)) + rest] if rest else out

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype)


def contract_dtype(value) -> np.ndarray:
    """The data contract's dtypes, for either framework: ids int64, reals float32, bools kept."""
    value = np.asarray(value)
    if value.dtype.kind in "iu":
        return value.astype(np.int64, copy=False)
    if value.dtype.kind == "f":
        return value.astype(np.float32, copy=False)
    return value


def iterate(arrays: dict, batch_size: int, shuffle: bool = False, seed=None,
            drop_last: bool = False) -> Iterator[dict]:
    """Yield dict slices of ``arrays`` (all sharing their first dimension) of ``batch_size`` rows.

    ``shuffle`` permutes the rows once per call with ``np.random.default_rng(seed)``; the last,
    smaller batch is kept unless ``drop_last``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    sizes = {k: len(v) for k, v in arrays.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"iterate: arrays disagree on their first dimension: {sizes}")
    n = next(iter(sizes.values()), 0)
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for i in range(0, stop, batch_size):
        rows = order[i:i + batch_size]
        yield {k: v[rows] for k, v in arrays.items()}


def subsample(split: dict, n: int | None = None, frac: float | None = None, seed: int = 0) -> dict:
    """A fixed random part of a split's rows (every array of the dict alike), order kept.

    ``n``: exactly that many rows, drawn without replacement (the whole split when it has at
    most ``n``); ``frac``: each row kept with that probability (None or 1: all rows). Give one of
    the two. The draw depends on ``seed`` only, so every model and seed of a comparison trains
    on the same rows; chapters use it to keep a real dataset inside their CPU budget."""
    if (n is None) == (frac is None):
        raise ValueError("give exactly one of n (a row count) and frac (a fraction)")
    sizes = {k: len(v) for k, v in split.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"the split's arrays differ in length: {sizes}")
    total = next(iter(sizes.values()))
    rng = np.random.default_rng(seed)
    if frac is not None:
        if frac == 1:
            return split
        if not 0 < frac < 1:
            raise ValueError(f"frac must be in (0, 1], got {frac}")
        keep = rng.random(total) < frac
    else:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if n >= total:
            return dict(split)
        keep = np.sort(rng.choice(total, n, replace=False))
    return {k: v[keep] for k, v in split.items()}


def _id_range(key: str, meta: Meta) -> int | None:
    if key == "user":
        return meta.n_users
    if key in ITEM_KEYS:
        return meta.n_items
    if key in CAT_KEYS:
        return meta.n_cats
    return meta.profile.get(key)


class Prepared(dict):
    """A batch that a model's ``prepare`` validated (for the keys in ``checked``) and converted
    to tensors. ``prepare`` hands it back unchanged when it covers the keys asked for, so a batch
    is checked once per step however many methods (``loss`` -> ``forward``) it passes through."""

    def __init__(self, tensors=(), checked=(), rows: int | None = None):
        super().__init__(tensors)
        self.checked, self.rows = frozenset(checked), rows

    def covers(self, keys) -> bool:
        return self.checked.issuperset(keys)


def batch_statistics_error(n_rows: int, layers) -> ValueError:
    """The refusal of a training step that a batch-statistics layer (Dice, batch norm) cannot
    take: its mean and variance are those of the rows, and one row has variance 0 (none, NaN),
    so the normalised input is 0 and the running variance decays towards 0 (as torch's BatchNorm
    refuses with 'Expected more than 1 value per channel when training')."""
    names = ", ".join(sorted(set(layers))) or "Dice"
    what = "no row (its mean and variance are NaN)" if n_rows == 0 else \
        f"{n_rows} row (its variance is 0)"
    return ValueError(f"batch size {n_rows} in training mode: the layers {names} normalise by "
                      f"the statistics of the batch's rows, and this batch has {what}; the gate "
                      "would stop adapting and the running statistics would be corrupted for "
                      "evaluation. Train with batch_size >= 2 (iterate(..., drop_last=True) "
                      "drops a last batch of 1 row)")


def check_rows(n_rows: int, batch_stats=()) -> None:
    """Refuse an empty batch, and a 1-row batch when ``batch_stats`` names layers that normalise
    by the batch's statistics in training mode (pass () when evaluating)."""
    if n_rows == 0:
        raise ValueError("batch size 0: an empty batch has no loss or output (a mean over 0 "
                         "rows is NaN) and would write NaN into batch statistics; give at "
                         "least one row")
    if batch_stats and n_rows < 2:
        raise batch_statistics_error(n_rows, batch_stats)


def _first_bad(a: np.ndarray, bad: np.ndarray):
    return a[bad].flat[0].item()


def validate(batch: dict, meta: Meta, keys: Iterable[str] | None = None,
             max_len: int | None = None, batch_stats=()) -> int | None:
    """Check a batch against the data contract; raise on the first problem; return B.

    What is refused, and why (each message names the key, what was expected, what was found):

    - a batch that is not a dict (a ``Dataset``, a DataFrame, a list): ``TypeError``;
    - a missing key among ``keys`` (default: every key in the batch): ``KeyError``;
    - ids that are not integers, floats (``label``, ``hist_gaps``) that are not floats, flags
      that are not bools, a wrong rank, batch sizes or history widths that disagree;
    - an id outside 0..n (1..n for a target: a target is never padding) -- it would read
      another table's row or past the table;
    - ``hist_len`` outside 0..T or above ``max_len`` (defaults to ``meta.max_len``): pooling
      would average padding in, or take a history as empty;
    - histories that are not right-padded (0 inside, ids after ``hist_len``), gaps that are
      negative, NaN or nonzero at padding;
    - a ``label`` outside {0, 1} (2, 0.5, -1, NaN): binary cross-entropy would train on it
      without complaint;
    - an empty batch (0 rows: a mean over no row is NaN), and a batch of 1 row when
      ``batch_stats`` names the layers that normalise by batch statistics in training mode.

    Values may be numpy arrays or eager torch/TensorFlow tensors (copied to the host once for the
    check: the checks are min/max reductions and one comparison per history key). Keys the
    contract does not know are not checked; the models ignore them too (they convert only the
    keys they read).
    """
    if not isinstance(batch, Mapping):
        raise TypeError(f"a batch must be a dict of arrays (key -> [B] or [B, T]), got "
                        f"{type(batch).__name__}")
    keys = list(batch) if keys is None else list(keys)
    max_len = meta.max_len if max_len is None else max_len
    for k in keys:
        if k not in batch:
            raise KeyError(f"batch is missing key {k!r} (has {sorted(batch)})")

    # dtype kind and rank
    B = T = None
    arrs = {}
    for k in keys:
        rng = _id_range(k, meta)
        if rng is None and k not in FLOAT_KEYS + BOOL_KEYS + ("hist_len",):
            continue  # not part of the contract (e.g. a truth list or session id)
        a = arrs[k] = to_numpy(batch[k])
        if (rng is not None or k == "hist_len") and a.dtype.kind not in "iu":
            raise ValueError(f"batch[{k!r}] must hold integer ids, got dtype {a.dtype}")
        if k in FLOAT_KEYS and a.dtype.kind != "f":
            raise ValueError(f"batch[{k!r}] must be float (float32), got dtype {a.dtype}")
        if k in BOOL_KEYS and a.dtype.kind != "b":
            raise ValueError(f"batch[{k!r}] must be bool, got dtype {a.dtype}")
        want = 2 if k in HIST_KEYS + ("hist_gaps", "relevant") else 1
        if a.ndim != want:
            shape = "[B, T]" if want == 2 else "[B]"
            raise ValueError(f"batch[{k!r}] must have shape {shape}, got {a.shape}")
        if B is None:
            B, b_key = a.shape[0], k
        elif a.shape[0] != B:
            raise ValueError(f"batch[{k!r}] has batch size {a.shape[0]}, but "
                             f"batch[{b_key!r}] has {B}")
        if want == 2:
            if T is None:
                T, t_key = a.shape[1], k
            elif a.shape[1] != T:
                raise ValueError(f"batch[{k!r}] has history width {a.shape[1]}, but "
                                 f"batch[{t_key!r}] has T={T}")
    if B is not None:
        check_rows(B, batch_stats)

    # value ranges: min/max reductions; the offending value is looked up only on failure
    for k, a in arrs.items():
        rng = _id_range(k, meta)
        if rng is None or a.size == 0:
            continue
        lo = 1 if k in TARGET_KEYS else 0
        if a.min() < lo or a.max() > rng:
            raise ValueError(f"batch[{k!r}] holds id {_first_bad(a, (a < lo) | (a > rng))}, "
                             f"allowed range {lo}..{rng}" +
                             (" (0 is padding)" if lo == 0 else " (a target is never padding)"))
    if "label" in arrs:
        a = arrs["label"]
        ok = (a == 0) | (a == 1)
        if not ok.all():
            raise ValueError(f"batch['label'] must be 0 or 1 (a click label), found "
                             f"{_first_bad(a, ~ok)}")

    if "hist_len" in arrs:
        L = arrs["hist_len"]
        width = T if T is not None else max_len
        if L.size and (L.min() < 0 or L.max() > width):
            bad = L[(L < 0) | (L > width)][0]
            raise ValueError(f"batch['hist_len'] holds {int(bad)}, allowed range 0..T={width}")
        if L.size and L.max() > max_len:
            raise ValueError(f"batch['hist_len'] holds {int(L.max())}: a history longer than "
                             f"max_len={max_len}")
        if T is not None:
            mask = np.arange(T)[None, :] < L[:, None]
            for k in HIST_KEYS:
                if k not in arrs:
                    continue
                a = arrs[k]
                real = a != 0
                if np.array_equal(real, mask):
                    continue  # the common case: one comparison, no gather
                if (mask & ~real).any():
                    b = tuple(int(i) for i in np.argwhere(mask & ~real)[0])
                    raise ValueError(f"batch[{k!r}] is 0 (padding) at real position {b} "
                                     f"(hist_len={L[b[0]]}); real behaviours need ids >= 1")
                b = tuple(int(i) for i in np.argwhere(~mask & real)[0])
                raise ValueError(f"batch[{k!r}] is {a[b]} at padded position "
                                 f"{b} (hist_len={L[b[0]]}); histories are "
                                 f"right-padded with 0")
            if "hist_gaps" in arrs:
                g = arrs["hist_gaps"]
                if not np.isfinite(g).all() or (g[mask] < 0).any() or (g[~mask] != 0).any():
                    raise ValueError("batch['hist_gaps'] must be finite seconds >= 0 at real "
                                     "positions and 0 at padding")
            if "relevant" in arrs and (arrs["relevant"] & ~mask).any():
                raise ValueError("batch['relevant'] is True at a padded position")
    return B


def id_counts(train: dict, meta) -> dict[str, np.ndarray]:
    """DIN's n_j (mini-batch aware regularisation, eq. 4): in how many training samples each id
    occurs (at least once).

    Items and categories count the target and the history together (they share one table);
    each profile feature counts its own column. Returns float32 arrays of length n + 1, with
    a floor of 1 so that an id never seen in training cannot divide by zero.
    """
    def per_sample(ids, n):  # count an id once per row, however often it repeats there
        s = np.sort(ids, axis=1)
        first = np.ones_like(s, dtype=bool)
        first[:, 1:] = s[:, 1:] != s[:, :-1]
        return np.bincount(s[first & (s > 0)], minlength=n + 1)

    counts = {"item": np.zeros(meta.n_items + 1, np.int64),
              "cat": np.zeros(meta.n_cats + 1, np.int64)}
    n, chunk = len(train["target_item"]), 1 << 16  # chunks: histories may be a LazyHistory
    for i in range(0, n, chunk):
        for name, target, hist, size in (("item", "target_item", "hist_items", meta.n_items),
                                         ("cat", "target_cat", "hist_cats", meta.n_cats)):
            ids = np.concatenate([np.asarray(train[target][i:i + chunk])[:, None],
                                  np.asarray(train[hist][i:i + chunk])], axis=1)
            counts[name] += per_sample(ids, size)
    for f, n in meta.profile.items():
        counts[f] = np.bincount(train[f], minlength=n + 1)
    return {k: np.maximum(v, 1).astype(np.float32) for k, v in counts.items()}
