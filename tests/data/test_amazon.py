"""Amazon 2014: tiny reviews_Books_5.json.gz (JSON lines) and meta_Books.json.gz
(Python-literal lines, as the originals) -> DIEN's preprocessing."""
import gzip
import json
from types import SimpleNamespace

import numpy as np
import pytest

from recbook.data import load_ctr, load_next_item, validate
from recbook.data import amazon
from recbook.data.samples import ctr_samples

DAY = 86400
# (reviewer, asin, day) in file order
REVIEWS = [("A", "i1", 1), ("B", "i2", 1), ("A", "i2", 3), ("C", "i1", 2), ("A", "i3", 3),
           ("B", "i1", 5), ("C", "i3", 1), ("B", "i4", 4), ("A", "i4", 2), ("D", "i2", 7),
           ("E", "i5", 2), ("E", "i1", 3)]
META = [
    {"asin": "i1", "title": "Emma", "categories": [["Books", "Literature & Fiction", "Classics"]],
     "related": {"also_bought": ["i2", "i4"]}, "price": 3.5},
    {"asin": "i9", "categories": [["Books", "Unreviewed"]]},
    {"asin": "i2", "categories": [["Books", "Science"], ["Books", "Other"]],
     "description": 'He said "don\'t"'},
    {"asin": "i4", "categories": [["Books", "Classics"]], "salesRank": {"Books": 12}},
]  # i3 has no metadata -> default_cat


def _write(folder, reviews=REVIEWS, meta=META, variant="Books"):
    folder.mkdir(exist_ok=True)
    r_name, m_name = amazon.files(variant)
    with gzip.open(folder / r_name, "wt", encoding="utf-8") as f:
        for user, asin, day in reviews:
            f.write(json.dumps({"reviewerID": user, "asin": asin, "reviewerName": "X",
                                "helpful": [0, 0], "reviewText": "Good.", "overall": 5.0,
                                "summary": "ok", "unixReviewTime": day * DAY,
                                "reviewTime": "01 1, 2014"}) + "\n")
    with gzip.open(folder / m_name, "wt", encoding="utf-8") as f:
        for obj in meta:
            f.write(repr(obj) + "\n")  # Python literal, single quotes, as the originals
    return folder


def test_read_raw_files(tmp_path):
    folder = _write(tmp_path / "raw")
    rev = amazon.read_reviews(folder / "reviews_Books_5.json.gz")
    assert rev.user.tolist()[:3] == ["A", "B", "A"] and rev.time.tolist()[0] == DAY
    cats = amazon.read_categories(folder / "meta_Books.json.gz", {"i1", "i2", "i3", "i4"})
    assert cats == {"i1": "Classics", "i2": "Science", "i4": "Classics"}  # i9 not parsed


def test_dien_preprocessing_exact(tmp_path):
    data = amazon.load("Books", path=_write(tmp_path / "raw"))
    m = data.meta
    # vocabularies by descending frequency, ties by first appearance (generate_voc.py)
    assert data.vocab["user"][1:].tolist() == ["A", "B", "C", "E", "D"]
    assert data.vocab["item"][1:].tolist() == ["i1", "i2", "i3", "i4", "i5"]
    assert data.vocab["cat"][1:].tolist() == ["Classics", "Science", "default_cat"]
    assert m.item_cat.tolist() == [0, 1, 2, 3, 1, 3] and m.max_len == 100
    ev = data.events
    # A's reviews by time; same-day i2 then i3 keep file order, one second apart
    assert ev[ev.user == 1].item.tolist() == [1, 4, 2, 3]
    assert ev[ev.user == 1].time.tolist() == [DAY, 2 * DAY, 3 * DAY, 3 * DAY + 1]
    train, valid, test = data.ctr_split
    both = np.concatenate([p.user.to_numpy() for p in (train, valid, test)])
    assert sorted(both.tolist()) == [1, 1, 2, 2, 3, 3, 4, 4]  # D has 1 review: no sample
    for part in (train, valid, test):
        for _, g in part.groupby("user"):
            pos, neg = g[g.label == 1], g[g.label == 0]
            assert len(pos) == len(neg) == 1 and pos.time.item() == neg.time.item()
            assert neg.item.item() != pos.item.item()
    last = {u: g[g.label == 1].item.item()
            for p in (train, valid, test) for u, g in p.groupby("user")}
    assert last == {1: 3, 2: 1, 3: 1, 4: 1}  # each user's LAST review is the target


def test_load_ctr_histories(tmp_path):
    # 4 reviewers with a history: DIEN's 80/10/10 draw leaves valid empty, which load_ctr
    # refuses (nothing to evaluate); the histories are checked on the raw split instead
    with pytest.raises(ValueError, match="valid empty .*nothing left after filtering"):
        load_ctr("amazon-books", path=_write(tmp_path / "raw"))
    data = amazon.load("Books", path=tmp_path / "raw")
    d = SimpleNamespace(meta=data.meta)
    d.train, d.valid, d.test = (ctr_samples(data.events, part, data.meta)
                                for part in data.ctr_split)
    keys = ["user", "target_item", "target_cat", "hist_items", "hist_cats", "hist_len",
            "label", "neg_hist_items", "neg_hist_cats", "hist_gaps"]
    allrows = {}
    for part in (d.train, d.valid, d.test):
        if len(part["user"]):
            validate(part, d.meta, keys)
        for i in np.flatnonzero(part["label"] == 1):
            allrows[part["user"][i]] = part["hist_items"][i, :part["hist_len"][i]].tolist()
    # A: every earlier review, including the same-day one before it (DIEN's history)
    assert allrows == {1: [1, 4, 2], 2: [2, 4], 3: [3], 4: [5]}


def test_user_split_fractions(tmp_path):
    rng = np.random.default_rng(1)
    reviews = [(f"u{u}", f"i{rng.integers(40)}", int(d))
               for u in range(600) for d in rng.integers(1, 100, 3)]
    d = amazon.load("Electronics", path=_write(tmp_path / "raw", reviews, [], "Electronics"),
                    seed=3)
    users = [set(p.user) for p in d.ctr_split]
    assert not (users[0] & users[1] or users[0] & users[2] or users[1] & users[2])
    share = np.array([len(u) for u in users]) / 600
    assert abs(share[0] - 0.8) < 0.06 and abs(share[1] - 0.1) < 0.04
    assert abs(share[2] - 0.1) < 0.04
    assert d.meta.n_cats == 1  # no metadata at all: everything is default_cat
    nxt = load_next_item("amazon-electronics", path=tmp_path / "raw", max_len=4)
    validate(nxt.train, nxt.meta, ["target_item", "hist_items", "hist_len"], max_len=4)


def test_metadata_is_never_evaluated(tmp_path):
    evil = "{'asin': 'i1', 'categories': __import__('os').system('echo pwned')}"
    folder = _write(tmp_path / "raw")
    with gzip.open(folder / "meta_Books.json.gz", "wt") as f:
        f.write(evil + "\n")
    with pytest.raises(ValueError, match="meta_Books.json.gz line 1: not a Python-literal"):
        amazon.load("Books", path=folder)


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="Books.*Electronics"):
        amazon.files("Movies")
    with pytest.raises(FileNotFoundError, match="reviews_Books_5.json.gz"):
        amazon.load("Books", path=tmp_path)
    folder = _write(tmp_path / "raw")
    with gzip.open(folder / "reviews_Books_5.json.gz", "wt") as f:
        f.write('{"reviewerID": "A", "asin": "i1"}\n')
    with pytest.raises(ValueError, match="line 1.*unixReviewTime"):
        amazon.load("Books", path=folder)
