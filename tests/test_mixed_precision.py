"""Mixed precision in both fit functions: the "auto" rule, forced autocast on a CPU trains
finite with float32 losses and weights, and the global Keras policy is always restored."""
import numpy as np
import pytest
import torch

from conftest import make_ctr_batch, make_meta
from recbook.torch import din
from recbook.torch import train as tt

torch.set_num_threads(1)


def test_auto_is_off_on_cpu_and_names_are_checked():
    assert tt.autocast_dtype("auto", "cpu") is None
    assert tt.autocast_dtype(None, "cpu") is None and tt.autocast_dtype("float32", "cpu") is None
    assert tt.autocast_dtype("bfloat16", "cpu") is torch.bfloat16
    assert tt.autocast_dtype("float16", "cuda") is torch.float16
    with pytest.raises(ValueError, match="mixed_precision must be"):
        tt.autocast_dtype("half", "cpu")


def test_auto_on_gpu_picks_native_bf16_only(monkeypatch):
    monkeypatch.setattr(tt, "_native_bf16", lambda: True)
    assert tt.autocast_dtype("auto", "cuda") is torch.bfloat16
    monkeypatch.setattr(tt, "_native_bf16", lambda: False)  # a T4: stays float32
    assert tt.autocast_dtype("auto", "cuda") is None


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_forced_autocast_on_cpu_trains_finite(precision):
    meta = make_meta()
    data = make_ctr_batch(meta, B=256, seed=1)
    data["label"] = (data["target_item"] % 2).astype(np.float32)
    torch.manual_seed(0)
    model = din.DIN(meta, item_dim=8, cat_dim=8)
    seen = []
    original = model.loss

    def loss(batch):  # record the dtype fit receives from inside the autocast region
        out = original(batch)
        seen.append(torch.is_autocast_enabled("cpu"))
        return out

    model.loss = loss
    history = tt.fit(model, data, epochs=3, batch_size=64, lr=1e-2, device="cpu",
                     mixed_precision=precision)
    losses = history.as_dict()["train_loss"]
    assert all(seen) and np.isfinite(losses).all() and losses[-1] < losses[0]
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights
    assert model.loss(data)[0].dtype == torch.float32  # outside fit: plain float32


def test_tf_policy_is_scoped_and_mixed_fit_trains_finite():
    import keras
    import tensorflow as tf
    from recbook.tf import train as tft

    assert tft.resolve_policy("auto") == "float32"
    with pytest.raises(ValueError, match="mixed precision must be"):
        tft.resolve_policy("half")
    with pytest.raises(RuntimeError):
        with tft.mixed_precision("mixed_bfloat16"):
            assert keras.mixed_precision.dtype_policy().name == "mixed_bfloat16"
            raise RuntimeError("build failed")
    assert keras.mixed_precision.dtype_policy().name == "float32"  # restored on error

    class Tiny(keras.Model):  # computes in bfloat16, returns its loss in float32
        def __init__(self):
            super().__init__()
            self.__dict__.pop("loss", None)  # Keras' compile() slot hides the method
            self.emb = keras.layers.Embedding(31, 4)
            self.out = keras.layers.Dense(1)

        def prepare(self, batch):
            return {k: tf.convert_to_tensor(batch[k]) for k in ("target_item", "label")}

        def call(self, b, training=False):
            return tf.cast(tf.squeeze(self.out(self.emb(b["target_item"])), -1), tf.float32)

        def loss(self, b, training=False):
            bce = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
                b["label"], self(b, training=training)))
            return bce, {"loss": bce}

    meta = make_meta()
    data = make_ctr_batch(meta, B=256, seed=1)
    data["label"] = (data["target_item"] % 2).astype(np.float32)
    for policy in ("mixed_bfloat16", "mixed_float16"):
        with tft.mixed_precision(policy):
            model = Tiny()
        assert model.dtype_policy.name == policy
        assert keras.mixed_precision.dtype_policy().name == "float32"
        losses = tft.fit(model, data, epochs=3, batch_size=64, lr=0.05).as_dict()["train_loss"]
        assert np.isfinite(losses).all() and losses[-1] < losses[0]
        assert all(w.dtype == "float32" for w in model.trainable_weights)
