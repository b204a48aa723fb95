"""A TensorFlow reader gets the whole book: with ``recbook.book.use("tensorflow")`` a chapter runs
top to bottom without importing torch, and every PyTorch listing has its TensorFlow twin.

Running every chapter is too slow for the suite, so:
- a static check over every chapter: no untagged or TensorFlow cell imports torch or uses a name
  bound to torch code (a cell may reach torch only under ``if ... enabled() ...``, the guard of a
  cross-framework check, or ``... if "name" in globals() else ...``); a PyTorch cell that shows
  source is followed by a TensorFlow cell that shows source;
- a real run of the cheapest model chapter (GRU4Rec) with TensorFlow only, in a kernel where
  ``import torch`` raises ImportError.
"""
from __future__ import annotations

import ast
import os
import re
import sys
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted(p for p in (ROOT / "chapters").glob("*.md") if not p.name.startswith("_"))
FRAMEWORK_TAGS = ("pytorch", "tensorflow")

# Runs first in the kernel: `torch` (and anything under it) cannot be imported.
BLOCK_TORCH = '''
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"torch is blocked in this TensorFlow-only run (importing {name})")
        return None
sys.meta_path.insert(0, _NoTorch())
for _name in [m for m in sys.modules if m == "torch" or m.startswith("torch.")]:
    del sys.modules[_name]
import recbook.book
recbook.book.use("tensorflow")
'''


def _framework(cell) -> str | None:
    tags = [t for t in FRAMEWORK_TAGS if t in cell.metadata.get("tags", [])]
    return tags[0] if tags else None


def _python(source: str) -> ast.Module:
    """A cell's source as Python: IPython magics and shell lines become `pass`."""
    lines = [re.sub(r"^(\s*)[%!].*$", r"\1pass", line) for line in source.splitlines()]
    return ast.parse("\n".join(lines))


def _is_torch_module(name: str | None) -> bool:
    return bool(name) and (name.split(".")[0] == "torch" or name == "recbook.torch"
                           or name.startswith("recbook.torch."))


