"""Bad inputs to the loaders, fetching and extraction (issue 18), one row each.

Every row builds its input under ``tmp_path`` (no network: downloads go through a patched
``urlopen`` or ``file://``) and asserts either the error class and the words that name the
cause (key, file, line, member), or the exact result where the input is valid.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recbook.data import amazon, load_ctr, load_next_item, load_sessions
from recbook.data import fetch as F
from recbook.data import movielens as ml1m
from recbook.data import movielens100k as ml100k
from recbook.data import taobao, yoochoose
from recbook.data.samples import split_users

ROOT = Path(__file__).resolve().parents[2]

# ----------------------------------------------------------------------------- writers
USERS = "1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::15::55117\n"
MOVIES = ("1::Toy Story (1995)::Animation|Children's\n2::Jumanji (1995)::Adventure\n"
          "5::Misérables, Les (1995)::Drama|Musical\n")
RATINGS = ("1::1::5::100\n1::2::3::200\n1::5::4::300\n2::5::4::50\n2::1::2::60\n2::2::5::70\n"
           "3::2::5::10\n3::5::4::20\n3::1::3::30\n")


def ml_zip(tmp, ratings=RATINGS, movies=MOVIES, users=USERS, encoding="latin-1",
           accepted=True, name="ml-1m.zip"):
    path = tmp / name
    with zipfile.ZipFile(path, "w") as zf:
        for member, text in (("users.dat", users), ("movies.dat", movies),
                             ("ratings.dat", ratings)):
            zf.writestr(f"ml-1m/{member}", text.encode(encoding))
    if accepted:  # a reader's own build of the zip, accepted once
        F.accept(path)
    return path


def amazon_dir(tmp, lines: list[bytes], cut=False):
    folder = tmp / "amazon"
    folder.mkdir(exist_ok=True)
    r_name, m_name = amazon.files("Books")
    data = gzip.compress(b"".join(lines))
    (folder / r_name).write_bytes(data[:len(data) // 2] if cut else data)
    with gzip.open(folder / m_name, "wt", encoding="utf-8") as f:
        f.write(repr({"asin": "i1", "categories": [["Books", "c1"]]}) + "\n")
    return folder


def review(user, asin, day) -> bytes:
    return (json.dumps({"reviewerID": user, "asin": asin, "unixReviewTime": day * 86400})
            + "\n").encode()


def write(tmp, name, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def taobao_lines(n_users=3, per_user=6, items=2):
    return "".join(f"{u},{1 + k % items},{1 + k % 3},pv,{1511539200 + 60 * k}\n"
                   for u in range(1, n_users + 1) for k in range(per_user))


def clicks(session, day, items):
    return "".join(f"{session},2014-04-{day:02d}T10:00:{k:02d}.000Z,{item},1\n"
                   for k, item in enumerate(items))


def own_log(rows):
    return pd.DataFrame(rows, columns=["user", "item", "time"])


# ----------------------------------------------------------------------------- archives
def _zip_entries(tmp, entries, name="a.zip"):
    """entries: (name, data, unix mode or None)."""
    path = tmp / name
    with zipfile.ZipFile(path, "w") as zf:
        for member, data, mode in entries:
            info = zipfile.ZipInfo(member)
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def _tar_entries(tmp, entries, name="a.tgz"):
    """entries: (name, type, data or link target)."""
    path = tmp / name
    with tarfile.open(path, "w:gz") as tf:
        for member, kind, payload in entries:
            info = tarfile.TarInfo(member)
            info.type = kind
            if kind == tarfile.REGTYPE:
                info.size = len(payload)
                tf.addfile(info, io.BytesIO(payload))
            else:
                info.linkname = payload or ""
                tf.addfile(info)
    return path


LINK = 0o120777
CHAIN = [("x/up", b"..", LINK), ("x/up/y/esc", b"../../..", LINK),
         ("x/up/y/esc/PWNED.txt", b"pwned", None)]


def extract_zip(entries):
    return lambda tmp, mp: F.extract(_zip_entries(tmp, entries), tmp / "out")


def extract_tar(entries):
    return lambda tmp, mp: F.extract(_tar_entries(tmp, entries), tmp / "out")


def extract_valid(tmp, mp):
    out = F.extract(_zip_entries(tmp, [("d/", b"", 0o40755), ("d/f.txt", b"hi\n", 0o100644)]),
                    tmp / "out")
    return sorted(str(p.relative_to(out)) for p in out.rglob("*")), (out / "d/f.txt").read_text()


def cut_zip(tmp, mp):
    whole = _zip_entries(tmp, [("f.txt", b"x" * 2000, None)])
    return F.extract(write(tmp, "cut.zip", whole.read_bytes()[:60]), tmp / "out")


# ----------------------------------------------------------------------------- fetching
class _Response(io.BytesIO):
    def __init__(self, data, length):
        super().__init__(data)
        self.headers = {"Content-Length": str(length)}


def cut_transfer(tmp, mp):
    mp.setattr(F, "urlopen", lambda url, timeout: _Response(b"x" * 400, 1000))
    return F.fetch("https://example.invalid/a.csv", "a.csv", None, tmp / "c", retries=1)


def cut_gzip_download(tmp, mp):
    data = gzip.compress(os.urandom(20000))
    mp.setattr(F, "urlopen", lambda url, timeout: _Response(data[:5000], 5000))
    return F.fetch("https://example.invalid/r.json.gz", "r.json.gz", None, tmp / "c",
                   retries=1)


def whole_download(tmp, mp):
    mp.setattr(F, "urlopen", lambda url, timeout: _Response(b"1,2\n" * 10, 40))
    got = F.fetch("https://example.invalid/a.csv", "a.csv", None, tmp / "c")
    return got.read_bytes(), F.downloaded_by_recbook(got), \
        json.loads((tmp / "c" / F.HASHES).read_text()) == {"a.csv": F.file_hash(got)}


def published_mismatch(tmp, mp):
    src = write(tmp, "src.bin", b"not the published file\n")
    return F.fetch(src.as_uri(), "data.bin", "md5:" + "0" * 32, tmp / "c")


def changed_hand_placed(tmp, mp):
    path = write(tmp, "yoochoose-clicks.dat", b"sample\n")
    F.local_file(path, path.name, "")
    path.write_bytes(b"the full file\n")
    try:
        F.local_file(path, path.name, "")
    finally:
        assert path.read_bytes() == b"the full file\n"  # never deleted


def accepted_hand_placed(tmp, mp):
    path = write(tmp, "yoochoose-clicks.dat", b"sample\n")
    F.local_file(path, path.name, "")
    path.write_bytes(b"the full file\n")
    F.accept(path)
    return F.local_file(path, path.name, "").read_bytes()


def data_env_is_file(tmp, mp):
    mp.setenv(F.ENV_VAR, str(write(tmp, "notafolder", b"x")))
    return F.cache_dir()


def read_only_cache(tmp, mp):
    ro = tmp / "ro"
    ro.mkdir()
    real = Path.write_bytes

    def refuse(self, data):
        if self.parent == ro:
            raise OSError(30, "Read-only file system", str(self))
        return real(self, data)
    mp.setattr(Path, "write_bytes", refuse)
    return F.fetch(write(tmp, "s.bin", b"x\n").as_uri(), "s.bin", None, ro)


def read_only_hand_placed(tmp, mp):
    """A hand-placed file on a read-only mount: used, with a warning naming the real error."""
    import warnings
    ro = tmp / "ro"
    ro.mkdir()
    path = write(ro, "UserBehavior.csv", b"1,2,3,pv,4\n")
    real = Path.write_text

    def refuse(self, *a, **k):
        if self.parent == ro:
            raise OSError(30, "Read-only file system", str(self))
        return real(self, *a, **k)
    mp.setattr(Path, "write_text", refuse)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = F.local_file(path, path.name, "")
    text = " ".join(str(w.message) for w in caught)
    return got == path, "Read-only file system" in text, "could not be recorded" in text


def broken_record(tmp, mp):
    write(tmp, F.HASHES, b"{not json")
    return F.verify(write(tmp, "a.csv", b"1\n"), None)


# ----------------------------------------------------------------------------- loaders
def ml_cut_timestamp(tmp, mp):  # the case: a ratings.dat cut inside the timestamp
    return ml1m.load(path=ml_zip(tmp, RATINGS[:-2]))


def ml_not_grouplens(tmp, mp):
    return ml1m.load(path=ml_zip(tmp, accepted=False))


def ml_utf8_movies(tmp, mp):
    data = ml1m.load(path=ml_zip(tmp, encoding="utf-8"))
    return list(data.vocab["title"][1:])


def ml100k_grouplens_folder(tmp, mp=None, **texts):
    folder = tmp / "ml-100k"
    folder.mkdir()
    base = {"u.data": "1\t1\t5\t100\n1\t2\t3\t200\n2\t1\t4\t50\n2\t2\t2\t60\n",
            "u.user": "1|24|M|technician|85711\n2|53|F|other|94043\n",
            "u.item": "".join(f"{i}|Film {i} (1995)|01-Jan-1995||http://x|0|1" + "|0" * 17
                              + "\n" for i in (1, 2))}
    base.update(texts)
    for name, text in base.items():
        (folder / name).write_bytes(text.encode("latin-1") if isinstance(text, str) else text)
    return folder


def recbole_not_utf8(tmp, mp):
    folder = tmp / "recbole"
    folder.mkdir()
    texts = {"ml-100k.inter": b"user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                              b"1\t1\t5\t100\n1\t2\t\xe93\t200\n",
             "ml-100k.user": b"user_id:token\tage:token\tgender:token\toccupation:token\t"
                             b"zip_code:token\n1\t24\tM\ttechnician\t85711\n",
             "ml-100k.item": b"item_id:token\tmovie_title:token_seq\trelease_year:token\t"
                             b"class:token_seq\n1\tA\t1995\tDrama\n2\tB\t1995\tDrama\n"}
    for name, data in texts.items():
        F.accept(write(folder, name, data))  # not RecBole's files: accepted once
    return ml100k.load(path=folder)


def yoochoose_file(tmp, text: bytes):
    return write(tmp, "yoochoose-clicks.dat", text)


YOO_OK = (clicks(1, 1, [1, 2, 3]) + clicks(2, 1, [2, 3, 1]) + clicks(3, 2, [1, 2, 3])
          + clicks(4, 3, [3, 1, 2]) + clicks(5, 3, [1, 2]) + clicks(6, 5, [1, 2, 3]))


def taobao_changed(tmp, mp):
    path = write(tmp, "UserBehavior.csv", taobao_lines().encode())
    taobao.load(path)
    path.write_bytes(taobao_lines(n_users=4).encode())
    return taobao.load(path)


def self_built_in_cache(tmp, mp):
    cache = tmp / "cache"  # $RECBOOK_DATA (set by the test)
    cache.mkdir()
    path = ml_zip(cache, accepted=False)
    mp.setattr(F, "urlopen", lambda *a, **k: pytest.fail("a cached file is never re-fetched"))
    try:
        ml1m.load()
    finally:
        assert path.exists()  # not recbook's download: never deleted


def stale_parts(tmp, mp):
    cache = tmp / "cache"
    cache.mkdir()
    names = [f".a.csv.{'0' * 32}.part", f".b.{'1' * 32}.part", "mine.part", ".x.123.part"]
    for name in names:
        write(cache, name, b"x")
        os.utime(cache / name, (1, 1))  # all old
    os.utime(cache / names[1], None)  # one fresh: a download in progress elsewhere
    write(tmp, "s.csv", b"1\n")
    F.fetch((tmp / "s.csv").as_uri(), "s.csv", None, cache)
    return sorted(p.name for p in cache.iterdir() if p.name.endswith(".part"))


def path_for_synthetic(tmp, mp):
    return load_ctr("synthetic", path=tmp / "x.zip")


# ----------------------------------------------------------------------------- the table
# (id, action(tmp_path, monkeypatch), error class or None, words in the message / result)
CASES = [
    # extraction: only regular files and folders, every final path inside dest
    ("zip-chained-symlinks", extract_zip(CHAIN), F.UnsafeArchiveError,
     ["'x/up'", "symbolic link", "refused"]),
    ("zip-symlink-inside", extract_zip([("a.txt", b"a", None), ("l", b"a.txt", LINK)]),
     F.UnsafeArchiveError, ["'l'", "symbolic link"]),
    ("zip-absolute", extract_zip([("/etc/evil", b"x", None)]), F.UnsafeArchiveError,
     ["'/etc/evil'", "absolute path"]),
    ("zip-dotdot", extract_zip([("ok/../../evil", b"x", None)]), F.UnsafeArchiveError,
     ["'ok/../../evil'", "'..'"]),
    ("zip-drive", extract_zip([("C:\\evil.txt", b"x", None)]), F.UnsafeArchiveError,
     ["C:", "absolute path"]),
    ("zip-duplicate", extract_zip([("a.txt", b"1", None), ("a.txt", b"2", None)]),
     F.UnsafeArchiveError, ["'a.txt'", "appears twice"]),
    ("zip-fifo", extract_zip([("p", b"", stat.S_IFIFO | 0o644)]), F.UnsafeArchiveError,
     ["'p'", "a fifo"]),
    ("tar-symlink", extract_tar([("d/f", tarfile.REGTYPE, b"x"), ("d/l", tarfile.SYMTYPE, "f")]),
     F.UnsafeArchiveError, ["'d/l'", "symbolic link"]),
    ("tar-hardlink", extract_tar([("d/f", tarfile.REGTYPE, b"x"),
                                  ("d/h", tarfile.LNKTYPE, "d/f")]),
     F.UnsafeArchiveError, ["'d/h'", "hard link"]),
    ("tar-device", extract_tar([("dev", tarfile.CHRTYPE, None)]), F.UnsafeArchiveError,
     ["'dev'", "device"]),
    ("tar-dotdot", extract_tar([("../evil", tarfile.REGTYPE, b"x")]), F.UnsafeArchiveError,
     ["'../evil'", "'..'"]),
    ("zip-cut", cut_zip, ValueError, ["cut.zip", "neither a zip nor a tar"]),
    ("zip-valid", extract_valid, None, (["d", "d/f.txt"], "hi\n")),
    # fetching: complete before recorded; never delete what recbook did not download
    ("http-cut-transfer", cut_transfer, OSError, ["a.csv", "received 400 of the 1000 bytes"]),
    ("http-cut-gzip", cut_gzip_download, OSError, ["r.json.gz", "compressed file is cut"]),
    ("http-whole", whole_download, None, (b"1,2\n" * 10, True, True)),
    ("published-hash-mismatch", published_mismatch, F.ChecksumError,
     ["data.bin", "0" * 32, "(published)", "download was not kept"]),
    ("hand-placed-changed", changed_hand_placed, F.ChecksumError,
     ["yoochoose-clicks.dat", "recorded at first use", "left in place",
      "recbook.data.fetch.accept("]),
    ("hand-placed-accepted", accepted_hand_placed, None, b"the full file\n"),
    ("data-env-is-a-file", data_env_is_file, NotADirectoryError,
     ["$RECBOOK_DATA", "notafolder", "is a file"]),
    ("read-only-cache", read_only_cache, OSError,
     ["cannot write into the data folder", "Read-only file system", "RECBOOK_DATA"]),
    ("read-only-hand-placed", read_only_hand_placed, None, (True, True, True)),
    ("hash-record-not-json", broken_record, F.ChecksumError, [F.HASHES, "not valid JSON"]),
    ("self-built-zip-in-cache", self_built_in_cache, F.ChecksumError,
     ["ml-1m.zip", "left in place", "recbook.data.fetch.accept("]),
    ("stale-parts", stale_parts, None, sorted([f".b.{'1' * 32}.part", "mine.part",
                                                ".x.123.part"])),
    # MovieLens-1M
    ("ml1m-not-grouplens-md5", ml_not_grouplens, F.ChecksumError,
     ["ml-1m.zip", ml1m.MD5[4:], "(published)", "recbook.data.fetch.accept("]),
    ("ml1m-cut-inside-timestamp", ml_cut_timestamp, ValueError,
     ["ratings.dat", "'3::1::3::3'", "has no newline", "cut"]),
    ("ml1m-empty-fields", lambda t, m: ml1m.load(path=ml_zip(t, RATINGS + "4::2::5::\n")),
     ValueError, ["ratings.dat line 10", "time", "'4::2::5::'"]),
    ("ml1m-field-count", lambda t, m: ml1m.load(path=ml_zip(t, users="1::F::1\n")),
     ValueError, ["users.dat line 1", "expected 5", "'1::F::1'"]),
    ("ml1m-csv-as-path", lambda t, m: ml1m.load(path=write(t, "r.csv", b"user,item\n1,2\n")),
     ValueError, ["r.csv", "not a zip archive"]),
    ("ml1m-truncated-zip", lambda t, m: ml1m.load(
        path=write(t, "ml-1m.zip", ml_zip(t, name="w.zip").read_bytes()[:200])),
     ValueError, ["ml-1m.zip", "not a zip archive", "cut"]),
    ("ml1m-min-rating", lambda t, m: ml1m.load(path=ml_zip(t), min_rating=6), ValueError,
     ["min_rating=6", "9 ratings", "nothing left after filtering"]),
    ("ml1m-one-rating-each", lambda t, m: load_ctr(
        "movielens-1m", path=ml_zip(t, "1::1::5::1\n2::2::5::1\n3::5::5::1\n")), ValueError,
     ["load_ctr('movielens-1m')", "train", "3 events of 3 users", "nothing left after filtering"]),
    ("ml1m-utf8-resave", ml_utf8_movies, None,
     ["Toy Story (1995)", "Jumanji (1995)", "Misérables, Les (1995)"]),
    # MovieLens-100K
    ("ml100k-min-rating", lambda t, m: ml100k.load(path=ml100k_grouplens_folder(t),
                                                   min_rating=9),
     ValueError, ["min_rating=9", "4 ratings", "nothing left after filtering"]),
    ("ml100k-cut-folder-file", lambda t, m: ml100k.load(path=ml100k_grouplens_folder(
        t, **{"u.data": "1\t1\t5\t100\n1\t2\t3\t20"})), ValueError,
     ["u.data", "'1\\t2\\t3\\t20'", "has no newline"]),
    ("ml100k-zip-not-grouplens", lambda t, m: ml100k.load(path=ml_zip(t, accepted=False,
                                                                     name="ml-100k.zip")),
     F.ChecksumError, ["ml-100k.zip", ml100k.MD5[4:], "accept("]),
    ("ml100k-bad-rating-line", lambda t, m: ml100k.load(path=ml100k_grouplens_folder(
        t, **{"u.data": "1\t1\t5\t100\n1\t2\t3\t\n"})), ValueError,
     ["u.data line 2", "'time'", "integers"]),
    ("ml100k-short-line", lambda t, m: ml100k.load(path=ml100k_grouplens_folder(
        t, **{"u.data": "1\t1\t5\t100\n1\t2\n"})), ValueError,
     ["u.data line 2", "expected 4", "'1\\t2'"]),
    ("ml100k-recbole-not-utf8", recbole_not_utf8, ValueError,
     ["ml-100k.inter line 3", "not UTF-8"]),
    # Amazon
    ("amazon-not-utf8", lambda t, m: amazon.load(path=amazon_dir(
        t, [review("A", "i1", 1), b'{"reviewerID": "\xe9"}\n'])), ValueError,
     ["reviews_Books_5.json.gz line 2", "not UTF-8"]),
    ("amazon-cut-gzip", lambda t, m: amazon.load(path=amazon_dir(
        t, [review(f"U{u}", "i1", u) for u in range(2000)], cut=True)), ValueError,
     ["reviews_Books_5.json.gz", "not a whole gzip file"]),
    ("amazon-one-review-each", lambda t, m: amazon.load(path=amazon_dir(
        t, [review(u, "i1", 1) for u in "ABC"])), ValueError,
     ["none of the 3 reviewers has 2 reviews", "nothing left after filtering"]),
    ("amazon-bad-line", lambda t, m: amazon.load(path=amazon_dir(t, [b'{"asin": "i1"}\n'])),
     ValueError, ["reviews_Books_5.json.gz line 1", "reviewerID"]),
    # Taobao
    ("taobao-cut-timestamp", lambda t, m: taobao.load(write(
        t, "UserBehavior.csv", taobao_lines().encode()[:-4])), ValueError,
     ["UserBehavior.csv", "has no newline", "cut"]),
    ("taobao-not-utf8", lambda t, m: taobao.load(write(
        t, "UserBehavior.csv", b"1,2,3,pv,5\n1,2,3,p\xe9v,6\n")), ValueError,
     ["UserBehavior.csv line 2", "not UTF-8"]),
    ("taobao-bad-field", lambda t, m: taobao.load(write(
        t, "UserBehavior.csv", b"1,2,3,pv,5\n1,2,x,pv,6\n")), ValueError,
     ["UserBehavior.csv line 2", "category_id must be an integer", "'x'"]),
    ("taobao-filtered-empty", lambda t, m: taobao.load(write(
        t, "UserBehavior.csv", taobao_lines(per_user=2).encode())), ValueError,
     ["no user has 5 clicks", "nothing left after ComiRec's filtering"]),
    ("taobao-changed-file", taobao_changed, F.ChecksumError,
     ["UserBehavior.csv", "left in place", "accept("]),
    # YooChoose
    ("yoochoose-not-utf8", lambda t, m: yoochoose.load(yoochoose_file(
        t, YOO_OK.encode() + b"7,2014-04-05T10:00:00.000Z,1,\xff\n")), ValueError,
     ["yoochoose-clicks.dat line 18", "not UTF-8"]),
    ("yoochoose-bad-time", lambda t, m: yoochoose.load(yoochoose_file(
        t, b"1,2014-04-01 10:00:00,1,1\n")), ValueError,
     ["yoochoose-clicks.dat line 1", "Timestamp must look like", "'2014-04-01 10:00:00'"]),
    ("yoochoose-sessions-of-one", lambda t, m: yoochoose.load(yoochoose_file(
        t, (clicks(1, 1, [1]) + clicks(2, 2, [2])).encode())), ValueError,
     ["no session of 2+ clicks", "2 sessions, 2 clicks", "nothing left"]),
    ("yoochoose-cut", lambda t, m: yoochoose.load(yoochoose_file(t, YOO_OK.encode()[:-10])),
     ValueError, ["yoochoose-clicks.dat", "has no newline"]),
    # every loader: empty splits, single-event sessions, fractions
    ("own-sessions-of-one", lambda t, m: load_sessions(own_log(
        [(u, u, 3600 * u) for u in range(1, 6)])), ValueError,
     ["load_sessions('own')", "5 sessions", "single event", "nothing left after filtering"]),
    ("own-one-click-each", lambda t, m: load_next_item(own_log(
        [(u, 1, 10) for u in range(1, 4)]), split="time"), ValueError,
     ["load_next_item('own')", "3 events of 3 users", "nothing left after filtering"]),
    ("fractions-sum", lambda t, m: split_users(np.arange(10), (0.8, 0.3, 0.1)), ValueError,
     ["'valid': 0.3", "sum to 1.2 > 1"]),
    ("fraction-negative", lambda t, m: split_users(np.arange(10), (1.1, -0.2, 0.1)),
     ValueError, ["train=1.1", "[0, 1]"]),
    ("sessions-valid-over-1", lambda t, m: load_sessions(valid=1.5), ValueError,
     ["valid=1.5", "[0, 1]"]),
    ("sessions-sum-over-1", lambda t, m: load_sessions(valid=0.6, test=0.5), ValueError,
     ["sum to 1.1 > 1"]),
    ("path-for-synthetic", path_for_synthetic, ValueError,
     ["path= names the raw files of a real dataset", "'synthetic'"]),
    ("split-users-valid", lambda t, m: [len(p) for p in split_users(np.arange(1, 11))], None,
     [8, 1, 1]),
]


@pytest.mark.parametrize("action,error,expected", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_data_input(tmp_path, monkeypatch, action, error, expected):
    monkeypatch.setenv(F.ENV_VAR, str(tmp_path / "cache"))  # never the user's cache
    if error is None:
        assert action(tmp_path, monkeypatch) == expected
        return
    with pytest.raises(error) as e:
        action(tmp_path, monkeypatch)
    missing = [w for w in expected if w not in str(e.value)]
    assert not missing, f"{type(e.value).__name__} message lacks {missing}: {e.value}"


def test_table_is_large_enough():
    assert len(CASES) >= 35 and len({c[0] for c in CASES}) == len(CASES)


def test_no_escape_from_the_chained_links(tmp_path, monkeypatch):
    """The issue's chain, extracted three folders down: nothing lands anywhere."""
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    with pytest.raises(F.UnsafeArchiveError):
        extract_zip(CHAIN)(deep, monkeypatch)
    assert not list(tmp_path.rglob("PWNED.txt")) and not list(tmp_path.rglob("up"))


