"""MovieLens-100K (GroupLens): 100,000 ratings of 1,682 films by 943 users, Sept 1997-Apr 1998.

Terms (the zip's README): research use; cite Harper & Konstan (2015), ACM TiiS 5(4); no
redistribution, no commercial use without GroupLens' permission. recbook never ships the files:
it downloads them onto the reader's machine, from one of two sources, and says which one
(``RealData.origin``, printed by the chapters' data cells):

1. ``"grouplens"``: https://files.grouplens.org/datasets/movielens/ml-100k.zip, checked against
   the md5 GroupLens publishes beside it (``ml-100k.zip.md5``).
2. ``"recbole-wheel"``: where GroupLens is unreachable (CI, machines that reach only the package
   registries): the RecBole 1.2.1 wheel on PyPI holds the same ratings, films and users as
   ``recbole/dataset_example/ml-100k/ml-100k.{inter,item,user}`` (RecBole's "atomic files":
   tab-separated, typed headers such as ``user_id:token``). The wheel is fetched by name with
   this Python's pip, checked against its sha256, and only those three files are extracted
   and checked (nothing is installed or imported).

Both sources give identical arrays (tests/data/test_movielens100k.py); only the display titles
in ``vocab["title"]`` differ (RecBole strips the year from the title).

Preprocessing (the same as MovieLens-1M's, recbook/data/movielens.py):

* Implicit feedback: every rating with ``rating >= min_rating`` (default 1: all) is one event.
* Ids: users keep their ids (1..943), films their MovieIDs (1..1682, renumbered in id order
  should a file skip one).
* Category = the film's FIRST genre in GroupLens' genre order (``u.genre``: unknown, Action,
  Adventure, ..., Western), as the 1M loader's first listed genre; all 19 genres are kept in
  ``vocab["genres"]`` (per film) and ``vocab["cat"]`` (category id -> name, fixed order).
* Profile: age group (MovieLens-1M's 7 groups: <18, 18-24, 25-34, 35-44, 45-49, 50-55, 56+),
  gender (F=1, M=2), occupation (the 21 of ``u.occupation``, alphabetical), zip prefix (the
  first character: the US ZIP region 0-9, or a letter for a non-US code).
* Ties: users often rated many films in the same second (51 % of a user's consecutive ratings
  share it). Ordered by item id, as a sort on (user, time, item) leaves them, a sequential model
  learns the id order instead of a taste, so equal timestamps of a user are put in a random
  order drawn from ``tie_seed``: reproducible, independent of the file's row order,
  uncorrelated with item ids (see
  :func:`recbook.data.samples.shuffle_ties`).
* Sessions (:func:`recbook.data.load_sessions`): one session per user, the user's whole
  time-ordered rating history (``session_gap = inf``). Ratings are not browsing sessions: users
  entered many at once (a 30-minute cut gives 2,793 bursts, 3 per user, 18 % of them a single
  rating), and 1,337 of the 1,850 gaps between bursts exceed a day: pauses in rating, not the
  ends of visits. The sequential-recommendation practice on MovieLens (RecBole's GRU4Rec and
  SASRec configs, the SASRec and BERT4Rec papers) treats each user's sequence as one.
  ``load_sessions(..., gap=seconds)`` cuts by time instead.
"""
from __future__ import annotations

import csv
import io
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from .fetch import cache_dir, fetch, fetch_from_wheel, verify
from .text import decode, not_utf8_error, require_newline_end
from .meta import Meta

URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
# GroupLens' ml-100k.zip.md5, as quoted by several public repositories' checksum tables (the
# GroupLens server was unreachable where this was written, so not checked against it here)
MD5 = "md5:0e33842e24a9c977be4e0107933c0723"
WHEEL = "recbole==1.2.1"
WHEEL_SHA256 = "sha256:9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
WHEEL_DIR = "recbole/dataset_example/ml-100k/"
WHEEL_FILES = {  # member -> sha256 of the file inside the wheel above
    "ml-100k.inter": "sha256:4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.item": "sha256:51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
    "ml-100k.user": "sha256:4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972"}
