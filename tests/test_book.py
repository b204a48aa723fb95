"""The book: the executed build, failure on a broken cell, framework magics, show_source, the
student edition."""
import importlib.util
import inspect
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import recbook.book as book
from recbook.exercises import check as check_fn

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("bookctl", ROOT / "scripts" / "bookctl.py")
bookctl = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bookctl)


def _run_build(src: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(bookctl.build_command(src, out), env=bookctl.build_env(out),
                          capture_output=True, text=True, timeout=3000)


# ---------------------------------------------------------------------------------- the build

def test_book_builds_every_toc_page(tmp_path):
    """The whole book, executed, as `make book` builds it; every page of the toc gives HTML."""
    result = _run_build(ROOT, tmp_path)
    # kept beside the HTML (pytest keeps its last temporary folders): the "Executed notebook in
    # N seconds" lines (MyST-NB's format, printed by scripts/bookctl.py, which executes the
    # notebooks several at once) are the per-chapter times bench/RESULTS.md reports
    (tmp_path / "_build").mkdir(exist_ok=True)
    (tmp_path / "_build" / "build.log").write_text(result.stdout + result.stderr)
    log = result.stdout[-4000:] + result.stderr[-4000:]
    assert result.returncode == 0, f"book build failed:\n{log}"
    html = tmp_path / "_build" / "html"
    url = bookctl.repo_url()
    colab = "colab.research.google.com/github/" + url.removeprefix("https://github.com/")
    for page in bookctl.toc_files():
        out = html / f"{page}.html"
        assert out.exists(), f"{page} in _toc.yml produced no HTML"
        text = out.read_text()
        assert "framework-tabs.js" in text, f"{page}: framework tabs script not included"
        if (ROOT / f"{page}.ipynb").exists():
            assert f"{colab}/blob/{bookctl.branch()}/{page}.ipynb" in text, f"{page}: no Colab button"
    # Maths render offline: MathJax is loaded from the book's own _static (tests/test_mathjax.py).
    assert bookctl.check_mathjax_html(html / "chapters" / "din.html") == []
    preface = (html / "chapters" / "preface.html").read_text()
    # The executed outputs are in the page, and each framework cell became a tagged cell.
    assert "PyTorch 2." in preface and "TensorFlow 2." in preface
    assert 'class="cell tag_pytorch' in preface and 'class="cell tag_tensorflow' in preface
    # The .md twins are excluded: only the built notebooks appear as sources.
    assert not (html / "_sources" / "chapters" / "preface.md").exists()
    # Every model chapter recorded its claims before the summary page read them (it executes last).
    records = list((tmp_path / "_build" / "claims").rglob("*.json"))
    assert records, "no claim verdict was recorded during the build"
    summary = (html / "chapters" / "summary.html").read_text()
    assert "run chapter" not in summary, "the summary page ran before a chapter recorded its claims"


def _one_page_book(root: Path, source: str) -> None:
    (root / "chapters").mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", root / "_config.yml")
    shutil.copy(ROOT / "chapters" / "references.bib", root / "chapters" / "references.bib")
    shutil.copytree(ROOT / "_static", root / "_static")
    shutil.copytree(ROOT / "_ext", root / "_ext")
    (root / "_toc.yml").write_text("format: jb-book\nroot: chapters/page\n")
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = [nbformat.v4.new_markdown_cell("# A page"), nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, root / "chapters" / "page.ipynb")


def test_a_failing_cell_fails_the_build(tmp_path):
    _one_page_book(tmp_path / "src", 'print("before")\nraise RuntimeError("planted failure 42")')
    result = _run_build(tmp_path / "src", tmp_path / "out")
    assert result.returncode != 0, "a cell raised but the book build exited 0"
    assert "planted failure 42" in result.stdout + result.stderr


# ------------------------------------------------------------------------------ cell magics

@pytest.fixture
def shell(monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.delenv(book.ENV_VAR, raising=False)
    monkeypatch.setattr(book, "_enabled", None)
    sh = InteractiveShell.instance()
    book.load_ipython_extension(sh)
    yield sh
    InteractiveShell.clear_instance()


def test_framework_cell_runs_in_user_namespace(shell):
    result = shell.run_cell("%%pytorch\nx = 20\ny = x + 1\ny * 2")
    assert result.success and result.result == 42
    assert shell.user_ns["x"] == 20
    assert shell.run_cell("%%tensorflow\nz = x + y").success and shell.user_ns["z"] == 41


def test_framework_cell_line_magics_and_errors(shell, capsys):
    assert shell.run_cell("%%pytorch\n%time w = 3").success and shell.user_ns["w"] == 3
    result = shell.run_cell("%%pytorch\na = 1\nraise ValueError('bad shape')")
    assert isinstance(result.error_in_exec, ValueError), "an error in a framework cell must fail it"


def test_switched_off_framework_is_skipped_with_one_line(shell, capsys):
    assert book.use("pytorch") == ("pytorch",)
    result = shell.run_cell("%%tensorflow\nskipped = True")
    assert result.success and "skipped" not in shell.user_ns
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "TensorFlow cell skipped" in out[0] and 'use("all")' in out[0]
    assert shell.run_cell("%%pytorch\nran = True").success and shell.user_ns["ran"]
    assert book.use("all") == ("pytorch", "tensorflow")


def test_environment_variable_selects_frameworks(monkeypatch):
    monkeypatch.setattr(book, "_enabled", None)
    monkeypatch.setenv(book.ENV_VAR, "tensorflow")
    assert book.enabled() == ("tensorflow",)
    monkeypatch.setenv(book.ENV_VAR, "pytorch,tensorflow")
    assert book.enabled() == ("pytorch", "tensorflow")
    monkeypatch.setenv(book.ENV_VAR, "jax")
    with pytest.raises(ValueError, match="RECBOOK_FRAMEWORKS='jax'.*unknown framework 'jax'"):
        book.enabled()
    with pytest.raises(ValueError, match="unknown framework 'torch'"):
        book.use("torch")


def test_importing_recbook_book_in_ipython_registers_magics():
    code = ("from IPython.core.interactiveshell import InteractiveShell\n"
            "sh = InteractiveShell.instance()\n"
            "import recbook.book\n"
            "print(sorted(k for k in sh.magics_manager.magics['cell'] if k in ('pytorch', 'tensorflow')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "['pytorch', 'tensorflow']", out.stderr


# ------------------------------------------------------------------------------- show_source

def test_show_source_reads_the_installed_package():
    src = book.source_of(check_fn)
    lines, start = inspect.getsourcelines(check_fn)
    assert src.path == "recbook/exercises/check.py"
    assert (src.first_line, src.last_line) == (start, start + len(lines) - 1)
    assert src.code == "".join(lines).rstrip("\n")
    text = str(src)
    assert text.startswith(f"# recbook/exercises/check.py, lines {start}-{start + len(lines) - 1}")
    assert f"{start} | def check(" in text
    html = src._repr_html_()
    assert "recbook/exercises/check.py" in html and "<span" in html and "style=" in html


def test_show_source_part_and_methods(capsys):
    part = book.source_of(book.Source.__str__, lines=(2, 3))
    _, start = inspect.getsourcelines(book.Source.__str__)
    assert part.first_line == start + 1 and len(part.code.splitlines()) == 2
    assert part.qualname == "recbook.book.Source.__str__"
    book.show_source(book.use)  # outside a notebook: plain text on stdout
    assert "def use(" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"lines=\(0, 2\) out of range"):
        book.source_of(book.use, lines=(0, 2))
    with pytest.raises(TypeError, match="recbook's own code"):
        book.source_of(json.dumps)


# --------------------------------------------------------------------------- student edition

def test_strip_solution_directives_keeps_everything_else():
    md = ("Text before.\n\n````{solution} ex-1\n:class: dropdown\n\n```python\ncode\n```\n````\n"
          "Between.\n:::{solution} ex-2\nsecret\n:::\n```{exercise}\nkeep me\n```\nAfter.")
    out = bookctl.strip_solutions_markdown(md)
    assert "secret" not in out and "code" not in out and "solution" not in out
    for kept in ("Text before.", "Between.", "keep me", "After.", "{exercise}"):
        assert kept in out
    with pytest.raises(ValueError, match="gated"):
        bookctl.strip_solutions_markdown("```{solution-start} ex\n```\n")
    with pytest.raises(ValueError, match="unclosed"):
        bookctl.strip_solutions_markdown("```{solution} ex\nnever closed\n")


def test_student_sources_have_no_solutions(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("def f(): pass"),
                nbformat.v4.new_code_cell("def f(): return 1", metadata={"tags": ["solution", "hide-input"]}),
                nbformat.v4.new_markdown_cell("```{solution} ex\nanswer\n```")]
    stripped = bookctl.strip_solutions(nb)
    assert [c.source for c in stripped.cells] == ["def f(): pass", ""]
    dest = bookctl.student_sources(tmp_path / "student")
    assert bookctl.config(dest)["sphinx"]["config"]["hide_solutions"] is True
    built = sorted(p.name for p in (dest / "chapters").glob("*.ipynb"))
    assert built == sorted(p.name for p in (ROOT / "chapters").glob("*.ipynb"))
    for path in (dest / "chapters").glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            assert "solution" not in cell.get("metadata", {}).get("tags", [])
            assert "{solution" not in cell.source


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in ci
    assert ci.strip().splitlines()[-1] == "make test"
    assert "make test" in (ROOT / "README.md").read_text()
