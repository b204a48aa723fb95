"""The chapters' install cell (scripts/bookctl.py install_source), executed as Colab would run it:
it installs the version the book was built from (tag v<version>, the version read from
pyproject.toml), does nothing where recbook is installed, and stops with a clear message when pip
fails or the installed package cannot be imported. Each case runs the cell's code in a fresh
Python (no network: pip is either faked or pointed at a local path that does not exist)."""
import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("bookctl", ROOT / "scripts" / "bookctl.py")
bookctl = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bookctl)

# Prepended to the cell: `import recbook` fails until the (fake) pip "installs" it, and pip's
# command line is recorded. MODE: "installed" (recbook importable from the start), "pip fails",
# "pip ok" (recbook importable after pip), "pip ok, import broken" (still not importable).
HARNESS = textwrap.dedent("""
    import json, subprocess, sys
    MODE = {mode!r}
    state = {{"installed": MODE == "installed", "pip": []}}
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "recbook" and not state["installed"]:
                raise ImportError(f"No module named {{name!r}}")
    sys.meta_path.insert(0, Block())
    real_run = subprocess.run
    def fake_run(cmd, **kw):
        state["pip"].append(cmd)
        if MODE == "real pip":
            return real_run(cmd, **kw)
        if MODE == "pip fails":
            return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found")
        state["installed"] = MODE == "pip ok"
        return subprocess.CompletedProcess(cmd, 0, "", "")
    subprocess.run = fake_run
""")
FOOTER = '\nprint("PIP", json.dumps(state["pip"]))\nprint("BOOK", "recbook.book" in sys.modules)\n'


def run_cell(mode: str, url: str = "https://github.com/o/n", version: str = "0.1.0"):
    code = HARNESS.format(mode=mode) + bookctl.install_source(url, version) + FOOTER
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


def test_the_cell_installs_the_books_version_from_pyproject():
    version = bookctl.book_version()
    assert version and version[0].isdigit()
    src = bookctl.install_source(bookctl.repo_url())
    assert f'"recbook @ git+{bookctl.repo_url()}@v{version}"' in src
    assert f"installs recbook {version}," in src


def test_a_version_change_makes_every_install_cell_drift(monkeypatch):
    assert bookctl.check_install_cells(ROOT) == []
    monkeypatch.setattr(bookctl, "book_version", lambda root=ROOT: "9.9.9")
    problems = bookctl.check_install_cells(ROOT)
    assert len(problems) >= len(bookctl.chapter_sources(ROOT)) and all("run `make sync`" in p for p in problems)


def test_version_is_read_from_a_dynamic_attr_too(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "recbook"\ndynamic = ["version"]\n'
                                             '[tool.setuptools.dynamic]\nversion = {attr = "recbook.__version__"}\n')
    (tmp_path / "recbook").mkdir()
    (tmp_path / "recbook" / "__init__.py").write_text('"""doc"""\n__version__ = "2.0.1"\n')
    assert bookctl.book_version(tmp_path) == "2.0.1"


def test_where_recbook_is_installed_nothing_is_installed():
    out = run_cell("installed", version=__import__("recbook").__version__)
    assert out.returncode == 0, out.stderr
    assert "PIP []" in out.stdout and "BOOK True" in out.stdout and "[recbook]" not in out.stdout


def test_on_a_fresh_runtime_it_pip_installs_the_tag():
    out = run_cell("pip ok", version=__import__("recbook").__version__)
    assert out.returncode == 0, out.stderr
    pip = out.stdout.split("PIP ", 1)[1].splitlines()[0]
    assert '"-m", "pip", "install", "-q", "recbook @ git+https://github.com/o/n@v' in pip
    assert "BOOK True" in out.stdout


def test_a_failed_pip_stops_the_cell_with_what_pip_said():
    out = run_cell("pip fails")
    assert out.returncode != 0 and "BOOK" not in out.stdout
    assert "RuntimeError: installing recbook failed (pip exit code 1); pip said:" in out.stderr
    assert "No matching distribution found" in out.stderr and "run this cell again" in out.stderr
    assert "ModuleNotFoundError" not in out.stderr


def test_real_pip_failing_is_reported_too(tmp_path):
    out = run_cell("real pip", url=f"file://{tmp_path}/no-such-repository")
    assert out.returncode != 0
    assert "installing recbook failed (pip exit code" in out.stderr and "no-such-repository" in out.stderr


def test_installed_but_not_importable_says_restart():
    out = run_cell("pip ok, import broken")
    assert out.returncode != 0
    assert "recbook was installed but cannot be imported" in out.stderr and "Restart session" in out.stderr


def test_another_installed_version_is_named():
    out = run_cell("installed", version="0.0.1")
    assert out.returncode == 0, out.stderr
    assert "this book was built with recbook 0.0.1, but" in out.stdout and "PIP []" in out.stdout