CACHE_ZIP, CACHE_WHEEL = "ml-100k.zip", "ml-100k-recbole-1.2.1"
SOURCES = ("auto", "grouplens", "recbole-wheel")
GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
          "Romance", "Sci-Fi", "Thriller", "War", "Western")  # u.genre, in its order
OCCUPATIONS = ("administrator", "artist", "doctor", "educator", "engineer", "entertainment",
               "executive", "healthcare", "homemaker", "lawyer", "librarian", "marketing",
               "none", "other", "programmer", "retired", "salesman", "scientist", "student",
               "technician", "writer")  # u.occupation
AGES = (1, 18, 25, 35, 45, 50, 56)  # lower bounds of MovieLens-1M's age groups
ZIP_PREFIXES = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MAX_LEN = 50


# ----------------------------------------------------------------------------- readers
def _table(text: str, sep: str, names: list[str], what: str, first_line: int = 1) -> pd.DataFrame:
    """The fields of ``text`` as strings; ``df.attrs["first_line"]``: the file line of row 0
    (blank lines are kept as rows, so row i is line ``first_line + i`` in error messages)."""
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, header=None, dtype=str,
                         quoting=csv.QUOTE_NONE, keep_default_na=False, skip_blank_lines=False)
    except pd.errors.ParserError as e:  # a line with more fields than the first
        raise ValueError(f"{what}: expected {len(names)} {sep!r}-separated fields "
                         f"({', '.join(names)}) on every line ({e})") from e
    except pd.errors.EmptyDataError:
        raise ValueError(f"{what}: the file is empty") from None
    if df.shape[1] != len(names):
        raise ValueError(f"{what}: expected {len(names)} {sep!r}-separated fields "
                         f"({', '.join(names)}), found {df.shape[1]} in {text[:80]!r}")
    lines = text.split("\n")[:len(df)]
    short = [i for i, line in enumerate(lines) if line.rstrip("\r").count(sep) != len(names) - 1]
    if short:
        raise ValueError(f"{what} line {first_line + short[0]}: expected {len(names)} "
                         f"{sep!r}-separated fields ({', '.join(names)}), got "
                         f"{lines[short[0]]!r}")
    df.columns = names
    df.attrs["first_line"] = first_line
    return df


def _ints(df: pd.DataFrame, cols, what: str) -> pd.DataFrame:
    for c in cols:
        v = pd.to_numeric(df[c], errors="coerce")
        bad = (v.isna() | (v != np.floor(v))).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{what} line {df.attrs.get('first_line', 1) + i}: column {c!r} "
                             f"must hold integers, found {df[c].iloc[i]!r}")
        df[c] = v.astype(np.int64)
    return df


