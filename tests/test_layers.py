"""Shared blocks: padding, empty rows, Dice's two modes, the activation unit against the paper,
sampled softmax against a hand computation, and PyTorch == TensorFlow on copied weights."""
import numpy as np
import pytest
import torch

from recbook.torch import layers as tl

torch.set_num_threads(1)


def test_embedding_padding_row_is_zero_and_gets_no_gradient():
    emb = tl.Embedding(10, 4)
    out = emb(torch.tensor([[0, 3, 0]]))
    assert torch.equal(out[0, 0], torch.zeros(4)) and out[0, 1].abs().sum() > 0
    out.sum().backward()
    assert torch.equal(emb.table.weight.grad[0], torch.zeros(4))


def test_embedding_gradient_is_bit_identical_to_torch_embedding_backward():
    """The CPU fast path (index_add_) sums each row's gradients in the same order as aten's
    dense embedding backward: the same bits, the padding row excluded, ids repeated and 2-D."""
    torch.manual_seed(0)
    emb = tl.Embedding(50, 8)
    ids = torch.randint(0, 51, (64, 31))
    ids[:, 20:] = 0  # padding
    g = torch.randn(64, 31, 8)
    emb(ids).backward(g)
    want = torch.ops.aten.embedding_dense_backward(g, ids, 51, 0, False)
    assert torch.equal(emb.table.weight.grad, want) and torch.equal(want[0], torch.zeros(8))
    with torch.no_grad():  # no graph: the plain lookup, the same values
        assert torch.equal(emb(ids), torch.nn.functional.embedding(ids, emb.table.weight))


def test_masked_softmax_ignores_padding_and_is_finite_on_an_empty_row():
    scores = torch.tensor([[1.0, 2.0, 50.0], [3.0, 4.0, 5.0]])
    mask = torch.tensor([[True, True, False], [False, False, False]])
    p = tl.masked_softmax(scores, mask)
    assert torch.allclose(p[0, :2], torch.softmax(scores[0, :2], 0)) and p[0, 2] == 0
    assert torch.equal(p[1], torch.zeros(3))


def test_dice_uses_batch_statistics_in_training_and_moving_averages_in_eval():
    torch.manual_seed(0)
    dice = tl.Dice(3, momentum=0.5)
    with torch.no_grad():
        dice.alpha.fill_(0.3)
    s = torch.randn(64, 3) * 2 + 1
    out = dice.train()(s)
    mean, var = s.mean(0), s.var(0, unbiased=False)
    p = torch.sigmoid((s - mean) / torch.sqrt(var + 1e-8))
    assert torch.allclose(out, p * s + (1 - p) * 0.3 * s, atol=1e-6)  # DIN eq. (9)
    assert torch.allclose(dice.running_mean, 0.5 * mean, atol=1e-6)
    assert torch.allclose(dice.running_var, 0.5 + 0.5 * var, atol=1e-6)
    dice.eval()
    x = torch.randn(5, 3)
    p = torch.sigmoid((x - dice.running_mean) / torch.sqrt(dice.running_var + 1e-8))
    assert torch.allclose(dice(x), p * x + (1 - p) * 0.3 * x, atol=1e-6)
    assert torch.allclose(dice(x[:1]), dice(x)[:1])  # eval output of a row ignores its batch


def test_activation_unit_equals_a_loop_over_behaviours():
    torch.manual_seed(0)
    unit = tl.ActivationUnit(4, hidden=(6, 5))
    q, k = torch.randn(3, 4), torch.randn(3, 5, 4)
    mask = tl.sequence_mask(torch.tensor([5, 2, 0]), 5)
    a = unit(q, k, mask)
    for b in range(3):
        for j in range(5):
            x = torch.cat([q[b], k[b, j], q[b] - k[b, j], q[b] * k[b, j]])
            want = unit.mlp(x[None])[0, 0] if mask[b, j] else torch.tensor(0.0)
            assert torch.allclose(a[b, j], want, atol=1e-6)
    assert torch.equal(a[2], torch.zeros(5))


