"""Your own click log, in every loader: ``load_ctr(frame)``, ``load_next_item("clicks.csv")``,
``load_sessions(frame)``.

Pass a pandas DataFrame or the path of a CSV file instead of a dataset name; one row per click:

========== ========================================================== ==========================
column     meaning                                                    needed by
========== ========================================================== ==========================
user       who clicked (any hashable value)                           load_ctr, load_next_item
item       what was clicked (any hashable value)                      every loader
time       when: seconds (int) or datetimes / date strings            every loader
category   the item's category (one per item), optional               -
session    the session, optional; without ``user`` it is the only     load_sessions
           grouping, so a session-only log works with load_sessions
========== ========================================================== ==========================

Other names are mapped with ``columns={"user": "customer_id", "time": "ts", ...}``. The log goes
through the same path as the built-in real datasets: ids renumbered 1..N in sorted order of the
raw values (``data.source.vocab["item"][id]`` gives the raw value back, 0 is padding), a
:class:`~recbook.data.meta.Meta` built from the data (``n_cats = 1`` when no category is given:
every item in category 1, "(none)"), a user's simultaneous clicks in a seeded random order
(:func:`~recbook.data.samples.shuffle_ties`), the loaders' own splits and validation. Sessions
come from the ``session`` column when present, else a user's clicks are cut after ``gap`` seconds
of inactivity (``load_sessions(..., gap=1800)``, the default).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .meta import Meta
from .text import not_utf8_error

ROLES = ("user", "item", "time", "category", "session")
MAX_LEN = 50


def _read(data) -> tuple[pd.DataFrame, str]:
    if isinstance(data, pd.DataFrame):
        return data, "own DataFrame"
    path = Path(data).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"own data: no file {path} (give a DataFrame or a CSV path)")
    try:
        return pd.read_csv(path), f"own CSV file {path}"
    except UnicodeDecodeError:
        raise not_utf8_error(path, what=f"own data: {path}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ValueError(f"own data: {path} is not a readable CSV file ({e})") from e


def _ids(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Ids 1..N in sorted order of the raw values (as strings where types are mixed)."""
    try:
        vocab, codes = np.unique(values.to_numpy(), return_inverse=True)
    except TypeError:  # mixed types (e.g. ints and strings) do not sort together
        vocab, codes = np.unique(values.astype(str).to_numpy(), return_inverse=True)
    return codes.astype(np.int64) + 1, np.concatenate([[None], vocab]).astype(object)


def _seconds(col: pd.Series, name: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(col):
        raise ValueError(f"own data: column {name!r} holds booleans, not times")
    if pd.api.types.is_numeric_dtype(col):
        v = col.to_numpy(dtype=float)
        if (v != np.floor(v)).any():
            raise ValueError(f"own data: column {name!r} must hold whole seconds (or "
                             f"datetimes); found {v[v != np.floor(v)][0]!r} (milliseconds? "
                             "multiply to a whole unit first)")
        return v.astype(np.int64)
    try:
        t = pd.to_datetime(col, utc=True)
    except (ValueError, TypeError) as e:
        raise ValueError(f"own data: column {name!r} must hold seconds or dates; "
                         f"could not read it as dates ({e})") from e
    return ((t - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(np.int64)


def load(data, columns: dict | None = None, seed: int = 0, tie_seed: int = 0,
         max_len: int = MAX_LEN, task: str | None = None):
    """Your log as a :class:`~recbook.data.samples.RealData` (see the module docstring);
    ``task``: the loader asking ("ctr", "next_item", "sessions"), for its error message.

    Refused, with the column, row, file or line named: a missing user/item/time column (or
    session for load_sessions), an empty cell, times that are neither whole seconds nor
    dates, an item with several categories, an empty log, a CSV that cannot be parsed or is
    not UTF-8 (the line); the loaders then refuse a split the log leaves empty (users with
    one click, sessions of one event: "nothing left after filtering")."""
    from .samples import RealData, shuffle_ties
    frame, origin = _read(data)
    columns = dict(columns or {})
    unknown = sorted(set(columns) - set(ROLES))
    if unknown:
        raise ValueError(f"own data: columns= maps {unknown}; the roles are {list(ROLES)} "
                         "(role -> your column name)")
    col = {role: columns.get(role, role) for role in ROLES}
    have = {role for role in ROLES if col[role] in frame.columns}
    where = f" (your columns: {list(frame.columns)}; map other names with columns=" \
            "{'user': 'your_name', ...})"
    for role in ("item", "time"):
        if role not in have:
            raise KeyError(f"own data needs a {col[role]!r} column{where}")
    if "user" not in have and "session" not in have:
        raise KeyError(f"own data needs a {col['user']!r} column (or a {col['session']!r} "
                       f"column for load_sessions){where}")
    if "user" not in have and task in ("ctr", "next_item"):
        raise KeyError(f"own data: load_{task} needs a {col['user']!r} column (histories are "
                       f"per user); a log with only {col['session']!r} works with "
                       f"load_sessions{where}")
    for role in sorted(have, key=ROLES.index):
        missing = frame[col[role]].isna().to_numpy()
        if missing.any():
            raise ValueError(f"own data: column {col[role]!r} is empty in row "
                             f"{frame.index[missing].tolist()[0]!r} ({missing.sum()} empty "
                             "rows in all)")
    if len(frame) == 0:
        raise ValueError("own data: the log has no rows")

    item, item_vocab = _ids(frame[col["item"]])
    events = {"item": item, "time": _seconds(frame[col["time"]], col["time"])}
    vocab = {"item": item_vocab}
    if "session" in have:
        events["session"], vocab["session"] = _ids(frame[col["session"]])
    if "user" in have:
        events["user"], vocab["user"] = _ids(frame[col["user"]])
    else:  # a session-only log: each session is its own anonymous user
        events["user"] = events["session"]
    n_items = len(item_vocab) - 1
    if "category" in have:
        cat, vocab["cat"] = _ids(frame[col["category"]])
        per_item = pd.DataFrame({"item": item, "cat": cat}).drop_duplicates()
        twice = per_item.item.duplicated(keep=False)
        if twice.any():
            bad = int(per_item[twice].item.iloc[0])
            raise ValueError(f"own data: item {item_vocab[bad]!r} has several categories "
                             f"{sorted(map(str, vocab['cat'][per_item[per_item.item == bad].cat]))}"
                             f" in column {col['category']!r}; give one category per item")
        item_cat = np.zeros(n_items + 1, dtype=np.int64)
        item_cat[per_item.item.to_numpy()] = per_item.cat.to_numpy()
    else:
        vocab["cat"] = np.array([None, "(none)"], dtype=object)
        item_cat = np.r_[0, np.ones(n_items, dtype=np.int64)]
    events = shuffle_ties(pd.DataFrame(events), tie_seed)
    meta = Meta(n_users=int(events.user.max()), n_items=n_items, n_cats=len(vocab["cat"]) - 1,
                item_cat=item_cat, profile={}, max_len=max_len)
    tasks = ("ctr", "next_item", "sessions") if "user" in have else ("sessions",)
    return RealData("own", events, None, meta, vocab, seed=seed, tasks=tasks, origin=origin)