def test_chapter_data_cell_uses_path(tmp_path, monkeypatch):
    """A chapter's data cell with PATH set loads that file and downloads nothing."""
    import jupytext
    monkeypatch.setenv(F.ENV_VAR, str(tmp_path / "cache"))
    monkeypatch.setattr(F, "urlopen", lambda *a, **k: pytest.fail("no download with PATH"))
    movies = "".join(f"{m}::Film {m} (1999)::Drama\n" for m in range(1, 9))
    zip_path = ml_zip(tmp_path, "".join(f"{u}::{m}::4::{100 * u + m}\n" for u in (1, 2, 3)
                                        for m in range(u, u + 4)), movies=movies)
    cell = next(c.source for c in jupytext.read(ROOT / "chapters" / "din.md").cells
                if c.source.startswith('DATASET = "synthetic"'))
    head, rest = cell.split("\n", 1)
    assert "PATH = None" in rest
    ns = {}
    try:
        source = rest.replace("PATH = None", f"PATH = {str(zip_path)!r}")
        exec("DATASET = 'movielens-1m'\n" + source, ns)  # noqa: S102 (the chapter's own cell)
    except ValueError as e:  # 3 users: the leave-last-out split is fine, but say why if not
        pytest.fail(f"the cell failed on a local path: {e}")
    assert ns["data"].source.origin.startswith(f"local file {zip_path}")


def test_cut_hand_placed_file_is_never_trusted(tmp_path):
    """The cut check runs before the first-use record: the whole file, put in its place,
    loads without a checksum error."""
    path = write(tmp_path, "UserBehavior.csv", taobao_lines().encode()[:-4])
    with pytest.raises(ValueError, match="has no newline"):
        taobao.load(path)
    assert not (tmp_path / F.HASHES).exists()
    path.write_bytes(taobao_lines().encode())
    assert taobao.load(path).meta.n_users == 3
