"""From an event log (+ users table + Meta) to model inputs; splits; GRU4Rec sessions.

Generic over datasets: a dataset gives ``events`` (DataFrame: user, item, time; sorted or not),
``users`` (DataFrame: user + one column per profile feature named in ``meta.profile``) and
``meta``. The built-in synthetic data adds CTR impressions and ground truth; a real dataset has
no impressions, so each positive next item gets one sampled negative target (as the official
DIN and DIEN code do).

Every output is a dict of numpy arrays keyed as in CONTRIBUTING.md, histories of width
``max_len`` (right-padded, most recent last).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from .batches import LazyHistory, history_index
from .meta import Meta

# name -> (module, variant): the real datasets, loaded lazily (see recbook/data/fetch.py)
REAL_DATASETS = {"movielens-100k": ("movielens100k", None), "movielens-1m": ("movielens", None),
                 "amazon-books": ("amazon", "Books"),
                 "amazon-electronics": ("amazon", "Electronics"), "taobao": ("taobao", None),
                 "yoochoose": ("yoochoose", None)}
DATASETS = ("synthetic",) + tuple(REAL_DATASETS)
# compact="auto" keeps histories as LazyHistory columns above this many [N, T] cells (2**24:
# 128 MiB per int64 column); below it they are padded arrays, as the built-in data always is
COMPACT_CELLS = 1 << 24


# ----------------------------------------------------------------------------- helpers
def sort_events(events: pd.DataFrame) -> pd.DataFrame:
    """Events sorted by user then time (stable, so equal times keep their log order)."""
    for col in ("user", "item", "time"):
        if col not in events:
            raise KeyError(f"events need a {col!r} column (have {list(events.columns)})")
    return events.sort_values(["user", "time"], kind="stable").reset_index(drop=True)


def shuffle_ties(events: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Events sorted by user then time, a user's events with EQUAL times in a random order
    drawn from ``seed``.

    Logs often list a user's simultaneous events by item id (MovieLens: many ratings share a
    second); kept that way, "the next item has a larger id" is a pattern a sequential model
    can learn and a test split rewards. Here the rows are first put in a canonical order
    (user, time, item), so the result does not depend on the file's row order, then permuted
    by ``seed`` and stably sorted by (user, time): within a tie the order is uniformly random,
    the same for the same seed and data. Later sorts (:func:`sort_events`) are stable and keep it.
    """
    ev = sort_events(events).sort_values(["user", "time", "item"], kind="stable")
    perm = np.random.default_rng(seed).permutation(len(ev))
    return ev.iloc[perm].sort_values(["user", "time"], kind="stable").reset_index(drop=True)


def _profile(users: pd.DataFrame | None, meta: Meta, user: np.ndarray) -> dict:
    """Profile feature arrays for ``user`` ids (0 where a user or feature is unknown)."""
    out = {}
    for name in meta.profile:
        table = np.zeros(meta.n_users + 1, dtype=np.int64)
        if users is not None:
            if name not in users:
                raise KeyError(f"users table lacks profile feature {name!r} named in meta.profile")
            table[users.user.to_numpy()] = users[name].to_numpy()
        out[name] = table[user]
    return out


class NegativeSampler:
    """Draws items a user never clicked, by popularity (event count), as DIEN's official code.

    Never returns padding (0) nor any item in the user's event log.
    """

    def __init__(self, events: pd.DataFrame, n_items: int, seed=0):
        self.n_items = n_items
        self.rng = np.random.default_rng(seed)
        counts = np.bincount(events.item.to_numpy(), minlength=n_items + 1).astype(float)
        counts[0] = 0.0
        counts[counts == 0] = 0.5  # unseen items stay possible
        counts[0] = 0.0
        self.cdf = np.cumsum(counts)
        self.clicked = np.unique(events.user.to_numpy().astype(np.int64) * (n_items + 1)
                                 + events.item.to_numpy())

    def _seen(self, user, item):
        key = user * (self.n_items + 1) + item
        pos = np.minimum(np.searchsorted(self.clicked, key), len(self.clicked) - 1)
        return self.clicked[pos] == key

    def sample(self, user: np.ndarray) -> np.ndarray:
        """One never-clicked item per entry of ``user`` (any shape)."""
        user = np.asarray(user, dtype=np.int64)
        out = np.zeros(user.shape, dtype=np.int64)
        todo = np.ones(user.shape, dtype=bool)
        for _ in range(50):
            n = todo.sum()
            if n == 0:
                return out
            draw = np.searchsorted(self.cdf, self.rng.random(n) * self.cdf[-1], side="right")
            draw = np.minimum(np.maximum(draw, 1), self.n_items)
            good = ~self._seen(user[todo], draw)
            idx = np.flatnonzero(todo.ravel())[good]
            out.flat[idx] = draw[good]
            todo.flat[idx] = False
        for i in np.flatnonzero(todo.ravel()):  # a user who clicked nearly everything
            free = np.setdiff1d(np.arange(1, self.n_items + 1),
                                self.clicked[self.clicked // (self.n_items + 1)
                                             == user.flat[i]] % (self.n_items + 1))
            if len(free) == 0:
                raise ValueError(f"user {user.flat[i]} clicked every item: no negative exists")
            out.flat[i] = self.rng.choice(free)
        return out


