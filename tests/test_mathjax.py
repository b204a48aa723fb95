"""The built HTML renders maths without internet: MathJax comes from the book's own _static/
(_config.yml's mathjax_path, copied at build time by _ext/recbook_mathjax.py from the pinned PyPI
package django-static-mathjax). A one-page book with maths, built with the book's configuration
(execution off), must load MathJax from a local file that exists."""
import importlib.util
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("bookctl", ROOT / "scripts" / "bookctl.py")
bookctl = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bookctl)

PAGE = r"""# Maths offline

Attention weight $a(\mathbf e_j, \mathbf v_A)$ and the user vector

$$
\mathbf v_U(A) = f(\mathbf v_A, \mathbf e_1, \dots, \mathbf e_H)
= \sum_{j=1}^{H} a(\mathbf e_j, \mathbf v_A)\, \mathbf e_j \tag{3}
$$
"""


def build_maths_book(src: Path, out: Path) -> subprocess.CompletedProcess:
    """A one-page book (maths.md) with the book's _config.yml, _static and _ext, not executed."""
    src.mkdir(parents=True)
    cfg = bookctl.config(ROOT)
    cfg["execute"]["execute_notebooks"] = "off"
    (src / "_config.yml").write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    (src / "chapters").mkdir()
    shutil.copy(ROOT / "chapters" / "references.bib", src / "chapters" / "references.bib")
    for folder in ("_static", "_ext"):
        shutil.copytree(ROOT / folder, src / folder)
    (src / "_toc.yml").write_text("format: jb-book\nroot: maths\n")
    (src / "maths.md").write_text(PAGE)
    return subprocess.run(bookctl.build_command(src, out), env=bookctl.build_env(out),
                          capture_output=True, text=True, timeout=600)


def test_maths_page_loads_mathjax_from_the_book_itself(tmp_path):
    result = build_maths_book(tmp_path / "src", tmp_path / "out")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    page = tmp_path / "out" / "_build" / "html" / "maths.html"
    assert bookctl.check_mathjax_html(page) == []
    assert "cdn.jsdelivr" not in page.read_text() and r"\tag{3}" in page.read_text()
    fonts = tmp_path / "out" / "_build" / "html" / "_static" / "mathjax" / "output" / "chtml" / "fonts"
    assert any(fonts.rglob("MathJax_Main-Regular.woff")), "MathJax's fonts were not copied"


def test_the_check_catches_a_cdn_and_a_missing_file(tmp_path):
    page = tmp_path / "p.html"
    page.write_text('<script async src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>')
    assert "from the network" in bookctl.check_mathjax_html(page)[0]
    page.write_text('<script async="async" src="_static/mathjax/tex-mml-chtml.js"></script>')
    assert "missing" in bookctl.check_mathjax_html(page)[0]
    page.write_text("<p>no maths</p>")
    assert "no MathJax" in bookctl.check_mathjax_html(page)[0]
