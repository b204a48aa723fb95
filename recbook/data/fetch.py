"""Fetching real datasets: checksums, a cache directory, atomic writes, safe extraction.

* ``cache_dir()``: ``$RECBOOK_DATA`` when set, else the user's cache (``pooch.os_cache``).
* ``fetch(url, fname, known_hash)``: download through a pooch downloader to a temporary name,
  verify, then rename atomically; a failed or interrupted download never leaves ``fname``.
  A file with a published checksum (``known_hash``, e.g. GroupLens' md5 of ``ml-1m.zip``) is
  checked against it; a file without one is *trusted on first use*: its sha256 is recorded in
  ``<cache>/recbook-hashes.json`` at the first download and verified on every later use.
* ``local_file(path, ...)``: a file behind a login or a form, put in place by hand; a missing
  file raises :class:`ManualDownloadError` saying where to get it and where to put it.
* ``extract(archive, dest)``: zip/tar extraction that refuses absolute paths, ``..`` and links
  leading outside ``dest``; extracts into a temporary folder renamed into place when complete.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import tarfile
import time
import uuid
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Callable
from urllib.parse import urlparse
from urllib.request import url2pathname

import pooch

ENV_VAR = "RECBOOK_DATA"
HASHES = "recbook-hashes.json"  # trust-on-first-use record, in the cache directory


class ChecksumError(ValueError):
    """A file's hash differs from the published or recorded one (the file was removed)."""


class ManualDownloadError(FileNotFoundError):
    """A dataset behind a login/form is not where recbook looks for it."""


class UnsafeArchiveError(ValueError):
    """An archive member would land outside the extraction folder."""


