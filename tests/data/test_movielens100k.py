"""MovieLens-100K: the same tiny data written in GroupLens' and RecBole's formats, both sources
(downloads replaced by local fakes), checksums, partial downloads, the offline cache, ties."""
import hashlib
import zipfile

import numpy as np
import pandas as pd
import pytest

from recbook.data import load_ctr, load_next_item, load_sessions, validate
from recbook.data import movielens100k as ml
from recbook.data.fetch import ChecksumError, accept
from recbook.data.samples import shuffle_ties

GENRES = ml.GENRES
# film id, GroupLens title (latin-1), RecBole title, year, genres
FILMS = [(1, "Toy Story (1995)", "Toy Story", "1995", ["Animation", "Children's", "Comedy"]),
         (2, "GoldenEye (1995)", "GoldenEye", "1995", ["Action", "Adventure", "Thriller"]),
         (3, "Misérables, Les (1995)", "Misérables, Les", "1995", ["Drama", "Musical"]),
         (4, "unknown", "unkonwn", "unkonwn", ["unknown"]),
         (5, "Ça commence aujourd'hui (1999)", "Ça commence aujourd'hui", "1999", ["Drama"]),
         (6, "Heat (1995)", "Heat", "1995", ["Action", "Crime", "Thriller"])]
# user, age, gender, occupation, zip
USERS = [(1, 24, "M", "technician", "85711"), (2, 53, "F", "other", "94043"),
         (3, 17, "M", "student", "T8H1N"), (4, 56, "F", "none", "02460")]
RATINGS = [(1, 1, 5, 100), (1, 2, 3, 200), (1, 3, 4, 200), (1, 5, 2, 200), (1, 6, 1, 300),
           (2, 6, 4, 50), (2, 1, 2, 60), (2, 4, 5, 70), (2, 3, 3, 80),
           (3, 2, 5, 10), (3, 5, 4, 20), (3, 3, 3, 30),
           (4, 1, 4, 5), (4, 6, 2, 6), (4, 3, 5, 7), (4, 2, 1, 8)]


def grouplens_texts(ratings=RATINGS):
    item = "".join(f"{i}|{t}|01-Jan-{y}||http://x/{i}|"
                   + "|".join("1" if g in gs else "0" for g in GENRES) + "\n"
                   for i, t, _, y, gs in FILMS)
    return {"u.data": "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in ratings),
            "u.item": item,
            "u.user": "".join(f"{u}|{a}|{g}|{o}|{z}\n" for u, a, g, o, z in USERS)}


def recbole_texts(ratings=RATINGS):
    return {
        "ml-100k.inter": "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                         + "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in ratings[::-1]),
        "ml-100k.item": "item_id:token\tmovie_title:token_seq\trelease_year:token\t"
                        "class:token_seq\n"
                        + "".join(f"{i}\t{t}\t{y}\t{' '.join(gs)}\n" for i, _, t, y, gs in FILMS),
        "ml-100k.user": "user_id:token\tage:token\tgender:token\toccupation:token\t"
                        "zip_code:token\n"
                        + "".join(f"{u}\t{a}\t{g}\t{o}\t{z}\n" for u, a, g, o, z in USERS)}


def write_zip(path, texts):
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in texts.items():
            zf.writestr(f"ml-100k/{name}", text.encode("latin-1"))
    return path


def write_wheel(path, texts):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("recbole/__init__.py", "raise ImportError('never imported')\n")
        for name, text in texts.items():
            zf.writestr(ml.WHEEL_DIR + name, text.encode("utf-8"))
    return path


def sha(path_or_bytes):
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else path_or_bytes.read_bytes()
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def gl_zip(tmp_path):
    path = write_zip(tmp_path / "ml-100k.zip", grouplens_texts())
    accept(path)  # not GroupLens' zip: accepted once, as a reader's own build would be
    return path


@pytest.fixture
def rb_dir(tmp_path):
    folder = tmp_path / "recbole"
    folder.mkdir()
    for name, text in recbole_texts().items():
        (folder / name).write_text(text, encoding="utf-8")
        accept(folder / name)
    return folder


