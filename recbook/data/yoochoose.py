"""YooChoose clicks (RecSys Challenge 2015, "RSC15"): ~33M clicks in ~9.2M sessions of an
e-commerce site, April - September 2014.

Source: the challenge data set (now distributed on Kaggle, "RecSys Challenge 2015", an account
is needed, so recbook cannot download it): ``yoochoose-clicks.dat``, no header,
``SessionID,Timestamp,ItemID,Category`` with timestamps like ``2014-04-07T10:51:09.277Z``.
Licence: the challenge's terms (research use). Trusted on first use (sha256 recorded).

Preprocessing as GRU4Rec's official script (hidasib/GRU4Rec examples/rsc15/preprocess.py),
rewritten here:

* sessions of length 1 removed; then items with fewer than 5 clicks removed; then sessions
  shorter than 2 removed again;
* test = sessions whose last click lies within the last day (86,400 s before the latest
  click); test clicks on items absent from the training sessions removed, then test sessions
  shorter than 2 removed;
* the same cut once more inside the training sessions gives train / valid (``rsc15_train_tr``
  / ``rsc15_train_valid``); the official model for the test set trains on train + valid
  sessions (``rsc15_train_full``), which ``load`` returns as ``vocab["train_full"]``.

Times are UTC seconds (the official script reads them as local time, which only shifts every
time by the same offset). Item ids 1.. in raw ItemID order; an item's category is its most
frequent Category value (ties: the smaller string), "0" (unknown) included.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .fetch import cache_dir, local_file
from .text import csv_fields, first_bad_line, not_utf8_error, require_newline_end
from .meta import Meta

FILE = "yoochoose-clicks.dat"
WHERE = ("download the RecSys Challenge 2015 data (yoochoose-data.7z, e.g. from "
         "https://www.kaggle.com/datasets/chadgostopp/recsys-challenge-2015 with a Kaggle "
         "account) and extract yoochoose-clicks.dat.")
DAY = 86400.0
MAX_LEN = 50


def default_path() -> Path:
    return cache_dir() / "yoochoose" / FILE


NAMES = ("SessionID", "Timestamp", "ItemID", "Category")


def _line(line: str) -> str | None:
    problem = csv_fields(4, (0, 2), NAMES)(line)
    if problem is None:
        try:
            pd.to_datetime(line.split(",")[1], format="%Y-%m-%dT%H:%M:%S.%fZ")
        except ValueError:
            return f"Timestamp must look like 2014-04-07T10:51:09.277Z, found " \
                   f"{line.split(',')[1]!r}"
    return problem


def read(path, chunksize: int = 5_000_000) -> pd.DataFrame:
    """(session, time [float UTC seconds], item, cat [str]) in file order.

    Refused, naming the file, the line number and the line: a line without 4 fields, a
    non-integer id, a timestamp in another format; a byte that is not UTF-8; a last line
    without its newline (a cut file, recbook/data/text.py)."""
    require_newline_end(path, str(path))
    parts, cats = [], {}
    try:
        with pd.read_csv(path, header=None, names=["session", "stamp", "item", "cat"],
                         dtype={"session": np.int64, "stamp": str, "item": np.int64,
                                "cat": str}, chunksize=chunksize,
                         keep_default_na=False) as reader:
            for chunk in reader:
                stamp = pd.to_datetime(chunk.stamp, format="%Y-%m-%dT%H:%M:%S.%fZ")
                codes, uniques = pd.factorize(chunk.cat)
                lookup = np.array([cats.setdefault(u, len(cats)) for u in uniques],
                                  dtype=np.int64)
                parts.append(pd.DataFrame({
                    "session": chunk.session.to_numpy(),
                    "time": stamp.to_numpy().astype("datetime64[ms]").astype(np.int64) / 1e3,
                    "item": chunk.item.to_numpy(), "cat_code": lookup[codes]}))
    except UnicodeDecodeError:
        raise not_utf8_error(path) from None
    except (ValueError, pd.errors.ParserError) as e:
        bad = first_bad_line(path, _line)
        where = f" line {bad[0]}: {bad[2]} in {bad[1]!r}" if bad else f" ({e})"
        raise ValueError(f"{path}{where}; expected SessionID,Timestamp,ItemID,Category lines "
                         "with timestamps like 2014-04-07T10:51:09.277Z") from e
    names = np.array(list(cats), dtype=object)
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        {"session": [], "time": [], "item": [], "cat_code": []})
    df["cat"] = names[df.pop("cat_code").to_numpy().astype(np.int64)] if len(df) else []
    return df


def _keep_sessions(df: pd.DataFrame, min_len: int) -> pd.DataFrame:
    size = df.groupby("session").size()
    return df[df.session.isin(size.index[(size >= min_len).to_numpy()])]


def _time_split(df: pd.DataFrame):
    """GRU4Rec's cut: sessions ending within the last day are held out; their clicks on items
    unseen before the cut are removed, then held-out sessions shorter than 2."""
    end = df.groupby("session").time.max()
    held = end.index[(end >= df.time.max() - DAY).to_numpy()]
    before, after = df[~df.session.isin(held)], df[df.session.isin(held)]
    after = _keep_sessions(after[after.item.isin(before.item)], 2)
    return before, after


def preprocess(clicks: pd.DataFrame, seed: int = 0, min_support: int = 5):
    """The official filtering and splits (module docstring) -> RealData with
    ``session_split`` = (train, valid, test) session DataFrames."""
    from .samples import RealData, sessions
    df = _keep_sessions(clicks, 2)
    support = df.groupby("item").size()
    df = df[df.item.isin(support.index[(support >= min_support).to_numpy()])]
    df = _keep_sessions(df, 2)
    if df.empty:
        raise ValueError(f"no session of 2+ clicks on items with {min_support}+ clicks "
                         f"({clicks.session.nunique()} sessions, {len(clicks)} clicks read): "
                         "nothing left after GRU4Rec's filtering")
    train_full, test = _time_split(df)
    train, valid = _time_split(train_full)

    raw_items = np.sort(df.item.unique())
    item_of = pd.Series(np.arange(1, len(raw_items) + 1, dtype=np.int64), index=raw_items)
    mode = (df.groupby(["item", "cat"]).size().reset_index(name="n")
            .sort_values(["item", "n", "cat"], ascending=[True, False, True], kind="stable")
            .drop_duplicates("item"))
    cat_names = np.sort(mode.cat.unique())
    item_cat = np.zeros(len(raw_items) + 1, dtype=np.int64)
    item_cat[item_of.reindex(mode.item).to_numpy()] = np.searchsorted(cat_names, mode.cat) + 1

    def frame(part):  # recbook ids; sessions renumbered 1.. by start time
        ev = pd.DataFrame({"user": part.session.to_numpy(), "session": part.session.to_numpy(),
                           "item": item_of.reindex(part.item).to_numpy(),
                           "time": part.time.to_numpy()})
        return sessions(ev, min_len=2)

    events = pd.DataFrame({"user": df.session.to_numpy(), "session": df.session.to_numpy(),
                           "item": item_of.reindex(df.item).to_numpy(), "time": df.time.to_numpy()})
    events = events.assign(user=pd.factorize(events.user)[0] + 1)
    meta = Meta(n_users=int(events.user.max()), n_items=len(raw_items), n_cats=len(cat_names),
                item_cat=item_cat, profile={}, max_len=MAX_LEN)
    vocab = {"item": np.concatenate([[0], raw_items]), "cat": np.concatenate([[""], cat_names]),
             "train_full": frame(train_full)}
    parts = (frame(train), frame(valid), frame(test))
    empty = [n for n, p in zip(("train", "valid", "test"), parts) if p.empty]
    if empty:
        raise ValueError(f"GRU4Rec's last-day cuts leave {' and '.join(empty)} empty "
                         f"({' / '.join(str(len(p)) for p in parts)} clicks in train / valid / "
                         f"test, of {len(df)} kept): nothing left after filtering (the log "
                         "must span more than two days, with items seen before each cut)")
    return RealData("yoochoose", events, None, meta, vocab, tasks=("sessions",),
                    session_split=parts, seed=seed)


def load(path=None, seed: int = 0, min_support: int = 5):
    """YooChoose clicks from ``path`` (default ``<cache>/yoochoose/yoochoose-clicks.dat``).

    The file (behind a login, placed by hand) is trusted on first use: its sha256 is recorded
    beside it; a changed file (a sample replaced by the full log) is refused, never deleted,
    until accepted with ``recbook.data.fetch.accept(path)``. Refused too (:func:`read`): bad
    lines, non-UTF-8 bytes, a cut last line; data where no session survives the filtering,
    and held-out splits left empty by it ("nothing left after filtering")."""
    path = local_file(path or default_path(), FILE, WHERE,
                      check=lambda p: require_newline_end(p, str(p)))  # before trusting it
    return preprocess(read(path), seed, min_support)