def read_grouplens(files: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(ratings, users, movies)`` from the texts of ``u.data``, ``u.user``, ``u.item``:
    ratings (user, movie, rating, time), users (user, age, gender, occupation, zip), movies
    (movie, title, genres: list of genre names in GENRES order)."""
    ratings = _ints(_table(files["u.data"], "\t", ["user", "movie", "rating", "time"], "u.data"),
                    ["user", "movie", "rating", "time"], "u.data")
    users = _ints(_table(files["u.user"], "|", ["user", "age", "gender", "occupation", "zip"],
                         "u.user"), ["user", "age"], "u.user")
    items = _table(files["u.item"], "|", ["movie", "title", "release", "video", "url"]
                   + list(GENRES), "u.item")
    flags = items[list(GENRES)].to_numpy()
    if not np.isin(flags, ["0", "1"]).all():
        raise ValueError("u.item: the 19 genre flags must be 0 or 1, found "
                         f"{flags[~np.isin(flags, ['0', '1'])][0]!r}")
    movies = _ints(items[["movie", "title"]].copy(), ["movie"], "u.item")
    movies["genres"] = [[g for g, f in zip(GENRES, row) if f == "1"] for row in flags]
    return ratings, users, movies


def _atomic(text: str, what: str, want: dict[str, str]) -> pd.DataFrame:
    """A RecBole atomic file: tab-separated, header ``name:type``; columns renamed by ``want``."""
    header, _, body = text.partition("\n")
    names = [h.split(":")[0] for h in header.rstrip("\r").split("\t")]
    missing = [n for n in want if n not in names]
    if missing:
        raise ValueError(f"{what}: header lacks {missing} (header: {header!r})")
    df = _table(body, "\t", names, what, first_line=2)
    return df[list(want)].rename(columns=want)


def read_recbole(files: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The same three frames as :func:`read_grouplens`, from the texts of RecBole's
    ``ml-100k.inter``, ``ml-100k.user``, ``ml-100k.item``."""
    ratings = _ints(_atomic(files["ml-100k.inter"], "ml-100k.inter", {
        "user_id": "user", "item_id": "movie", "rating": "rating", "timestamp": "time"}),
        ["user", "movie", "rating", "time"], "ml-100k.inter")
    users = _ints(_atomic(files["ml-100k.user"], "ml-100k.user", {
        "user_id": "user", "age": "age", "gender": "gender", "occupation": "occupation",
        "zip_code": "zip"}), ["user", "age"], "ml-100k.user")
    items = _atomic(files["ml-100k.item"], "ml-100k.item", {
        "item_id": "movie", "movie_title": "title", "class": "genres"})
    order = {g: i for i, g in enumerate(GENRES)}
    bad = sorted({g for gs in items.genres for g in gs.split() if g not in order})
    if bad:
        raise ValueError(f"ml-100k.item: unknown genres {bad} (known: {list(GENRES)})")
    items["genres"] = [sorted(gs.split(), key=order.get) for gs in items.genres]
    return ratings, users, _ints(items, ["movie"], "ml-100k.item")


GROUPLENS_FILES = ("u.data", "u.item", "u.user")


def _texts(folder: Path, names, whole: bool, utf8: bool) -> dict[str, str]:
    out = {}
    for name in names:
        raw = (folder / name).read_bytes()
        if not whole:
            require_newline_end(raw, str(folder / name))
        if utf8:
            try:
                out[name] = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise not_utf8_error(folder / name) from None
        else:
            out[name] = decode(raw, name)
    return out


def read(path, whole: bool = False) -> tuple[tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], str]:
    """The three frames and the format name from a GroupLens ``ml-100k.zip``, or a folder
    holding either ``u.data``/``u.item``/``u.user`` or ``ml-100k.{inter,item,user}`` (also one
    level down, e.g. the zip's ``ml-100k/``).

    Refused, naming the file: a path that is not a zip (a cut download, a CSV); a damaged zip;
    a file whose last line has no newline (cut; ``whole=True`` when its published hash
    matched); a RecBole file that is not UTF-8 (naming the line). GroupLens' latin-1 files
    re-saved as UTF-8 are read as UTF-8 (recbook/data/text.py)."""
    path = Path(path).expanduser()
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise ValueError(f"{path} is not a zip archive (cut or corrupt download, or another "
                             "file such as a CSV); MovieLens-100K needs ml-100k.zip or a folder")
        try:
            with zipfile.ZipFile(path) as zf:
                names = {Path(n).name: n for n in zf.namelist()}
                missing = [f for f in GROUPLENS_FILES if f not in names]
                if missing:
                    raise ValueError(f"{path} lacks {missing}; is it GroupLens' ml-100k.zip?")
                raw = {f: zf.read(names[f]) for f in GROUPLENS_FILES}
        except (zipfile.BadZipFile, zlib.error, EOFError) as e:
            raise ValueError(f"{path}: the zip archive is damaged ({type(e).__name__}: "
                             f"{e})") from e
        if not whole:
            for f, data in raw.items():
                require_newline_end(data, f"{path}: {f}")
        return read_grouplens({f: decode(data, f) for f, data in raw.items()}), "GroupLens"
    if not path.is_dir():
        raise FileNotFoundError(f"MovieLens-100K: {path} is neither ml-100k.zip nor a folder")
    for folder in [path] + sorted(p for p in path.iterdir() if p.is_dir()):
        if all((folder / f).is_file() for f in GROUPLENS_FILES):
            return read_grouplens(_texts(folder, GROUPLENS_FILES, whole, False)), "GroupLens"
        if all((folder / f).is_file() for f in WHEEL_FILES):
            return read_recbole(_texts(folder, WHEEL_FILES, whole, True)), \
                "RecBole atomic files"
    raise FileNotFoundError(f"MovieLens-100K: {path} holds neither {list(GROUPLENS_FILES)} nor "
                            f"{list(WHEEL_FILES)}")


