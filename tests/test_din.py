"""DIN and its Base model: padding, empty histories, the activation unit against the paper,
Dice's two modes, the mini-batch aware regulariser by hand, PyTorch == TensorFlow."""
import numpy as np
import pytest
import torch

from conftest import make_ctr_batch, make_meta
from recbook.torch.din import DIN, BaseModel, id_counts

torch.set_num_threads(1)


def model(cls=DIN, seed=0, **kw):
    """A tiny model in evaluation mode, seeded."""
    torch.manual_seed(seed)
    extra = {"att_hidden": (8, 4)} if cls is DIN else {}
    return cls(make_meta(), item_dim=4, cat_dim=4, profile_dim=2, mlp=(16, 8), **extra,
               **kw).eval()


def widen(batch, extra):
    """The same batch with `extra` more padded columns."""
    out = dict(batch)
    for k in ("hist_items", "hist_cats", "neg_hist_items", "neg_hist_cats", "hist_gaps"):
        out[k] = np.pad(batch[k], ((0, 0), (0, extra)))
    return out


VARIANTS = [(BaseModel, {}), (DIN, {}), (DIN, {"attention": "softmax"}),
            (DIN, {"activation": "dice"})]


@pytest.mark.parametrize("cls,kw", VARIANTS)
def test_padding_never_changes_a_result(meta, cls, kw):
    m = model(cls, **kw)
    b = make_ctr_batch(meta, B=8, T=5, seed=1)
    logits, att = m(b, return_attention=True)
    logits2, att2 = m(widen(b, 7), return_attention=True)
    torch.testing.assert_close(logits2, logits, rtol=0, atol=1e-6)
    torch.testing.assert_close(att2["activation"][:, :5], att["activation"], rtol=0, atol=1e-6)


@pytest.mark.parametrize("cls,kw", VARIANTS)
def test_empty_history_is_finite_and_padded_weights_are_exactly_zero(meta, cls, kw):
    m = model(cls, **kw)
    b = make_ctr_batch(meta, B=4, lengths=[0, 0, 3, 8])
    logits, att = m(b, return_attention=True)
    assert torch.isfinite(logits).all()
    w, mask = att["activation"], torch.arange(8)[None] < torch.as_tensor(b["hist_len"])[:, None]
    assert (w[~mask] == 0).all()  # exactly, not approximately
    assert (w[0] == 0).all() and (w[1] == 0).all()


def test_activation_unit_equals_a_slow_loop_from_the_paper(meta):
    """w_j = a(e_j, v_A): an MLP (sigmoid 8-4, then 1) on [v_A, e_j, v_A − e_j, v_A ⊙ e_j];
    v_U(A) = Σ_j w_j e_j over real behaviours only (eq. 3)."""
    m = model(DIN)
    b = make_ctr_batch(meta, B=5, seed=3)
    _, att = m(b, return_attention=True)
    lin = [layer for layer in m.unit.mlp.net if isinstance(layer, torch.nn.Linear)]
    E_i, E_c = m.item_emb.table.weight.detach(), m.cat_emb.table.weight.detach()
    for r in range(5):
        v_A = torch.cat([E_i[b["target_item"][r]], E_c[b["target_cat"][r]]])
        v_U = torch.zeros(8)
        for j in range(8):
            if j >= b["hist_len"][r]:
                assert att["activation"][r, j] == 0
                continue
            e_j = torch.cat([E_i[b["hist_items"][r, j]], E_c[b["hist_cats"][r, j]]])
            h = torch.cat([v_A, e_j, v_A - e_j, v_A * e_j])
            for k, layer in enumerate(lin):
                h = layer(h)
                h = torch.sigmoid(h) if k < len(lin) - 1 else h
            assert abs(att["activation"][r, j].item() - h.item()) < 1e-6
            v_U += h.item() * e_j
        got, _ = m.pool(v_A[None], torch.cat([E_i[b["hist_items"][r]],
                                              E_c[b["hist_cats"][r]]], -1)[None],
                        torch.arange(8)[None] < int(b["hist_len"][r]))
        torch.testing.assert_close(got[0].detach(), v_U, rtol=0, atol=1e-6)


def test_no_normalisation_keeps_intensity_softmax_does_not(meta):
    """Paper (Sec. 4.3): Σ_j w_j is free; the official code's softmax makes it 1."""
    b = make_ctr_batch(meta, B=6, lengths=[1, 2, 3, 5, 8, 8], seed=4)
    w = model(DIN)(b, return_attention=True)[1]["activation"]
    ws = model(DIN, attention="softmax")(b, return_attention=True)[1]["activation"]
    torch.testing.assert_close(ws.sum(1), torch.ones(6), rtol=0, atol=1e-6)
    assert (w.sum(1) - 1).abs().max() > 0.1
    with pytest.raises(ValueError, match="attention must be"):
        DIN(meta, attention="sum")