def _compact(compact, n_rows: int, max_len: int) -> bool:
    if compact == "auto":
        return n_rows * max_len > COMPACT_CELLS
    if not isinstance(compact, bool):
        raise ValueError(f"compact must be True, False or 'auto', got {compact!r}")
    return compact


def _ids32(ids: np.ndarray, largest: int) -> np.ndarray:
    """A copy of ``ids`` in int32 (half the memory of int64; batches are cast back)."""
    return np.array(ids, dtype=np.int32 if largest < 2**31 else np.int64)


def _histories(ev: pd.DataFrame, meta: Meta, ends: np.ndarray, user: np.ndarray,
               t: np.ndarray | None, max_len: int, compact: bool = False) -> dict:
    """History arrays for the events of ``user`` in ``ev`` before row ``ends`` (exclusive);
    ``compact``: :class:`LazyHistory` columns over the log instead of padded arrays."""
    starts = np.searchsorted(ev.user.to_numpy(), user, side="left")
    if compact:
        ends = np.asarray(ends, dtype=np.int64)
        hlen = np.minimum(ends - starts, max_len)
        if (hlen < 0).any():
            raise ValueError("history: an end lies before its start")
        # per-event copies (never views that would keep the sorted frame alive), ids as int32
        items = _ids32(ev.item.to_numpy(), meta.n_items)
        out = {"hist_items": LazyHistory(items, ends, hlen, max_len),
               "hist_cats": LazyHistory(_ids32(meta.item_cat[items], meta.n_cats), ends, hlen,
                                        max_len),
               "hist_len": hlen}
        if t is not None:  # int64 differences, then float32: the eager path's numbers
            out["hist_gaps"] = LazyHistory(ev.time.to_numpy().copy(), ends, hlen, max_len,
                                           ref=np.asarray(t))
        return out
    idx, hlen, mask = history_index(starts, ends, max_len)
    items = np.where(mask, ev.item.to_numpy()[idx], 0)
    out = {"hist_items": items, "hist_cats": np.where(mask, meta.item_cat[items], 0),
           "hist_len": hlen}
    if t is not None:
        gaps = (t[:, None] - ev.time.to_numpy()[idx]).astype(np.float32)
        out["hist_gaps"] = np.where(mask, gaps, np.float32(0))
    return out


# ----------------------------------------------------------------------------- CTR
def impressions_from_events(events: pd.DataFrame, meta: Meta, seed=0,
                            min_hist: int = 1) -> pd.DataFrame:
    """For a dataset without impressions: each event with ``min_hist`` earlier events is a
    positive (label 1) and gets one never-clicked item at the same time as negative (label 0).
    Returns a DataFrame (user, time, item, label) sorted by user then time.
    """
    ev = sort_events(events)
    rank = ev.groupby("user").cumcount().to_numpy()
    pos = ev[rank >= min_hist]
    neg_items = NegativeSampler(ev, meta.n_items, seed).sample(pos.user.to_numpy())
    table = pd.concat([pos[["user", "time", "item"]].assign(label=1),
                       pos[["user", "time"]].assign(item=neg_items, label=0)])
    return table.sort_values(["user", "time"], kind="stable").reset_index(drop=True)