def _check_local(path: Path) -> bool:
    """Check a ``path=`` against the hashes recbook knows (GroupLens' md5 of the zip, the
    sha256 of RecBole's three files); True when every file is the published one. A file that
    differs is refused until accepted (``recbook.data.fetch.accept``)."""
    if path.is_file():
        return zipfile.is_zipfile(path) and verify(path, MD5) == MD5
    if not path.is_dir():
        return False
    for folder in [path] + sorted(p for p in path.iterdir() if p.is_dir()):
        if all((folder / f).is_file() for f in GROUPLENS_FILES):
            return False  # no published hash for the unzipped files: the cut-file rule applies
        if all((folder / f).is_file() for f in WHEEL_FILES):
            return all([verify(folder / f, h) == h for f, h in WHEEL_FILES.items()])
    return False


# ----------------------------------------------------------------------------- preprocessing
def preprocess(ratings: pd.DataFrame, users: pd.DataFrame, movies: pd.DataFrame,
               min_rating: int = 1, seed: int = 0, tie_seed: int = 0, origin: str = ""):
    """The :class:`~recbook.data.samples.RealData` (see the module docstring)."""
    from .samples import RealData, shuffle_ties
    movies = movies.sort_values("movie").reset_index(drop=True)
    item_of = pd.Series(np.arange(1, len(movies) + 1), index=movies.movie.to_numpy())
    genres = [gs if gs else ["unknown"] for gs in movies.genres]
    item_cat = np.array([0] + [GENRES.index(gs[0]) + 1 for gs in genres], dtype=np.int64)
    unknown = ~ratings.movie.isin(item_of.index)
    if unknown.any():
        raise ValueError(f"the ratings rate film {ratings.movie[unknown].iloc[0]} that the "
                         "films file does not list")
    kept = ratings[ratings.rating >= min_rating]
    if kept.empty:
        raise ValueError(f"min_rating={min_rating} keeps none of the {len(ratings)} ratings: "
                         "nothing left after filtering")
    events = shuffle_ties(pd.DataFrame({
        "user": kept.user.to_numpy(), "item": item_of.reindex(kept.movie).to_numpy(),
        "time": kept.time.to_numpy()}).astype(np.int64), tie_seed)

    gender = users.gender.str.upper().map({"F": 1, "M": 2})
    occupation = users.occupation.map({o: i + 1 for i, o in enumerate(OCCUPATIONS)})
    prefix = users.zip.str[:1].str.upper().map({z: i + 1 for i, z in enumerate(ZIP_PREFIXES)})
    for name, col, allowed in (("gender", gender, "F/M"), ("occupation", occupation,
                                                           list(OCCUPATIONS)),
                               ("zip", prefix, "a digit or letter first")):
        if col.isna().any():
            raise ValueError(f"users: {name} must be {allowed}, found "
                             f"{users[name][col.isna()].iloc[0]!r}")
    if (users.age < 0).any():
        raise ValueError(f"users: age must be >= 0, found {users.age.min()}")
    table = pd.DataFrame({"user": users.user.to_numpy(),
                          "age": np.searchsorted(AGES, users.age.to_numpy(), side="right"),
                          "gender": gender.to_numpy(), "occupation": occupation.to_numpy(),
                          "zip": prefix.to_numpy()}).astype(np.int64)
    table["age"] = np.maximum(table.age, 1)  # ages under 1 (none in the data) join group 1
    meta = Meta(n_users=int(max(users.user.max(), ratings.user.max())), n_items=len(movies),
                n_cats=len(GENRES), item_cat=item_cat,
                profile={"age": len(AGES), "gender": 2, "occupation": len(OCCUPATIONS),
                         "zip": len(ZIP_PREFIXES)}, max_len=MAX_LEN)
    vocab = {"item": np.concatenate([[0], movies.movie.to_numpy()]),
             "title": np.concatenate([[""], movies.title.to_numpy()]),
             "genres": [[]] + genres, "cat": np.array([""] + list(GENRES)),
             "occupation": np.array([""] + list(OCCUPATIONS)),
             "zip": np.array([""] + list(ZIP_PREFIXES))}
    return RealData("movielens-100k", events, table, meta, vocab, seed=seed,
                    session_gap=float("inf"), origin=origin)


