"""Chapters: the .md/.ipynb pairs agree, install cells and README follow _config.yml's repository
URL, framework magics match their tags, solution cells are folded for Colab, and the student
notebooks (student/chapters/*.ipynb) are what the chapters generate. Each check is also shown to
catch a planted drift."""
import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("bookctl", ROOT / "scripts" / "bookctl.py")
bookctl = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bookctl)
student = bookctl._student()
sys.path.insert(0, str(ROOT / "_ext"))
import colab_forms  # noqa: E402


def test_chapters_exist_and_are_in_the_toc():
    pages = bookctl.toc_files()
    assert pages[0] == "chapters/preface" and "chapters/references" in pages
    for page in pages:
        assert (ROOT / f"{page}.md").exists(), f"{page}.md in _toc.yml does not exist"
    assert "chapters/*.md" in bookctl.config()["exclude_patterns"], "the .md twins must not be built"


@pytest.mark.parametrize("name", ["pairs", "install_cells", "framework_cells", "readme", "repo_urls",
                                  "student"])
def test_repository_is_in_sync(name):
    problems = getattr(bookctl, f"check_{name}")(ROOT)
    assert not problems, "\n".join(problems)


@pytest.fixture
def copy(tmp_path):
    """A copy of the book's own pages (Preface, References) to plant drift in; other chapters
    are left out so that these tests do not depend on work in progress elsewhere."""
    for name in ("_config.yml", "README.md", "CONTRIBUTING.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: chapters/preface\n"
                                       "chapters:\n  - file: chapters/references\n")
    (tmp_path / "chapters").mkdir()
    for name in ("preface.md", "preface.ipynb", "references.md", "references.ipynb", "references.bib"):
        shutil.copy(ROOT / "chapters" / name, tmp_path / "chapters" / name)
    bookctl.sync_readme(tmp_path)
    bookctl.sync_student(tmp_path)
    assert bookctl.check_all(tmp_path) == []
    return tmp_path


def test_pair_drift_is_caught_and_sync_fixes_it(copy):
    md = copy / "chapters" / "preface.md"
    md.write_text(md.read_text().replace("print(f\"recbook", "print(f\"RECBOOK"))
    assert any("preface.md and its .ipynb differ" in p for p in bookctl.check_pairs(copy))
    bookctl.sync_chapter(md, bookctl.repo_url(copy))
    assert bookctl.check_pairs(copy) == []


def test_tag_drift_and_outputs_are_caught(copy):
    ipynb = copy / "chapters" / "preface.ipynb"
    nb = json.loads(ipynb.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    tagged = next(c for c in code if "pytorch" in c["metadata"].get("tags", []))
    tagged["metadata"]["tags"] = ["tensorflow"]
    code[0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "hi"}]
    ipynb.write_text(json.dumps(nb))
    problems = bookctl.check_pairs(copy)
    assert any("differ" in p for p in problems) and any("has outputs" in p for p in problems)
    (copy / "chapters" / "orphan.ipynb").write_text(ipynb.read_text())
    assert any("orphan.ipynb has no paired .md" in p for p in bookctl.check_pairs(copy))


def test_repository_url_drift_is_caught_everywhere(copy):
    cfg = copy / "_config.yml"
    cfg.write_text(cfg.read_text().replace("https://github.com/recbook/recbook",
                                           "https://github.com/recbook/recbook-next"))
    assert any("install cell differs" in p for p in bookctl.check_install_cells(copy))
    assert any("out of date" in p for p in bookctl.check_readme(copy))
    assert any("github.com/recbook/recbook but" in p for p in bookctl.check_repo_urls(copy))
    for md in bookctl.chapter_sources(copy, include_template=True):
        bookctl.sync_chapter(md, bookctl.repo_url(copy))
    bookctl.sync_readme(copy)
    assert any("student/chapters/preface.ipynb differs" in p for p in bookctl.check_student(copy))
    bookctl.sync_student(copy)
    assert bookctl.check_all(copy) == []
    assert "git+https://github.com/recbook/recbook-next" in (copy / "chapters" / "preface.ipynb").read_text()


def test_framework_magic_without_its_tag_is_caught(copy):
    md = copy / "chapters" / "preface.md"
    md.write_text(md.read_text().replace(":tags: [tensorflow]\n\n%%tensorflow", ":tags: [pytorch]\n\n%%tensorflow", 1))
    problems = bookctl.check_framework_cells(copy)
    assert any("starts with %%tensorflow but has tags ['pytorch']" in p for p in problems)
    md.write_text(md.read_text().replace("%%tensorflow\n", "", 1))
    assert any("no framework magic" in p for p in bookctl.check_framework_cells(copy))


def test_install_cell_must_come_first(copy):
    md = copy / "chapters" / "preface.md"
    md.write_text(md.read_text().replace(":tags: [install, hide-input]", ":tags: [hide-input]"))
    assert any("first code cell must be the install cell" in p for p in bookctl.check_install_cells(copy))


def test_install_cell_is_a_no_op_where_recbook_is_installed():
    src = bookctl.install_source("https://github.com/o/n", "1.2.3")
    assert 'RECBOOK = "recbook @ git+https://github.com/o/n@v1.2.3"' in src  # (tests/test_install_cell.py runs it)
    assert src.index("import recbook\n") < src.index("except ImportError")


# ------------------------------------------------------------------- Colab: folds and students