def ctr_samples(events: pd.DataFrame, impressions: pd.DataFrame, meta: Meta,
                users: pd.DataFrame | None = None, max_len: int | None = None, seed=0,
                relevance: Callable | None = None, neg_sampler: NegativeSampler | None = None,
                compact: bool | str = "auto") -> dict[str, np.ndarray]:
    """CTR batch arrays, one row per impression (user, time, item, label).

    The history of an impression at time t is the user's last ``max_len`` events with time < t
    (never the present or the future). ``neg_hist_items`` holds, per real history step, an item
    the user never clicked (popularity-sampled, seeded). ``relevance(hist_cats, hist_gaps,
    hist_len, target_cat) -> bool [B, T]`` adds the ground-truth ``relevant`` key.

    ``compact`` (True / False / "auto": above ``COMPACT_CELLS`` history cells) keeps the
    history keys as :class:`~recbook.data.batches.LazyHistory` columns over the event log,
    padded per mini-batch: the same batches, in O(events + rows) memory instead of
    O(rows x max_len). Compact negatives are drawn once per *event* of the log (each event
    keeps its never-clicked partner in every history that holds it) instead of once per
    history cell; the eager ones stay as they were.
    """
    max_len = meta.max_len if max_len is None else max_len
    ev = sort_events(events)
    for col in ("user", "time", "item", "label"):
        if col not in impressions:
            raise KeyError(f"impressions need a {col!r} column (have {list(impressions.columns)})")
    user = impressions.user.to_numpy().astype(np.int64)
    t = impressions.time.to_numpy().astype(np.int64)
    # first event of the user at or after t: a composite (user, time) key keeps it one search
    t0 = min(ev.time.min(), t.min()) if len(ev) and len(t) else 0
    span = int(max(ev.time.max(), t.max()) - t0 + 2) if len(ev) and len(t) else 1
    ekey = ev.user.to_numpy().astype(np.int64) * span + (ev.time.to_numpy() - t0)
    ends = np.searchsorted(ekey, user * span + (t - t0), side="left")
    out = {"user": user, **_profile(users, meta, user)}
    target = impressions.item.to_numpy().astype(np.int64)
    out["target_item"], out["target_cat"] = target, meta.item_cat[target]
    lazy = _compact(compact, len(user), max_len)
    out.update(_histories(ev, meta, ends, user, t, max_len, lazy))
    sampler = neg_sampler or NegativeSampler(ev, meta.n_items, seed)
    if lazy:
        neg = _ids32(sampler.sample(ev.user.to_numpy()), meta.n_items)  # one per event
        hlen = out["hist_len"]
        out["neg_hist_items"] = LazyHistory(neg, ends, hlen, max_len)
        out["neg_hist_cats"] = LazyHistory(_ids32(meta.item_cat[neg], meta.n_cats), ends, hlen,
                                           max_len)
    else:
        mask = np.arange(max_len)[None, :] < out["hist_len"][:, None]
        neg = np.where(mask, sampler.sample(np.broadcast_to(user[:, None], mask.shape)), 0)
        out["neg_hist_items"], out["neg_hist_cats"] = neg, np.where(mask, meta.item_cat[neg], 0)
    out["label"] = impressions.label.to_numpy().astype(np.float32)
    if relevance is not None:
        out["relevant"] = np.asarray(relevance(*(np.asarray(out[k]) for k in (
            "hist_cats", "hist_gaps", "hist_len", "target_cat"))), dtype=bool)
    return out


# ----------------------------------------------------------------------------- splits
def split_last(table: pd.DataFrame, n_valid: int = 1, n_test: int = 1, by: str = "time"):
    """Leave-last-out by time per user: the user's last ``n_test`` distinct ``by`` values go to
    test, the ``n_valid`` before them to valid, the rest to train (all rows sharing a time, e.g.
    a page of candidates or a positive and its negative, stay together).
    Returns ``(train, valid, test)`` DataFrames.
    """
    distinct = table[["user", by]].drop_duplicates()
    rank = distinct.groupby("user")[by].rank(method="first", ascending=False).astype(int) - 1
    part = np.where(rank < n_test, 2, np.where(rank < n_test + n_valid, 1, 0))
    lookup = pd.Series(part, index=pd.MultiIndex.from_frame(distinct))
    which = lookup.reindex(pd.MultiIndex.from_frame(table[["user", by]])).to_numpy()
    return tuple(table[which == k].reset_index(drop=True) for k in range(3))


