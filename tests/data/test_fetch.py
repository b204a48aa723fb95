"""recbook.data.fetch: checksums, trust on first use, atomic downloads, safe extraction.

Downloads go through file:// URLs or a fake downloader: no test touches the network.
"""
import hashlib
import io
import json
import os
import tarfile
import zipfile

import pytest

from recbook.data import fetch as F


def _md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "src" / "data.bin"
    path.parent.mkdir()
    path.write_bytes(b"recbook test payload\n" * 100)
    return path


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".part")]


def test_cache_dir_follows_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv(F.ENV_VAR, str(tmp_path / "here"))
    assert F.cache_dir() == tmp_path / "here" and (tmp_path / "here").is_dir()
    monkeypatch.delenv(F.ENV_VAR)  # default: pooch's per-user cache for "recbook"
    monkeypatch.setattr(F.pooch, "os_cache", lambda project: tmp_path / "user-cache" / project)
    assert F.cache_dir() == tmp_path / "user-cache" / "recbook"


def test_known_checksum_match(source, cache):
    got = F.fetch(source.as_uri(), "data.bin", _md5(source.read_bytes()), cache)
    assert got == cache / "data.bin" and got.read_bytes() == source.read_bytes()
    assert not (cache / F.HASHES).exists()  # a published hash is never "recorded"
    assert _leftovers(cache) == []


def test_known_checksum_mismatch_names_file_and_both_hashes(source, cache):
    wrong = "md5:" + "0" * 32
    with pytest.raises(F.ChecksumError) as e:
        F.fetch(source.as_uri(), "data.bin", wrong, cache)
    msg = str(e.value)
    assert "data.bin" in msg and "0" * 32 in msg and _md5(source.read_bytes()) in msg
    assert not (cache / "data.bin").exists() and _leftovers(cache) == []


def test_trust_on_first_use_records_then_verifies(source, cache):
    F.fetch(source.as_uri(), "data.bin", None, cache)
    record = json.loads((cache / F.HASHES).read_text())
    assert record == {"data.bin": F.file_hash(source)}
    assert F.downloaded_by_recbook(cache / "data.bin")  # the marker of recbook's own download
    F.fetch(source.as_uri(), "data.bin", None, cache)  # later use: verified, fine
    (cache / "data.bin").write_bytes(b"tampered")  # changed since recbook wrote it
    assert not F.downloaded_by_recbook(cache / "data.bin")
    with pytest.raises(F.ChecksumError, match="recorded at first use") as e:
        F.fetch(source.as_uri(), "data.bin", None, cache)
    assert "left in place" in str(e.value) and "recbook.data.fetch.accept(" in str(e.value)
    assert (cache / "data.bin").read_bytes() == b"tampered"  # not recbook's file: kept
    (cache / "data.bin").unlink()
    # the publisher's file changed: a new download is refused against the record too
    source.write_bytes(b"a different file")
    with pytest.raises(F.ChecksumError, match="download was not kept"):
        F.fetch(source.as_uri(), "data.bin", None, cache)
    assert not (cache / "data.bin").exists() and _leftovers(cache) == []
    assert F.accept(cache / "data.bin") is None  # no file: forget the record
    assert F.fetch(source.as_uri(), "data.bin", None, cache).read_bytes() == b"a different file"


def test_changed_cached_file_with_known_hash_is_kept_and_can_be_accepted(source, cache):
    h = _md5(source.read_bytes())
    F.fetch(source.as_uri(), "data.bin", h, cache)
    (cache / "data.bin").write_bytes(source.read_bytes()[:50])  # truncated
    with pytest.raises(F.ChecksumError, match="data.bin") as e:
        F.fetch(source.as_uri(), "data.bin", h, cache)
    assert h[4:] in str(e.value) and _md5(source.read_bytes()[:50]) in str(e.value)
    assert (cache / "data.bin").exists()
    F.accept(cache / "data.bin")  # "this is the file I want"
    assert F.fetch(source.as_uri(), "data.bin", h, cache).read_bytes() == source.read_bytes()[:50]
    (cache / "data.bin").unlink()
    assert F.fetch(source.as_uri(), "data.bin", h, cache).read_bytes() == source.read_bytes()


def test_unchanged_own_download_failing_a_new_hash_is_removed(source, cache):
    F.fetch(source.as_uri(), "data.bin", _md5(source.read_bytes()), cache)
    with pytest.raises(F.ChecksumError, match="was removed"):  # e.g. a corrected constant
        F.fetch(source.as_uri(), "data.bin", "md5:" + "1" * 32, cache)
    assert not (cache / "data.bin").exists()