def test_unfolded_solution_is_caught_and_the_html_drops_the_title(copy):
    ipynb = copy / "chapters" / "preface.ipynb"
    nb = json.loads(ipynb.read_text())
    solution = next(c for c in nb["cells"] if "solution" in c["metadata"].get("tags", []))
    assert "".join(solution["source"]).startswith(bookctl.SOLUTION_TITLE + "\n")
    assert solution["metadata"]["cellView"] == "form"
    stripped = json.loads(colab_forms.strip_form_titles(ipynb.read_text()))
    after = next(c for c in stripped["cells"] if "solution" in c["metadata"].get("tags", []))
    assert "".join(after["source"]) == "".join(solution["source"]).split("\n", 1)[1]
    del solution["metadata"]["cellView"]
    ipynb.write_text(json.dumps(nb))
    assert any("not folded for Colab" in p for p in bookctl.check_pairs(copy))


def test_student_notebook_drift_is_caught_and_sync_fixes_it(copy):
    md = copy / "chapters" / "preface.md"
    md.write_text(md.read_text().replace("so that it neither overflows", "so that it never overflows"))
    assert any("student/chapters/preface.ipynb differs" in p for p in bookctl.check_student(copy))
    (copy / "student" / "chapters" / "orphan.ipynb").write_text("{}")
    assert any("orphan.ipynb has no chapter" in p for p in bookctl.check_student(copy))
    bookctl.sync_student(copy)
    assert bookctl.check_student(copy) == []


def test_student_notebooks_have_no_solution_and_plain_markdown():
    for path in sorted((ROOT / "student" / "chapters").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        chapter = json.loads((ROOT / "chapters" / path.name).read_text())
        solutions = ["".join(c["source"]).split("\n", 1)[1] for c in chapter["cells"]
                     if "solution" in c["metadata"].get("tags", [])]
        for cell in nb["cells"]:
            text = "".join(cell["source"])
            assert "solution" not in cell["metadata"].get("tags", []), path.name
            assert not any(sol.strip() in text for sol in solutions), f"{path.name}: solution code"
            if cell["cell_type"] == "markdown":
                assert not re.search(r"\{[\w:-]+\}`|^\s*(```|:::)\{|^\([\w-]+\)=", text, re.M), \
                    f"{path.name}: MyST left in a Markdown cell:\n{text[:300]}"
        meta = nb["metadata"]["recbook"]
        checks = [c["metadata"]["recbook"]["check"] for c in nb["cells"] if "recbook" in c["metadata"]]
        assert checks == [e["label"] for e in meta["exercises"]], path.name


def test_exercises_are_numbered_as_in_the_book_and_references_become_text():
    din = json.loads((ROOT / "student" / "chapters" / "din.ipynb").read_text())
    text = "\n".join("".join(c["source"]) for c in din["cells"] if c["cell_type"] == "markdown")
    exercises = student.book()[0]
    # The HTML book numbers exercises once over the whole book, in the order of _toc.yml.
    before = [e for e in exercises.values() if e.page in ("chapters/preface", "chapters/data")]
    n = len(before) + 3
    assert exercises["din-ex-softmax"].number == n
    assert f"### Exercise {n} (Predict, then test: what does a softmax change?)" in text
    assert f"[Exercise {n}](#din-ex-softmax) asks what that changes" in text
    assert "[Zhou et al., 2018]" in text
    md = student.plain_markdown
    assert md("{cite:t}`hidasi2018topk`", ROOT, "chapters/din") == "Hidasi and Karatzoglou [2018]"
    assert md("{cite}`zhou2018din,zhou2019dien`", ROOT, "chapters/din") == \
        "[Zhou et al., 2018; Zhou et al., 2019]"
    summary = next(ln[2:] for ln in (ROOT / "chapters" / "summary.md").read_text().splitlines()
                   if ln.startswith("# "))
    assert md("{ref}`summary-verdict-rule`", ROOT, "chapters/din") == \
        f"How a claim gets its verdict (chapter *{summary}*)"
    assert md("{ref}`the claims <din-claims>`", ROOT, "chapters/din") == "[the claims](#din-claims)"
    assert md("```{note}\nMind the gap.\n```", ROOT, "chapters/din") == "> **Note**\n>\n> Mind the gap."
    with pytest.raises(ValueError, match="unknown label 'nope'"):
        md("{ref}`nope`", ROOT, "chapters/din")
    with pytest.raises(ValueError, match="unknown citation key"):
        md("{cite}`nobody2020`", ROOT, "chapters/din")
    with pytest.raises(ValueError, match=r"directive \{figure\} has no plain-Markdown form"):
        md("```{figure} x.png\n```", ROOT, "chapters/din")


def test_no_hand_written_exercise_or_section_numbers():
    """Cross-references go by label ({numref}/{ref}): a hand-written number drifts when an
    exercise or a section is added before it."""
    for md in bookctl.chapter_sources(ROOT, include_template=True):
        for k, line in enumerate(md.read_text().splitlines(), 1):
            found = re.search(r"\b(exercise|section)s? \d+", line, re.I)
            assert not found, f"{md.relative_to(ROOT)}:{k}: {found.group(0)!r}: use {{numref}}/{{ref}} to its label"


def test_student_book_launch_buttons_open_the_student_notebooks(tmp_path):
    """The theme's launch button opens {repository.path_to_book}/{page}.ipynb on Colab: in the
    student edition's build that is student/chapters/<name>.ipynb, which the repository holds."""
    dest = bookctl.student_sources(tmp_path / "student-src")
    book_path = bookctl.config(dest)["repository"]["path_to_book"]
    assert book_path == "student"
    for page in bookctl.toc_files(dest):
        if (dest / f"{page}.ipynb").exists():
            assert (ROOT / book_path / f"{page}.ipynb").exists(), f"{book_path}/{page}.ipynb missing"
    assert bookctl.config(ROOT)["repository"]["path_to_book"] == "", "the full book opens chapters/"
