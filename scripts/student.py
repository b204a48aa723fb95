#!/usr/bin/env python
"""The student edition's notebooks: one solution-free notebook per chapter for Colab.

    python scripts/student.py sync    # chapters/*.md -> student/chapters/*.ipynb
    python scripts/student.py check   # report drift (tests/test_notebooks_sync.py asserts none)

`scripts/bookctl.py sync` and `check` run these too (so `make sync` keeps them current), and
`bookctl.py student` builds the student HTML book, whose launch buttons open these notebooks.

A student notebook is the chapter without its `solution` cells and `{solution}` blocks, with its
MyST turned into the plain Markdown that Colab renders: an exercise becomes a heading numbered as
in the HTML book ("Exercise 6 (Title)"), a citation its author-year text ("[Zhou et al., 2018]"),
a cross-reference the referenced section's name. Its metadata lists the chapter's exercises, and
each exercise's checker cell carries `recbook.check: <label>`: scripts/grade.py reads both from
the notebook in this repository, never from a student's copy.
"""
from __future__ import annotations

import argparse
import functools
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bookctl  # noqa: E402

ROOT = bookctl.ROOT
STUDENT = Path("student")          # the student edition's book folder (path_to_book of its build)
NOTEBOOKS = STUDENT / bookctl.CHAPTERS
NOTE = ("*Student edition: the solutions are not in this notebook. Write your answer in the cell "
        "under each exercise, then run the checker cell that follows it. To hand in, download the "
        "notebook (File → Download → Download .ipynb).*")

_DIRECTIVE = re.compile(r"^(\s*)(`{3,}|:{3,})\{([\w:-]+)\}[ \t]*(.*)$")
_ROLE = re.compile(r"\{([\w:-]+)\}`([^`]*)`")
_TARGET = re.compile(r"^\(([\w.:-]+)\)=\s*$")
_EXPLICIT = re.compile(r"^(.*?)\s*<([\w.:-]+)>$", re.S)
_ADMONITIONS = {"note", "tip", "hint", "important", "warning", "caution", "attention", "danger",
                "error", "seealso", "admonition"}


@dataclass(frozen=True)
class Exercise:
    label: str
    number: int | None  # as the HTML book numbers it: one count over the book, in toc order
    title: str
    page: str       # e.g. "chapters/din"


# ------------------------------------------------------------------------------ the whole book

def _directives(text: str):
    """Yield (first line, last line, name, argument, options, body) of each top-level directive."""
    lines, k = text.split("\n"), 0
    while k < len(lines):
        m = _DIRECTIVE.match(lines[k])
        if not m:
            k += 1
            continue
        fence, start = m.group(2), k
        k += 1
        options = {}
        while k < len(lines) and re.match(r"^\s*:[\w-]+:", lines[k]):
            key, _, value = lines[k].strip()[1:].partition(":")
            options[key] = value.strip()
            k += 1
        body_start = k
        while k < len(lines) and lines[k].strip() != fence:
            k += 1
        if k == len(lines):
            raise ValueError(f"unclosed {{{m.group(3)}}} directive (fence {fence})")
        yield start, k, m.group(3), m.group(4).strip(), options, "\n".join(lines[body_start:k]).strip("\n")
        k += 1


def _markdown_cells(md: Path):
    return [c.source for c in jupytext.read(md).cells if c.cell_type == "markdown"]


@functools.lru_cache(maxsize=8)
def _book(root: Path) -> tuple[dict[str, Exercise], dict[str, tuple[str, str]]]:
    """Every exercise of the book, numbered, and the (section title, page) of every `(label)=`
    target; in the second, the key ("", page) maps each page to its title."""
    exercises, sections, count = {}, {}, 0
    for page in bookctl.toc_files(root):
        md = root / f"{page}.md"
        for text in _markdown_cells(md):
            title = next((ln[2:].strip() for ln in text.split("\n") if ln.startswith("# ")), None)
            if title:
                sections.setdefault(("", page), title)
            lines = text.split("\n")
            for k, line in enumerate(lines):
                m = _TARGET.match(line)
                if m:
                    heading = next((ln for ln in lines[k + 1:] if ln.strip()), "")
                    if not heading.startswith("#"):
                        raise ValueError(f"{page}.md: target ({m.group(1)})= is not followed by a heading")
                    sections[m.group(1)] = (heading.lstrip("#").strip(), page)
            for _, _, name, arg, options, _ in _directives(text):
                if name == "exercise":
                    if "label" not in options:
                        raise ValueError(f"{page}.md: exercise {arg!r} has no :label:")
                    # sphinx-exercise counts every exercise not marked :nonumber:
                    number = None if "nonumber" in options else (count := count + 1)
                    exercises[options["label"]] = Exercise(options["label"], number, arg, page)
    return exercises, sections