@pytest.fixture
def fake_wheel(tmp_path, monkeypatch):
    """The fixture as a wheel, with the module's published hashes set to the fixture's."""
    wheel = write_wheel(tmp_path / "recbole-1.2.1-py3-none-any.whl", recbole_texts())
    monkeypatch.setattr(ml, "WHEEL_SHA256", sha(wheel))
    monkeypatch.setattr(ml, "WHEEL_FILES", {n: sha(t.encode()) for n, t in
                                            recbole_texts().items()})
    calls = []

    def downloader(requirement, dest):
        calls.append(requirement)
        out = dest / wheel.name
        out.write_bytes(wheel.read_bytes())
        return out
    downloader.calls = calls
    return downloader


def offline(*args, **kwargs):
    raise OSError("no network in this test")


def test_both_formats_give_identical_arrays(gl_zip, rb_dir, tmp_path):
    a, b = ml.load(path=gl_zip), ml.load(path=rb_dir)
    assert "GroupLens" in a.origin and "RecBole" in b.origin
    pd.testing.assert_frame_equal(a.events, b.events)  # RecBole's rows were written reversed
    pd.testing.assert_frame_equal(a.users, b.users)
    for f in ("n_users", "n_items", "n_cats", "profile", "max_len"):
        assert getattr(a.meta, f) == getattr(b.meta, f)
    np.testing.assert_array_equal(a.meta.item_cat, b.meta.item_cat)
    for k in a.vocab:
        if k != "title":  # display titles differ by design (RecBole strips the year)
            assert list(map(list, a.vocab[k])) == list(map(list, b.vocab[k])) if k == "genres" \
                else np.array_equal(a.vocab[k], b.vocab[k])
    # the extracted GroupLens folder reads the same as its zip
    with zipfile.ZipFile(gl_zip) as zf:
        zf.extractall(tmp_path / "unzipped")
    pd.testing.assert_frame_equal(ml.load(path=tmp_path / "unzipped").events, a.events)
    # 4 users cannot be cut 8:1:1 (valid would be empty, which is refused): split by time
    for loader, kw in ((load_ctr, {}), (load_next_item, {"split": "time"})):
        x, y = (loader("movielens-100k", path=p, **kw) for p in (gl_zip, rb_dir))
        for part in ("train", "valid", "test"):
            px, py = getattr(x, part), getattr(y, part)
            assert px.keys() == py.keys()
            for k in px:
                np.testing.assert_array_equal(np.asarray(px[k]), np.asarray(py[k]), err_msg=k)


def test_preprocess_exact(gl_zip):
    d = ml.load(path=gl_zip)
    m = d.meta
    assert (m.n_users, m.n_items, m.n_cats) == (4, 6, 19)
    assert m.profile == {"age": 7, "gender": 2, "occupation": 21, "zip": 36}
    # category = first genre in u.genre order: Animation, Action, Drama, unknown, Drama, Action
    assert [d.vocab["cat"][c] for c in m.item_cat[1:]] == ["Animation", "Action", "Drama",
                                                            "unknown", "Drama", "Action"]
    assert d.vocab["genres"][6] == ["Action", "Crime", "Thriller"]
    assert d.vocab["title"][3] == "Misérables, Les (1995)"  # latin-1 decoded
    u = d.users.set_index("user")
    assert u.age.tolist() == [2, 6, 1, 7]  # 24 -> 18-24, 53 -> 50-55, 17 -> <18, 56 -> 56+
    assert u.gender.tolist() == [2, 1, 2, 1]
    assert [d.vocab["occupation"][o] for o in u.occupation] == ["technician", "other",
                                                                 "student", "none"]
    assert [d.vocab["zip"][z] for z in u.zip] == ["8", "9", "T", "0"]
    assert len(d.events) == 16 and ml.load(path=gl_zip, min_rating=4).events.shape[0] == 8
    assert d.events.groupby("user").time.apply(lambda t: t.is_monotonic_increasing).all()


