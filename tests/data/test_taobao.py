"""Taobao UserBehavior: a tiny UserBehavior.csv (no header, user,item,category,behavior,ts)
-> ComiRec's preprocessing."""
import numpy as np
import pytest

from recbook.data import ManualDownloadError, load_ctr, load_next_item, validate
from recbook.data import taobao

ROWS = """1,100,7,pv,1000
1,101,8,pv,1001
2,100,7,pv,1002
1,100,9,pv,999
2,102,8,pv,1003
3,101,8,pv,1004
3,101,8,buy,1005
2,101,8,pv,998
3,100,9,pv,1006
3,102,8,cart,1007
4,100,7,pv,1008
"""


def test_comirec_preprocessing_exact(tmp_path):
    path = tmp_path / "UserBehavior.csv"
    path.write_text(ROWS)
    pv = taobao.read(path, chunksize=4)  # chunks do not change the result
    assert len(pv) == 9 and pv.time.tolist()[:4] == [1000, 1001, 1002, 999]
    data = taobao.preprocess(pv, seed=0, filter_size=2)
    # pv counts: item 100 x5, 101 x3, 102 x1 (dropped); ids by count
    assert data.vocab["item"].tolist() == [0, 100, 101]
    # user 4 has one click on kept items: dropped; the rest split int(.8n), int(.9n)
    assert sorted(data.vocab["user"][1:].tolist()) == [1, 2, 3]
    tr, va, te = data.user_split
    assert (len(tr), len(va), len(te)) == (2, 0, 1)
    # category.py: categories numbered by first appearance (7, 8, 9 -> 1, 2, 3); an item
    # takes the category of its LAST pv line, even one of a dropped user (user 4: cat 7)
    assert data.vocab["cat"].tolist() == [0, 7, 8, 9]
    assert data.meta.item_cat.tolist() == [0, 1, 2] and data.meta.n_cats == 3
    raw_user = {int(u): i for i, u in enumerate(data.vocab["user"]) if i}
    ev = data.events
    assert ev[ev.user == raw_user[1]].item.tolist() == [1, 1, 2]  # by time: 999, 1000, 1001
    assert ev[ev.user == raw_user[2]].item.tolist() == [2, 1]
    assert ev[ev.user == raw_user[3]].item.tolist() == [2, 1]


def _generated(tmp_path, n_users=60, seed=0):
    rng = np.random.default_rng(seed)
    lines = []
    for u in range(1, n_users + 1):
        for k in range(rng.integers(3, 15)):
            item = int(rng.zipf(1.5)) % 40 + 1
            kind = rng.choice(["pv", "pv", "pv", "buy", "cart", "fav"])
            t = 1511539200 + int(rng.integers(0, 9e5))  # Nov 25 - Dec 3, 2017
            lines.append(f"{u},{item},{item % 6 + 1},{kind},{t}")
    path = tmp_path / "taobao" / "UserBehavior.csv"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n")
    return path


def test_loaders_contract(tmp_path):
    path = _generated(tmp_path)
    d = load_next_item("taobao", path=path, seed=1)
    validate(d.train, d.meta, ["user", "target_item", "target_cat", "hist_items", "hist_cats",
                               "hist_len"])
    for part in (d.valid, d.test):
        validate(part, d.meta, ["user", "target_item", "hist_items", "hist_len"])
        assert (part["truth_len"] >= 1).all()
    tr, va, te = d.source.user_split
    assert set(np.unique(d.train["user"])) <= set(tr)
    assert set(d.test["user"]) <= set(te) and not set(tr) & set(te)
    counts = d.source.events.groupby("item").size()
    assert d.source.events.groupby("user").size().min() >= 5  # ComiRec's user filter
    assert len(counts) <= d.meta.n_items
    c = load_ctr("taobao", path=path, seed=1)
    validate(c.test, c.meta, ["target_item", "hist_items", "hist_len", "label"])
    few = load_next_item("taobao", path=path, seed=1, max_users=10)
    assert few.meta.n_users == 10 and few.source.events.user.nunique() == 10


def test_missing_file_says_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBOOK_DATA", str(tmp_path))
    with pytest.raises(ManualDownloadError) as e:
        load_next_item("taobao")
    msg = str(e.value)
    assert "tianchi.aliyun.com/dataset/649" in msg
    assert str(tmp_path / "taobao" / "UserBehavior.csv") in msg


def test_malformed_file(tmp_path):
    path = tmp_path / "UserBehavior.csv"
    path.write_text("1,100,pv,1000\nx,y,z,pv,1\n")
    with pytest.raises(ValueError, match="user_id,item_id,category_id,behavior_type"):
        taobao.load(path)
