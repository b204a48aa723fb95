"""Chapters: the .md/.ipynb pairs agree, install cells and README follow _config.yml's repository
URL, and framework magics match their tags. Each check is also shown to catch a planted drift."""
import importlib.util
import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("bookctl", ROOT / "scripts" / "bookctl.py")
bookctl = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bookctl)


def test_chapters_exist_and_are_in_the_toc():
    pages = bookctl.toc_files()
    assert pages[0] == "chapters/preface" and "chapters/references" in pages
    for page in pages:
        assert (ROOT / f"{page}.md").exists(), f"{page}.md in _toc.yml does not exist"
    assert "chapters/*.md" in bookctl.config()["exclude_patterns"], "the .md twins must not be built"


@pytest.mark.parametrize("name", ["pairs", "install_cells", "framework_cells", "readme", "repo_urls"])
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
