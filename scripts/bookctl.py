#!/usr/bin/env python
"""Book chores, shared by the Makefile and the tests so both use the same commands.

    python scripts/bookctl.py sync      # .md -> .ipynb, install cells and README from _config.yml
    python scripts/bookctl.py check     # report drift (what tests/test_notebooks_sync.py asserts)
    python scripts/bookctl.py build [--out DIR] [--src BOOK]  # the executed HTML book (_build):
                                        # notebooks executed two or three at once, then rendered
    python scripts/bookctl.py student [--out DIR]    # without solutions (default _build/student)

`sync` and `check` also cover the student notebooks student/chapters/*.ipynb (scripts/student.py).

The repository URL lives only in _config.yml (`repository.url`); `sync` writes the copies that
must hold it literally (Colab has no _config.yml): each chapter's install cell and two generated
blocks in README.md. Chapters are MyST text notebooks chapters/*.md, paired with chapters/*.ipynb
(outputs stripped); the .md is the source, the .ipynb is regenerated from it.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jupytext
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = "chapters"
INSTALL_TAG = "install"
SOLUTION_TAG = "solution"
# Colab shows a code cell whose first line is `#@title ...` and whose metadata has
# "cellView": "form" folded to that title: a reader sees the stub before the solution. The HTML
# book drops the title line again (_ext/colab_forms.py), so its solution cells are unchanged.
SOLUTION_TITLE = "#@title Solution"
FRAMEWORK_TAGS = ("pytorch", "tensorflow")
GITHUB_URL = re.compile(r"github\.com/([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?(?=[/\s\"'`)#>@]|$)")


# ------------------------------------------------------------------------------------ config

def config(root: Path = ROOT) -> dict:
    return yaml.safe_load((root / "_config.yml").read_text())


def repo_url(root: Path = ROOT) -> str:
    url = config(root)["repository"]["url"].rstrip("/")
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise ValueError(f"_config.yml repository.url must be https://github.com/OWNER/NAME, got {url!r}")
    return url


def branch(root: Path = ROOT) -> str:
    return config(root)["repository"].get("branch", "main")


def toc_files(root: Path = ROOT) -> list[str]:
    """Every page of _toc.yml in reading order, as paths without extension."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("parts"))
    walk(toc.get("chapters"))
    return files


# ---------------------------------------------------------------------------------- notebooks

def chapter_sources(root: Path = ROOT, include_template: bool = False) -> list[Path]:
    """chapters/*.md that are notebooks (a jupytext header); `_`-prefixed files are templates."""
    out = []
    for md in sorted((root / CHAPTERS).glob("*.md")):
        if md.name.startswith("_") and not include_template:
            continue
        if "jupytext:" in md.read_text().split("\n---", 1)[0]:
            out.append(md)
    return out


def book_version(root: Path = ROOT) -> str:
    """recbook's version, read where it is kept: pyproject.toml's [project] version, or the
    module attribute that setuptools' dynamic version points at (``recbook.__version__``)."""
    import tomllib

    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    if "version" in project:
        return str(project["version"])
    attr = (tomllib.loads((root / "pyproject.toml").read_text()).get("tool", {})
            .get("setuptools", {}).get("dynamic", {}).get("version", {}).get("attr"))
    if not attr:
        raise ValueError("pyproject.toml has no [project] version and no "
                         "[tool.setuptools.dynamic] version attr")
    module, name = attr.rsplit(".", 1)
    path = root / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    for node in ast.parse(path.read_text()).body:
        if (isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets)
                and isinstance(node.value, ast.Constant)):
            return str(node.value.value)
    raise ValueError(f"{path.relative_to(root)} does not set {name} to a literal string")


def install_ref(version: str) -> str:
    """The git tag the install cell installs: a publisher tags each release ``v<version>``."""
    return f"v{version}"