def test_interrupted_download_is_never_used_and_retried(source, cache):
    calls = []

    def flaky(url, output_file, pooch_):
        calls.append(output_file)
        with open(output_file, "wb") as f:
            f.write(source.read_bytes()[:30])  # a partial transfer, then the line drops
        if len(calls) < 3:
            raise ConnectionError("connection reset")
        with open(output_file, "wb") as f:
            f.write(source.read_bytes())

    got = F.fetch("https://example.invalid/data.bin", "data.bin",
                  _md5(source.read_bytes()), cache, retries=3, downloader=flaky, wait=0)
    assert len(calls) == 3 and got.read_bytes() == source.read_bytes()
    assert all(os.path.basename(c) != "data.bin" for c in calls)  # never the final name
    assert _leftovers(cache) == []


def test_failed_download_leaves_nothing(cache):
    def broken(url, output_file, pooch_):
        with open(output_file, "wb") as f:
            f.write(b"half")
        raise TimeoutError("read timed out")

    with pytest.raises(OSError, match="after 2 attempts"):
        F.fetch("https://example.invalid/x", "x.zip", None, cache, retries=2,
                downloader=broken, wait=0)
    assert list(cache.iterdir()) == []  # no file, no partial, no hash recorded


def test_manual_file_missing_says_where_to_get_it(tmp_path):
    with pytest.raises(F.ManualDownloadError) as e:
        F.local_file(tmp_path / "UserBehavior.csv", "UserBehavior.csv",
                     "sign in at https://tianchi.aliyun.com/dataset/649 and download it.")
    msg = str(e.value)
    assert "tianchi.aliyun.com" in msg and str(tmp_path / "UserBehavior.csv") in msg
    assert F.ENV_VAR in msg


def test_manual_file_trusted_on_first_use(tmp_path):
    path = tmp_path / "clicks.dat"
    path.write_text("1,2,3\n")
    F.local_file(path, "clicks.dat", "")
    F.local_file(path, "clicks.dat", "")
    path.write_text("1,2,4\n")
    with pytest.raises(F.ChecksumError, match="clicks.dat"):
        F.local_file(path, "clicks.dat", "")


