"""Each framework stands alone: recbook.tf never imports torch, recbook.torch never imports
TensorFlow or Keras, and the framework-free modules import neither.

Each check runs in a fresh interpreter whose import system refuses the other framework (a
meta-path finder that raises ImportError for it, so an import anywhere in the chain fails loudly
instead of finding the installed package), then imports every module of the package.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TF_NAMES = ("tensorflow", "keras", "tf_keras")
needs_tf = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                              reason="TensorFlow is not installed")
needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="torch is not installed")

# Runs first in every child: refuse the named top-level packages and their submodules.
BLOCK = """
import sys

class Refuse:
    def __init__(self, names):
        self.names = names

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ImportError(f"{{name}} is made unimportable by tests/test_isolation.py")
        return None

sys.meta_path.insert(0, Refuse({names!r}))
"""


def modules(package: str) -> list[str]:
    """Every module of a recbook package, read from its files (nothing is imported here)."""
    folder = ROOT.joinpath(*package.split("."))
    names = []
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def run_blocked(names, body: str):
    """Run ``body`` in a child interpreter (repository first on the path) with ``names`` refused."""
    code = BLOCK.format(names=tuple(names)) + textwrap.dedent(body)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, f"child failed:\n{out.stdout}\n{out.stderr[-4000:]}"
    return out.stdout


IMPORT_ALL = """
import importlib
for name in {mods!r}:
    importlib.import_module(name)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in {names!r})
assert not leaked, f"imported: {{leaked}}"
print(len({mods!r}), "modules")
"""


def test_the_module_lists_are_complete():
    assert {"recbook.tf.bst", "recbook.tf.layers", "recbook.tf.train"} <= set(modules("recbook.tf"))
    assert {"recbook.torch.bst", "recbook.torch.layers"} <= set(modules("recbook.torch"))
    assert "recbook.common.bst" in modules("recbook.common")


def test_the_block_really_refuses():
    out = run_blocked(("torch",), """
        try:
            import torch.nn
        except ImportError as e:
            print("refused:", e)
        """)
    assert "refused: torch is made unimportable" in out


@needs_tf
def test_recbook_tf_imports_without_torch():
    mods = modules("recbook.tf")
    assert f"{len(mods)} modules" in run_blocked(("torch",), IMPORT_ALL.format(
        mods=mods, names=("torch",)))


@needs_torch
def test_recbook_torch_imports_without_tensorflow():
    mods = modules("recbook.torch")
    assert f"{len(mods)} modules" in run_blocked(TF_NAMES, IMPORT_ALL.format(
        mods=mods, names=TF_NAMES))


def test_framework_free_modules_import_neither_framework():
    """Every module outside recbook.torch and recbook.tf (data, metrics, config, the book's
    helpers, the chapters' analysis and exercise checkers: these import a framework inside a
    function when they need one, never at import time)."""
    mods = [m for m in modules("recbook") if m.split(".")[:2] not in (["recbook", "torch"],
                                                                        ["recbook", "tf"])]
    assert {"recbook.config", "recbook.common.bst", "recbook.data.batches",
            "recbook.analysis.bst"} <= set(mods)
    names = ("torch",) + TF_NAMES
    # and the GPU question of recbook.config.preset is answered without importing either
    body = IMPORT_ALL.format(mods=mods, names=names) + textwrap.dedent("""
        from recbook.config import has_gpu
        answer = has_gpu()
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in {names!r})
        assert answer in (True, False) and not leaked, (answer, leaked)
        print("gpu asked")
        """).replace("{names!r}", repr(names))
    out = run_blocked(names, body)
    assert f"{len(mods)} modules" in out and "gpu asked" in out


@needs_tf
def test_a_tensorflow_model_trains_a_step_without_torch():
    """BST, whose TF twin once imported the torch file, trains one epoch on a tiny batch (its
    weights move, its predictions are finite), and ``preset``/``has_gpu`` answer, all without
    torch."""
    out = run_blocked(("torch",), """
        sys.path.insert(0, "tests")
        import numpy as np
        from conftest import make_ctr_batch, make_meta
        from recbook.config import has_gpu, preset
        from recbook.tf import train as kt
        from recbook.tf.bst import BST

        meta = make_meta()
        data = make_ctr_batch(meta, B=32)
        cfg = preset("bst", "quick")
        model = BST(meta, item_dim=8, cat_dim=4, pos_dim=4, profile_dim=2, n_heads=2,
                    mlp=(16,))
        model(data)
        before = [w.numpy().copy() for w in model.trainable_weights]
        hist = kt.fit(model, data, lambda m: {}, epochs=1, batch_size=16, lr=1e-3)
        moved = [not np.allclose(b, w.numpy()) for b, w in zip(before, model.trainable_weights)]
        assert any(moved)
        p = kt.predict(model, data)
        assert p.shape == (32,) and np.isfinite(p).all()
        assert has_gpu() in (True, False) and cfg
        assert "torch" not in sys.modules
        print("fit", len(hist.rows), "epoch")
        """)
    assert "fit 1 epoch" in out


def test_has_gpu_asks_only_a_framework_already_imported(monkeypatch):
    """torch or TensorFlow answer when imported; with neither, the driver's device files do
    (no framework is imported to ask)."""
    import glob
    import types

    from recbook.config import has_gpu

    def fake_torch(cuda):
        return types.SimpleNamespace(cuda=types.SimpleNamespace(is_available=lambda: cuda))

    def fake_tf(gpus):
        return types.SimpleNamespace(config=types.SimpleNamespace(
            list_physical_devices=lambda kind: ["GPU:0"] * gpus))

    for name in ("torch", "tensorflow"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setattr(glob, "glob", lambda pattern: ["/dev/nvidia0"])
    assert has_gpu() is True and "torch" not in sys.modules
    monkeypatch.setattr(glob, "glob", lambda pattern: [])
    assert has_gpu() is False and "torch" not in sys.modules and "tensorflow" not in sys.modules
    monkeypatch.setitem(sys.modules, "tensorflow", fake_tf(1))
    assert has_gpu() is True and "torch" not in sys.modules
    monkeypatch.setitem(sys.modules, "torch", fake_torch(False))
    monkeypatch.setitem(sys.modules, "tensorflow", fake_tf(0))
    assert has_gpu() is False
    monkeypatch.setitem(sys.modules, "torch", fake_torch(True))
    assert has_gpu() is True