def _fractions(**named) -> None:
    """Split fractions: each in [0, 1], summing to at most 1 (a fraction over 1, a negative
    one or a total over 1 would silently cut wrong or empty splits)."""
    for k, v in named.items():
        if not isinstance(v, (int, float, np.integer, np.floating)) or not 0 <= v <= 1:
            raise ValueError(f"split fraction {k}={v!r} must be a number in [0, 1]")
    if sum(named.values()) > 1 + 1e-9:
        raise ValueError(f"split fractions {named} sum to {sum(named.values()):.6g} > 1")


def split_users(users: np.ndarray, fractions=(0.8, 0.1, 0.1), seed=0):
    """Users shuffled by ``seed`` and cut into train / valid / test (ComiRec: 8:1:1);
    ``fractions``: three numbers in [0, 1] summing to 1."""
    if len(fractions) != 3:
        raise ValueError(f"fractions must be (train, valid, test), got {fractions!r}")
    _fractions(**dict(zip(("train", "valid", "test"), fractions)))
    if abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"fractions {tuple(fractions)} must sum to 1, not {sum(fractions):.6g}")
    users = np.random.default_rng(seed).permutation(np.unique(users))
    cut = np.cumsum(np.round(np.asarray(fractions) / sum(fractions) * len(users)).astype(int))
    return users[:cut[0]], users[cut[0]:cut[1]], users[cut[1]:]


# ----------------------------------------------------------------------------- next item
def next_item_samples(events: pd.DataFrame, meta: Meta, users: pd.DataFrame | None = None,
                      max_len: int | None = None, positions: np.ndarray | None = None,
                      min_hist: int = 1, compact: bool | str = "auto") -> dict[str, np.ndarray]:
    """History -> next item, for retrieval models.

    One row per event at ``positions`` (row numbers of the user/time-sorted ``events``; default
    every event with at least ``min_hist`` earlier events): ``target_item``/``target_cat`` is
    that event, the history is the user's last ``max_len`` events before it. ``compact``: as
    in :func:`ctr_samples` (lazy history columns, the same batches).
    """
    max_len = meta.max_len if max_len is None else max_len
    ev = sort_events(events)
    if positions is None:
        positions = np.flatnonzero(ev.groupby("user").cumcount().to_numpy() >= min_hist)
    positions = np.asarray(positions, dtype=np.int64)
    user = ev.user.to_numpy()[positions].astype(np.int64)
    target = ev.item.to_numpy()[positions].astype(np.int64)
    out = {"user": user, **_profile(users, meta, user), "target_item": target,
           "target_cat": meta.item_cat[target]}
    out.update(_histories(ev, meta, positions, user, ev.time.to_numpy()[positions], max_len,
                          _compact(compact, len(positions), max_len)))
    return out


def prefix_samples(events: pd.DataFrame, meta: Meta, eval_users: np.ndarray,
                   users: pd.DataFrame | None = None, max_len: int | None = None,
                   prefix: float = 0.8) -> dict[str, np.ndarray]:
    """ComiRec's evaluation: each eval user's first ``int(n * prefix)`` events (the last
    ``max_len`` of them) are the history; all later events are the ground truth:
    ``truth_items`` int64 [B, M] right-padded with 0 and ``truth_len`` [B]. ``target_item`` is
    the first truth item. Users with fewer than 2 events are left out.
    """
    max_len = meta.max_len if max_len is None else max_len
    ev = sort_events(events)
    ev = ev[ev.user.isin(eval_users)].reset_index(drop=True)
    n = ev.groupby("user").size()
    n = n[n >= 2]
    ev = ev[ev.user.isin(n.index)].reset_index(drop=True)
    starts = np.searchsorted(ev.user.to_numpy(), n.index.to_numpy())
    k = np.maximum((n.to_numpy() * prefix).astype(np.int64), 1)
    k = np.minimum(k, n.to_numpy() - 1)  # at least one truth item
    first_truth = starts + k
    out = next_item_samples(ev, meta, users, max_len, positions=first_truth)
    M = int((n.to_numpy() - k).max()) if len(n) else 0
    j = np.arange(M)[None, :]
    tlen = n.to_numpy() - k
    tmask = j < tlen[:, None]
    out["truth_items"] = np.where(tmask, ev.item.to_numpy()[np.where(tmask, first_truth[:, None]
                                                                     + j, 0)], 0)
    out["truth_len"] = tlen.astype(np.int64)
    return out