def install_source(url: str, version: str | None = None) -> str:
    """The first code cell of every chapter: on Colab it installs the recbook this book was
    built from (``url`` at tag ``v<version>``, the version from pyproject.toml) and says so
    loudly when pip fails; where recbook is importable it installs nothing."""
    version = version or book_version()
    requirement = f"recbook @ git+{url}@{install_ref(version)}"
    return (
        f"# On Colab this installs recbook {version}, the version this book was built from (its\n"
        f"# repository's tag {install_ref(version)}; torch and tensorflow are already there, and a GPU is\n"
        "# used when present). Where recbook is installed it does nothing.\n"
        "import importlib, subprocess, sys\n"
        f'RECBOOK = "{requirement}"\n'
        "try:\n"
        "    import recbook\n"
        "except ImportError:\n"
        '    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", RECBOOK],\n'
        "                         capture_output=True, text=True)\n"
        "    if pip.returncode != 0:\n"
        "        raise RuntimeError(\n"
        '            f"installing recbook failed (pip exit code {pip.returncode}); "\n'
        '            f"pip said:\\n{(pip.stdout + pip.stderr)[-3000:]}\\n"\n'
        '            "Check that this runtime reaches the internet, then run this cell again."\n'
        "        ) from None\n"
        "    importlib.invalidate_caches()\n"
        "    try:\n"
        "        import recbook\n"
        "    except ImportError as err:\n"
        "        raise ImportError(\n"
        '            f"recbook was installed but cannot be imported ({err}): restart the "\n'
        '            "runtime (Runtime > Restart session), then run this cell again."\n'
        "        ) from None\n"
        f'if recbook.__version__ != "{version}":\n'
        f'    print(f"[recbook] this book was built with recbook {version}, but "\n'
        '          f"{recbook.__version__} is installed: outputs may differ from "\n'
        '          "the book\'s.")\n'
        "import recbook.book  # registers the %%pytorch and %%tensorflow cell magics\n"
        '# recbook.book.use("pytorch")  # uncomment to run only one framework\'s cells'
    )


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def cell_signature(nb) -> list[tuple[str, str, tuple[str, ...]]]:
    """What must agree between the .md and the .ipynb of a chapter: type, source, tags."""
    return [(c.cell_type, c.source.strip(), tuple(sorted(tags(c)))) for c in nb.cells]


def fold_solutions(nb):
    """Fold every solution-tagged code cell in Colab's form view (see SOLUTION_TITLE)."""
    for cell in nb.cells:
        if cell.cell_type == "code" and SOLUTION_TAG in tags(cell):
            if not cell.source.startswith(SOLUTION_TITLE):
                cell.source = f"{SOLUTION_TITLE}\n{cell.source}"
            cell.metadata["cellView"] = "form"
    return nb


def _write_ipynb(nb, path: Path) -> None:
    seen = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        # Ids derived from the content (nbformat draws random ones), so that regenerating an
        # unchanged chapter rewrites an identical file and diffs stay quiet.
        base = hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:8]
        cell.id, n = base, 1
        while cell.id in seen:  # identical cells
            cell.id, n = f"{base}-{n}", n + 1
        seen.add(cell.id)
    jupytext.write(nb, path, fmt="ipynb")


def sync_chapter(md: Path, url: str) -> bool:
    """Fill the install cell from the config, then regenerate the paired .ipynb. True if changed."""
    text = md.read_text()
    nb = jupytext.reads(text, fmt="md:myst")
    wanted = install_source(url)
    for cell in nb.cells:
        if cell.cell_type == "code" and INSTALL_TAG in tags(cell) and cell.source != wanted:
            if text.count(cell.source) != 1:
                raise ValueError(f"{md}: cannot locate the install cell's text to replace it")
            text = text.replace(cell.source, wanted)
            md.write_text(text)
            nb = jupytext.reads(text, fmt="md:myst")
    ipynb = md.with_suffix(".ipynb")
    before = ipynb.read_text() if ipynb.exists() else None
    if not md.name.startswith("_"):
        _write_ipynb(fold_solutions(nb), ipynb)
    return before != (ipynb.read_text() if ipynb.exists() else None)


# ------------------------------------------------------------------------------------- README

def readme_blocks(root: Path = ROOT) -> dict[str, str]:
    """The README blocks generated from _config.yml and _toc.yml (between sync markers)."""
    url, br = repo_url(root), branch(root)
    colab = f"https://colab.research.google.com/github/{url.removeprefix('https://github.com/')}/blob/{br}"
    rows = ["| chapter | open on Colab |", "| --- | --- |"]
    for page in toc_files(root):
        md = root / f"{page}.md"
        if not (root / f"{page}.ipynb").exists():
            continue
        title = next((ln[2:].strip() for ln in md.read_text().splitlines() if ln.startswith("# ")), page)
        rows.append(f"| {title} | [{page}.ipynb]({colab}/{page}.ipynb) |")
    return {
        "clone": f"```bash\ngit clone {url}\ncd {url.rsplit('/', 1)[1]}\n```",
        "colab": "\n".join(rows),
    }


