"""MovieLens-1M (GroupLens): 1,000,209 ratings of 3,706 films by 6,040 users, 2000-2003.

Source: https://files.grouplens.org/datasets/movielens/ml-1m.zip, checked against the md5 that
GroupLens publishes beside it (``ml-1m.zip.md5``). Licence: research use, no redistribution,
cite Harper & Konstan (2015) (see the README inside the zip).

Raw format (latin-1, ``::``-separated, no header): ``ratings.dat`` UserID::MovieID::Rating::
Timestamp; ``users.dat`` UserID::Gender::Age::Occupation::Zip-code; ``movies.dat``
MovieID::Title::Genres (genres joined by ``|``).

Implicit feedback: a rating says the user watched the film, so every rating with
``rating >= min_rating`` is one event (default 1: all ratings); the rating value is dropped.
Non-clicks are sampled later (never-rated films, by popularity) where a CTR label is needed.
Ids: users keep their GroupLens ids (1..6040); films are renumbered 1..N in MovieID order over
``movies.dat``; a film's category is its FIRST listed genre (``vocab["genres"]`` keeps them
all). Profile: gender (F=1, M=2), age group (the 7 codes 1, 18, .., 56 -> 1..7), occupation
(0..20 -> 1..21), zip code (ids in sorted order).
"""
from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from .fetch import fetch, verify
from .text import decode, require_newline_end
from .meta import Meta

URL = "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
MD5 = "md5:c4d9eecfca2ab87c1945afe126590906"  # published by GroupLens as ml-1m.zip.md5
AGES = (1, 18, 25, 35, 45, 50, 56)  # users.dat age-group codes (README of ml-1m)
MAX_LEN = 50


def _read(zf: zipfile.ZipFile, member: str, names: list[str], ints: list[str], zip_name: str,
          whole: bool) -> pd.DataFrame:
    path = next((n for n in zf.namelist() if n.endswith("/" + member) or n == member), None)
    if path is None:
        raise ValueError(f"{zip_name} has no {member} (members: {zf.namelist()})")
    raw = zf.read(path)
    what = f"{zip_name}: {member}"
    if not whole:  # GroupLens' own zip (md5 matched) is whole; anything else may be cut
        require_newline_end(raw, what)
    lines = decode(raw, member).splitlines()
    numbers = [n for n, line in enumerate(lines, 1) if line]
    rows = [lines[n - 1].split("::") for n in numbers]
    for n, r in zip(numbers, rows):
        if len(r) != len(names):
            raise ValueError(f"{what} line {n}: expected {len(names)} '::'-separated fields "
                             f"({', '.join(names)}), got {lines[n - 1]!r}")
    df = pd.DataFrame(rows, columns=names)
    for col in ints:
        v = pd.to_numeric(df[col], errors="coerce")
        bad = v.isna() | (v != np.floor(v))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(f"{what} line {numbers[i]}: {col} must be an integer, found "
                             f"{df[col].iloc[i]!r} in {lines[numbers[i] - 1]!r}")
        df[col] = v.astype(np.int64)
    return df