# ----------------------------------------------------------------------------- sessions
def sessions(events: pd.DataFrame, gap: float = 1800.0, min_len: int = 2) -> pd.DataFrame:
    """Sessions for GRU4Rec: DataFrame (session, item, time) sorted by session then time.

    Uses the ``session`` column when present, else starts a new session when the user changes
    or more than ``gap`` seconds pass. Sessions shorter than ``min_len`` are dropped (they hold
    no next-item step); ids are renumbered 1..S by session start time.
    """
    ev = sort_events(events)
    if "session" in ev:
        sid = ev.session.to_numpy()
    else:
        u, t = ev.user.to_numpy(), ev.time.to_numpy()
        new = np.ones(len(ev), dtype=bool)
        new[1:] = (u[1:] != u[:-1]) | (t[1:] - t[:-1] > gap)
        sid = np.cumsum(new)
    df = pd.DataFrame({"session": sid, "item": ev.item.to_numpy(), "time": ev.time.to_numpy()})
    return _renumber(df, min_len)


def _renumber(df: pd.DataFrame, min_len: int) -> pd.DataFrame:
    size = df.groupby("session").item.transform("size")
    df = df[size >= min_len]
    start = df.groupby("session").time.transform("min")
    df = df.assign(_start=start).sort_values(["_start", "session", "time"], kind="stable")
    new = np.ones(len(df), dtype=bool)
    new[1:] = df.session.to_numpy()[1:] != df.session.to_numpy()[:-1]
    return pd.DataFrame({"session": np.cumsum(new), "item": df.item.to_numpy(),
                         "time": df.time.to_numpy()})


def split_sessions(sess: pd.DataFrame, valid: float = 0.1, test: float = 0.1,
                   min_len: int = 2):
    """Split sessions by time (as GRU4Rec's official preprocessing): sessions ending in the last
    ``test`` fraction of end times go to test, the ``valid`` fraction before to valid. Items never
    seen in train are removed from valid/test, then sessions shorter than ``min_len`` dropped.
    """
    _fractions(valid=valid, test=test)
    if valid + test >= 1:
        raise ValueError(f"valid={valid} + test={test} leaves no sessions to train on")
    if sess.empty:
        raise ValueError("no session to split: nothing left after filtering")
    end = sess.groupby("session").time.max()
    q_valid, q_test = np.quantile(end.to_numpy(), [1 - valid - test, 1 - test])
    part = np.where(end >= q_test, 2, np.where(end >= q_valid, 1, 0))
    which = pd.Series(part, index=end.index).reindex(sess.session).to_numpy()
    train = _renumber(sess[which == 0], min_len)
    known = set(train.item.unique())
    rest = [_renumber(sess[(which == k) & sess.item.isin(known)], min_len) for k in (1, 2)]
    return train, rest[0], rest[1]