def _block_re(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- sync:{name} -->\n)(.*?)(\n<!-- /sync:{name} -->)", re.S)


def sync_readme(root: Path = ROOT) -> bool:
    path = root / "README.md"
    text = original = path.read_text()
    for name, body in readme_blocks(root).items():
        if not _block_re(name).search(text):
            raise ValueError(f"README.md lacks the markers <!-- sync:{name} --> ... <!-- /sync:{name} -->")
        text = _block_re(name).sub(lambda m: m.group(1) + body + m.group(3), text)
    path.write_text(text)
    return text != original


# -------------------------------------------------------------------------------------- checks

def check_pairs(root: Path = ROOT) -> list[str]:
    problems = []
    mds = chapter_sources(root)
    for md in mds:
        ipynb = md.with_suffix(".ipynb")
        if not ipynb.exists():
            problems.append(f"{ipynb.relative_to(root)} missing: run `make sync`")
            continue
        a, b = fold_solutions(jupytext.read(md)), jupytext.read(ipynb)
        if cell_signature(a) != cell_signature(b):
            first = next((k for k, (x, y) in enumerate(zip(cell_signature(a), cell_signature(b))) if x != y),
                         min(len(a.cells), len(b.cells)))
            problems.append(f"{md.relative_to(root)} and its .ipynb differ (first at cell {first}): run `make sync`")
        raw = json.loads(ipynb.read_text())
        if any(c.get("metadata", {}).get("cellView") != "form" for c in raw["cells"]
               if SOLUTION_TAG in c.get("metadata", {}).get("tags", [])):
            problems.append(f"{ipynb.relative_to(root)}: a solution cell is not folded for Colab; run `make sync`")
        if any(c.get("outputs") or c.get("execution_count") for c in raw["cells"] if c["cell_type"] == "code"):
            problems.append(f"{ipynb.relative_to(root)} has outputs: the .ipynb is kept stripped; run `make sync`")
    names = {md.stem for md in mds}
    for ipynb in sorted((root / CHAPTERS).glob("*.ipynb")):
        if ipynb.stem not in names:
            problems.append(f"{ipynb.relative_to(root)} has no paired .md (the .md is the source)")
    return problems


def check_install_cells(root: Path = ROOT) -> list[str]:
    problems, wanted = [], install_source(repo_url(root))
    for md in chapter_sources(root, include_template=True):
        code = [c for c in jupytext.read(md).cells if c.cell_type == "code"]
        if not code:
            continue
        first = code[0]
        if INSTALL_TAG not in tags(first):
            problems.append(f"{md.relative_to(root)}: the first code cell must be the install cell (tag {INSTALL_TAG!r})")
        elif first.source != wanted:
            problems.append(f"{md.relative_to(root)}: install cell differs from _config.yml's repository: run `make sync`")
        if any(INSTALL_TAG in tags(c) for c in code[1:]):
            problems.append(f"{md.relative_to(root)}: more than one install cell")
    return problems


def check_framework_cells(root: Path = ROOT) -> list[str]:
    """A cell starts with %%pytorch / %%tensorflow exactly when it carries that tag."""
    problems = []
    for md in chapter_sources(root, include_template=True):
        for k, cell in enumerate(jupytext.read(md).cells):
            if cell.cell_type != "code":
                continue
            first_line = cell.source.lstrip().split("\n", 1)[0].strip()
            magic = first_line[2:] if first_line.startswith("%%") else None
            tagged = [t for t in FRAMEWORK_TAGS if t in tags(cell)]
            if magic in FRAMEWORK_TAGS or tagged:
                if tagged != [magic]:
                    problems.append(
                        f"{md.relative_to(root)} cell {k}: starts with "
                        f"{'%%' + magic if magic else 'no framework magic'} but has tags {tagged or 'none'}"
                    )
    return problems


def check_readme(root: Path = ROOT) -> list[str]:
    text = (root / "README.md").read_text()
    problems = []
    for name, body in readme_blocks(root).items():
        m = _block_re(name).search(text)
        if not m:
            problems.append(f"README.md lacks the sync block {name!r}")
        elif m.group(2) != body:
            problems.append(f"README.md block {name!r} is out of date: run `make sync`")
    return problems


