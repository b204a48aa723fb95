"""Every chapter runs on a GPU (issue 21 §1), checked on a CPU.

- A model whose weights behave as if they lived on a GPU (``on_device``: every parameter and
  buffer a ``DeviceTensor``, whose ``.numpy()`` and ``np.asarray`` raise the TypeError a CUDA
  tensor raises) goes through the chapters' analysis helpers and recbook.compare: each must hand
  back numpy (through ``recbook.arrays.to_numpy``), as on a Colab GPU.
- A static check: no chapter cell and no recbook module calls ``.numpy()`` itself, or defines a
  second tensor-to-numpy helper (recbook/torch: only ``.cpu().numpy()``; recbook/tf is left out,
  since TensorFlow's ``.numpy()`` copies from any device).
- Both frameworks in one kernel: TensorFlow's GPU memory growth is set (mocked ``tf.config``), and
  ``torch._dynamo`` is imported before TensorFlow where triton is installed (subprocesses that
  record the import order).
"""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from recbook import frameworks
from recbook.arrays import to_numpy

ROOT = Path(__file__).resolve().parent.parent
CUDA_ERROR = ("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the "
              "tensor to host memory first.")


class DeviceTensor(torch.Tensor):
    """A tensor that is, for numpy, on a GPU: ``.numpy()`` and ``np.asarray`` raise what a CUDA
    tensor raises, ``.cpu()`` gives a plain tensor back. Every op with one as input returns one
    (torch's subclass propagation), so a model with these weights returns them too."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.Tensor.numpy, torch.Tensor.__array__):
            raise TypeError(CUDA_ERROR)
        if func is torch.Tensor.cpu or (func is torch.Tensor.to and "cpu" in map(str, (*args[1:], *kwargs.values()))):
            with torch._C.DisableTorchFunctionSubclass():
                out = func(*args, **kwargs)
            return out.as_subclass(torch.Tensor)
        return super().__torch_function__(func, types, args, kwargs)


def on_device(model):
    """``model`` with every parameter and buffer turned into a DeviceTensor (in place)."""
    for module in model.modules():
        for name, p in list(module._parameters.items()):
            if p is not None:
                module._parameters[name] = torch.nn.Parameter(p.detach().as_subclass(DeviceTensor),
                                                              requires_grad=p.requires_grad)
        for name, b in list(module._buffers.items()):
            if b is not None:
                module._buffers[name] = b.as_subclass(DeviceTensor)
    return model


def test_device_tensor_fails_like_a_cuda_tensor():
    x = torch.ones(3).as_subclass(DeviceTensor) * 2
    assert isinstance(x, DeviceTensor)
    for bad in (lambda: x.numpy(), lambda: x.detach().numpy(), lambda: np.asarray(x),
                lambda: np.round(x, 2)):
        with pytest.raises(TypeError, match="cuda"):
            bad()
    assert type(x.detach().cpu()) is torch.Tensor and x.detach().cpu().numpy().tolist() == [2, 2, 2]


# ------------------------------------------------------------------------------------- to_numpy

def test_to_numpy_takes_any_tensor_array_or_list():
    x = (torch.arange(6.0).reshape(2, 3).as_subclass(DeviceTensor)).requires_grad_()
    got = to_numpy(x * 1)
    assert type(got) is np.ndarray and got.shape == (2, 3) and got[1, 2] == 5
    assert to_numpy(torch.tensor([1.5], dtype=torch.bfloat16)).dtype == np.float32
    assert to_numpy(torch.tensor([1.5], dtype=torch.float16)).dtype == np.float16
    assert to_numpy([torch.tensor(1.0), torch.tensor(2.0)]).tolist() == [1.0, 2.0]
    assert to_numpy(np.arange(3), np.float64).dtype == np.float64
    assert to_numpy([[1, 2]]).shape == (1, 2) and to_numpy(3.0).ndim == 0


def test_to_numpy_takes_tensorflow_tensors_and_variables():
    tf = pytest.importorskip("tensorflow")
    assert to_numpy(tf.constant([[1.0, 2.0]])).tolist() == [[1.0, 2.0]]
    assert to_numpy(tf.Variable([3.0])).tolist() == [3.0]
    assert to_numpy(tf.constant([1.0], dtype=tf.bfloat16)).dtype == np.float32


# ---------------------------------------------------------- the chapters' helpers on a "GPU"

@pytest.fixture(scope="module")
def ctr():
    from recbook.data import load_ctr

    return load_ctr("synthetic", size="tiny", seed=0)


@pytest.fixture(scope="module")
def next_item():
    from recbook.data import load_next_item

    return load_next_item("synthetic", max_len=12, seed=0, n_users=80)


def _gpu(model):
    torch.manual_seed(0)
    return on_device(model)


def test_din_helpers(ctr):
    from recbook.analysis import din as A
    from recbook.torch.din import DIN
    from recbook.torch.train import predict

    model = _gpu(DIN(ctr.meta, item_dim=4, cat_dim=4, profile_dim=2, mlp=(8,), att_hidden=(8,)))
    w = A.activation_weights(model, ctr.test)
    assert isinstance(w, np.ndarray) and w.shape == ctr.test["hist_items"].shape
    assert isinstance(predict(model, ctr.test), np.ndarray)
    A.weight_groups(model(ctr.test, return_attention=True)[1]["activation"], ctr.test)
    assert set(A.ctr_scores(ctr.test, model(ctr.test))) >= {"auc"}


def test_dien_helpers(ctr):
    from recbook.analysis import dien as A
    from recbook.torch.dien import DIEN

    model = _gpu(DIEN(ctr.meta, item_dim=4, cat_dim=4, profile_dim=2, hidden=6, att_hidden=(8,),
                      mlp=(8,), aux=(8,)))
    assert A.attention_weights(model, ctr.test).shape == ctr.test["hist_items"].shape
    assert isinstance(A.item_embeddings(model), np.ndarray)
    assert set(A.evaluate(model, ctr.test, ctr.test["relevant"])) == {"auc", "gauc", "att_share"}
    items, lens = ctr.test["hist_items"][:5], np.maximum(ctr.test["hist_len"][:5], 1)
    states = A.interest_states(model, items, lens, ctr.meta.item_cat)
    assert isinstance(states, np.ndarray) and len(states) == lens.sum()


def test_bst_helpers(ctr):
    from recbook.analysis import bst as A
    from recbook.torch.bst import BST

    model = _gpu(BST(ctr.meta, item_dim=4, cat_dim=4, pos_dim=4, profile_dim=2, n_heads=2,
                     n_blocks=1, ffn_dim=8, mlp=(8,)))
    a = A.self_attention(model, ctr.test)
    assert isinstance(a, np.ndarray) and a.shape[0] == len(ctr.test["hist_len"])


def test_mind_helpers(next_item):
    from recbook.analysis import mind as A
    from recbook.torch.mind import MIND
    from recbook.torch.youtube_dnn import evaluate_retrieval

    model = _gpu(MIND(next_item.meta, d=8, profile_dim=2, hidden=(8,), K=3, n_neg=10))
    te = next_item.test
    w, k = A.routing(model, te)
    assert isinstance(w, np.ndarray) and isinstance(k, np.ndarray)
    assert isinstance(A.initial_logits(model, te), np.ndarray)
    assert "nmi" in A.alignment(model, te)
    A.routing_table(model, te, row=0)
    A.capsule_categories(model, te, row=0, item_cat=next_item.meta.item_cat)
    assert set(evaluate_retrieval(model, te, ks=(5,))) >= {"recall@5"}


@pytest.mark.parametrize("name", ["ComiRecSA", "ComiRecDR"])
def test_comirec_helpers(next_item, name):
    from recbook.analysis import comirec as A
    from recbook.torch import comirec

    model = _gpu(getattr(comirec, name)(next_item.meta, d=8, K=3))
    te = next_item.test
    assert A.extractor_weights(model, te).shape[:2] == te["hist_items"].shape
    assert A.readout_assignment(model, te).shape == te["hist_items"].shape
    assert set(A.interest_scores(model, te)) == {"extractor NMI", "retrieval NMI"}


def test_compare_and_gru4rec_helpers(next_item):
    from recbook import compare
    from recbook.analysis import gru4rec as A
    from recbook.torch.gru4rec import GRU4Rec

    model = _gpu(GRU4Rec(next_item.meta, layers=(8,), n_sample=0))
    got = compare._gru4rec_quality(model, next_item.test, max(compare.KS))
    assert all(isinstance(v, float) for v in got.values())
    table = model.item_embeddings()
    runs = A.run_seeds(lambda s: ({"train_loss": [1.0]}, {"recall@20": 0.1}, table), [0],
                       next_item.meta.item_cat)
    assert len(runs.purity) == 1


# ------------------------------------------------------------------------------- static check

_NUMPY_HELPER = re.compile(r"(^|_)numpy$|^to_?np$|^as_?numpy$")
_ALLOWED_DEF = ROOT / "recbook" / "arrays.py"


def numpy_calls(code: str, where: str, torch_module: bool = False) -> list[str]:
    """Lines of ``code`` that turn a tensor into numpy by hand: ``x.numpy()`` (in recbook/torch:
    ``x.numpy()`` not right after ``.cpu()``), or a function defined as another such helper."""
    problems = []
    for node in ast.walk(ast.parse(code)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "numpy" and not node.args):
            receiver = node.func.value
            after_cpu = (isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Attribute)
                         and receiver.func.attr == "cpu")
            if not (torch_module and after_cpu):
                problems.append(f"{where}:{node.lineno}: .numpy() (use recbook.arrays.to_numpy)")
        if (isinstance(node, ast.FunctionDef) and _NUMPY_HELPER.search(node.name)
                and not any(isinstance(n, ast.Name) and n.id == "to_numpy" for n in ast.walk(node))):
            problems.append(f"{where}:{node.lineno}: defines {node.name} (recbook.arrays.to_numpy is the one)")
    return problems


def _chapter_cells():
    import jupytext
    from IPython.core.inputtransformer2 import TransformerManager

    python = TransformerManager()
    for md in sorted((ROOT / "chapters").glob("*.md")):
        if "jupytext:" not in md.read_text().split("\n---", 1)[0]:
            continue
        for k, cell in enumerate(jupytext.read(md).cells):
            if cell.cell_type == "code":
                src = cell.source
                if src.lstrip().startswith("%%"):  # the framework magic: the body is Python
                    src = src.lstrip().split("\n", 1)[1] if "\n" in src.lstrip() else ""
                yield f"{md.relative_to(ROOT)} cell {k}", python.transform_cell(src)


def test_no_chapter_cell_calls_numpy_on_a_tensor():
    problems, n = [], 0
    for where, code in _chapter_cells():
        problems += numpy_calls(code, where)
        n += 1
    assert n > 100, f"only {n} chapter cells found"
    assert not problems, "\n".join(problems)


def test_no_recbook_module_calls_numpy_on_a_tensor():
    problems, files = [], sorted((ROOT / "recbook").rglob("*.py"))
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        if path == _ALLOWED_DEF or rel.startswith("recbook/tf/"):
            continue
        problems += numpy_calls(path.read_text(), rel, torch_module=rel.startswith("recbook/torch/"))
    assert len(files) > 40
    assert not problems, "\n".join(problems)


def test_the_static_check_finds_what_it_should():
    bad = "y = model(x).numpy()\nz = np.round(w.detach().numpy(), 3)\ndef _numpy(t):\n    return t\n"
    assert len(numpy_calls(bad, "x")) == 3
    assert numpy_calls("def _numpy(t):\n    return to_numpy(t)\n", "x") == []  # a wrapper of the one
    ok = "a = to_numpy(model(x))\nb = frame.to_numpy()\nc = torch.from_numpy(a)\n"
    assert numpy_calls(ok, "x") == []
    assert numpy_calls("v = t.detach().cpu().numpy()", "x", torch_module=True) == []
    assert len(numpy_calls("v = t.detach().numpy()", "x", torch_module=True)) == 1


# ---------------------------------------------------------------- both frameworks in a kernel

class _GPU(str):
    """What tf.config.list_physical_devices gives: a device with a name."""

    @property
    def name(self):
        return f"/physical_device:{self}"


class _FakeConfig:
    def __init__(self, initialised=False, growth=False):
        self.calls, self.initialised, self.growth = [], initialised, growth
        self.experimental = self

    def list_physical_devices(self, kind):
        assert kind == "GPU"
        return [_GPU("GPU:0"), _GPU("GPU:1")]

    def set_memory_growth(self, gpu, on):
        if self.initialised:
            raise RuntimeError("Physical devices cannot be modified after being initialized")
        self.calls.append((gpu, on))

    def get_memory_growth(self, gpu):
        return self.growth


class _FakeTF:
    def __init__(self, **kw):
        self.config = _FakeConfig(**kw)


def test_memory_growth_is_switched_on_for_every_gpu():
    tf = _FakeTF()
    assert frameworks.memory_growth(tf) == ["GPU:0", "GPU:1"]
    assert tf.config.calls == [("GPU:0", True), ("GPU:1", True)]
    late = _FakeTF(initialised=True)
    with pytest.warns(RuntimeWarning, match="without memory growth"):
        assert frameworks.memory_growth(late) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # already on (e.g. TF_FORCE_GPU_ALLOW_GROWTH): no warning
        frameworks.memory_growth(_FakeTF(initialised=True, growth=True))


def test_tensorflow_cells_and_recbook_tf_set_memory_growth(monkeypatch):
    tf = pytest.importorskip("tensorflow")
    fake = _FakeConfig()
    monkeypatch.setattr(tf.config, "list_physical_devices", fake.list_physical_devices)
    monkeypatch.setattr(tf.config.experimental, "set_memory_growth", fake.set_memory_growth)
    monkeypatch.setattr(frameworks, "_prepared", False)
    import recbook.book

    recbook.book.run_framework_cell("tensorflow", "_x = 1", shell=None)
    assert fake.calls == [("GPU:0", True), ("GPU:1", True)]
    assert frameworks.prepare_tensorflow() is tf and len(fake.calls) == 2  # once per process


def test_tensorflow_first_warns_where_triton_is_installed(monkeypatch):
    monkeypatch.setattr(frameworks, "_installed", lambda name: True)
    monkeypatch.delitem(sys.modules, "torch._dynamo", raising=False)
    monkeypatch.setitem(sys.modules, "tensorflow", sys.modules.get("tensorflow", object()))
    with pytest.warns(RuntimeWarning, match="segmentation fault"):
        assert frameworks.torch_first() is False
    assert "torch._dynamo" not in sys.modules


_ORDER = textwrap.dedent("""
    import importlib.util, json, sys
    import recbook.frameworks as F
    if {fake_triton}:  # as on Colab and with `pip install torch` on Linux
        F._installed = lambda name: name == "triton" or importlib.util.find_spec(name) is not None
    order = []
    class Spy:  # sees each module the first time it is imported
        def find_spec(self, name, path=None, target=None):
            if name in ("torch._dynamo", "tensorflow") and name not in order:
                order.append(name)
    sys.meta_path.insert(0, Spy())
    {body}
    print(json.dumps(order))
""")


def _import_order(body: str, fake_triton: bool) -> list[str]:
    code = _ORDER.format(fake_triton=fake_triton, body=body)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("body", ["import recbook.tf.din", "import recbook.book\nimport tensorflow",
                                  "import recbook.book\nrecbook.book.run_framework_cell('tensorflow', 'import tensorflow', shell=None)"])
def test_torch_dynamo_comes_before_tensorflow_where_triton_is_installed(body):
    pytest.importorskip("tensorflow")
    assert _import_order(body, fake_triton=True) == ["torch._dynamo", "tensorflow"]


def test_without_triton_tensorflow_cells_do_not_import_torch():
    pytest.importorskip("tensorflow")
    if frameworks._installed("triton"):
        pytest.skip("triton is installed here")
    assert _import_order("import recbook.tf.din", fake_triton=False) == ["tensorflow"]
