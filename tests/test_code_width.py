"""Code cells fit the book's column: the HTML book shows about 90 characters of a code line,
longer ones scroll sideways and readers miss their ends (issue 15 §3). Every line inside a
```{code-cell} fence of chapters/*.md (the template excepted) is at most 88 characters."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WIDTH = 88
FENCE = re.compile(r"^(`{3,})\{code-cell\}")


def long_code_lines(text: str, width: int = WIDTH) -> list[tuple[int, int]]:
    """(line number, length) of every line longer than ``width`` inside a code-cell fence
    of MyST text ``text``; lines are numbered from 1, as an editor shows them."""
    found, closing = [], None
    for number, line in enumerate(text.splitlines(), 1):
        if closing is None:
            opened = FENCE.match(line)
            closing = opened.group(1) if opened else None
        elif line.rstrip() == closing:
            closing = None
        elif len(line) > width:
            found.append((number, len(line)))
    return found


def chapters() -> list[Path]:
    return sorted(p for p in (ROOT / "chapters").glob("*.md") if p.name != "_template.md")


def test_the_checker_finds_a_planted_long_line():
    long = "x = " + "1 + " * 30 + "1"
    text = ("# Title\n\n" + "prose " * 40 + "\n\n```{code-cell} ipython3\nshort = 1\n"
            f"{long}\n```\n\n```python\n{long}\n```\n\n````{{code-cell}} ipython3\n"
            f"{'y' * WIDTH}\n```\n{'z' * (WIDTH + 1)}\n````\n")
    # the prose line and the plain ```python block are not code cells; a line of exactly
    # WIDTH characters fits; the four-backtick cell is closed only by four backticks
    assert long_code_lines(text) == [(7, len(long)), (17, WIDTH + 1)]
    assert long_code_lines(text, width=200) == []


def test_there_are_chapters_to_check():
    names = {p.stem for p in chapters()}
    assert {"data", "din", "summary"} <= names and "_template" not in names


@pytest.mark.parametrize("chapter", chapters(), ids=lambda p: p.name)
def test_every_code_cell_line_fits_the_column(chapter):
    found = long_code_lines(chapter.read_text())
    assert not found, (f"code-cell lines over {WIDTH} characters (wrap them inside "
                       "brackets; the install cell: scripts/bookctl.py install_source, then "
                       "sync): " + ", ".join(
                           f"chapters/{chapter.name}:{n} ({length} chars)"
                           for n, length in found))