def test_mlp_rejects_unknown_activation():
    with pytest.raises(ValueError, match="unknown activation 'swishy'"):
        tl.MLP(4, (3,), activation="swishy")


def test_sampled_softmax_equals_hand_computation():
    torch.manual_seed(0)
    user, W = torch.randn(2, 3), torch.randn(6, 3)
    target, negatives = torch.tensor([1, 4]), torch.tensor([2, 4, 5])
    probs = torch.tensor([0, 1, 2, 3, 4, 5.0])
    loss = tl.sampled_softmax_loss(user, W, target, 3, probs=probs, negatives=negatives)
    q = probs / probs.sum()
    total = 0.0
    for b in range(2):
        logits = [user[b] @ W[target[b]] - torch.log(3 * q[target[b]])]
        logits += [user[b] @ W[n] - torch.log(3 * q[n]) for n in negatives if n != target[b]]
        total += -torch.log_softmax(torch.stack(logits), 0)[0]
    assert torch.allclose(loss, total / 2, atol=1e-5)


# ---- PyTorch == TensorFlow -------------------------------------------------------------------

tf = pytest.importorskip("tensorflow")
from recbook.tf import layers as kl  # noqa: E402


@pytest.mark.parametrize("act", ["prelu", "dice", "sigmoid", "relu", "leaky_relu"])
def test_mlp_torch_equals_tf(act):
    torch.manual_seed(1)
    x = np.random.default_rng(1).normal(size=(16, 7)).astype(np.float32)
    t_mlp = tl.MLP(7, (5, 4), act, out_dim=1)
    k_mlp = kl.MLP(7, (5, 4), act, out_dim=1)
    k_mlp(x)
    with torch.no_grad():  # make PReLU/Dice parameters non-trivial before copying
        for p in t_mlp.parameters():
            if p.ndim == 1:
                p.add_(0.2)
    kl.copy_mlp(k_mlp, t_mlp)
    for training in (True, False):
        t_mlp.train(training)
        want = t_mlp(torch.from_numpy(x)).detach().numpy()
        got = np.asarray(k_mlp(x, training=training))
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_activation_unit_and_embedding_torch_equal_tf():
    torch.manual_seed(2)
    t_unit, k_unit = tl.ActivationUnit(4), kl.ActivationUnit(4)
    q = np.random.default_rng(2).normal(size=(3, 4)).astype(np.float32)
    k = np.random.default_rng(3).normal(size=(3, 5, 4)).astype(np.float32)
    L = np.array([5, 1, 0])
    mask_np = np.arange(5)[None] < L[:, None]
    k_unit(q, k, mask_np)
    kl.copy_activation_unit(k_unit, t_unit)
    want = t_unit(torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(mask_np))
    np.testing.assert_allclose(np.asarray(k_unit(q, k, mask_np)), want.detach().numpy(),
                               atol=1e-5)
    t_emb, k_emb = tl.Embedding(9, 3), kl.Embedding(9, 3)
    ids = np.array([[0, 4, 9]])
    k_emb(ids)
    kl.copy_embedding(k_emb, t_emb)
    np.testing.assert_allclose(np.asarray(k_emb(ids)), t_emb(torch.from_numpy(ids)).detach(),
                               atol=1e-6)
    assert not np.asarray(k_emb(ids))[0, 0].any()


def test_masked_softmax_and_sampled_softmax_torch_equal_tf():
    rng = np.random.default_rng(4)
    s = rng.normal(size=(3, 4)).astype(np.float32)
    m = np.array([[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]], bool)
    np.testing.assert_allclose(np.asarray(kl.masked_softmax(s, m)),
                               tl.masked_softmax(torch.from_numpy(s), torch.from_numpy(m)),
                               atol=1e-6)
    user, W = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(7, 3)).astype(np.float32)
    target, neg = np.array([1, 2, 3, 6]), np.array([2, 5, 5, 1])
    want = tl.sampled_softmax_loss(torch.from_numpy(user), torch.from_numpy(W),
                                   torch.from_numpy(target), 4, negatives=torch.from_numpy(neg))
    got = kl.sampled_softmax_loss(user, W, target, 4, negatives=neg)
    np.testing.assert_allclose(float(got), float(want), atol=1e-5)


