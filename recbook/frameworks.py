"""PyTorch and TensorFlow in one kernel (the book's notebooks, Colab): how recbook lets TF in.

Two things must happen before TensorFlow does anything, and recbook does both wherever it brings
TensorFlow in (``recbook.tf``, the ``%%tensorflow`` cell magic; ``import recbook.book`` does the
first one already):

- **Import order.** With the default Linux torch build (CUDA, with triton: what ``pip install
  torch`` gives and Colab ships), a kernel that imported TensorFlow before triton dies with a
  segmentation fault at the first PyTorch optimizer step, which imports ``torch._dynamo`` and
  then triton (issue 21: torch 2.13.0+cu130, tensorflow 2.21.0, Python 3.12). Importing
  ``torch._dynamo`` before TensorFlow avoids it. Done only where triton is installed: the CPU
  builds have none, so the book build and CI never pay for importing torch in a TensorFlow cell.
  (The one place where recbook's TensorFlow side touches torch: the design keeps ``recbook.tf``
  free of torch, and this import is for the process, not for the models.)
- **GPU memory.** TensorFlow reserves most of a GPU's memory at its first op, which starves the
  PyTorch cells of the same kernel. Memory growth (allocate on demand) must be switched on before
  that op; on a CPU there is no GPU to set and nothing happens.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import warnings

GROWTH_ENV = "TF_FORCE_GPU_ALLOW_GROWTH"  # read by TensorFlow when it initialises a GPU


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def torch_first() -> bool:
    """Import ``torch._dynamo`` (and with it triton) now, before TensorFlow, where torch and
    triton are installed. True if this call imported it; warns (and imports nothing, which
    would load triton after TensorFlow) when TensorFlow is already there."""
    if "torch._dynamo" in sys.modules or not (_installed("triton") and _installed("torch")):
        return False
    if "tensorflow" in sys.modules:
        warnings.warn(
            "TensorFlow was imported before PyTorch's torch._dynamo, and triton is installed: the "
            "first PyTorch training step may crash the kernel (a segmentation fault). Restart the "
            "kernel and import recbook.book (the chapters' first cell) before tensorflow.",
            RuntimeWarning, stacklevel=2)
        return False
    importlib.import_module("torch._dynamo")
    return True


def memory_growth(tf) -> list:
    """Switch on memory growth for every GPU TensorFlow sees; returns those set now. A GPU that
    TensorFlow already initialised (an op ran first) keeps its setting, with a warning."""
    done = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
            done.append(gpu)
        except RuntimeError:  # "Physical devices cannot be modified after being initialized"
            if not tf.config.experimental.get_memory_growth(gpu):
                warnings.warn(
                    f"TensorFlow already initialised {gpu.name} without memory growth: it holds "
                    "most of the GPU's memory, and PyTorch cells in this kernel may run out. "
                    "Restart the kernel and run the chapter's cells in order.",
                    RuntimeWarning, stacklevel=2)
    return done


_prepared = False


def prepare_tensorflow():
    """Import TensorFlow the way both frameworks can share a kernel and a GPU (torch._dynamo
    first where triton is installed, memory growth on); returns the ``tensorflow`` module.
    Cheap after the first call."""
    global _prepared
    os.environ.setdefault(GROWTH_ENV, "true")
    torch_first()
    tf = importlib.import_module("tensorflow")
    if not _prepared:
        memory_growth(tf)
        _prepared = True
    return tf