def parse(zip_path, whole: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(ratings, users, movies)`` as in the zip, typed: ratings (user, movie, rating, time),
    users (user, gender, age, occupation, zip), movies (movie, title, genres).

    Refused, naming the file, the line and the line's text: a line with another number of
    '::' fields or a non-integer id/rating/time (``4::2::5::``); a file whose last line has no
    newline (a cut file; ``whole=True`` when the zip matched GroupLens' md5). A file that is
    not a zip (cut, or a CSV) is refused naming its path. ``movies.dat``/``users.dat``
    re-saved as UTF-8 are read as UTF-8 (recbook/data/text.py), never garbled as latin-1."""
    zip_path = Path(zip_path)
    if not zipfile.is_zipfile(zip_path):
        raise ValueError(f"{zip_path} is not a zip archive (cut or corrupt download, or another "
                         "file such as a CSV); MovieLens-1M needs GroupLens' ml-1m.zip")
    try:
        with zipfile.ZipFile(zip_path) as zf:
            ratings = _read(zf, "ratings.dat", ["user", "movie", "rating", "time"],
                            ["user", "movie", "rating", "time"], zip_path.name, whole)
            users = _read(zf, "users.dat", ["user", "gender", "age", "occupation", "zip"],
                          ["user", "age", "occupation"], zip_path.name, whole)
            movies = _read(zf, "movies.dat", ["movie", "title", "genres"], ["movie"],
                           zip_path.name, whole)
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise ValueError(f"{zip_path}: the zip archive is damaged ({type(e).__name__}: {e})") \
            from e
    return ratings, users, movies


def preprocess(ratings, users, movies, min_rating: int = 1, seed: int = 0):
    """The event log, users table, Meta and vocabularies (see the module docstring)."""
    from .samples import RealData
    movies = movies.sort_values("movie").reset_index(drop=True)
    item_of = pd.Series(np.arange(1, len(movies) + 1), index=movies.movie.to_numpy())
    genres = movies.genres.str.split("|")
    cat_names = np.array(sorted({g for gs in genres for g in gs}))
    cat_of = {g: i + 1 for i, g in enumerate(cat_names)}
    item_cat = np.concatenate([[0], [cat_of[gs[0]] for gs in genres]]).astype(np.int64)

    unknown = ~ratings.movie.isin(item_of.index)
    if unknown.any():
        raise ValueError(f"ratings.dat rates MovieID {ratings.movie[unknown].iloc[0]} that "
                         "movies.dat does not list")
    kept = ratings[ratings.rating >= min_rating]
    if kept.empty:
        raise ValueError(f"min_rating={min_rating} keeps none of the {len(ratings)} ratings "
                         f"(ratings {ratings.rating.min() if len(ratings) else '-'}.."
                         f"{ratings.rating.max() if len(ratings) else '-'}): nothing left "
                         "after filtering")
    events = pd.DataFrame({"user": kept.user.to_numpy(),
                           "item": item_of.reindex(kept.movie).to_numpy().astype(np.int64),
                           "time": kept.time.to_numpy()})

    zips = np.array(sorted(users.zip.unique()))
    gender = users.gender.map({"F": 1, "M": 2})
    age = users.age.map({a: i + 1 for i, a in enumerate(AGES)})
    if gender.isna().any() or age.isna().any():
        raise ValueError("users.dat: gender must be F/M and age one of "
                         f"{AGES}; found {users.gender.unique()} / {users.age.unique()}")
    table = pd.DataFrame({"user": users.user.to_numpy(), "gender": gender.astype(np.int64),
                          "age": age.astype(np.int64),
                          "occupation": users.occupation.to_numpy() + 1,
                          "zip": np.searchsorted(zips, users.zip.to_numpy()) + 1})
    meta = Meta(n_users=int(users.user.max()), n_items=len(movies), n_cats=len(cat_names),
                item_cat=item_cat, profile={"gender": 2, "age": len(AGES), "occupation": 21,
                                            "zip": len(zips)}, max_len=MAX_LEN)
    vocab = {"item": np.concatenate([[0], movies.movie.to_numpy()]),
             "title": np.concatenate([[""], movies.title.to_numpy()]),
             "genres": [[]] + list(genres), "cat": np.concatenate([[""], cat_names]),
             "zip": np.concatenate([[""], zips])}
    return RealData("movielens-1m", events, table, meta, vocab, seed=seed)


def load(path=None, min_rating: int = 1, seed: int = 0, **fetch_kwargs):
    """MovieLens-1M as a :class:`recbook.data.samples.RealData`; ``path``: a local
    ``ml-1m.zip`` (default: downloaded once into the cache).

    The zip is always checked against GroupLens' published md5, also when given as ``path``:
    a cut or altered file would load without a word (a ``ratings.dat`` cut inside its last
    timestamp moves that event first in time). Your own build of the zip is refused until you
    accept it once with ``recbook.data.fetch.accept(path)`` (the error says so). Also refused
    (see :func:`parse`): bad lines, cut files, a file that is not a zip; and a ``min_rating``
    that keeps no rating ("nothing left after filtering")."""
    if path is None:
        path = fetch(URL, "ml-1m.zip", MD5, **fetch_kwargs)
        origin = (f"GroupLens {URL} (md5 {MD5[4:]} verified), cached as {path}"
                  if verify(path, MD5) == MD5 else f"cached file {path} (accepted)")
    else:
        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"MovieLens-1M: no file {path} (path= must be ml-1m.zip)")
        if not zipfile.is_zipfile(path):
            parse(path)  # refuses it, naming the path, before its hash is compared
        matched = verify(path, MD5)
        origin = f"local file {path}" + (" (GroupLens md5 verified)" if matched == MD5
                                         else f" (accepted, {matched})")
    whole = "accepted" not in origin
    data = preprocess(*parse(Path(path), whole=whole), min_rating=min_rating, seed=seed)
    data.origin = origin
    return data