# ----------------------------------------------------------------------------- extraction
def _zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def _zip_symlink(path, name, target):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ok/a.txt", "a")
        info = zipfile.ZipInfo(name)
        info.external_attr = (0o120777 << 16)  # S_IFLNK
        zf.writestr(info, target)
    return path


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file_info(name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link_info(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def test_extract_zip_and_tar(tmp_path):
    z = _zip(tmp_path / "a.zip", [("ml-1m/ratings.dat", b"1::1::5::1\n"), ("ml-1m/x", b"x")])
    out = F.extract(z, tmp_path / "zip_out")
    assert (out / "ml-1m" / "ratings.dat").read_bytes() == b"1::1::5::1\n"
    t = _tar(tmp_path / "a.tgz", [_file_info("d/f.txt", b"hi")])
    out = F.extract(t, tmp_path / "tar_out")
    assert (out / "d" / "f.txt").read_bytes() == b"hi"
    assert _leftovers(tmp_path) == []


def test_links_are_never_created_even_inside(tmp_path):
    t = _tar(tmp_path / "a.tgz", [_file_info("d/f.txt", b"hi"), _link_info("d/l", "f.txt")])
    with pytest.raises(F.UnsafeArchiveError, match="'d/l' is a symbolic link"):
        F.extract(t, tmp_path / "out")
    z = _zip_symlink(tmp_path / "a.zip", "ok/link", "a.txt")
    with pytest.raises(F.UnsafeArchiveError, match="'ok/link' is a symbolic link"):
        F.extract(z, tmp_path / "out")
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["../evil.txt", "ok/../../evil.txt", "/etc/evil.txt",
                                  "C:\\evil.txt", "..\\evil.txt"])
def test_zip_refuses_unsafe_names(tmp_path, name):
    z = _zip(tmp_path / "bad.zip", [("ok.txt", b"fine"), (name, b"boom")])
    with pytest.raises(F.UnsafeArchiveError, match="refused"):
        F.extract(z, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.txt").exists()
    assert _leftovers(tmp_path) == []


def test_zip_refuses_symlink_leading_outside(tmp_path):
    z = _zip_symlink(tmp_path / "bad.zip", "ok/link", "../../outside")
    with pytest.raises(F.UnsafeArchiveError, match="'ok/link' is a symbolic link"):
        F.extract(z, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("member", [
    _file_info("../evil.txt", b"x"), _file_info("/tmp/evil.txt", b"x"),
    _link_info("d/l", "../../outside"), _link_info("d/l", "/etc/passwd"),
    _link_info("d/h", "../outside", tarfile.LNKTYPE)])
def test_tar_refuses_unsafe_members(tmp_path, member):
    t = _tar(tmp_path / "bad.tgz", [_file_info("d/f.txt", b"hi"), member])
    with pytest.raises(F.UnsafeArchiveError, match="refused"):
        F.extract(t, tmp_path / "out")
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []


def test_extract_rejects_a_partial_archive(tmp_path):
    z = _zip(tmp_path / "a.zip", [("f.txt", b"x" * 1000)])
    part = tmp_path / "partial.zip"
    part.write_bytes(z.read_bytes()[:40])
    with pytest.raises(ValueError, match="neither a zip nor a tar"):
        F.extract(part, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_chained_zip_symlinks_of_the_issue_are_refused(tmp_path):
    """x/up -> .., then x/up/y/esc -> ../../.., then x/up/y/esc/PWNED.txt (issue 18)."""
    path = tmp_path / "a" / "b" / "chain.zip"
    path.parent.mkdir(parents=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, target in (("x/up", ".."), ("x/up/y/esc", "../../..")):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, target)
        zf.writestr("x/up/y/esc/PWNED.txt", "pwned")
    with pytest.raises(F.UnsafeArchiveError, match="'x/up' is a symbolic link"):
        F.extract(path, path.parent / "out")
    assert not list(tmp_path.rglob("PWNED.txt")) and not (path.parent / "out").exists()


class _Response(io.BytesIO):
    def __init__(self, data, length):
        super().__init__(data)
        self.headers = {"Content-Length": str(length)}


def test_cut_http_transfer_is_retried_and_never_recorded(tmp_path, monkeypatch):
    body = b"x" * 1000
    sent = [body[:400], body]  # the first transfer is cut, the second complete

    monkeypatch.setattr(F, "urlopen", lambda url, timeout: _Response(sent.pop(0), len(body)))
    got = F.fetch("https://example.invalid/big.csv", "big.csv", None, tmp_path, wait=0)
    assert got.read_bytes() == body
    assert json.loads((tmp_path / F.HASHES).read_text()) == {"big.csv": F.file_hash(got)}


def test_cut_gzip_is_not_recorded(tmp_path, monkeypatch):
    import gzip
    data = gzip.compress(b'{"a": 1}\n' * 5000)
    monkeypatch.setattr(F, "urlopen", lambda url, timeout: _Response(data[:len(data) // 2],
                                                                     len(data) // 2))
    with pytest.raises(OSError, match="compressed file is cut"):
        F.fetch("https://example.invalid/r.json.gz", "r.json.gz", None, tmp_path, retries=2,
                wait=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_stale_part_files_of_recbook_only_are_removed(tmp_path, source):
    old = tmp_path / f".data.bin.{'a' * 32}.part"
    mine_fresh = tmp_path / f".other.{'b' * 32}.part"
    users = tmp_path / "notes.part"
    for p in (old, mine_fresh, users):
        p.write_text("x")
    os.utime(old, (1, 1))
    os.utime(users, (1, 1))
    F.fetch(source.as_uri(), "data.bin", None, tmp_path)
    assert not old.exists() and mine_fresh.exists() and users.exists()


def test_recbook_data_naming_a_file(tmp_path, monkeypatch):
    (tmp_path / "f").write_text("x")
    monkeypatch.setenv(F.ENV_VAR, str(tmp_path / "f"))
    with pytest.raises(NotADirectoryError, match=r"\$RECBOOK_DATA=.*is a file"):
        F.cache_dir()


def test_read_only_cache_shows_the_real_error(tmp_path, monkeypatch, source):
    real = type(tmp_path).write_bytes

    def refuse(self, data):
        if self.parent == tmp_path / "ro":
            raise OSError(30, "Read-only file system", str(self))
        return real(self, data)

    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(type(tmp_path), "write_bytes", refuse)
    with pytest.raises(OSError, match="cannot write into the data folder .*Read-only file "
                                      "system.*RECBOOK_DATA"):
        F.fetch(source.as_uri(), "data.bin", None, tmp_path / "ro")


def test_hand_placed_file_that_changed_is_kept(tmp_path):
    path = tmp_path / "yoochoose-clicks.dat"
    path.write_text("sample\n")
    F.local_file(path, path.name, "")
    path.write_text("the full file\n")
    with pytest.raises(F.ChecksumError) as e:
        F.local_file(path, path.name, "")
    msg = str(e.value)
    assert F.file_hash(path) in msg and "left in place" in msg and "accept(" in msg
    assert path.read_text() == "the full file\n"
    F.accept(path)
    assert F.local_file(path, path.name, "") == path
