"""DIEN in TensorFlow: cells against keras' GRU, and PyTorch == TensorFlow on copied weights."""
import numpy as np
import pytest
import tensorflow as tf
import torch

import recbook  # noqa: F401
import keras
from conftest import make_ctr_batch, make_meta
from recbook.tf import dien as tfd
from recbook.tf.layers import as_tensors, sequence_mask
from recbook.torch import dien as ptd
from recbook.torch.layers import as_tensors as torch_tensors

torch.set_num_threads(1)
SMALL = dict(item_dim=4, cat_dim=4, profile_dim=3, hidden=6, att_hidden=(8, 4), mlp=(10, 5),
             aux=(7, 5))


def test_extractor_equals_keras_gru_on_the_same_weights():
    """Keras' GRU (reset_after=True) gates the OLD state with z = 1 − u: negate the u rows."""
    keras.utils.set_random_seed(0)
    D, H, B, T = 5, 7, 4, 6
    gru = keras.layers.GRU(H, return_sequences=True, reset_after=True)
    x = np.random.default_rng(0).normal(size=(B, T, D)).astype(np.float32)
    full = gru(x).numpy()
    kernel, recurrent, bias = gru.get_weights()  # gate order (z, r, h); bias [2, 3H]
    sign = np.concatenate([-np.ones(H), np.ones(2 * H)]).astype(np.float32)
    ext = tfd.InterestExtractor(D, H)
    lengths = tf.constant([6, 3, 1, 0], tf.int64)
    states = ext(tf.constant(x), sequence_mask(lengths, T)).numpy()  # builds the cell
    ext.cell.W.kernel.assign(kernel * sign)
    ext.cell.W.bias.assign(bias[0] * sign)
    ext.cell.U.kernel.assign(recurrent * sign)
    ext.cell.U.bias.assign(bias[1] * sign)
    states = ext(tf.constant(x), sequence_mask(lengths, T)).numpy()
    for b, L in enumerate(lengths.numpy()):
        np.testing.assert_allclose(states[b, :L], full[b, :L], atol=1e-5)
    assert np.all(states[3] == 0)


def test_augru_attention_one_is_a_gru_step_and_zero_keeps_the_state():
    augru, gru = tfd.AUGRUCell(3, 4), tfd.GRUCell(3, 4)
    i = tf.random.normal([5, 3], seed=1)
    h = tf.random.normal([5, 4], seed=2)
    augru(i, h, tf.ones([5, 1]))
    gru(i, h)
    gru.set_weights(augru.get_weights())
    np.testing.assert_allclose(augru(i, h, tf.ones([5, 1])), gru(i, h), atol=1e-6)
    np.testing.assert_allclose(augru(i, h, tf.zeros([5, 1])), h, atol=1e-7)


def build_pair(meta, batch, **kw):
    torch.manual_seed(0)
    pt = ptd.DIEN(meta, **{**SMALL, **kw})
    with torch.no_grad():  # move Dice's moving averages off their initial values
        pt.train()
        pt(batch)
    pt.eval()
    tfm = tfd.DIEN(meta, **{**SMALL, **kw})
    tfm(batch)  # build
    tfd.copy_from_torch(tfm, pt)
    return pt, tfm


@pytest.mark.parametrize("evolution", ["aigru", "agru", "augru"])
def test_torch_equals_tensorflow_on_copied_weights(evolution):
    meta = make_meta()
    batch = make_ctr_batch(meta, B=8, seed=7)
    pt, tfm = build_pair(meta, batch, evolution=evolution)
    with torch.no_grad():
        logits, out = pt(batch, return_attention=True)
        aux = pt.extra_loss(torch_tensors(batch), out)
        loss, _ = pt.loss(batch)
    tf_logits, tf_out = tfm(batch, return_attention=True)
    np.testing.assert_allclose(tf_logits.numpy(), logits.numpy(), atol=1e-5)
    for k in ("attention", "interests", "evolved"):
        np.testing.assert_allclose(tf_out[k].numpy(), out[k].numpy(), atol=1e-5, err_msg=k)
    tf_aux = tfm.extra_loss(as_tensors(batch), tf_out, training=False)
    np.testing.assert_allclose(tf_aux.numpy(), aux.item(), atol=1e-5)
    tf_loss, _ = tfm.loss(batch, training=False)
    np.testing.assert_allclose(tf_loss.numpy(), loss.item(), atol=1e-5)


