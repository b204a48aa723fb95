"""The rules every loader applies to raw text files (written once, used by each reader).

* Cut files: every raw format recbook reads is one record per line, each line ending in a
  newline, so a file whose last line has none was cut (a partial download or copy, a disk
  that filled up). Loading it would silently drop or, worse, change the last record (a
  timestamp cut to fewer digits moves that event first in time), so it is refused, naming the
  file and the last line. Files that match their publisher's hash are exempt (they are whole).
* Encodings: GroupLens' files are latin-1. A file re-saved as UTF-8 (by an editor, a
  spreadsheet) would turn "Misérables" into "MisÃ©rables" when read as latin-1, so
  :func:`decode` reads bytes that are valid UTF-8 as UTF-8 and only the rest as latin-1 (real
  latin-1 text with accents is never valid UTF-8; pure ASCII reads the same either way).
  Formats that are UTF-8 (Amazon, YooChoose, Taobao) refuse a byte that is not, naming the
  file and the line (:func:`first_non_utf8_line`).
"""
from __future__ import annotations

from pathlib import Path


def decode(raw: bytes, name: str, legacy: str = "latin-1") -> str:
    """``raw`` as UTF-8 when it is valid UTF-8, else as ``legacy`` (module docstring)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode(legacy)


def require_newline_end(raw_or_path, name: str) -> None:
    """Raise ``ValueError`` naming ``name`` when the bytes (or file) end without a newline."""
    if isinstance(raw_or_path, (bytes, bytearray)):
        tail = bytes(raw_or_path[-200:])
    else:
        with open(raw_or_path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(f.tell() - 200, 0))
            tail = f.read()
    if tail and not tail.endswith(b"\n"):
        last = tail.rsplit(b"\n", 1)[-1].decode("latin-1")
        raise ValueError(f"{name}: the last line {last!r} has no newline: the file is cut "
                         "(truncated download or copy); get the whole file again (if it is "
                         "whole and only lacks its final newline, append one)")


def first_non_utf8_line(path, opener=open) -> tuple[int, bytes] | None:
    """(line number, line) of the first line of ``path`` that is not UTF-8, or None."""
    with opener(path, "rb") as f:
        for n, line in enumerate(f, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return n, line
    return None


def not_utf8_error(path, opener=open, what: str | None = None) -> ValueError:
    """The error for a UTF-8 file holding another encoding, naming the file and line."""
    where = first_non_utf8_line(path, opener)
    name = what or str(Path(path))
    if where is None:
        return ValueError(f"{name}: not UTF-8 text")
    n, line = where
    return ValueError(f"{name} line {n}: a byte that is not UTF-8 ({line[:120]!r}); the file "
                      "must be UTF-8 text as published")


def first_bad_line(path, check) -> tuple[int, str, str] | None:
    """(line number, line, what is wrong) of the first line of ``path`` for which
    ``check(line) -> str | None`` names a problem, or None. Used after a fast reader failed,
    to name the line it failed on."""
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            problem = check(line)
            if problem:
                return n, line, problem
    return None


def csv_fields(n_fields: int, ints: tuple[int, ...], names: tuple[str, ...]):
    """A line check for :func:`first_bad_line`: ``n_fields`` comma-separated fields, the
    ones at ``ints`` integers."""
    def check(line: str) -> str | None:
        parts = line.split(",")
        if len(parts) != n_fields:
            return f"expected {n_fields} comma-separated fields ({','.join(names)}), " \
                   f"found {len(parts)}"
        for i in ints:
            try:
                int(parts[i])
            except ValueError:
                return f"{names[i]} must be an integer, found {parts[i]!r}"
        return None
    return check
