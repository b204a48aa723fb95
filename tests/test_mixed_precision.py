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


def test_auto_on_gpu_picks_native_bf16_else_float16(monkeypatch):
    monkeypatch.setattr(tt, "_native_bf16", lambda: True)
    assert tt.autocast_dtype("auto", "cuda") is torch.bfloat16
    monkeypatch.setattr(tt, "_native_bf16", lambda: False)  # a T4: float16 + GradScaler
    assert tt.autocast_dtype("auto", "cuda") is torch.float16
    assert tt.autocast_dtype("auto", "cpu") is None


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

    assert tft.resolve_policy("auto") == "float32"  # this machine has no GPU
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


# --- every model under half precision: finite float32 losses ---------------------------------

N_SESSIONS = 16


def _sessions(meta, steps=3, seed=0):
    """Session-parallel GRU4Rec batches (all rows start a session at the first step)."""
    rng = np.random.default_rng(seed)
    return [{"input_item": rng.integers(1, meta.n_items + 1, N_SESSIONS),
             "target_item": rng.integers(1, meta.n_items + 1, N_SESSIONS),
             "reset": np.ones(N_SESSIONS, bool) if t == 0 else rng.random(N_SESSIONS) < 0.3}
            for t in range(steps)]


def _models(fw):
    """name -> (build(meta), data kind): every recbook model, tiny."""
    if fw == "torch":
        from recbook.torch import bst, comirec, dien, gru4rec, mind, youtube_dnn
        from recbook.torch import din as din_
    else:
        from recbook.tf import bst, comirec, dien, gru4rec, mind, youtube_dnn
        from recbook.tf import din as din_
    ctr, ret, ses = "ctr", "retrieval", "sessions"
    return {
        "din": (lambda m: din_.DIN(m, item_dim=8, cat_dim=8), ctr),
        "dien": (lambda m: dien.DIEN(m, item_dim=4, cat_dim=4, hidden=8), ctr),
        "bst": (lambda m: bst.BST(m, item_dim=8, cat_dim=4, pos_dim=4, n_heads=2, mlp=(16,)),
                ctr),
        "gru4rec": (lambda m: gru4rec.GRU4Rec(m, layers=(8,), n_sample=5,
                                              sample_store_size=50), ses),
        "mind": (lambda m: mind.MIND(m, d=8, hidden=(8,), n_neg=10), ret),
        "youtube_dnn": (lambda m: youtube_dnn.YouTubeDNN(m, d=8, hidden=(8,), n_neg=10), ret),
        "comirec_dr": (lambda m: comirec.ComiRecDR(m, d=8, K=2, n_neg=10), ret),
        "comirec_sa": (lambda m: comirec.ComiRecSA(m, d=8, K=2, n_neg=10), ret),
    }


def _data(meta, kind):
    if kind == "sessions":
        batches = _sessions(meta)
        return lambda epoch: iter(batches)
    data = make_ctr_batch(meta, B=64, seed=1)
    if kind == "retrieval":
        data = {k: data[k] for k in ("user", "gender", "age", "target_item", "target_cat",
                                     "hist_items", "hist_cats", "hist_len")}
    return data


MODELS = list(_models("torch"))


@pytest.mark.parametrize("name", MODELS)
def test_every_torch_model_trains_finite_under_float16_autocast(name):
    """float16 autocast (CPU autocast supports it in this torch) with the GradScaler: before
    the float32 routing, MIND and ComiRec-DR went NaN here (squash's eps underflowed)."""
    from recbook.torch import gru4rec
    meta = make_meta()
    build, kind = _models("torch")[name]
    torch.manual_seed(0)
    model = build(meta)
    opt = (lambda p: gru4rec.IndexedAdagradM(p, lr=0.1)) if kind == "sessions" else "adam"
    history = tt.fit(model, _data(meta, kind), epochs=2, batch_size=32, optimizer=opt,
                     lr=1e-2, device="cpu", mixed_precision="float16")
    losses = history.as_dict()["train_loss"]
    assert len(losses) == 2 and np.isfinite(losses).all()
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_torch_routing_and_losses_are_float32_under_autocast():
    from recbook.torch import mind
    from recbook.torch.gru4rec_losses import gru4rec_loss
    u_hat = torch.zeros(2, 3, 4, dtype=torch.float16)  # a capsule nothing is routed to: z = 0
    with torch.autocast("cpu", dtype=torch.float16):
        u, _ = mind.dynamic_routing(u_hat, torch.zeros(2, 3, 2), torch.ones(2, 3, dtype=bool))
        R = torch.randn(4, 6).half()
        losses = [gru4rec_loss(n, R) for n in ("cross-entropy", "bpr-max", "top1-max")]
    assert u.dtype == torch.float16 and torch.isfinite(u).all()
    assert all(loss.dtype == torch.float32 and torch.isfinite(loss) for loss in losses)