def test_tf_padding_invariance_and_short_histories():
    meta = make_meta(max_len=12)
    batch = make_ctr_batch(meta, B=6, T=7, seed=1)
    longer = dict(batch)
    for k in ("hist_items", "hist_cats", "neg_hist_items", "neg_hist_cats", "hist_gaps"):
        longer[k] = np.pad(batch[k], ((0, 0), (0, 5)))
    model = tfd.DIEN(meta, **SMALL)
    np.testing.assert_allclose(model(longer).numpy(), model(batch).numpy(), atol=1e-6)
    short = make_ctr_batch(meta, B=4, seed=3, lengths=[0, 1, 0, 1])
    with tf.GradientTape() as tape:
        loss, logs = model.loss(short)
    grads = tape.gradient(loss, model.trainable_variables)
    assert np.isfinite(loss.numpy()) and float(logs["extra"]) == 0.0
    assert all(np.isfinite(tf.convert_to_tensor(g).numpy()).all() for g in grads if g is not None)


def test_torch_equals_tensorflow_in_training_mode():
    """Training mode differs from evaluation only in Dice (batch statistics): same loss."""
    meta = make_meta()
    batch = make_ctr_batch(meta, B=8, seed=8)
    pt, tfm = build_pair(meta, batch)
    pt.train()
    with torch.no_grad():
        loss, _ = pt.loss(batch)
    tf_loss, _ = tfm.loss(batch, training=True)
    np.testing.assert_allclose(tf_loss.numpy(), loss.item(), atol=1e-5)


def test_every_dense_layer_starts_from_glorot_in_both_frameworks():
    """Same initial distributions, so the two frameworks' curves differ by the draw only."""
    meta = make_meta()
    pt = ptd.DIEN(meta, **SMALL)
    for name, p in pt.named_parameters():
        if name.endswith("bias") and "table" not in name:
            assert torch.all(p == 0), name
        if name.endswith("weight") and p.dim() == 2 and "table" not in name:
            fan_out, fan_in = p.shape
            limit = np.sqrt(6 / (fan_in + fan_out))
            assert p.abs().max() <= limit + 1e-6, name
            assert p.abs().max() > 0.5 * limit, name


@pytest.mark.parametrize("n_items, B, mapped", [(4, 12, True), (200, 3, False)])
def test_tf_extra_loss_from_the_ids_equals_eq_6_on_the_looked_up_embeddings(n_items, B, mapped,
                                                                             monkeypatch):
    """The TensorFlow twin of the torch test: mapped tables (first case) or lookups give
    auxiliary_loss on the looked-up e_b, ê_b, value and gradients."""
    from recbook.tf.layers import Embedding
    projected = []
    project = Embedding.project
    monkeypatch.setattr(Embedding, "project",
                        lambda self, W: projected.append(1) or project(self, W))
    meta = make_meta(n_items=n_items, n_cats=3)
    batch = make_ctr_batch(meta, B=B, seed=6)
    model = tfd.DIEN(meta, **SMALL)
    model(batch)  # build
    b = as_tensors(batch)
    h = tf.Variable(np.random.default_rng(0).normal(size=(B, meta.max_len, SMALL["hidden"]))
                    .astype(np.float32))
    mask = sequence_mask(b["hist_len"], meta.max_len)
    variables = [h] + model.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        got = model.extra_loss(b, {"interests": h}, training=True)
        e_b = model.behaviours(b["hist_items"], b["hist_cats"])
        e_neg = model.behaviours(b["neg_hist_items"], b["neg_hist_cats"])
        expected = model.alpha * tfd.auxiliary_loss(model.aux_net, h, e_b, e_neg, mask, True)
    assert bool(projected) == mapped
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6)
    grads = zip(tape.gradient(got, variables), tape.gradient(expected, variables))
    for v, (p, q) in zip(variables, grads):
        assert (p is None) == (q is None), v.name
        if p is not None:
            np.testing.assert_allclose(tf.convert_to_tensor(p).numpy(),
                                       tf.convert_to_tensor(q).numpy(), atol=1e-6, err_msg=v.name)