def check_repo_urls(root: Path = ROOT) -> list[str]:
    """A copy of our repository URL that drifted from _config.yml: any github.com/OWNER/NAME in
    README, CONTRIBUTING or a chapter that shares our owner or our name without being ours.
    Links to other projects' repositories (e.g. the papers' official code) are left alone."""
    own = repo_url(root).removeprefix("https://github.com/")
    files = [root / "README.md", root / "CONTRIBUTING.md"]
    files += sorted((root / CHAPTERS).glob("*.md")) + sorted((root / CHAPTERS).glob("*.ipynb"))
    problems = []
    for path in files:
        if not path.exists():
            continue
        for m in GITHUB_URL.finditer(path.read_text()):
            found = m.group(1)
            # A copy of our own URL that drifted: same repository name, other owner, or vice versa.
            if found != own and (found.split("/")[1] == own.split("/")[1] or found.split("/")[0] == own.split("/")[0]):
                problems.append(f"{path.relative_to(root)}: github.com/{found} but _config.yml says {own}")
    return problems


def _student():
    """scripts/student.py, imported on first use (it imports this module)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import student

    return student


def check_student(root: Path = ROOT) -> list[str]:
    """student/chapters/*.ipynb are what scripts/student.py generates from the chapters."""
    return _student().check(root)


def sync_student(root: Path = ROOT) -> list[Path]:
    return _student().sync(root)


def check_all(root: Path = ROOT) -> list[str]:
    return (check_pairs(root) + check_install_cells(root) + check_framework_cells(root)
            + check_readme(root) + check_repo_urls(root) + check_student(root))


# ------------------------------------------------------------------------------------ MathJax

# The built book renders maths without internet: _config.yml points Sphinx's mathjax_path at
# _static/mathjax/ (a relative path), and the local extension _ext/recbook_mathjax.py copies
# MathJax 3 there at every HTML build, from the PyPI package django-static-mathjax (pinned in
# requirements.txt). Nothing of MathJax is kept in git.
_SCRIPT_SRC = re.compile(r"<script[^>]*\bsrc=\"([^\"]*)\"")


def check_mathjax_html(page: Path) -> list[str]:
    """What keeps a built page's maths from rendering offline: no MathJax script, a MathJax
    loaded from the network, or a local MathJax file missing next to the page."""
    text = Path(page).read_text()
    sources = [s for s in _SCRIPT_SRC.findall(text) if "mathjax" in s.lower()]
    if not sources:
        return [f"{page}: no MathJax script"]
    problems = []
    for src in sources:
        if re.match(r"^(https?:)?//", src):
            problems.append(f"{page}: MathJax loaded from the network ({src})")
        elif not (Path(page).parent / src.split("?")[0]).is_file():
            problems.append(f"{page}: MathJax script {src} missing from the built HTML")
    return problems


# ------------------------------------------------------------------------------------- builds

def jupyter_book() -> str:
    exe = Path(sys.executable).parent / "jupyter-book"
    return str(exe) if exe.exists() else "jupyter-book"


def build_command(src: Path, out: Path) -> list[str]:
    """The whole build (execute, then render) as one command: `make book` and the tests run it."""
    return [sys.executable, str(Path(__file__).resolve()), "build", "--src", str(src),
            "--out", str(out)]


def render_command(src: Path, out: Path) -> list[str]:
    # --all: no stale pages from a previous build. -W --keep-going: any warning (a broken
    # citation or cross-reference) fails the build after reporting them all.
    return [jupyter_book(), "build", str(src), "--path-output", str(out), "--builder", "html",
            "--all", "-W", "--keep-going"]


# Notebooks that read what the others record (the summary tabulates every chapter's claim
# verdicts): they execute after all the others.
EXECUTE_LAST = ("summary",)
# The slowest chapters first, so that two lanes finish close together (longest job first).
SLOWEST_FIRST = ("comirec", "dien", "bst", "mind", "din", "gru4rec")


def execute_notebooks(src: Path, env: dict) -> int:
    """Execute every toc notebook of `src` in place, several at a time, then the EXECUTE_LAST
    ones; 0, or 1 after the first failing cell (its traceback printed).

    The chapters are independent notebooks, each mostly single-threaded on a CPU, so on a
    machine with C cores min(C, 3) of them execute at once (RECBOOK_BOOK_LANES overrides), each
    with C // lanes workers for its training runs (recbook.parallel); a lone core runs them in
    turn. Each notebook runs in its own kernel with the notebook's folder as working directory,
    as MyST-NB runs it, with execute.timeout per cell. Prints MyST-NB's line
    "<path>: Executed notebook in S seconds" for each (bench/common.py reads it)."""
    import concurrent.futures as cf
    import time

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    pages = [src / f"{page}.ipynb" for page in toc_files(src)]
    pages = [p for p in pages if p.exists()]
    rank = {name: k for k, name in enumerate(SLOWEST_FIRST)}
    first = sorted((p for p in pages if p.stem not in EXECUTE_LAST),
                   key=lambda p: rank.get(p.stem, len(rank)))
    last = [p for p in pages if p.stem in EXECUTE_LAST]
    from recbook.parallel import cpu_cores  # the count the chapters' workers use too

    cores = cpu_cores()
    lanes = int(os.environ.get("RECBOOK_BOOK_LANES", min(cores, 3)))
    if lanes < 1:
        raise ValueError(f"RECBOOK_BOOK_LANES must be >= 1, got {lanes}")
    timeout = int(config(src).get("execute", {}).get("timeout", 900))

    def run(path: Path, workers: int) -> None:
        nb = nbformat.read(path, as_version=4)
        start = time.time()
        kernel_env = {**env, "RECBOOK_WORKERS": str(max(1, workers))}
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute(env=kernel_env)  # the kernel's whole environment
        nbformat.write(nb, path)
        print(f"{path.relative_to(src)}: Executed notebook in {time.time() - start:.2f} "
              "seconds", flush=True)

    def batch(paths, lanes_now):
        workers = max(1, cores // lanes_now)
        with cf.ThreadPoolExecutor(max_workers=lanes_now) as pool:
            jobs = {pool.submit(run, p, workers): p for p in paths}
            for job in cf.as_completed(jobs):
                try:
                    job.result()
                except CellExecutionError as err:
                    for other in jobs:
                        other.cancel()
                    print(f"{jobs[job].relative_to(src)}: Executing notebook failed\n{err}",
                          file=sys.stderr, flush=True)
                    return 1
        return 0

    if batch(first, max(1, min(lanes, len(first)))):
        return 1
    return batch(last, 1) if last else 0


def build_env(out: Path | None = None) -> dict[str, str]:
    # The executing kernels inherit this environment: plain log lines instead of tqdm widgets.
    env = {**os.environ, "RECBOOK_PROGRESS": "log"}
    if out is not None:
        # Each build records the chapters' claim verdicts afresh in its own output folder, and the
        # summary chapter (read last: Sphinx reads pages in sorted order) tabulates exactly those,
        # never a stale record from an earlier build or another checkout.
        claims = Path(out) / "_build" / "claims"
        shutil.rmtree(claims, ignore_errors=True)
        env["RECBOOK_CLAIMS"] = str(claims.resolve())
    return env


def stage(src: Path, dest: Path) -> Path:
    """Copy what the book is built from to `dest`: config, toc, _static, _ext, the bibliography,
    each toc page (its notebook where it has one, not the .md twin) and the other files beside
    the pages (figures); the notebooks are then executed in place there."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)

    def copy(path: Path) -> None:
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if path.is_dir() else shutil.copy)(path, target)

    for name in ("_config.yml", "_toc.yml", "_static", "_ext",
                 *config(src).get("bibtex_bibfiles", [])):
        if (src / name).exists() and not (dest / name).exists():
            copy(src / name)
    folders = set()
    for page in toc_files(src):
        found = [src / f"{page}{ext}" for ext in (".ipynb", ".md", ".rst")
                 if (src / f"{page}{ext}").exists()]
        if not found:
            raise FileNotFoundError(f"_toc.yml names {page!r}, but {src} has no such page")
        copy(found[0])
        folders.add(found[0].parent)
    for folder in folders:  # figures and data files beside the pages
        for path in folder.iterdir():
            if (path.is_file() and not path.name.startswith(("_", "."))
                    and path.suffix not in (".ipynb", ".md", ".rst")
                    and not (dest / path.relative_to(src)).exists()):
                copy(path)
    return dest


def build(src: Path = ROOT, out: Path | None = None) -> int:
    """The executed book: the notebooks are executed (several at once, `execute_notebooks`) in a
    staged copy under `out`/_build/.staged, then Jupyter Book renders that copy without executing
    again. Any failing cell fails the build (after printing its traceback); so does any Sphinx
    warning."""
    src, out = Path(src).resolve(), Path(out or src).resolve()
    env = build_env(out)
    staged = stage(src, out / "_build" / ".staged")
    if execute_notebooks(staged, env):
        return 1
    cfg = config(staged)
    cfg.setdefault("execute", {})["execute_notebooks"] = "off"  # executed above, just now
    (staged / "_config.yml").write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    code = subprocess.run(render_command(staged, out), env=env).returncode
    shutil.rmtree(staged, ignore_errors=True)
    return code


_SOLUTION_START = re.compile(r"^(\s*)(`{3,}|:{3,})\{solution(-start)?\}")


def strip_solutions_markdown(text: str, where: str = "") -> str:
    """Drop every {solution} directive block (backtick or colon fence, nested fences respected)."""
    out, lines, k = [], text.split("\n"), 0
    while k < len(lines):
        m = _SOLUTION_START.match(lines[k])
        if not m:
            out.append(lines[k])
            k += 1
            continue
        if m.group(3):
            raise ValueError(f"{where}: gated {{solution-start}} directives are not supported; "
                             "put solution code in a code cell tagged 'solution' (see chapters/_template.md)")
        fence = m.group(2)
        k += 1
        while k < len(lines) and lines[k].strip() != fence[0] * len(fence):
            k += 1
        if k == len(lines):
            raise ValueError(f"{where}: unclosed {{solution}} directive (fence {fence})")
        k += 1
    return "\n".join(out)


def strip_solutions(nb, where: str = ""):
    """The student edition of a notebook: solution-tagged code cells and solution directives gone."""
    cells = []
    for cell in nb.cells:
        if SOLUTION_TAG in tags(cell):
            continue
        if cell.cell_type == "markdown":
            cell.source = strip_solutions_markdown(cell.source, where)
        cells.append(cell)
    nb.cells = cells
    return nb


def student_sources(dest: Path, root: Path = ROOT) -> Path:
    """Copy the book's sources to `dest` with the solutions removed; return `dest`."""
    stage(root, dest)
    for path in sorted((dest / CHAPTERS).glob("*.ipynb")):
        nb = strip_solutions(jupytext.read(path), f"{CHAPTERS}/{path.name}")
        _write_ipynb(nb, path)
    cfg = config(dest)
    cfg.setdefault("sphinx", {}).setdefault("config", {})["hide_solutions"] = True
    cfg["title"] = cfg["title"] + " (student edition)"
    # The launch buttons open {path_to_book}/{page}.ipynb: the student notebooks, not the chapters.
    cfg.setdefault("repository", {})["path_to_book"] = _student().STUDENT.as_posix()
    (dest / "_config.yml").write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    return dest


def build_student(out: Path) -> int:
    out = Path(out)
    for path in sync_student():  # the notebooks its launch buttons open, kept in the repository
        print(f"synced {path.relative_to(ROOT)}")
    print(f"student notebooks: {_student().NOTEBOOKS}/*.ipynb")
    with tempfile.TemporaryDirectory(prefix="recbook-student-") as tmp:
        src = student_sources(Path(tmp) / "src")
        code = build(src, Path(tmp) / "out")
        if code == 0:
            if (out / "html").exists():
                shutil.rmtree(out / "html")
            out.mkdir(parents=True, exist_ok=True)
            shutil.copytree(Path(tmp) / "out" / "_build" / "html", out / "html")
            print(f"student edition: {out / 'html' / 'index.html'}")
    return code


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["sync", "check", "build", "student"])
    parser.add_argument("--out", type=Path, help="output folder")
    parser.add_argument("--src", type=Path, default=ROOT, help="book to build (default: this one)")
    args = parser.parse_args(argv)
    if args.command == "sync":
        url = repo_url()
        for md in chapter_sources(include_template=True):
            if sync_chapter(md, url):
                print(f"synced {md.relative_to(ROOT)}")
        if sync_readme():
            print("synced README.md")
        for path in sync_student():
            print(f"synced {path.relative_to(ROOT)}")
        return 0
    if args.command == "check":
        problems = check_all()
        print("\n".join(problems) or "in sync")
        return 1 if problems else 0
    if args.command == "build":
        return build(args.src, args.out or args.src)
    return build_student(args.out or ROOT / "_build" / "student")


if __name__ == "__main__":
    sys.exit(main())