def test_dice_batch_statistics_in_training_moving_averages_in_evaluation(meta):
    """Eq. (9): p(s) = σ((s − E[s]) / sqrt(Var[s] + ε)). In training E and Var come from the
    mini-batch (a row's output depends on the other rows); in evaluation from the moving
    averages (it does not)."""
    m = model(DIN, activation="dice")
    b = make_ctr_batch(meta, B=8, seed=5)
    half = {k: v[:4] for k, v in b.items()}
    m.train()
    assert (m(b)[:4] - m(half)).abs().max() > 1e-4
    m.eval()
    torch.testing.assert_close(m(b)[:4], m(half), rtol=0, atol=1e-6)
    dice = [x for x in m.mlp.net if type(x).__name__ == "Dice"][0]
    s = torch.randn(16, dice.alpha.shape[0]) * 3 + 1
    with torch.no_grad():
        dice.alpha.fill_(0.3)
    dice.train()
    p = torch.sigmoid((s - s.mean(0)) / torch.sqrt(s.var(0, unbiased=False) + 1e-8))
    torch.testing.assert_close(dice(s), p * s + (1 - p) * 0.3 * s, rtol=0, atol=1e-5)
    dice.eval()
    p = torch.sigmoid((s - dice.running_mean) / torch.sqrt(dice.running_var + 1e-8))
    torch.testing.assert_close(dice(s), p * s + (1 - p) * 0.3 * s, rtol=0, atol=1e-5)
    assert dice.running_mean.abs().sum() > 0  # the training call moved the averages


def test_id_counts_count_each_id_once_per_sample(meta):
    train = make_ctr_batch(meta, B=3, lengths=[2, 3, 0])
    train["target_item"][:] = [1, 2, 3]
    train["hist_items"][:, :3] = [[1, 1, 0], [4, 1, 2], [0, 0, 0]]
    train["gender"][:] = [1, 1, 2]
    n = id_counts(train, meta)
    assert n["item"][1:5].tolist() == [2, 1, 1, 1]  # item 1 twice in row 0 counts once
    assert n["item"][5] == 1  # never seen: floored at 1
    assert n["gender"].tolist() == [1, 2, 1]


def test_mini_batch_aware_regulariser_equals_a_hand_computation(meta):
    """Eq. (6): λ Σ_j α_mj / n_j ||w_j||² over the ids present in the mini-batch."""
    train = make_ctr_batch(meta, B=40, seed=6)
    m = model(DIN, mba_lambda=0.5).set_id_counts(train)
    b = make_ctr_batch(meta, B=5, seed=7)
    n = id_counts(train, meta)
    want = 0.0
    for table, ids, counts in [
            (m.item_emb, np.r_[b["target_item"], b["hist_items"].ravel()], n["item"]),
            (m.cat_emb, np.r_[b["target_cat"], b["hist_cats"].ravel()], n["cat"]),
            (m.profile_emb["gender"], b["gender"], n["gender"]),
            (m.profile_emb["age"], b["age"], n["age"])]:
        W = table.table.weight.detach().numpy()
        want += sum((W[j] ** 2).sum() / counts[j] for j in set(ids.tolist()) - {0})
    loss, logs = m.loss(b)
    assert abs(logs["extra"] - 0.5 * want) < 1e-6
    assert abs(logs["loss"] - logs["bce"] - 0.5 * want) < 1e-6
    # only rows present in the batch get a gradient from the regulariser (eq. 7)
    m.zero_grad()
    m.mba_penalty(m.prepare(b)).backward()
    touched = m.item_emb.table.weight.grad.abs().sum(1).nonzero().ravel().tolist()
    assert set(touched) == set(np.r_[b["target_item"], b["hist_items"].ravel()].tolist()) - {0}
    with pytest.raises(RuntimeError, match="set_id_counts"):
        model(DIN, mba_lambda=0.5).loss(b)


@pytest.mark.parametrize("cls", [BaseModel, DIN])
def test_gradients_flow_to_every_parameter(meta, cls):
    m = model(cls, activation="dice").train()
    b = make_ctr_batch(meta, B=16, seed=8)
    m.loss(b)[0].backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("cls,kw", VARIANTS + [(DIN, {"activation": "dice",
                                                      "attention": "softmax"})])
def test_pytorch_equals_tensorflow_on_copied_weights(meta, cls, kw):
    from recbook.tf import din as tfdin
    m = model(cls, mba_lambda=0.1, **kw)
    b = make_ctr_batch(meta, B=8, seed=9)
    m.set_id_counts(b)
    tf_cls = getattr(tfdin, cls.__name__)
    k = tf_cls(meta, item_dim=4, cat_dim=4, profile_dim=2, mlp=(16, 8), mba_lambda=0.1,
               **({"att_hidden": (8, 4)} if cls is DIN else {}), **kw)
    k(b)
    tfdin.copy_from_torch(k, m)
    logits, att = m(b, return_attention=True)
    tf_logits, tf_att = k(b, return_attention=True)
    np.testing.assert_allclose(tf_logits.numpy(), logits.detach().numpy(), rtol=0, atol=1e-5)
    np.testing.assert_allclose(tf_att["activation"].numpy(), att["activation"].detach().numpy(),
                               rtol=0, atol=1e-5)
    m.train()  # training mode: Dice on batch statistics, and the regulariser
    loss, logs = m.loss(b)
    tf_loss, tf_logs = k.loss(b, training=True)
    assert abs(float(tf_loss) - loss.item()) < 1e-5
    assert abs(float(tf_logs["extra"]) - logs["extra"]) < 1e-6