class SessionParallelBatches:
    """GRU4Rec's session-parallel mini-batches (Hidasi et al. 2016, Sec. 3.1.1).

    Each of the ``batch_size`` rows works through one session, one event per step. A step is
    ``{"input_item": [b], "target_item": [b], "reset": bool [b], "session": [b],
    "state_index": int64 [b], "full_size": int64 []}``: the target is the next event of the same
    session, ``reset`` marks rows whose session just started (zero their hidden state), row r
    continues the hidden state of row ``state_index[r]`` of the previous step, and ``full_size``
    is ``batch_size`` (the loss divides its sum over the rows by it, as the official code does).
    When a row's session has no next event, the next unseen session takes the row.

    The end of an epoch: once no unseen session is left, a row whose session ends leaves the
    batch (b shrinks, ``state_index`` says which rows remain) until every session is finished,
    so an epoch trains on every next-item event exactly once (the official PyTorch code,
    hidasib/GRU4Rec_PyTorch_Official). ``shrink=False`` instead stops as soon as a row needs a
    session and none is left (the ICLR'16 Theano code): the sessions still running lose their
    tails, always the same most recent events when ``shuffle=False``. ``min_rows``: also stop
    once fewer rows are left (2 when training without extra samples: a lone row has no
    negative; the official code stops there then). ``shuffle`` permutes the session order at
    each pass (epoch) with a generator seeded once by ``seed``: epochs differ, runs repeat.
    """

    def __init__(self, sess: pd.DataFrame, batch_size: int, shuffle: bool = False, seed=None,
                 shrink: bool = True, min_rows: int = 1):
        sess = sess.sort_values(["session", "time"], kind="stable")
        sid = sess.session.to_numpy()
        self.items = sess.item.to_numpy().astype(np.int64)
        self.session_ids = sid
        new = np.ones(len(sid), dtype=bool)
        new[1:] = sid[1:] != sid[:-1]
        self.offsets = np.append(np.flatnonzero(new), len(sid))
        n_sess = len(self.offsets) - 1
        if (np.diff(self.offsets) < 2).any():
            raise ValueError("every session needs >= 2 events; drop shorter ones with "
                             "sessions(..., min_len=2)")
        if not 1 <= batch_size <= n_sess:
            raise ValueError(f"batch_size must be in 1..n_sessions={n_sess}, got {batch_size}")
        if not 1 <= min_rows <= batch_size:
            raise ValueError(f"min_rows must be in 1..batch_size={batch_size}, got {min_rows}")
        self.batch_size, self.shuffle, self.shrink, self.min_rows = (batch_size, shuffle,
                                                                     shrink, min_rows)
        self.rng = np.random.default_rng(seed)

    def _order(self):
        n = len(self.offsets) - 1
        return self.rng.permutation(n) if self.shuffle else np.arange(n)

    def __iter__(self) -> Iterator[dict]:
        order = self._order()
        B = self.batch_size
        pos = self.offsets[order[:B]].copy()
        end = self.offsets[order[:B] + 1].copy()
        nxt = B  # index into order of the next unseen session
        reset, rows, full = np.ones(B, dtype=bool), np.arange(B), np.int64(B)
        while True:
            yield {"input_item": self.items[pos], "target_item": self.items[pos + 1],
                   "reset": reset, "session": self.session_ids[pos], "state_index": rows,
                   "full_size": full}
            pos = pos + 1
            done = np.flatnonzero(pos + 1 >= end)  # no target left: the row needs a session
            fill = done[:len(order) - nxt]  # the first finished rows get the unseen sessions
            reset = np.zeros(len(pos), dtype=bool)
            reset[fill] = True
            pos[fill] = self.offsets[order[nxt:nxt + len(fill)]]
            end[fill] = self.offsets[order[nxt:nxt + len(fill)] + 1]
            nxt += len(fill)
            if len(fill) == len(done):
                rows = np.arange(len(pos))
                continue
            if not self.shrink:
                return
            rows = np.setdiff1d(np.arange(len(pos)), done[len(fill):])  # the rows that go on
            if len(rows) < self.min_rows:
                return
            pos, end, reset = pos[rows], end[rows], reset[rows]


# ----------------------------------------------------------------------------- loaders
@dataclass
class Dataset:
    """What every chapter loads: ``train``/``valid``/``test`` (dicts of numpy arrays, or
    DataFrames for sessions), ``meta``, and ``source`` (the SyntheticData with its ground truth
    for the built-in dataset, else None)."""

    name: str
    train: object
    valid: object
    test: object
    meta: Meta
    source: object = None


@dataclass
class RealData:
    """A real dataset after its paper's official preprocessing, shaped like SyntheticData.

    ``events`` (user, item, time [, session]), ``users`` (user + profile columns, or None),
    ``meta``; ``vocab`` maps each id back to its raw value (``vocab["item"][id]``, row 0 is
    padding). Where the official code fixes a split it is kept: ``ctr_split`` (impression
    tables user, time, item, label), ``user_split`` (user id arrays), ``session_split``
    (session DataFrames); None means the generic split of the loader.
    """

    name: str
    events: pd.DataFrame
    users: pd.DataFrame | None
    meta: Meta
    vocab: dict = field(default_factory=dict)
    ctr_split: tuple | None = None
    user_split: tuple | None = None
    session_split: tuple | None = None
    seed: int = 0
    tasks: tuple = ("ctr", "next_item", "sessions")  # which load_* functions apply
    session_gap: float = 1800.0  # load_sessions' default cut (inf: one session per user)
    origin: str = ""  # where the files came from (source, checksum, cache path)
    relevance = None  # no ground truth in real data
    _impressions: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def impressions(self) -> pd.DataFrame:
        """Each event after the user's first, plus one never-clicked item at the same time."""
        if self._impressions is None:
            self._impressions = impressions_from_events(self.events, self.meta, self.seed)
        return self._impressions