@pytest.mark.parametrize("activation", ["sigmoid", "prelu", "dice"])
def test_split_activation_unit_equals_the_plain_formula_with_its_gradients(activation):
    """The unit's first layer split into a per-candidate and a per-behaviour part, padding
    skipped (every position with Dice), is the same function as W [v_A, e_j, v_A − e_j,
    v_A ⊙ e_j] + b on every position: same values and gradients, empty rows included."""
    torch.manual_seed(4)
    unit = tl.ActivationUnit(3, hidden=(6, 5), activation=activation).train()
    q = torch.randn(4, 3, requires_grad=True)
    k = torch.randn(4, 7, 3, requires_grad=True)
    mask = tl.sequence_mask(torch.tensor([7, 2, 0, 5]), 7)
    w = torch.randn(4, 7)
    outs, grads = [], []
    for f in (unit.forward, unit.forward_plain):
        a = f(q, k, mask)
        outs.append(a)
        grads.append(torch.autograd.grad((a * w).sum(), [q, k] + list(unit.parameters())))
    torch.testing.assert_close(outs[0], outs[1], atol=1e-6, rtol=1e-5)
    assert torch.equal(outs[0][2], torch.zeros(7)) and torch.equal(outs[0][1, 2:], torch.zeros(5))
    for g0, g1 in zip(*grads):
        torch.testing.assert_close(g0, g1, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("activation", ["sigmoid", "dice"])
def test_split_activation_unit_equals_the_plain_formula_in_tf(activation):
    import tensorflow as tf

    from recbook.tf import layers as kl
    unit = kl.ActivationUnit(3, hidden=(6, 5), activation=activation)
    rng = np.random.default_rng(5)
    q = tf.constant(rng.normal(size=(4, 3)).astype(np.float32))
    k = tf.constant(rng.normal(size=(4, 7, 3)).astype(np.float32))
    mask = np.arange(7)[None] < np.array([7, 2, 0, 5])[:, None]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([q, k])
        fast = unit(q, k, mask, training=True)
        plain = unit.call_plain(q, k, mask, training=True)
    np.testing.assert_allclose(fast.numpy(), plain.numpy(), atol=1e-6)
    assert not fast.numpy()[2].any()
    for x in [q, k] + unit.trainable_weights:
        np.testing.assert_allclose(tape.gradient(fast, x).numpy(), tape.gradient(plain, x).numpy(),
                                   atol=1e-5)


def test_prelu_backward_equals_torchs_prelu_gradient():
    """PReLU's hand-written backward (three element-wise kernels) gives F.prelu's gradients for
    the input and the per-channel slopes, on a 3-D input, with zeros and negative values."""
    import torch.nn.functional as F
    torch.manual_seed(6)
    act = tl.PReLU(5).double()
    with torch.no_grad():
        act.alpha.copy_(torch.rand(5))
    s = torch.randn(3, 4, 5, dtype=torch.float64)
    s[0, 0] = 0.0
    s.requires_grad_(True)
    w = torch.randn(3, 4, 5, dtype=torch.float64)
    ours = torch.autograd.grad((act(s) * w).sum(), [s, act.alpha])
    ref = F.prelu(s.reshape(-1, 5), act.alpha).reshape(s.shape)
    want = torch.autograd.grad((ref * w).sum(), [s, act.alpha])
    torch.testing.assert_close(act(s), ref)
    for g, h in zip(ours, want):
        torch.testing.assert_close(g, h)
    smooth = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)  # no kink at 0 hit
    assert torch.autograd.gradcheck(lambda x, a: tl._PReLU.apply(x.reshape(-1, 5), a),
                                    (smooth, act.alpha))
