"""What the batch contract's checks cost inside a training step (issue 18, item 5).

Times, on one thread, at B = 256, T = 50 (a DIN of the default sizes):
- ``recbook.data.batches.validate`` on the numpy batch and on the same batch as torch tensors;
- a PyTorch DIN step (``model.loss`` -> backward -> Adam), whose ``prepare`` validates once;
- a TensorFlow DIN step as ``recbook.tf.train.fit`` runs it: ``prepare`` (validation, with the
  loss's ``label``) outside the graph, then the traced gradient step.

    PYTHONPATH=$PWD python bench/validation_cost.py

For a before/after comparison run it twice with PYTHONPATH pointing at the two trees (an old
tree has no ``loss_keys``: its TF step prepares without the label, as its ``fit`` did).
"""
import os
import sys
import timeit

os.environ["RECBOOK_PROGRESS"] = "none"
sys.path.insert(0, os.path.join(os.environ.get("PYTHONPATH", "."), "tests"))

import numpy as np  # noqa: E402

import recbook  # noqa: E402,F401  (quiets TensorFlow before its first import)
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402
from conftest import make_ctr_batch, make_meta  # noqa: E402
from recbook.data.batches import validate  # noqa: E402
from recbook.tf.din import DIN as KerasDIN  # noqa: E402
from recbook.torch.din import DIN as TorchDIN  # noqa: E402

torch.set_num_threads(1)
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)


def best(f, number, repeat=9):
    return min(timeit.repeat(f, number=number, repeat=repeat)) / number


meta = make_meta(n_users=500, n_items=1000, n_cats=20, max_len=50)
B = 256
batch = make_ctr_batch(meta, B=B)
print("recbook:", recbook.__file__)

pt = TorchDIN(meta)
keys = pt.keys + ("label",)
t = best(lambda: validate(batch, meta, keys), 300)
print(f"validate, numpy batch:        {t * 1e6:6.0f} us")
tb = {k: torch.as_tensor(v) for k, v in batch.items()}
print(f"validate, torch tensor batch: {best(lambda: validate(tb, meta, keys), 300) * 1e6:6.0f} us")

opt = torch.optim.Adam(pt.parameters(), 1e-3)
pt.train()


def torch_step():
    opt.zero_grad()
    loss, _ = pt.loss(batch)
    loss.backward()
    opt.step()


torch_step()
print(f"PyTorch DIN step:             {best(torch_step, 40) * 1e3:6.2f} ms")

km = KerasDIN(meta)
kopt = keras.optimizers.Adam(1e-3)


@tf.function(reduce_retracing=True)
def traced(b):
    with tf.GradientTape() as tape:
        loss, _ = km.loss(b, training=True)
    grads = tape.gradient(loss, km.trainable_variables)
    kopt.apply_gradients([(g, v) for g, v in zip(grads, km.trainable_variables) if g is not None])
    return loss


NEW = hasattr(km, "loss_keys")


def tf_step():
    b = km.prepare(batch, km.loss_keys, training=True) if NEW else km.prepare(batch)
    traced(dict(b))


tf_step()
tf_step()
print(f"TensorFlow DIN step:          {best(tf_step, 40) * 1e3:6.2f} ms")