def _nonempty(name, task: str, data, parts, allow_empty_valid: bool = False) -> None:
    """Every loader's last check: no split may be empty (a filter that kept nothing would
    otherwise fail later, in ``fit`` or evaluation, with an error that names neither)."""
    sizes = [len(p) if isinstance(p, pd.DataFrame) else
             len(p["user"] if "user" in p else next(iter(p.values()))) for p in parts]
    empty = [k for k, n in zip(("train", "valid", "test"), sizes)
             if n == 0 and not (k == "valid" and allow_empty_valid)]
    if empty:
        ev = data.events
        raise ValueError(
            f"load_{task}({_name(name, data)!r}): {' and '.join(empty)} empty "
            f"({' / '.join(map(str, sizes))} rows in train / valid / test, from {len(ev)} events "
            f"of {ev.user.nunique()} users): nothing left after filtering (each user needs "
            "2+ events, each session 2+ clicks; pass more data, or a smaller min_rating / "
            "filter)")


def _load(name, size: str, seed: int, task: str, path=None, **kwargs):
    if path is not None:
        if not (isinstance(name, str) and name in REAL_DATASETS):
            raise ValueError(f"path= names the raw files of a real dataset "
                             f"({', '.join(REAL_DATASETS)}); {name!r} takes none")
        kwargs["path"] = path
    if not isinstance(name, str) or name.lower().endswith(".csv"):  # the reader's own log
        from .own import load
        return load(name, seed=seed, task=task, **kwargs)
    if name in REAL_DATASETS:  # one size only: ``size`` applies to the synthetic data
        import importlib
        module, variant = REAL_DATASETS[name]
        load = importlib.import_module(f"{__package__}.{module}").load
        data = load(variant, seed=seed, **kwargs) if variant else load(seed=seed, **kwargs)
        if task not in data.tasks:
            raise ValueError(f"dataset {name!r} has no {task} form; use "
                             + " / ".join(f"load_{t}" for t in data.tasks))
        return data
    if name != "synthetic":
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(DATASETS)}, or your "
                         "own log as a DataFrame or a .csv path (recbook/data/own.py)")
    from .synthetic import generate
    return generate(size=size, seed=seed, **kwargs)


def load_ctr(name="synthetic", max_len: int | None = None, seed: int = 0,
             size: str = "default", compact: bool | str = "auto", path=None,
             **kwargs) -> Dataset:
    """CTR data split leave-last-out by time per user: the last impression (page) of each user
    is test, the one before valid; a real dataset whose official code fixes the split keeps it
    (Amazon: DIEN's split by user). ``kwargs`` go to the generator (e.g. ``n_users=500``) or
    to the real dataset's ``load`` (e.g. ``path=...``). ``compact``: see :func:`ctr_samples`.

    ``name``: a name of ``DATASETS``, or your own click log: a DataFrame or a ``.csv`` path
    with columns user, item, time (optional category, session; other names via
    ``columns={...}``), see recbook/data/own.py. The same holds for every ``load_*``.

    ``path``: the local raw files of a real dataset (None: the cache, downloaded if it can
    be); refused for the built-in data and your own log. Every loader refuses, with an error
    that names the cause: a split left empty by the filtering ("nothing left after
    filtering", with the counts), a cut or altered file (the dataset modules' docstrings),
    split fractions outside [0, 1] or summing over 1."""
    data = _load(name, size, seed, "ctr", path, **kwargs)
    max_len = data.meta.max_len if max_len is None else max_len
    meta = replace(data.meta, max_len=max_len)
    sampler = NegativeSampler(data.events, meta.n_items, seed)
    parts = [ctr_samples(data.events, part, meta, data.users, max_len, seed,
                         relevance=data.relevance, neg_sampler=sampler, compact=compact)
             for part in (getattr(data, "ctr_split", None) or split_last(data.impressions))]
    _nonempty(name, "ctr", data, parts)
    return Dataset(_name(name, data), *parts, meta=meta, source=data)


