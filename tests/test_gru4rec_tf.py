"""GRU4Rec: PyTorch == TensorFlow on copied weights (scores, gates, losses, optimizer)."""
import numpy as np
import pytest
import torch

import recbook  # noqa: F401
import tensorflow as tf

from recbook.torch import gru4rec as pt
from recbook.tf import gru4rec as tfg
from tests.conftest import make_meta

torch.set_num_threads(1)
N = 30
SUPP = np.r_[0, np.random.default_rng(0).integers(1, 20, N)]
MODES = {
    "constrained": dict(),
    "separate": dict(constrained_embedding=False, embedding=8),
    "onehot_2layers": dict(constrained_embedding=False, layers=(6, 5)),
    "reset_after_logq": dict(reset_after=True, logq=1.0),
}


def steps(T=4, B=4, seed=0):
    rng = np.random.default_rng(seed)
    for t in range(T):
        reset = np.ones(B, bool) if t == 0 else rng.random(B) < 0.4
        yield {"input_item": rng.integers(1, N + 1, B), "target_item": rng.integers(1, N + 1, B),
               "reset": reset}


def pair(loss="cross-entropy", **kw):
    args = dict(layers=(6,), n_sample=5, item_support=SUPP, sample_store_size=50, loss=loss)
    args.update(kw)
    meta = make_meta(n_items=N)
    m_pt, m_tf = pt.GRU4Rec(meta, **args), tfg.GRU4Rec(meta, **args)
    tfg.copy_from_torch(m_tf, m_pt)
    return m_pt, m_tf


@pytest.mark.parametrize("mode", MODES)
def test_torch_equals_tf_on_copied_weights(mode):
    m_pt, m_tf = pair(**MODES[mode])
    with torch.no_grad():  # nonzero cell biases (b_hn too): a bias one side ignores shows
        for c in m_pt.cells:
            for p in (c.b, c.b_hn):
                if p is not None:
                    p.normal_(0, 0.5)
    tfg.copy_from_torch(m_tf, m_pt)
    m_pt.eval()
    for b in steps():
        s_pt, g_pt = m_pt(b, return_attention=True)
        s_tf, g_tf = m_tf(b, return_attention=True)
        np.testing.assert_allclose(s_pt.detach().numpy(), s_tf.numpy(), atol=1e-5)
        np.testing.assert_allclose(g_pt["update_gate"].detach().numpy(),
                                   g_tf["update_gate"].numpy(), atol=1e-5)
        assert np.isneginf(s_pt[:, 0].detach().numpy()).all()  # padding is never ranked


@pytest.mark.parametrize("loss", ["cross-entropy", "bpr-max", "top1-max", "top1", "bpr"])
def test_torch_equals_tf_loss_with_shared_samples(loss):
    m_pt, m_tf = pair(loss, logq=1.0, elu_param=0.5)
    m_pt.eval()
    for b in steps(T=3):  # both stores are seeded alike: the same extra samples each step
        l_pt, _ = m_pt.loss(b)
        l_tf, _ = m_tf.loss(b, training=False)
        assert float(l_pt.detach()) == pytest.approx(float(l_tf), abs=1e-5)


@pytest.mark.parametrize("reset_after", [False, True])
def test_indexed_adagrad_torch_equals_tf_and_leaves_untouched_rows(reset_after):
    m_pt, m_tf = pair(loss="bpr-max", layers=(6,), reset_after=reset_after)
    opt_pt = pt.IndexedAdagradM(m_pt.parameters(), lr=0.1, momentum=0.3)
    opt_tf = tfg.adagrad_m(0.1, momentum=0.3)
    before = m_pt.W_y.table.weight.detach().clone()
    touched = set()
    for b in steps(T=3):
        opt_pt.zero_grad()
        l_pt, _ = m_pt.loss(b)
        l_pt.backward()
        opt_pt.step()
        with tf.GradientTape() as tape:
            l_tf, _ = m_tf.loss(b, training=False)
        v = m_tf.trainable_variables
        opt_tf.apply_gradients(zip(tape.gradient(l_tf, v), v))
        touched |= set(b["input_item"]) | set(b["target_item"])
    touched |= set(np.concatenate([m_pt.store.store[i] for i in range(3)]))
    np.testing.assert_allclose(m_pt.W_y.table.weight.detach().numpy(),
                               m_tf.W_y.table.embeddings.numpy(), atol=1e-5)
    np.testing.assert_allclose(m_pt.cells[0].U_h.detach().numpy(), m_tf.cells[0].U_h.numpy(),
                               atol=1e-5)
    if reset_after:  # b_hn is trained, alike in both
        assert np.abs(m_tf.cells[0].b_hn.numpy()).sum() > 0
        np.testing.assert_allclose(m_pt.cells[0].b_hn.detach().numpy(),
                                   m_tf.cells[0].b_hn.numpy(), atol=1e-5)
    still = sorted(set(range(N + 1)) - touched)
    assert still, "the test needs an item no step touched"
    torch.testing.assert_close(m_pt.W_y.table.weight[still], before[still])



