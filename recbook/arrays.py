"""One way from any tensor to numpy: ``to_numpy(x)``, for a model on any device.

A model trained on a GPU keeps its weights there, and so are its outputs: a PyTorch CUDA tensor's
``.numpy()`` raises a TypeError (``np.asarray`` does too), and bfloat16 (mixed precision) has no
numpy dtype. Every place in recbook and in the chapters where a tensor becomes numpy goes through
``to_numpy`` (tests/test_gpu_safe.py checks it), so a reader inspects a GPU model without moving
it by hand. Framework-free: it imports neither torch nor tensorflow, it asks the object.
"""
from __future__ import annotations

import numpy as np


def to_numpy(x, dtype=None) -> np.ndarray:
    """``x`` as a numpy array on the host: a PyTorch tensor on any device (detached, copied to
    the CPU, bfloat16/float16 kept as float32/float16), a TensorFlow tensor or Keras variable
    (on any device), a numpy array, a scalar, or a list/tuple of any of these. ``dtype``
    converts the result (``np.asarray(..., dtype)``)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor (Parameter included)
        x = x.detach()
        if str(getattr(x, "dtype", "")) == "torch.bfloat16":  # numpy has no bfloat16: widen before the copy
            x = x.float()
        x = x.cpu().numpy()
    elif hasattr(x, "numpy") and not isinstance(x, np.ndarray):  # tf.Tensor / Variable: host copy
        x = x.numpy()
    elif isinstance(x, (list, tuple)) and any(hasattr(v, "numpy") for v in x):
        x = [to_numpy(v) for v in x]
    a = np.asarray(x, dtype=dtype)
    if a.dtype.name == "bfloat16":  # TF's bfloat16 arrives as ml_dtypes.bfloat16
        a = a.astype(np.float32)
    return a
