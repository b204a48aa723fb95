"""pyproject.toml keeps its promises: every third-party package that recbook imports is declared
(in the core dependencies or in the extra of the feature that needs it), and the version is
written in one place."""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import recbook

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# import name -> distribution name, where they differ
DISTRIBUTION = {"sklearn": "scikit-learn", "faiss": "faiss-cpu", "IPython": "ipython",
                "yaml": "pyyaml"}


def imported_packages() -> dict[str, str]:
    """Top-level third-party names imported anywhere in recbook/ -> one file that imports it."""
    found = {}
    for path in sorted((ROOT / "recbook").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "recbook" and top not in sys.stdlib_module_names:
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def declared() -> set[str]:
    reqs = list(PYPROJECT["dependencies"])
    for extra in PYPROJECT["optional-dependencies"].values():
        reqs += extra
    return {re.match(r"[A-Za-z0-9_.\-]+", r).group(0).lower() for r in reqs}


def test_every_imported_package_is_declared():
    imported = imported_packages()
    assert {"numpy", "scipy", "torch", "tensorflow"} <= set(imported)  # the scan sees imports
    missing = {name: where for name, where in imported.items()
               if DISTRIBUTION.get(name, name).lower() not in declared()}
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_the_extras_exist():
    assert {"torch", "tf", "book", "test"} <= set(PYPROJECT["optional-dependencies"])
    book = PYPROJECT["optional-dependencies"]["book"]
    assert any(r.replace(" ", "").startswith("jupyter-book") and "<2" in r for r in book)
    # no framework in the core: Colab's own GPU builds must survive `pip install recbook`
    core = {re.match(r"[A-Za-z0-9_.\-]+", r).group(0) for r in PYPROJECT["dependencies"]}
    assert not core & {"torch", "tensorflow", "keras"}


def test_the_version_is_written_once():
    """pyproject.toml reads recbook.__version__ (so a checkout on PYTHONPATH and an installed
    copy agree) and writes no version of its own."""
    assert "version" not in PYPROJECT and "version" in PYPROJECT["dynamic"]
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert tool["dynamic"]["version"] == {"attr": "recbook.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", recbook.__version__)