def book(root: Path = ROOT) -> tuple[dict[str, Exercise], dict]:
    return _book(Path(root).resolve())


@functools.lru_cache(maxsize=8)
def _bibliography(bib: Path) -> dict[str, dict[str, str]]:
    from pybtex.database import parse_file
    from pybtex.richtext import Text

    def text(latex: str) -> str:
        return Text.from_latex(latex).render_as("text")

    out = {}
    for key, entry in parse_file(str(bib)).entries.items():
        people = entry.persons.get("author", [])
        last = [text(" ".join(p.last_names)) for p in people]
        short = last[0] if len(last) == 1 else " and ".join(last) if len(last) == 2 else f"{last[0]} et al."
        names = ", ".join(f"{text(' '.join(p.last_names))}, "
                          + " ".join(f"{text(n)[0]}." for n in p.first_names + p.middle_names if text(n))
                          for p in people)
        venue = text(entry.fields.get("booktitle", entry.fields.get("journal", "")))
        eprint = entry.fields.get("eprint")
        full = (f"{names} ({entry.fields['year']}). {text(entry.fields['title'])}. {venue}."
                + (f" [arXiv:{eprint}](https://arxiv.org/abs/{eprint})." if eprint else ""))
        year = entry.fields["year"]
        out[key] = {"short": short, "year": year, "full": full, "sort": f"{last[0]} {year}"}
    return out


def bibliography(root: Path = ROOT) -> dict[str, dict[str, str]]:
    return _bibliography((Path(root) / bookctl.CHAPTERS / "references.bib").resolve())


# --------------------------------------------------------------------------- MyST -> Markdown

def _role(name: str, content: str, root: Path, page: str) -> str:
    where = f"{page}.md"
    exercises, sections = book(root)
    if name in ("cite", "cite:p", "cite:t"):
        bib = bibliography(root)
        keys = [k.strip() for k in content.split(",")]
        unknown = [k for k in keys if k not in bib]
        if unknown:
            raise ValueError(f"{where}: unknown citation key(s) {unknown} (see chapters/references.bib)")
        if name == "cite:t":
            return "; ".join(f"{bib[k]['short']} [{bib[k]['year']}]" for k in keys)
        return "[" + "; ".join(f"{bib[k]['short']}, {bib[k]['year']}" for k in keys) + "]"
    if name in ("ref", "numref"):
        m = _EXPLICIT.match(content)
        text, label = (m.group(1), m.group(2)) if m else (None, content.strip())
        if label in exercises:
            ex = exercises[label]
            if text is None:
                text = f"Exercise {ex.number}" if name == "numref" else ex.title
            text, target = text.replace("%s", str(ex.number)).replace("{number}", str(ex.number)), ex.page
        elif label in sections:
            title, target = sections[label]
            text = title if text is None else text
        else:
            raise ValueError(f"{where}: {{{name}}} to unknown label {label!r}")
        # Within the notebook a link to the anchor; another chapter is named (Colab cannot follow
        # a relative link to another notebook).
        if target == page:
            return f"[{text}](#{label})"
        return f"{text} (chapter *{sections[('', target)]}*)"
    if name == "math":
        return f"${content}$"
    raise ValueError(f"{where}: the role {{{name}}} has no plain-Markdown form here; add it to "
                     "scripts/student.py")


def _directive(name: str, arg: str, options: dict, body: str, root: Path, page: str) -> str:
    where = f"{page}.md"
    if name == "exercise":
        ex = book(root)[0][options["label"]]
        name = "Exercise" if ex.number is None else f"Exercise {ex.number}"
        return f'<a id="{ex.label}"></a>\n\n### {name} ({ex.title})\n\n{body}'
    if name in _ADMONITIONS:
        title = arg if name == "admonition" else name.capitalize() + (f": {arg}" if arg else "")
        return "\n".join(f"> {ln}".rstrip() for ln in f"**{title}**\n\n{body}".split("\n"))
    if name == "bibliography":
        bib = bibliography(root)
        return "\n".join(f"- {e['full']}" for e in sorted(bib.values(), key=lambda e: e["sort"]))
    if name in ("math", "amsmath"):
        return f"$$\n{body}\n$$"
    raise ValueError(f"{where}: the directive {{{name}}} has no plain-Markdown form here; add it to "
                     "scripts/student.py")


def plain_markdown(text: str, root: Path = ROOT, page: str = "") -> str:
    """A MyST Markdown cell of `page` (e.g. "chapters/din") as plain Markdown (what Colab and
    GitHub render)."""
    lines = text.split("\n")
    for start, end, name, arg, options, body in reversed(list(_directives(text))):
        body = plain_markdown(body, root, page)
        lines[start:end + 1] = _directive(name, arg, options, body, root, page).split("\n")
    out = []
    for line in lines:
        m = _TARGET.match(line)
        if m:
            out.append(f'<a id="{m.group(1)}"></a>')
        elif not re.match(r"^%( |$)", line):  # MyST comments
            out.append(line)
    return _ROLE.sub(lambda m: _role(m.group(1), m.group(2), root, page), "\n".join(out))


