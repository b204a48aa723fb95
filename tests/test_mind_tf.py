"""MIND and YouTube DNN in TensorFlow: the routing blocks and PyTorch == TensorFlow."""
import numpy as np
import pytest
import tensorflow as tf
import torch

import recbook  # noqa: F401
from conftest import make_ctr_batch, make_meta
from recbook.tf import mind as tfm
from recbook.tf import youtube_dnn as tfy
from recbook.torch import mind as ptm
from recbook.torch import youtube_dnn as pty

torch.set_num_threads(1)
SMALL = dict(d=6, profile_dim=3, hidden=(8,), n_neg=10)
KEYS = ("user", "gender", "age", "target_item", "target_cat", "hist_items", "hist_cats",
        "hist_len")


def retrieval_batch(meta, **kw):
    b = make_ctr_batch(meta, **kw)
    return {k: b[k] for k in KEYS}


def test_blocks_equal_their_torch_twins():
    rng = np.random.default_rng(0)
    B, T, K, d = 4, 6, 3, 5
    u_hat = rng.normal(size=(B, T, d)).astype(np.float32)
    u_hat_k = rng.normal(size=(B, T, K, d)).astype(np.float32)
    b = rng.normal(size=(B, T, K)).astype(np.float32)
    L = np.array([6, 4, 1, 0])
    mask = np.arange(T)[None] < L[:, None]
    cmask = np.arange(K)[None] < np.array([3, 2, 1, 1])[:, None]
    np.testing.assert_allclose(tfm.squash(tf.constant(u_hat)), ptm.squash(torch.tensor(u_hat)),
                               atol=1e-6)
    lengths = np.arange(70)
    np.testing.assert_array_equal(tfm.dynamic_interest_number(tf.constant(lengths), 4),
                                  ptm.dynamic_interest_number(torch.tensor(lengths), 4))
    for x in (u_hat, u_hat_k):  # shared S (MIND) and one matrix per capsule (ComiRec-DR)
        u_tf, w_tf = tfm.dynamic_routing(tf.constant(x), tf.constant(b), tf.constant(mask),
                                         tf.constant(cmask))
        u_pt, w_pt = ptm.dynamic_routing(torch.tensor(x), torch.tensor(b), torch.tensor(mask),
                                         torch.tensor(cmask))
        np.testing.assert_allclose(u_tf, u_pt, atol=1e-5)
        for a, c in zip(w_tf, w_pt):
            np.testing.assert_allclose(a, c, atol=1e-6)
        assert np.all(w_tf[-1].numpy()[~mask] == 0)
    V = rng.normal(size=(B, K, d)).astype(np.float32)
    e = rng.normal(size=(B, d)).astype(np.float32)
    for p in (0, 1, 2.5, 40):
        v_tf, a_tf = tfm.label_aware_attention(tf.constant(V), tf.constant(e), p,
                                               tf.constant(cmask))
        v_pt, a_pt = ptm.label_aware_attention(torch.tensor(V), torch.tensor(e), p,
                                               torch.tensor(cmask))
        np.testing.assert_allclose(v_tf, v_pt, atol=1e-5)
        np.testing.assert_allclose(a_tf, a_pt, atol=1e-6)


def test_routing_with_every_behaviour_masked_is_finite():
    x = tf.Variable(tf.random.normal([2, 5, 4]))
    with tf.GradientTape() as tape:
        u, _ = tfm.dynamic_routing(x, tf.random.normal([2, 5, 3]), tf.zeros([2, 5], tf.bool))
        total = tf.reduce_sum(u)
    g = tape.gradient(total, x)
    assert np.all(u.numpy() == 0) and np.isfinite(g.numpy()).all()