@pytest.mark.parametrize("policy, names", [("mixed_float16", MODELS),
                                           ("mixed_bfloat16", ["din", "mind", "comirec_dr"])])
def test_every_keras_model_trains_finite_under_mixed_policies(policy, names):
    """Built under the policy; fit wraps mixed_float16 in a LossScaleOptimizer. (bfloat16 is
    slow on a CPU: a CTR model and the two routing models, whose float32 casts it shares.)"""
    import keras
    from recbook.tf import gru4rec
    from recbook.tf import train as tft
    meta = make_meta()
    for name in names:
        build, kind = _models("tf")[name]
        keras.utils.set_random_seed(0)
        with tft.mixed_precision(policy):
            model = build(meta)
        opt = gru4rec.IndexedAdagradM(learning_rate=0.1) if kind == "sessions" else "adam"
        history = tft.fit(model, _data(meta, kind), epochs=1, batch_size=32, optimizer=opt,
                          lr=1e-2, graph=False)
        losses = history.as_dict()["train_loss"]
        assert len(losses) == 1 and np.isfinite(losses).all(), (name, losses)
        assert all(w.dtype == "float32" for w in model.trainable_weights), name


def test_tf_auto_policy_follows_the_compute_capability(monkeypatch):
    from recbook.tf import train as tft
    for capability, policy in [(None, "float32"), ((6, 1), "float32"),
                               ((7, 5), "mixed_float16"), ((8, 9), "mixed_bfloat16")]:
        monkeypatch.setattr(tft, "_gpu_capability", lambda c=capability: c)
        assert tft.resolve_policy("auto") == policy
    assert tft.resolve_policy("float32") == "float32"  # forcing ignores the GPU


def test_keras_models_build_under_the_auto_policy_unless_a_scope_is_open(monkeypatch):
    """A chapter gets mixed precision on a GPU with no code; an explicit scope still wins."""
    import keras
    from recbook.tf import train as tft
    from recbook.tf.din import DIN
    from recbook.tf.mind import MIND
    meta = make_meta()
    monkeypatch.setattr(tft, "_gpu_capability", lambda: (7, 5))  # a T4
    din = DIN(meta)
    assert din.dtype_policy.name == "mixed_float16"
    assert din.item_emb.dtype_policy.name == "mixed_float16"  # its layers too
    assert keras.mixed_precision.dtype_policy().name == "float32"  # the global one is restored
    with tft.mixed_precision("float32"):
        assert DIN(meta).dtype_policy.name == "float32"
    monkeypatch.setattr(tft, "_gpu_capability", lambda: None)  # a CPU: nothing changes
    assert MIND(meta).dtype_policy.name == "float32"


# --- GPU overrides of the "full" presets ------------------------------------------------------

def test_gpu_overrides_apply_to_full_presets_only_with_a_gpu():
    from recbook.config import GPU_OVERRIDES, PRESETS, preset
    for model, override in GPU_OVERRIDES.items():
        assert override and set(override) <= set(PRESETS[model]["full"]), model
        on, off = preset(model, "full", gpu=True), preset(model, "full", gpu=False)
        assert off == PRESETS[model]["full"]  # the CPU full preset is unchanged
        assert on == {**PRESETS[model]["full"], **override}
        assert on["batch_size"] > off["batch_size"]
        assert preset(model, "quick", gpu=True) == PRESETS[model]["quick"]
    assert preset("din", "full") == PRESETS["din"]["full"]  # detected: no GPU here
    # square-root scaling everywhere (DIN's large SGD rate: the cautious rule, see config.py)
    assert preset("din", "full", gpu=True)["lr"] == pytest.approx(1.0 * 8 ** 0.5)
    assert preset("dien", "full", gpu=True)["lr"] == pytest.approx(1e-3 * 2)