def cache_dir() -> Path:
    """``$RECBOOK_DATA`` if set, else the user cache (e.g. ``~/.cache/recbook``); created."""
    path = Path(os.environ.get(ENV_VAR) or pooch.os_cache("recbook")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_hash(path, alg: str = "sha256") -> str:
    """``"alg:hexdigest"`` of a file (read in chunks by pooch)."""
    return f"{alg}:{pooch.file_hash(str(path), alg=alg)}"


def _split(h: str) -> tuple[str, str]:
    alg, _, digest = h.partition(":") if ":" in h else ("sha256", "", h)
    return alg.lower(), digest.lower()


# ----------------------------------------------------------------------------- TOFU record
def _recorded(directory: Path) -> dict:
    path = directory / HASHES
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ChecksumError(f"the hash record {path} is not valid JSON ({e}); delete it to "
                            "trust the cached files again") from e


def _record(directory: Path, key: str, digest: str) -> None:
    table = _recorded(directory)
    table[key] = digest
    _atomic_write_text(directory / HASHES, json.dumps(table, indent=1, sort_keys=True))


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def verify(path, expected: str | None, directory: Path | None = None,
           key: str | None = None) -> str:
    """Check ``path`` against ``expected`` (``"md5:..."``/``"sha256:..."``), or, when None,
    against the trust-on-first-use record of ``key`` in ``directory`` (recording it the first
    time). A mismatch removes the file and raises :class:`ChecksumError` naming both hashes.
    Returns the hash that was checked (or recorded).
    """
    path = Path(path)
    directory = path.parent if directory is None else directory
    key = path.name if key is None else key
    recorded = _recorded(directory).get(key) if expected is None else None
    want = expected or recorded
    if want is None:  # first use: trust and record
        digest = file_hash(path)
        _record(directory, key, digest)
        return digest
    alg, digest = _split(want)
    got = file_hash(path, alg)
    if _split(got)[1] != digest:
        path.unlink(missing_ok=True)
        how = "published" if expected else f"recorded at first use in {directory / HASHES}"
        raise ChecksumError(
            f"{key}: checksum mismatch, expected {alg}:{digest} ({how}), got {got}. The bad "
            f"file was removed; fetch again (if the publisher changed the file on purpose, "
            f"delete the entry {key!r} from {directory / HASHES}).")
    return want


# ----------------------------------------------------------------------------- download
def file_downloader(url: str, output_file, pooch_=None) -> None:
    """A pooch-style downloader for ``file://`` URLs (local mirrors, tests)."""
    shutil.copyfile(url2pathname(urlparse(url).path), output_file)


def _downloader_for(url: str) -> Callable:
    if urlparse(url).scheme == "file":
        return file_downloader
    return pooch.HTTPDownloader(progressbar=False, timeout=60)


def fetch(url: str, fname: str, known_hash: str | None = None, directory=None,
          retries: int = 3, downloader: Callable | None = None, wait: float = 1.0) -> Path:
    """The cached file ``directory/fname`` (default :func:`cache_dir`), downloaded if absent.

    The download goes to a temporary name in the same folder and is renamed only after its
    hash checks out, so an interrupted or corrupt download is never used. Up to ``retries``
    attempts, ``wait * attempt`` seconds apart. ``known_hash=None`` means trust on first use.
    """
    directory = Path(directory) if directory is not None else cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / fname
    if target.exists():
        verify(target, known_hash, directory, fname)
        return target
    download = downloader or _downloader_for(url)
    errors = []
    for attempt in range(1, max(retries, 1) + 1):
        tmp = directory / f".{fname}.{uuid.uuid4().hex}.part"
        try:
            download(url, str(tmp), None)
            if not tmp.exists():
                raise OSError(f"the downloader wrote nothing to {tmp}")
            verify(tmp, known_hash, directory, fname)  # removes tmp on mismatch
            os.replace(tmp, target)
            return target
        except ChecksumError:
            raise  # a wrong file does not become right by downloading it again
        except Exception as e:  # network errors, interrupted transfers
            errors.append(f"attempt {attempt}: {type(e).__name__}: {e}")
            if attempt <= retries - 1:
                time.sleep(wait * attempt)
        finally:
            tmp.unlink(missing_ok=True)
    raise OSError(f"could not download {fname} from {url} after {retries} attempts:\n  "
                  + "\n  ".join(errors))


def local_file(path, name: str, where: str, known_hash: str | None = None) -> Path:
    """A file the user downloads by hand (behind a login or a form), trusted on first use.

    ``where``: how to get it (site, steps). Raises :class:`ManualDownloadError` when missing.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ManualDownloadError(
            f"{name} not found at {path}. It cannot be downloaded automatically: {where} "
            f"Put the file at {path} (or pass path=... to the loader, or set ${ENV_VAR} to the "
            f"folder that holds it).")
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


def _check_link(name: str, link: str, hard: bool, root: Path, archive) -> None:
    base = root if hard else root / PurePosixPath(name).parent  # hard links name from the root
    if PurePosixPath(link).is_absolute() or not _inside(root, base / link):
        raise UnsafeArchiveError(f"{archive}: link {name!r} -> {link!r} leads outside the "
                                 "extraction folder; refused")


def extract(archive, dest) -> Path:
    """Extract a zip or tar ``archive`` into ``dest`` (returned); nothing happens if ``dest``
    exists. Every member is checked before anything is written."""
    archive, dest = Path(archive), Path(dest)
    if dest.exists():
        return dest
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
    tmp.mkdir(parents=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                infos = zf.infolist()
                links = {}
                for info in infos:
                    _check_name(info.filename, archive)
                    if stat.S_ISLNK(info.external_attr >> 16):
                        links[info.filename] = zf.read(info).decode()
                        _check_link(info.filename, links[info.filename], False, tmp, archive)
                for info in infos:
                    if info.filename in links:
                        link_path = tmp / _check_name(info.filename, archive)
                        link_path.parent.mkdir(parents=True, exist_ok=True)
                        os.symlink(links[info.filename], link_path)
                    else:
                        zf.extract(info, tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                for m in members:
                    _check_name(m.name, archive)
                    if m.issym() or m.islnk():
                        _check_link(m.name, m.linkname, m.islnk(), tmp, archive)
                    elif not (m.isfile() or m.isdir()):
                        raise UnsafeArchiveError(f"{archive}: member {m.name!r} is a device or "
                                                 "fifo; refused")
                tf.extractall(tmp, members=members, filter="tar")
        else:
            raise ValueError(f"{archive} is neither a zip nor a tar archive (corrupt or "
                             "partial download?)")
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
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

    A complete ``dest`` is re-verified and returned (no network). Otherwise the wheel is
    downloaded by ``downloader(requirement, tmp_dir) -> wheel path`` (default
    :func:`pip_download`) into a temporary folder, checked against ``wheel_hash``, only the
    named members are extracted and checked, and the folder is renamed into place when
    complete; the wheel is deleted. Nothing from the wheel is installed or imported.
    """
    dest = Path(dest)
    names = {m: PurePosixPath(m).name for m in members}
    if dest.is_dir():
        if all((dest / n).is_file() for n in names.values()):
            for m, n in names.items():
                try:
                    verify(dest / n, members[m])
                except ChecksumError:
                    shutil.rmtree(dest, ignore_errors=True)  # fetch it whole next time
                    raise
            return dest
        shutil.rmtree(dest)  # incomplete (cannot happen through this function): start again
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
    (tmp / "wheel").mkdir(parents=True)
    try:
        wheel = Path((downloader or pip_download)(requirement, tmp / "wheel"))
        if not wheel.is_file():
            raise OSError(f"the downloader of {requirement} wrote no wheel ({wheel})")
        verify(wheel, wheel_hash, key=f"{requirement} wheel")
        if not zipfile.is_zipfile(wheel):
            raise ValueError(f"{wheel} is not a zip archive")
        with zipfile.ZipFile(wheel) as zf:
            missing = [m for m in members if m not in zf.namelist()]
            if missing:
                raise ValueError(f"the {requirement} wheel has no {missing}")
            for m, n in names.items():
                with zf.open(m) as src, open(tmp / n, "wb") as out:
                    shutil.copyfileobj(src, out)
                verify(tmp / n, members[m], key=f"{n} in the {requirement} wheel")
        shutil.rmtree(tmp / "wheel")
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return dest