@pytest.mark.parametrize("kind", ["youtube", "mind_dynamic", "mind_fixed"])
def test_pytorch_equals_tensorflow_on_copied_weights(kind):
    meta = make_meta()
    batch = retrieval_batch(meta)
    kw = dict(SMALL)
    if kind == "youtube":
        Pt, Tf, copy = pty.YouTubeDNN, tfy.YouTubeDNN, tfy.copy_from_torch
        routing = {}
    else:
        Pt, Tf, copy = ptm.MIND, tfm.MIND, tfm.copy_from_torch
        kw.update(K=3, dynamic_k=kind == "mind_dynamic", p=2.0)
        b0 = np.random.default_rng(5).normal(size=(6, meta.max_len, 3)).astype(np.float32)
        routing = dict(routing_logits=b0)  # the same fixed routing-logit initialisation
    torch.manual_seed(0)
    pt = Pt(meta, **kw).eval()
    tf_model = Tf(meta, **kw)
    tf_model(batch, **routing)  # build
    copy(tf_model, pt)
    np.testing.assert_allclose(tf_model(batch, **routing), pt(batch, **routing).detach(),
                               atol=1e-5)
    np.testing.assert_allclose(tf_model.user_interests(batch, **routing),
                               pt.user_interests(batch, **routing).detach(), atol=1e-5)
    np.testing.assert_allclose(tf_model.item_embeddings(), pt.item_embeddings().detach(),
                               atol=1e-6)
    np.testing.assert_array_equal(tf_model.interest_mask(batch), pt.interest_mask(batch))
    _, att_tf = tf_model(batch, return_attention=True, **routing)
    _, att_pt = pt(batch, return_attention=True, **routing)
    for key in att_pt:
        np.testing.assert_allclose(np.asarray(att_tf[key], dtype=np.float32),
                                   att_pt[key].detach().float().numpy(), atol=1e-5, err_msg=key)
    negatives = np.arange(1, 11)
    # same loss on the same negatives: the sampled softmax of the label-aware vector
    b_tf = tf_model.prepare(batch)
    V, imask, _ = tf_model.interests(b_tf, **routing)
    e_t = tf_model.emb.items(b_tf["target_item"], b_tf["target_cat"])
    v_tf, _ = tf_model.training_vector(V, e_t, imask)
    b_pt = pt.prepare(batch)
    V, imask, _ = pt.interests(b_pt, **routing)
    v_pt, _ = pt.training_vector(V, pt.emb.items(b_pt["target_item"], b_pt["target_cat"]), imask)
    from recbook.tf.layers import sampled_softmax_loss as tf_loss
    from recbook.torch.layers import sampled_softmax_loss as pt_loss
    np.testing.assert_allclose(
        tf_loss(v_tf, tf_model.item_embeddings(), b_tf["target_item"], 10, negatives=negatives),
        pt_loss(v_pt, pt.item_embeddings(), b_pt["target_item"], 10,
                negatives=torch.tensor(negatives)).detach(), atol=1e-5)


def test_routing_noise_is_fresh_per_call_and_seedable():
    meta = make_meta()
    batch = retrieval_batch(meta)
    model = tfm.MIND(meta, **SMALL)
    a, b = model.user_interests(batch), model.user_interests(batch)
    assert not np.allclose(a, b)
    c = model.user_interests(batch, generator=tf.random.Generator.from_seed(1))
    d = model.user_interests(batch, generator=tf.random.Generator.from_seed(1))
    np.testing.assert_array_equal(c, d)
    assert not any("logit" in v.path for v in model.variables)


def test_routing_noise_is_fresh_in_every_traced_call():
    """Inside tf.function (as the fit loop runs it) the routing logits are redrawn per call:
    no noise is frozen into the graph as a constant and no state is carried between batches."""
    meta = make_meta()
    batch = {k: tf.constant(v) for k, v in retrieval_batch(meta).items()}
    model = tfm.MIND(meta, **SMALL)
    model.user_interests(batch)  # build
    traced = tf.function(lambda b: model.interests(b)[2]["routing_iterations"][:, 0])
    first, second = traced(batch).numpy(), traced(batch).numpy()
    real = np.arange(meta.max_len)[None] < retrieval_batch(meta)["hist_len"][:, None]
    assert not np.allclose(first[real], second[real])


def test_trains_with_the_tf_fit_loop_and_gradients_reach_every_weight():
    meta = make_meta()
    batch = retrieval_batch(meta, B=16, seed=2)
    model = tfm.MIND(meta, **SMALL)
    with tf.GradientTape() as tape:
        loss, logs = model.loss(batch)
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None and np.isfinite(np.asarray(tf.convert_to_tensor(g))).all()
               for g in grads)
    from recbook.tf.train import fit
    fit(model, batch, epochs=2, batch_size=8)  # traced with tf.function: fresh noise per step
    out = tfy.evaluate_retrieval(model, batch, ks=(5,))
    assert 0 <= out["recall@5"] <= 1