# ------------------------------------------------------------------------------- the notebooks

def mark_checkers(nb, page: str, root: Path = ROOT) -> list[Exercise]:
    """Tag each exercise's checker cell (`recbook.check: label`): the first code cell after the
    exercise's solution cell. Returns the page's exercises in order."""
    exercises = book(root)[0]
    found, current, solved = [], None, False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for _, _, name, _, options, _ in _directives(cell.source):
                if name == "exercise":
                    if current:
                        raise ValueError(f"{page}: exercise {current} has no checker cell after its solution cell")
                    current, solved = options["label"], False
                    found.append(exercises[current])
        elif current and bookctl.SOLUTION_TAG in bookctl.tags(cell):
            solved = True
        elif current and solved:
            cell.metadata["recbook"] = {"check": current}
            current, solved = None, False
    if current:
        raise ValueError(f"{page}: exercise {current} has no checker cell after its solution cell")
    return found


def student_notebook(md: Path, root: Path = ROOT):
    """The student notebook of one chapter (a MyST .md), as an nbformat notebook."""
    root = Path(root)
    page = md.relative_to(root).with_suffix("").as_posix()
    nb = jupytext.read(md)
    exercises = mark_checkers(nb, page, root) if page in bookctl.toc_files(root) else []
    nb = bookctl.strip_solutions(nb, page)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = plain_markdown(cell.source, root, page).strip("\n")
    # A {solution} block alone in its cell leaves an empty cell behind.
    nb.cells = [c for c in nb.cells if c.cell_type != "markdown" or c.source.strip()]
    if exercises:  # under the chapter's title
        title = next((k for k, c in enumerate(nb.cells) if c.cell_type == "markdown"
                      and re.search(r"^# ", c.source, re.M)), -1)
        nb.cells.insert(title + 1, nbformat.v4.new_markdown_cell(NOTE))
    nb.metadata.pop("jupytext", None)  # not paired: generated from the chapter's .md
    nb.metadata["recbook"] = {"chapter": md.stem, "edition": "student",
                              "exercises": [{"label": e.label, "number": e.number, "title": e.title}
                                            for e in exercises]}
    return nb


def _expected(root: Path) -> dict[Path, str]:
    """Each student notebook's path and exact text, as `sync` writes it."""
    import tempfile

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for md in bookctl.chapter_sources(root):
            path = Path(tmp) / f"{md.stem}.ipynb"
            bookctl._write_ipynb(student_notebook(md, root), path)
            out[root / NOTEBOOKS / path.name] = path.read_text()
    return out


def sync(root: Path = ROOT) -> list[Path]:
    """Write student/chapters/*.ipynb; remove those without a chapter. Returns what changed."""
    root = Path(root)
    _book.cache_clear(), _bibliography.cache_clear()  # the chapters may have changed
    expected, changed = _expected(root), []
    (root / NOTEBOOKS).mkdir(parents=True, exist_ok=True)
    for path, text in expected.items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(path)
    for path in sorted((root / NOTEBOOKS).glob("*.ipynb")):
        if path not in expected:
            path.unlink()
            changed.append(path)
    return changed


def check(root: Path = ROOT) -> list[str]:
    root = Path(root)
    _book.cache_clear(), _bibliography.cache_clear()  # the chapters may have changed
    expected, problems = _expected(root), []
    for path, text in expected.items():
        rel = path.relative_to(root)
        if not path.exists():
            problems.append(f"{rel} missing: run `make sync`")
        elif path.read_text() != text:
            problems.append(f"{rel} differs from its chapter: run `make sync`")
    for path in sorted((root / NOTEBOOKS).glob("*.ipynb")) if (root / NOTEBOOKS).exists() else []:
        if path not in expected:
            problems.append(f"{path.relative_to(root)} has no chapter: run `make sync`")
    return problems


def exercises_of(notebook) -> tuple[list[dict], dict[str, str]]:
    """A student notebook's exercises (label, number, title) and each one's checker source."""
    meta = notebook.metadata.get("recbook", {})
    checks = {c.metadata["recbook"]["check"]: c.source for c in notebook.cells
              if c.cell_type == "code" and "check" in c.metadata.get("recbook", {})}
    return meta.get("exercises", []), checks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["sync", "check"])
    args = parser.parse_args(argv)
    if args.command == "sync":
        for path in sync():
            print(f"synced {path.relative_to(ROOT)}")
        return 0
    problems = check()
    print("\n".join(problems) or "student notebooks in sync")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