def test_loaders_by_name(gl_zip):
    d = load_ctr("movielens-100k", path=gl_zip, max_len=4)
    keys = ["user", "age", "gender", "occupation", "zip", "target_item", "target_cat",
            "hist_items", "hist_cats", "hist_len", "label", "neg_hist_items", "hist_gaps"]
    for part in (d.train, d.valid, d.test):
        validate(part, d.meta, keys)
    assert "local GroupLens" in d.source.origin
    # user 1's last second (t=300): film 6 and its negative, history = the ratings before it
    rows = np.flatnonzero((d.test["user"] == 1) & (d.test["label"] == 1))
    assert d.test["target_item"][rows].tolist() == [6]
    assert sorted(d.test["hist_items"][rows[0], :4].tolist()) == [1, 2, 3, 5]
    n = load_next_item("movielens-100k", path=gl_zip, split="time", max_len=3)
    validate(n.test, n.meta, ["target_item", "hist_items", "hist_len"])
    s = load_sessions("movielens-100k", path=gl_zip, valid=0.25, test=0.25)
    # one session per user (valid/test lose films never seen in train, as GRU4Rec's split)
    assert sum(p.session.nunique() for p in (s.train, s.valid, s.test)) == 4
    assert sorted(s.train.groupby("session").size()) == [3, 4]  # users 3 and 4 end first
    # gap in seconds cuts a user's ratings into several sessions
    cut = load_sessions("movielens-100k", path=gl_zip, gap=50, valid=0.25, test=0.25)
    assert len(s.test) == 5 and len(cut.test) == 3  # user 1: only the burst at t=200 is kept


def test_ties_shuffled_not_by_id_and_reproducible():
    # one user rates 40 films in one second, listed by id (as the files do)
    ev = pd.DataFrame({"user": np.r_[np.ones(40, int), np.full(3, 2)],
                       "item": np.r_[np.arange(1, 41), [7, 3, 5]],
                       "time": np.r_[np.full(40, 1000), [1, 2, 3]]})
    a, b, c = shuffle_ties(ev, 0), shuffle_ties(ev, 0), shuffle_ties(ev, 1)
    tie = a[a.user == 1].item.to_numpy()
    assert sorted(tie) == list(range(1, 41)) and not np.array_equal(tie, np.sort(tie))
    assert not np.array_equal(tie, np.sort(tie)[::-1])
    pd.testing.assert_frame_equal(a, b)  # same seed, same order
    assert not np.array_equal(tie, c[c.user == 1].item.to_numpy())  # another seed, another
    assert a[a.user == 2].item.tolist() == [7, 3, 5]  # distinct times keep time order
    # the file's row order does not matter
    pd.testing.assert_frame_equal(shuffle_ties(ev.iloc[::-1], 0), a)
    # and in the loader: ties (user 1 at t=200) are not left in id order for every seed
    orders = {tuple(ml.preprocess(*ml.read_grouplens(grouplens_texts()), tie_seed=s)
                    .events.query("user == 1 and time == 200").item) for s in range(8)}
    assert len(orders) > 1


def test_wheel_source_extracts_only_data_and_caches(tmp_path, fake_wheel):
    d = ml.load(source="recbole-wheel", directory=tmp_path / "c", wheel_downloader=fake_wheel)
    assert "RecBole 1.2.1 wheel" in d.origin and len(d.events) == 16
    folder = tmp_path / "c" / ml.CACHE_WHEEL
    assert sorted(p.name for p in folder.iterdir()) == sorted(ml.WHEEL_FILES)
    assert list((tmp_path / "c").iterdir()) == [folder]  # no wheel, no temporary left
    # a cached copy is used with no network at all
    again = ml.load(directory=tmp_path / "c", downloader=offline, wheel_downloader=offline)
    pd.testing.assert_frame_equal(again.events, d.events)
    assert fake_wheel.calls == ["recbole==1.2.1"]


def test_auto_falls_back_to_the_wheel_when_grouplens_is_unreachable(tmp_path, fake_wheel):
    d = ml.load(directory=tmp_path / "c", downloader=offline, wheel_downloader=fake_wheel)
    assert d.origin.startswith("RecBole 1.2.1 wheel") and "no network in this test" in d.origin