def _name(name, data) -> str:
    return name if isinstance(name, str) and name in DATASETS else getattr(data, "name", "own")


def load_next_item(name="synthetic", max_len: int | None = None, seed: int = 0,
                   split: str = "user", size: str = "default", compact: bool | str = "auto",
                   path=None, **kwargs) -> Dataset:
    """Next-item data for retrieval.

    ``split="user"`` (ComiRec): users 8:1:1 (Taobao: ComiRec's own cut); train = every
    next-item step of train users;
    valid/test = :func:`prefix_samples` of their users (with ``truth_items``/``truth_len``).
    ``split="time"``: leave-last-out per user: each user's last event is test, the one before
    valid, earlier steps train. ``compact``: see :func:`ctr_samples`. ``path`` and what is
    refused: as :func:`load_ctr`.
    """
    if split not in ("user", "time"):
        raise ValueError(f"split must be 'user' or 'time', got {split!r}")
    data = _load(name, size, seed, "next_item", path, **kwargs)
    max_len = data.meta.max_len if max_len is None else max_len
    meta = replace(data.meta, max_len=max_len)
    ev = sort_events(data.events)
    if split == "user":
        tr, va, te = (getattr(data, "user_split", None)
                      or split_users(ev.user.to_numpy(), seed=seed))
        train = next_item_samples(ev[ev.user.isin(tr)], meta, data.users, max_len,
                                  compact=compact)
        parts = [prefix_samples(ev, meta, u, data.users, max_len) for u in (va, te)]
    else:  # "time"
        rank = ev.groupby("user").cumcount(ascending=False).to_numpy()
        first = ev.groupby("user").cumcount().to_numpy() >= 1
        train = next_item_samples(ev, meta, data.users, max_len,
                                  positions=np.flatnonzero(first & (rank >= 2)),
                                  compact=compact)
        parts = [next_item_samples(ev, meta, data.users, max_len, compact=compact,
                                   positions=np.flatnonzero(first & (rank == r))) for r in (1, 0)]
    _nonempty(name, "next_item", data, [train, *parts])
    return Dataset(_name(name, data), train, *parts, meta=meta, source=data)


def load_sessions(name="synthetic", seed: int = 0, size: str = "default",
                  valid: float = 0.1, test: float = 0.1, gap: float | None = None,
                  path=None, **kwargs) -> Dataset:
    """Sessions (DataFrames: session, item, time) split by time as GRU4Rec's preprocessing
    (YooChoose: the official script's last-day cuts, see recbook/data/yoochoose.py).

    Events with a ``session`` column keep their sessions; otherwise a user's events are cut
    where more than ``gap`` seconds pass. ``gap=None``: the dataset's ``session_gap`` (30
    minutes; MovieLens-100K: ``inf``, one session per user, see movielens100k.py).
    ``path`` and what is refused: as :func:`load_ctr`; also a log where every session has a
    single event, and ``valid``/``test`` outside [0, 1] or summing to 1 or more."""
    _fractions(valid=valid, test=test)
    if valid + test >= 1:
        raise ValueError(f"valid={valid} + test={test} leaves no sessions to train on")
    data = _load(name, size, seed, "sessions", path, **kwargs)
    if gap is None:
        gap = getattr(data, "session_gap", 1800.0)
    split = getattr(data, "session_split", None)
    if split is None:
        sess = sessions(data.events, gap=gap)
        if sess.empty:
            raise ValueError(f"load_sessions({_name(name, data)!r}): every one of the "
                             f"{len(sessions(data.events, gap=gap, min_len=1).session.unique())}"
                             f" sessions ({len(data.events)} events, gap={gap} s) has a single "
                             "event: nothing left after filtering (a session needs 2 events "
                             "for a next-item step)")
        split = split_sessions(sess, valid, test)
    train, va, te = split
    _nonempty(name, "sessions", data, [train, va, te], allow_empty_valid=valid == 0)
    return Dataset(_name(name, data), train, va, te, meta=data.meta, source=data)
