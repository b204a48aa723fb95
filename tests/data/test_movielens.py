"""MovieLens-1M: a tiny ml-1m.zip in the exact raw format (latin-1, '::', no header)."""
import hashlib
import zipfile

import numpy as np
import pytest

from recbook.data import load_ctr, load_next_item, load_sessions, validate
from recbook.data import movielens as ml
from recbook.data.fetch import ChecksumError, accept

USERS = """1::F::1::10::48067
2::M::56::16::70072
3::M::25::15::55117
4::F::45::7::02460
"""
MOVIES = """1::Toy Story (1995)::Animation|Children's|Comedy
2::Jumanji (1995)::Adventure|Children's|Fantasy
3::Ça commence aujourd'hui (1999)::Comedy|Romance
5::Misérables, Les (1995)::Drama|Musical
10::Heat (1995)::Crime
"""
RATINGS = """1::1::5::100
1::2::3::200
1::5::4::300
1::10::1::400
2::3::4::50
2::1::2::60
2::10::5::70
3::2::5::10
3::5::4::20
3::3::3::30
4::1::4::5
4::10::2::6
4::3::5::7
"""


@pytest.fixture
def zip_path(tmp_path):
    path = tmp_path / "ml-1m.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in (("users.dat", USERS), ("movies.dat", MOVIES),
                           ("ratings.dat", RATINGS)):
            zf.writestr(f"ml-1m/{name}", text.encode("latin-1"))
    accept(path)  # not GroupLens' file: accepted once, as a reader's own build would be
    return path


def test_parse_exact(zip_path):
    ratings, users, movies = ml.parse(zip_path)
    assert ratings.shape == (13, 4) and ratings.rating.tolist()[:4] == [5, 3, 4, 1]
    assert users.zip.tolist() == ["48067", "70072", "55117", "02460"]  # leading zero kept
    assert movies.title.tolist()[2] == "Ça commence aujourd'hui (1999)"  # latin-1 decoded
    assert movies.title.tolist()[3] == "Misérables, Les (1995)"


def test_preprocess_exact(zip_path):
    data = ml.preprocess(*ml.parse(zip_path))
    m = data.meta
    # films renumbered in MovieID order 1,2,3,5,10 -> 1..5; category = first genre, genres
    # sorted: Adventure Animation Children's Comedy Crime Drama Fantasy Musical Romance
    assert data.vocab["item"].tolist() == [0, 1, 2, 3, 5, 10]
    assert data.vocab["cat"][1:].tolist() == ["Adventure", "Animation", "Children's", "Comedy",
                                              "Crime", "Drama", "Fantasy", "Musical", "Romance"]
    assert m.item_cat.tolist() == [0, 2, 1, 4, 6, 5]
    assert data.vocab["genres"][4] == ["Drama", "Musical"]
    assert (m.n_users, m.n_items, m.n_cats) == (4, 5, 9)
    assert m.profile == {"gender": 2, "age": 7, "occupation": 21, "zip": 4}
    u = data.users.set_index("user")
    assert u.gender.tolist() == [1, 2, 2, 1] and u.age.tolist() == [1, 7, 3, 5]
    assert u.occupation.tolist() == [11, 17, 16, 8] and u.zip.tolist() == [2, 4, 3, 1]
    assert len(data.events) == 13  # every rating is an implicit event by default
    assert data.events[data.events.user == 1].item.tolist() == [1, 2, 4, 5]
    liked = ml.preprocess(*ml.parse(zip_path), min_rating=4)
    assert len(liked.events) == 8
    assert liked.events[liked.events.user == 1].item.tolist() == [1, 4]


def test_load_ctr_contract_and_split(zip_path):
    d = load_ctr("movielens-1m", path=zip_path, max_len=5)
    for part in (d.train, d.valid, d.test):
        validate(part, d.meta, ["user", "gender", "age", "occupation", "zip", "target_item",
                                "target_cat", "hist_items", "hist_cats", "hist_len", "label",
                                "neg_hist_items", "neg_hist_cats", "hist_gaps"])
    t = d.test
    rows = np.flatnonzero(t["user"] == 1)  # user 1's last rating (t=400): film 10 -> item 5
    assert sorted(t["label"][rows].tolist()) == [0.0, 1.0]
    pos, neg = rows[t["label"][rows] == 1][0], rows[t["label"][rows] == 0][0]
    assert t["target_item"][pos] == 5 and t["target_cat"][pos] == 5
    assert t["target_item"][neg] == 3  # the only film user 1 never rated
    assert t["hist_items"][pos].tolist() == [1, 2, 4, 0, 0] and t["hist_len"][pos] == 3
    assert t["hist_gaps"][pos, :3].tolist() == [300.0, 200.0, 100.0]
    assert t["gender"][pos] == 1 and t["zip"][pos] == 2
    assert d.valid["target_item"][(d.valid["user"] == 1) & (d.valid["label"] == 1)].tolist() == [4]
    assert len(d.train["user"]) == 2 * (13 - 4 - 2 * 4)  # each positive has one negative


def test_load_next_item_and_sessions(zip_path):
    d = load_next_item("movielens-1m", path=zip_path, split="time", max_len=3)
    validate(d.test, d.meta, ["target_item", "hist_items", "hist_len"])
    assert d.test["target_item"][d.test["user"] == 3].tolist() == [3]  # film 3 at t=30
    assert d.test["hist_items"][d.test["user"] == 3].tolist() == [[2, 4, 0]]
    s = load_sessions("movielens-1m", path=zip_path, valid=0.25, test=0.25)
    assert set(s.train.columns) == {"session", "item", "time"}


def test_download_checks_grouplens_md5(zip_path, tmp_path, monkeypatch):
    monkeypatch.setattr(ml, "URL", zip_path.as_uri())
    with pytest.raises(ChecksumError) as e:  # our tiny zip is not GroupLens' file
        ml.load(directory=tmp_path / "cache", wait=0)
    msg = str(e.value)
    assert "ml-1m.zip" in msg and "c4d9eecfca2ab87c1945afe126590906" in msg
    assert hashlib.md5(zip_path.read_bytes()).hexdigest() in msg
    assert not (tmp_path / "cache" / "ml-1m.zip").exists()
    monkeypatch.setattr(ml, "MD5", "md5:" + hashlib.md5(zip_path.read_bytes()).hexdigest())
    assert ml.load(directory=tmp_path / "cache").meta.n_items == 5


def test_bad_lines_are_named(tmp_path):
    path = tmp_path / "ml-1m.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ml-1m/users.dat", USERS)
        zf.writestr("ml-1m/movies.dat", MOVIES)
        zf.writestr("ml-1m/ratings.dat", "1,1,5,100\n")  # wrong separator
    with pytest.raises(ValueError, match="ratings.dat.*'::'"):
        ml.parse(path)