# ----------------------------------------------------------------------------- sources
def _cached_wheel_files(directory: Path) -> Path | None:
    folder = directory / CACHE_WHEEL
    return folder if all((folder / f).is_file() for f in WHEEL_FILES) else None


def _from_wheel(directory: Path, wheel_downloader) -> tuple[Path, str]:
    folder = fetch_from_wheel(WHEEL, WHEEL_SHA256, {WHEEL_DIR + f: h
                                                     for f, h in WHEEL_FILES.items()},
                              directory / CACHE_WHEEL, downloader=wheel_downloader)
    return folder, (f"RecBole 1.2.1 wheel from PyPI (sha256 {WHEEL_SHA256[7:19]}...; "
                    f"{', '.join(WHEEL_FILES)} sha256-checked), cached in {folder}")


def _from_grouplens(directory: Path, downloader, retries: int) -> tuple[Path, str]:
    path = fetch(URL, CACHE_ZIP, MD5, directory=directory, retries=retries,
                 downloader=downloader, wait=0.5)
    return path, f"GroupLens {URL} (md5 {MD5[4:]} verified), cached as {path}"


def load(path=None, min_rating: int = 1, seed: int = 0, tie_seed: int = 0,
         source: str = "auto", directory=None, downloader=None, wheel_downloader=None):
    """MovieLens-100K as a :class:`recbook.data.samples.RealData`; ``.origin`` names the source.

    ``path``: a local ``ml-100k.zip`` or a folder with either format (nothing is downloaded).
    ``source``: ``"auto"`` (a cached copy of either source, else GroupLens, else the RecBole
    wheel), ``"grouplens"`` or ``"recbole-wheel"`` (only that one). ``directory``: the cache
    (default :func:`recbook.data.fetch.cache_dir`). ``downloader`` (pooch-style) and
    ``wheel_downloader`` (``(requirement, dest) -> wheel path``) replace the network in tests.
    ``tie_seed``: the order of a user's ratings that share a second (module docstring).

    A ``path`` is checked against the hashes recbook knows (GroupLens' md5 of the zip,
    RecBole's sha256 of its files): a file that differs is refused until accepted once with
    ``recbook.data.fetch.accept(file)``. Refused too (:func:`read`): a file that is not a zip,
    a cut file, bad lines, and a ``min_rating`` that keeps nothing ("nothing left after
    filtering").
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if path is not None:
        frames, fmt = read(path, whole=_check_local(Path(path).expanduser()))
        return preprocess(*frames, min_rating, seed, tie_seed,
                          origin=f"local {fmt} files at {Path(path).expanduser()}")
    directory = Path(directory) if directory is not None else cache_dir()
    where = None
    if source in ("auto", "grouplens") and (directory / CACHE_ZIP).is_file():
        where = _from_grouplens(directory, downloader, 1)  # md5-checked again, no download
    elif source in ("auto", "recbole-wheel") and _cached_wheel_files(directory):
        where = _from_wheel(directory, wheel_downloader)  # sha256-checked again
    elif source == "grouplens":
        where = _from_grouplens(directory, downloader, 3)
    elif source == "recbole-wheel":
        where = _from_wheel(directory, wheel_downloader)
    else:  # auto, nothing cached: GroupLens once (fails fast offline), then the wheel
        try:
            where = _from_grouplens(directory, downloader, 1)
        except Exception as e:  # unreachable, or a wrong/partial file (removed by fetch)
            reason = " ".join(str(e).split()[-12:])
            folder, origin = _from_wheel(directory, wheel_downloader)
            where = folder, f"{origin} (GroupLens failed: {type(e).__name__}: {reason})"
    found, origin = where
    frames, _ = read(found, whole=True)  # its published hash was checked just now
    return preprocess(*frames, min_rating, seed, tie_seed, origin=origin)
