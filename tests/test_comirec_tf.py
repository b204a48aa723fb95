"""ComiRec (TensorFlow/Keras): equal to the PyTorch twin on copied weights; masks; gradients."""
import numpy as np
import pytest
import torch

import recbook  # noqa: F401
import tensorflow as tf

from conftest import make_ctr_batch, make_meta
from recbook.tf import comirec as tfc
from recbook.torch import comirec as ptc

torch.set_num_threads(1)


@pytest.fixture
def meta():
    return make_meta(max_len=8)


def _pair(meta, name, batch, **kw):
    torch.manual_seed(0)
    pt = getattr(ptc, name)(meta, d=8, K=3, **kw)
    tf_model = getattr(tfc, name)(meta, d=8, K=3, **kw)
    tf_model(batch)  # build
    tfc.copy_from_torch(tf_model, pt)
    return pt, tf_model


@pytest.mark.parametrize("name", ["ComiRecDR", "ComiRecSA"])
def test_torch_equals_tensorflow(meta, name):
    b = make_ctr_batch(meta, B=7, lengths=[0, 1, 3, 8, 5, 2, 7])
    pt, tm = _pair(meta, name, b)
    logits, att = pt(b, return_attention=True)
    tf_logits, tf_att = tm(b, return_attention=True)
    np.testing.assert_allclose(tf_logits.numpy(), logits.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(tm.user_interests(b).numpy(),
                               pt.user_interests(b).detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(tm.item_embeddings().numpy(),
                               pt.item_embeddings().detach().numpy(), atol=1e-6)
    key = "routing" if name == "ComiRecDR" else "attention"
    np.testing.assert_allclose(tf_att[key].numpy(), att[key].detach().numpy(), atol=1e-5)
    assert (tf_att["readout"].numpy() == att["readout"].numpy()).all()
    assert tuple(tm.interest_mask(b).shape) == (7, 3)
    # the loss on the same negatives: the readout and the sampled softmax agree too
    from recbook.tf.layers import sampled_softmax_loss as tf_ssl
    from recbook.torch.layers import sampled_softmax_loss as pt_ssl
    neg = np.array([3, 9, 17, 4, 22])
    bt = pt.prepare(b)
    V, m, _ = pt.interests(bt)
    v, _ = pt.training_vector(V, pt.emb.items(bt["target_item"], bt["target_cat"]), m)
    bf = tm.prepare(b)
    Vf, mf, _ = tm.interests(bf)
    vf, _ = tm.training_vector(Vf, tm.emb.items(bf["target_item"], bf["target_cat"]), mf)
    lt = pt_ssl(v, pt.item_embeddings(), bt["target_item"], 5, negatives=torch.as_tensor(neg))
    lf = tf_ssl(vf, tm.item_embeddings(), bf["target_item"], 5, negatives=neg)
    assert abs(lt.item() - float(lf)) < 1e-5


def test_tf_masks_empty_history_and_gradients(meta):
    b = make_ctr_batch(meta, B=6, lengths=[0, 2, 8, 8, 3, 8], seed=2)
    for name in ("ComiRecDR", "ComiRecSA"):
        _, tm = _pair(meta, name, b)
        _, att = tm(b, return_attention=True)
        V = tm.user_interests(b).numpy()
        assert np.isfinite(V).all() and (V[0] == 0).all()
        if name == "ComiRecSA":
            A = att["attention"].numpy()
            pad = np.arange(8)[None, :] >= b["hist_len"][:, None]
            assert (A.transpose(0, 2, 1)[pad] == 0).all()
        with tf.GradientTape() as tape:
            loss, logs = tm.loss(b)
        grads = tape.gradient(loss, tm.trainable_variables)
        assert np.isfinite(float(logs["loss"]))
        assert all(g is not None for g in grads), name


def test_tf_learns_a_little():
    """A few graph-mode steps of the shared fit loop lower the loss on built-in data."""
    from recbook.data import load_next_item
    from recbook.tf.train import fit

    ds = load_next_item("synthetic", size="tiny", seed=0, n_users=150, n_items=200, n_cats=10,
                        max_len=15, min_events=15, max_events=30)
    tm = tfc.ComiRecSA(ds.meta, d=16, K=4)
    h = fit(tm, ds.train, epochs=3, batch_size=128, lr=5e-3)
    losses = [r["train_loss"] for r in h.rows]
    assert losses[-1] < losses[0] - 0.3, losses