def test_grouplens_source_checks_md5_and_caches(tmp_path, gl_zip, monkeypatch):
    def serve(url, out, _):
        open(out, "wb").write(gl_zip.read_bytes())
    with pytest.raises(ChecksumError, match="0e33842e24a9c977be4e0107933c0723"):
        ml.load(source="grouplens", directory=tmp_path / "c", downloader=serve)
    assert not list((tmp_path / "c").iterdir())  # the wrong file was removed
    monkeypatch.setattr(ml, "MD5", "md5:" + hashlib.md5(gl_zip.read_bytes()).hexdigest())
    d = ml.load(directory=tmp_path / "c", downloader=serve)
    assert d.origin.startswith("GroupLens") and len(d.events) == 16
    offline_copy = ml.load(directory=tmp_path / "c", downloader=offline,
                           wheel_downloader=offline)
    pd.testing.assert_frame_equal(offline_copy.events, d.events)


def test_partial_downloads_never_reach_the_cache(tmp_path, gl_zip, fake_wheel, monkeypatch):
    monkeypatch.setattr(ml, "MD5", "md5:" + hashlib.md5(gl_zip.read_bytes()).hexdigest())

    def cut_off(url, out, _):  # half the zip, then the connection drops
        open(out, "wb").write(gl_zip.read_bytes()[:300])
        raise ConnectionError("connection reset")
    with pytest.raises(OSError, match="connection reset"):
        ml.load(source="grouplens", directory=tmp_path / "c", downloader=cut_off)

    def truncated(url, out, _):  # half the zip and no error: only the md5 notices
        open(out, "wb").write(gl_zip.read_bytes()[:300])
    with pytest.raises(OSError, match="compressed file is cut or damaged"):
        ml.load(source="grouplens", directory=tmp_path / "c", downloader=truncated)

    def short_wheel(requirement, dest):
        whl = dest / "recbole-1.2.1-py3-none-any.whl"
        whl.write_bytes(write_wheel(tmp_path / "w.whl", recbole_texts()).read_bytes()[:500])
        return whl
    with pytest.raises(ChecksumError, match="wheel"):
        ml.load(source="recbole-wheel", directory=tmp_path / "c", wheel_downloader=short_wheel)
    assert not list((tmp_path / "c").iterdir())  # nothing cached, no temporary left


def test_tampered_cache_is_refused_and_refetched(tmp_path, fake_wheel):
    ml.load(source="recbole-wheel", directory=tmp_path / "c", wheel_downloader=fake_wheel)
    inter = tmp_path / "c" / ml.CACHE_WHEEL / "ml-100k.inter"
    inter.write_text(inter.read_text() + "1\t4\t5\t999\n")
    with pytest.raises(ChecksumError, match="ml-100k.inter.*left in place"):
        ml.load(directory=tmp_path / "c", wheel_downloader=offline)
    assert inter.exists()  # changed since recbook wrote it: never deleted
    import shutil
    shutil.rmtree(tmp_path / "c" / ml.CACHE_WHEEL)  # what the message asks
    d = ml.load(source="recbole-wheel", directory=tmp_path / "c", wheel_downloader=fake_wheel)
    assert len(d.events) == 16


def _accepted(path):
    accept(path)
    return path


def test_bad_input_is_named(tmp_path):
    texts = grouplens_texts()
    texts["u.user"] = texts["u.user"].replace("technician", "astronaut")
    with pytest.raises(ValueError, match="occupation.*astronaut"):
        ml.load(path=_accepted(write_zip(tmp_path / "a.zip", texts)))
    texts = grouplens_texts(RATINGS + [(1, 99, 3, 5)])
    with pytest.raises(ValueError, match="film 99"):
        ml.load(path=_accepted(write_zip(tmp_path / "b.zip", texts)))
    texts = grouplens_texts()
    texts["u.data"] = texts["u.data"].replace("\t", ",")
    with pytest.raises(ValueError, match="u.data"):
        ml.load(path=_accepted(write_zip(tmp_path / "c.zip", texts)))
    with pytest.raises(FileNotFoundError, match="neither"):
        ml.load(path=tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="u.data"):
        ml.load(path=tmp_path / "empty")
    with pytest.raises(ValueError, match="source must be"):
        ml.load(source="kaggle")