def test_finished_session_state_never_leaks_tf():
    m_pt, m_tf = pair(n_sample=0)
    m_pt.eval()
    rng = np.random.default_rng(1)
    for _ in range(3):  # row 1 builds up a state
        m_tf({"input_item": rng.integers(1, N + 1, 2), "reset": np.array([True, False])})
    b = {"input_item": np.array([3, 7]), "reset": np.array([False, True])}
    fresh = m_pt({"input_item": np.array([3, 7]), "reset": np.array([True, True])})
    np.testing.assert_allclose(m_tf(b).numpy()[1], fresh[1].detach().numpy(), atol=1e-5)


def test_tf_bad_input_is_named():
    m = tfg.GRU4Rec(make_meta(n_items=N), layers=(6,), n_sample=0)
    with pytest.raises(ValueError, match="input_item"):
        m({"input_item": np.array([N + 1]), "reset": np.array([True])})
    m({"input_item": np.array([1, 2]), "reset": np.array([True, True])})
    with pytest.raises(ValueError, match="reset all True"):
        m({"input_item": np.array([1, 2, 3]), "reset": np.array([False, True, True])})


@pytest.mark.parametrize("loss", ["cross-entropy", "bpr-max"])
def test_torch_equals_tf_over_an_epoch_whose_batch_shrinks(loss):
    """One epoch of the default iterator, to the last 1-row step: the same scores and losses
    (the official Σ_rows / B normalisation) in both frameworks."""
    from recbook.data.samples import SessionParallelBatches
    from tests.test_gru4rec import epoch_sessions
    m_pt, m_tf = pair(loss, logq=1.0, elu_param=0.5)
    s_pt, s_tf = pair(loss, logq=1.0, elu_param=0.5)  # a second pair for the scores
    tfg.copy_from_torch(s_tf, m_pt), s_pt.load_state_dict(m_pt.state_dict())
    m_pt.eval(), s_pt.eval()
    sizes = []
    for b in SessionParallelBatches(epoch_sessions(), 3):
        sizes.append(len(b["reset"]))
        np.testing.assert_allclose(s_pt(b).detach().numpy(), s_tf(b).numpy(), atol=1e-5)
        l_pt, _ = m_pt.loss(b)
        l_tf, _ = m_tf.loss(b, training=False)
        assert float(l_pt.detach()) == pytest.approx(float(l_tf), abs=1e-5)
    assert sizes[0] == 3 and sizes[-1] == 1


def test_fit_over_shrinking_epochs_torch_equals_tf():
    """Two epochs through each framework's traced ``fit`` (the TF step takes the shrinking
    batch without retracing errors): the same weights afterwards."""
    from recbook.data.samples import SessionParallelBatches
    from recbook.tf.train import fit as tf_fit
    from recbook.torch.train import fit as pt_fit
    from tests.test_gru4rec import epoch_sessions
    m_pt, m_tf = pair("bpr-max")
    sess = epoch_sessions()
    h_pt = pt_fit(m_pt, lambda e: SessionParallelBatches(sess, 3), epochs=2,
                  optimizer=pt.adagrad_m(0.1, 0.3), device="cpu")
    h_tf = tf_fit(m_tf, lambda e: SessionParallelBatches(sess, 3), epochs=2,
                  optimizer=tfg.adagrad_m(0.1, 0.3))
    np.testing.assert_allclose(m_pt.W_y.table.weight.detach().numpy(),
                               m_tf.W_y.table.embeddings.numpy(), atol=1e-5)
    np.testing.assert_allclose(m_pt.cells[0].U_rz.detach().numpy(),
                               m_tf.cells[0].U_rz.numpy(), atol=1e-5)
    assert h_pt.rows[-1]["train_loss"] == pytest.approx(h_tf.rows[-1]["train_loss"], abs=1e-5)