def _torch_names(tree: ast.AST) -> set[str]:
    """Names that an import binds to torch or to recbook.torch."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if _is_torch_module(a.name):
                    names.add(a.asname or a.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if _is_torch_module(mod) or (mod == "recbook" and any(a.name == "torch" for a in node.names)):
                names.update(a.asname or a.name for a in node.names)
    return names


def _guarded(node: ast.AST) -> bool:
    """`if ... enabled() ...:` or `x if "name" in globals() else y` -- code that runs only when
    the frameworks it needs are on (or their cells ran)."""
    if not isinstance(node, (ast.If, ast.IfExp)):
        return False
    test = ast.unparse(node.test)
    return "enabled(" in test or "globals()" in test


def _bound_here(tree: ast.AST) -> set[str]:
    """Names the cell itself binds otherwise than by import (arguments, assignments, defs)."""
    names = {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}
    names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return names | {n.name for n in ast.walk(tree)
                    if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def _torch_uses(tree: ast.AST, torch_names: set[str]) -> list[str]:
    found = []
    torch_names = torch_names - _bound_here(tree)

    def visit(node):
        if _guarded(node):
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)) and _torch_names(node):
            found.append(ast.unparse(node))
        elif isinstance(node, ast.Name) and node.id in torch_names:
            found.append(node.id)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return sorted(set(found))


def _shows_source(tree: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None))
               == "show_source" for n in ast.walk(tree))


def _code_cells(md: Path):
    return [(k, c) for k, c in enumerate(jupytext.read(md).cells) if c.cell_type == "code"]


# Chapters whose shared code is PyTorch-only today: the check is expected to fail (strict, so
# that it is noticed when they are fixed). None left: recbook.compare runs either twin.
PYTORCH_ONLY: dict[str, str] = {}


@pytest.mark.parametrize("md", [
    pytest.param(p, marks=pytest.mark.xfail(reason=PYTORCH_ONLY[p.stem], strict=True))
    if p.stem in PYTORCH_ONLY else p for p in CHAPTERS], ids=lambda p: p.stem)
def test_no_cell_outside_pytorch_reaches_torch(md):
    cells = [(k, c, _python(c.source)) for k, c in _code_cells(md)]
    torch_names = set().union(*(_torch_names(t) for _, _, t in cells))
    problems = [f"cell {k} ({_framework(c) or 'untagged'}) uses {uses}"
                for k, c, t in cells if _framework(c) != "pytorch"
                for uses in [_torch_uses(t, torch_names)] if uses]
    assert not problems, f"{md.name}: torch reached with PyTorch switched off:\n" + "\n".join(problems)


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_every_pytorch_listing_has_a_tensorflow_twin(md):
    cells = jupytext.read(md).cells
    problems = []
    for k, cell in enumerate(cells):
        if cell.cell_type != "code" or _framework(cell) != "pytorch":
            continue
        if not _shows_source(_python(cell.source)):
            continue
        nxt = cells[k + 1] if k + 1 < len(cells) else None
        if nxt is None or _framework(nxt) != "tensorflow" or not _shows_source(_python(nxt.source)):
            problems.append(f"cell {k}")
    assert not problems, (f"{md.name}: PyTorch cells that show source without a TensorFlow cell "
                          f"showing the twin right after: {problems}")


def test_static_check_sees_torch_in_untagged_cells():
    """The check above can fail: an untagged cell that imports torch or uses a torch alias."""
    tree = _python("%%time\nfrom recbook.torch import din as td\nx = td.DIN")
    assert _torch_uses(tree, _torch_names(tree)) == ["from recbook.torch import din as td", "td"]
    guarded = _python("if len(recbook.book.enabled()) == 2:\n    import torch\n")
    assert _torch_uses(guarded, {"torch"}) == []
    assert _torch_uses(_python("import torch.nn as nn"), set()) == ["import torch.nn as nn"]
    assert _torch_uses(_python('m = td if "td" in globals() else tfd'), {"td"}) == []
    assert _torch_uses(_python("def f(td):\n    return td"), {"td"}) == []


def _run_tensorflow_only(md: Path, tmp_path: Path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = jupytext.read(md)
    nb.cells.insert(0, nbformat.v4.new_code_cell(BLOCK_TORCH))
    nb.cells.append(nbformat.v4.new_code_cell(
        'import sys; print("torch modules loaded:", sorted(m for m in sys.modules '
        'if m == "torch" or m.startswith("torch.") or m.startswith("recbook.torch")))'))
    env = {"RECBOOK_FRAMEWORKS": "tensorflow", "RECBOOK_PROGRESS": "none",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                         resources={"metadata": {"path": str(md.parent)}})
        client.execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    nbformat.write(nb, tmp_path / md.with_suffix(".ipynb").name)
    return nb


def _text(cell) -> str:
    return "".join(o.get("text", "") + "".join(map(str, o.get("data", {}).values()))
                   for o in cell.get("outputs", []))


def test_gru4rec_runs_with_tensorflow_only_and_torch_unimportable(tmp_path):
    nb = _run_tensorflow_only(ROOT / "chapters" / "gru4rec.md", tmp_path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert _text(code[-1]).strip() == "torch modules loaded: []"
    skipped = [c for c in code if _framework(c) == "pytorch"]
    assert skipped and all("PyTorch cell skipped" in _text(c) for c in skipped)
    ran = [c for c in code if _framework(c) == "tensorflow"]
    assert ran and not any("skipped" in _text(c) for c in ran)
    assert any("scores" in _text(c) for c in ran)  # the TF model ran a step
    # the shared cells trained and scored TensorFlow's GRU4Rec on the built-in data too: the
    # seed runs' table, the loss variants (their table), the t-SNE's purity line
    shared = "".join(_text(c) for c in code if _framework(c) is None)
    assert "GRU4Rec (TensorFlow)" in shared and "XE + samples + logQ" in shared
    assert "same-category share" in shared


def test_the_torch_blocker_blocks():
    """The run above would prove nothing if the blocker let torch through."""
    import subprocess

    code = BLOCK_TORCH + "\ntry:\n    import torch\nexcept ImportError as e:\n    print('blocked:', e)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "blocked: torch is blocked" in out.stdout


def test_inference_context_needs_no_torch_for_keras_models():
    """recbook.book.inference: torch.no_grad for a torch module, a null context otherwise."""
    import contextlib

    from recbook.book import inference

    class KerasLike:  # no parameters()/state_dict(): never reaches torch
        pass

    assert isinstance(inference(KerasLike()), contextlib.nullcontext)
    torch = pytest.importorskip("torch")
    with inference(torch.nn.Linear(2, 1)):
        assert not torch.is_grad_enabled()
    assert torch.is_grad_enabled()


def test_framework_bundle_runs_pytorch_side_by_side_and_tensorflow_in_turn():
    """recbook.book.Framework, the chapters' PT / TF bundles: TensorFlow's runs go in turn
    (its runtime does not survive a fork), and a misspelt name is refused, not taken as
    TensorFlow."""
    from recbook.book import Framework

    fit = build = lambda *a, **k: None  # noqa: E731
    assert Framework("PyTorch", build, fit).workers is None
    assert Framework("TensorFlow", build, fit).workers == 1
    with pytest.raises(ValueError, match="'pytorch'"):
        Framework("pytorch", build, fit)
