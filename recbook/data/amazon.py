"""Amazon product data 2014 (McAuley et al.): 5-core reviews + metadata, Books / Electronics.

Source: ``reviews_<Cat>_5.json.gz`` (one JSON object per line: reviewerID, asin, overall,
unixReviewTime, ...) and ``meta_<Cat>.json.gz`` (one Python-literal dict per line: asin,
categories, ...) from http://snap.stanford.edu/data/amazon/productGraph/categoryFiles/.
No published checksum: trusted on first use (see recbook/data/fetch.py). Licence: for
research; cite McAuley et al., SIGIR 2015 and He & McAuley, WWW 2016.

Preprocessing as DIEN's official scripts (mouna99/dien, script/process_data.py,
local_aggretor.py, split_by_user.py, generate_voc.py), rewritten in pandas:

* an item's category is the LAST entry of its first category path (``categories[0][-1]``),
  ``"default_cat"`` when the metadata lacks the item; metadata lines are parsed with
  ``ast.literal_eval`` (the official ``eval`` would run code from the download);
* each user's reviews are ordered by time (stable: same-day reviews keep file order; the
  official file has day resolution, so ``time`` = unixReviewTime + the review's rank among the
  user's reviews of that day, which keeps the order exact for "strictly before" histories);
* each review after the first is a positive target whose history is every earlier review; it
  gets one negative target drawn from the list of all reviews (so by popularity) that is not the
  same item (manual_join); only each user's LAST review becomes a sample (local_test);
* users split at random (split_by_user draws 1..10 per user: 2 -> test); recbook also needs a
  validation set and takes draw 4 for it, so train/valid/test are 80/10/10 % of the users;
* vocabularies are rebuilt from the raw files, never unpickled: ids 1.. by descending
  frequency (ties in order of first appearance), 0 is padding, as generate_voc.py; recbook
  counts over all reviews, so test items have ids too (the official vocab maps them to 0).

``meta.max_len`` is DIEN's 100; ComiRec (next-item on Books) uses 20: pass ``max_len=20``.
"""
from __future__ import annotations

import ast
import gzip
import json
import re
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from .fetch import cache_dir, fetch
from .meta import Meta

BASE = "http://snap.stanford.edu/data/amazon/productGraph/categoryFiles/"
VARIANTS = ("Books", "Electronics")
DEFAULT_CAT = "default_cat"
MAX_LEN = 100  # DIEN's official maxlen
_ASIN = re.compile(r"""['"]asin['"]\s*:\s*['"]([^'"]+)['"]""")


def files(variant: str) -> tuple[str, str]:
    if variant not in VARIANTS:
        raise ValueError(f"Amazon variant must be one of {VARIANTS}, got {variant!r}")
    return f"reviews_{variant}_5.json.gz", f"meta_{variant}.json.gz"


def _lines(path):
    """(line number, text) of a gzipped UTF-8 file; a byte that is not UTF-8, a file that is
    not gzip and a gzip stream that ends early (a cut download) are refused naming the file
    (and the line)."""
    name = Path(path).name
    try:
        with gzip.open(path, "rb") as f:
            for n, raw in enumerate(f, 1):
                try:
                    yield n, raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise ValueError(f"{name} line {n}: a byte that is not UTF-8 "
                                     f"({raw[:120]!r}); the file must be UTF-8 as published") \
                        from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise ValueError(f"{path}: not a whole gzip file ({type(e).__name__}: {e}); a cut "
                         "download or another format: get the file again") from e


