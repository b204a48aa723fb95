"""Sphinx extension: MathJax served from the book itself, so maths render without internet.

_config.yml sets ``mathjax_path`` to ``mathjax/tex-mml-chtml.js``: a relative path, which Sphinx
loads from the built HTML's ``_static/``. At the end of every HTML build this extension copies
MathJax 3's ``es5`` build there (the script, and the fonts and TeX extensions it fetches from its
own folder), taken from the PyPI package django-static-mathjax (pinned in requirements.txt; it
ships MathJax and depends on nothing). Nothing of MathJax is kept in git; a build without the
package fails at its start with a message that names it.
"""
import importlib.util
import json
import re
import shutil
from pathlib import Path

from sphinx.errors import ExtensionError

PACKAGE = "django-static-mathjax"
# Top-level bundles that the book does not load (the one it loads fetches nothing of these).
UNUSED = {"mml-chtml.js", "mml-svg.js", "tex-chtml.js", "tex-chtml-full.js",
          "tex-chtml-full-speech.js", "tex-mml-svg.js", "tex-svg.js", "tex-svg-full.js",
          "node-main.js"}


def mathjax_source() -> tuple[Path, str]:
    """(MathJax's es5 folder, MathJax's version) from the installed package."""
    spec = importlib.util.find_spec("mathjax")
    folder = Path(spec.origin).parent / "static" / "mathjax" if spec and spec.origin else None
    if folder is None or not (folder / "es5").is_dir():
        raise ExtensionError(f"the book serves MathJax itself, from the PyPI package {PACKAGE} "
                             f"(pinned in requirements.txt), which is not installed: run "
                             f"`pip install -r requirements.txt`")
    return folder / "es5", json.loads((folder / "package.json").read_text())["version"]


def _local_path(app) -> str:
    path = app.config.mathjax_path or ""
    if re.match(r"^([a-z]+:)?//", path) or path.startswith("/"):
        raise ExtensionError(f"mathjax_path must be relative to _static (e.g. "
                             f"mathjax/tex-mml-chtml.js) for the book to render maths offline, "
                             f"got {path!r}")
    return path


def _check(app) -> None:
    _local_path(app)
    mathjax_source()


def _copy(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    es5, version = mathjax_source()
    path = _local_path(app)
    dest = Path(app.outdir) / "_static" / Path(path).parent
    stamp = dest / ".mathjax-version"
    if not (stamp.exists() and stamp.read_text() == version):
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(es5, dest, ignore=lambda d, names: [n for n in names
                                                             if Path(d) == es5 and n in UNUSED])
        stamp.write_text(version)
    if not (Path(app.outdir) / "_static" / path).is_file():
        raise ExtensionError(f"mathjax_path {path!r} is not a file of MathJax {version}'s es5 build")


def setup(app):
    app.connect("builder-inited", _check)
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
