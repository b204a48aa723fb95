"""Taobao UserBehavior (Alibaba, Tianchi dataset 649): ~100M behaviours of ~1M users,
25 Nov - 3 Dec 2017.

Source: https://tianchi.aliyun.com/dataset/649 (a free Tianchi account is needed, so recbook
cannot download it): ``UserBehavior.csv``, no header, ``user_id,item_id,category_id,
behavior_type,timestamp`` with behavior_type in pv / buy / cart / fav. Licence: Tianchi's
terms (research use, cite the dataset). The file is trusted on first use (sha256 recorded).

Preprocessing as ComiRec's official scripts (THUDM/ComiRec preprocess/data.py, category.py),
rewritten in pandas:

* only clicks (``pv``) are kept;
* items clicked fewer than ``filter_size`` = 5 times are dropped; item ids 1.. by descending
  click count (ties in order of first appearance);
* users with fewer than 5 clicks on the kept items are dropped;
* users shuffled and cut 8:1:1 at ``int(0.8 n)``, ``int(0.9 n)`` (train / valid / test;
  ComiRec seeds Python's ``random`` with 1230, recbook a numpy generator with ``seed``);
* each user's clicks ordered by timestamp (stable: equal times keep file order);
* an item's category is the category of its LAST click line (category.py overwrites),
  category ids 1.. in order of first appearance.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .fetch import cache_dir, local_file
from .text import csv_fields, first_bad_line, not_utf8_error, require_newline_end
from .meta import Meta

FILE = "UserBehavior.csv"
WHERE = ("sign in at https://tianchi.aliyun.com/dataset/649, download UserBehavior.csv.zip "
         "and unzip it.")
FILTER_SIZE = 5
MAX_LEN = 50  # ComiRec's maxlen for Taobao


def default_path() -> Path:
    return cache_dir() / "taobao" / FILE


NAMES = ("user_id", "item_id", "category_id", "behavior_type", "timestamp")


def read(path, chunksize: int = 5_000_000) -> pd.DataFrame:
    """The ``pv`` rows of UserBehavior.csv in file order: (user, item, cat, time).

    Refused, naming the file, the line number and the line: a line without 5 fields or with
    a non-integer id or timestamp; a byte that is not UTF-8; a last line without its newline
    (a cut file: its timestamp may have lost digits, recbook/data/text.py)."""
    require_newline_end(path, str(path))
    names = ["user", "item", "cat", "behavior", "time"]
    parts = []
    try:
        with pd.read_csv(path, header=None, names=names, chunksize=chunksize,
                         dtype={"user": np.int64, "item": np.int64, "cat": np.int64,
                                "behavior": str, "time": np.int64}) as reader:
            for chunk in reader:
                parts.append(chunk.loc[chunk.behavior == "pv",
                                       ["user", "item", "cat", "time"]])
    except UnicodeDecodeError:
        raise not_utf8_error(path) from None
    except (ValueError, pd.errors.ParserError) as e:
        bad = first_bad_line(path, csv_fields(5, (0, 1, 2, 4), NAMES))
        where = f" line {bad[0]}: {bad[2]} in {bad[1]!r}" if bad else f" ({e})"
        raise ValueError(f"{path}{where}; expected user_id,item_id,category_id,behavior_type,"
                         "timestamp (integers but behavior_type)") from e
    if not parts:
        return pd.DataFrame({c: np.zeros(0, np.int64) for c in ("user", "item", "cat", "time")})
    return pd.concat(parts, ignore_index=True)


def preprocess(pv: pd.DataFrame, seed: int = 0, filter_size: int = FILTER_SIZE,
               max_users: int | None = None):
    """ComiRec's filtering and split (module docstring) -> RealData. ``max_users`` keeps a
    random subset of the filtered users (not in ComiRec: the ~1M users' materialised
    next-item histories need far more memory than a Colab runtime has)."""
    from .samples import RealData
    counts = pv.groupby("item", sort=False).size()  # first-appearance order
    counts = counts.sort_values(ascending=False, kind="stable")
    counts = counts[counts >= filter_size]
    item_id = pd.Series(np.arange(1, len(counts) + 1, dtype=np.int64), index=counts.index)
    pv = pv[pv.item.isin(item_id.index)]
    # category.py reads every pv line of a kept item (before the user filter); the last wins
    last_cat = pv.groupby("item", sort=False).cat.last()
    first_seen = pd.unique(pv.cat)  # category ids 1.. by first appearance
    cat_id = pd.Series(np.arange(1, len(first_seen) + 1, dtype=np.int64), index=first_seen)
    per_user = pv.groupby("user", sort=False).size()
    keep_users = per_user.index[(per_user >= filter_size).to_numpy()]
    pv = pv[pv.user.isin(keep_users)]
    if len(pv) == 0:
        raise ValueError(f"no user has {filter_size} clicks on items clicked {filter_size} "
                         f"times ({len(counts)} such items, {len(per_user)} users with "
                         "clicks on them): nothing left after ComiRec's filtering")

    order = np.random.default_rng(seed).permutation(np.asarray(keep_users))
    if max_users is not None and max_users < len(order):
        order = order[:max_users]
        pv = pv[pv.user.isin(order)]
    user_id = pd.Series(np.arange(1, len(order) + 1, dtype=np.int64), index=order)
    n = len(order)
    cut1, cut2 = int(n * 0.8), int(n * 0.9)
    split = (np.arange(1, cut1 + 1), np.arange(cut1 + 1, cut2 + 1), np.arange(cut2 + 1, n + 1))

    item_cat = np.zeros(len(item_id) + 1, dtype=np.int64)
    item_cat[item_id.reindex(last_cat.index).to_numpy()] = cat_id.reindex(last_cat).to_numpy()

    ev = pd.DataFrame({"user": user_id.reindex(pv.user).to_numpy(),
                       "item": item_id.reindex(pv.item).to_numpy(), "time": pv.time.to_numpy()})
    ev = ev.sort_values(["user", "time"], kind="stable").reset_index(drop=True)
    meta = Meta(n_users=n, n_items=len(item_id), n_cats=len(cat_id), item_cat=item_cat,
                profile={}, max_len=MAX_LEN)
    vocab = {"user": np.concatenate([[0], order]),
             "item": np.concatenate([[0], item_id.index.to_numpy()]),
             "cat": np.concatenate([[0], cat_id.index.to_numpy()])}
    return RealData("taobao", ev, None, meta, vocab, user_split=split, seed=seed)


def load(path=None, seed: int = 0, filter_size: int = FILTER_SIZE,
         max_users: int | None = None):
    """Taobao UserBehavior from ``path`` (default ``<cache>/taobao/UserBehavior.csv``).

    The file (behind a login, placed by hand) is trusted on first use: its sha256 is recorded
    beside it and a changed file is refused, never deleted, until accepted with
    ``recbook.data.fetch.accept(path)``. Refused too (:func:`read`): bad lines, non-UTF-8
    bytes, a cut last line; and data where no user keeps ``filter_size`` clicks ("nothing
    left after filtering")."""
    path = local_file(path or default_path(), FILE, WHERE,
                      check=lambda p: require_newline_end(p, str(p)))  # before trusting it
    return preprocess(read(path), seed, filter_size, max_users)