def read_reviews(path) -> pd.DataFrame:
    """(user, item, time) in file order from a 5-core reviews file (gzip JSON lines).
    A line that is not a review, a non-UTF-8 byte, a cut or non-gzip file: refused, named."""
    user, item, t = [], [], []
    for n, line in _lines(path):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            user.append(r["reviewerID"]), item.append(r["asin"])
            t.append(int(r["unixReviewTime"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{Path(path).name} line {n}: not a review with reviewerID, "
                             f"asin, unixReviewTime ({type(e).__name__}: {e})") from e
    return pd.DataFrame({"user": user, "item": item, "time": np.array(t, dtype=np.int64)})


def read_categories(path, asins=None) -> dict[str, str]:
    """asin -> ``categories[0][-1]`` from a metadata file (gzip Python-literal lines), for the
    asins in ``asins`` (all when None). Lines of other items are skipped unparsed."""
    out = {}
    for n, line in _lines(path):
        m = _ASIN.search(line)
        if m is None or (asins is not None and m.group(1) not in asins):
            continue
        try:
            obj = ast.literal_eval(line.strip())  # data only: never eval a download
        except (ValueError, SyntaxError) as e:
            raise ValueError(f"{Path(path).name} line {n}: not a Python-literal dict "
                             f"({e})") from e
        cats = obj.get("categories") or [[]]
        out[obj["asin"]] = cats[0][-1] if cats and cats[0] else DEFAULT_CAT
    return out


def _vocab(values: pd.Series) -> pd.Series:
    """value -> id 1.. by descending count, ties by first appearance (generate_voc.py)."""
    counts = values.groupby(values, sort=False).size()
    order = counts.sort_values(ascending=False, kind="stable").index
    return pd.Series(np.arange(1, len(order) + 1, dtype=np.int64), index=order)


def preprocess(reviews: pd.DataFrame, categories: dict, name: str, seed: int = 0):
    """DIEN's preprocessing (module docstring) -> :class:`recbook.data.samples.RealData`."""
    from .samples import RealData
    rng = np.random.default_rng(seed)
    rev = reviews.reset_index(drop=True)
    cat_name = rev.item.map(categories).fillna(DEFAULT_CAT)
    users, items, cats = _vocab(rev.user), _vocab(rev.item), _vocab(cat_name)
    item_cat = np.zeros(len(items) + 1, dtype=np.int64)
    item_cat[items.to_numpy()] = cats.reindex(
        pd.Series(items.index).map(categories).fillna(DEFAULT_CAT)).to_numpy()

    ev = pd.DataFrame({"user": users.reindex(rev.user).to_numpy(),
                       "item": items.reindex(rev.item).to_numpy(), "time": rev.time.to_numpy()})
    ev = ev.sort_values(["user", "time"], kind="stable").reset_index(drop=True)
    ev["time"] = ev.time + ev.groupby(["user", "time"]).cumcount()  # exact same-day order

    # each user's last review with its sampled negative (manual_join + local_test)
    n_per_user = ev.groupby("user").size()
    last = ev.groupby("user").tail(1)
    last = last[n_per_user.reindex(last.user).to_numpy() >= 2]  # needs a history
    if last.empty:
        raise ValueError(f"{name}: none of the {len(n_per_user)} reviewers has 2 reviews "
                         f"({len(ev)} reviews in all): nothing left after filtering (each "
                         "sample is a reviewer's last review with the earlier ones as history)")
    pool = ev.item.to_numpy()  # one entry per review: sampling from it is by popularity
    neg = pool[rng.integers(0, len(pool), len(last))]
    clash = neg == last.item.to_numpy()
    while clash.any():
        neg[clash] = pool[rng.integers(0, len(pool), clash.sum())]
        clash = neg == last.item.to_numpy()
    table = pd.concat([last[["user", "time", "item"]].assign(label=1),
                       last[["user", "time"]].assign(item=neg, label=0)])
    table = table.sort_values(["user", "label"], kind="stable").reset_index(drop=True)
    draw = pd.Series(rng.integers(1, 11, len(last)), index=last.user.to_numpy())
    part = draw.reindex(table.user).to_numpy()
    split = tuple(table[m].reset_index(drop=True)
                  for m in ((part != 2) & (part != 4), part == 4, part == 2))

    meta = Meta(n_users=len(users), n_items=len(items), n_cats=len(cats), item_cat=item_cat,
                profile={}, max_len=MAX_LEN)
    vocab = {k: np.concatenate([[""], v.index.to_numpy()])
             for k, v in (("user", users), ("item", items), ("cat", cats))}
    return RealData(name, ev, None, meta, vocab, ctr_split=split, seed=seed)


def load(variant: str = "Books", path=None, seed: int = 0, **fetch_kwargs):
    """Amazon ``variant`` ("Books" or "Electronics"); ``path``: a folder holding the two raw
    files (default: downloaded once into the cache, trusted on first use).

    Refused, naming the file (and line): a line that is not a review or a literal dict, a
    byte that is not UTF-8, a file that is not a whole gzip (a cut download: downloads are
    checked whole before their hash is recorded), a folder lacking the files, and data where
    no reviewer has two reviews ("nothing left after filtering"). A cached file that changed
    since its first use is refused until accepted (``recbook.data.fetch.accept``)."""
    reviews_name, meta_name = files(variant)
    if path is None:
        folder = Path(fetch_kwargs.pop("directory", None) or cache_dir() / "amazon")
        reviews_path = fetch(BASE + reviews_name, reviews_name, None, folder, **fetch_kwargs)
        meta_path = fetch(BASE + meta_name, meta_name, None, folder, **fetch_kwargs)
    else:
        reviews_path, meta_path = Path(path) / reviews_name, Path(path) / meta_name
        for p in (reviews_path, meta_path):
            if not p.is_file():
                raise FileNotFoundError(f"{p} not found (the folder given as path must hold "
                                        f"{reviews_name} and {meta_name}, gzipped as published)")
    reviews = read_reviews(reviews_path)
    categories = read_categories(meta_path, set(reviews.item.unique()))
    return preprocess(reviews, categories, f"amazon-{variant.lower()}", seed)
