"""DIEN in PyTorch: the GRU cells against the paper and nn.GRU, masking, the auxiliary loss."""
import numpy as np
import pytest
import torch
from torch import nn

from conftest import make_ctr_batch, make_meta
from recbook.torch.dien import (AGRUCell, AUGRUCell, DIEN, GRUCell, InterestExtractor,
                                auxiliary_loss, dynamic_rnn)
from recbook.torch.layers import as_tensors, sequence_mask

torch.set_num_threads(1)
SMALL = dict(item_dim=4, cat_dim=4, profile_dim=3, hidden=6, att_hidden=(8, 4), mlp=(10, 5),
             aux=(7, 5))


def small_dien(meta, **kw):
    torch.manual_seed(0)
    return DIEN(meta, **{**SMALL, **kw}).eval()


def extend_padding(batch, extra):
    """The same batch with ``extra`` more padded columns."""
    out = dict(batch)
    for k in ("hist_items", "hist_cats", "neg_hist_items", "neg_hist_cats", "hist_gaps"):
        out[k] = np.pad(batch[k], ((0, 0), (0, extra)))
    return out


# ---- cells ------------------------------------------------------------------------------------

def test_gru_cell_follows_eqs_2_to_5():
    torch.manual_seed(0)
    cell, i, h = GRUCell(3, 4), torch.randn(5, 3), torch.randn(5, 4)
    W, U = cell.W(i), cell.U(h)
    u = torch.sigmoid(W[:, :4] + U[:, :4])
    r = torch.sigmoid(W[:, 4:8] + U[:, 4:8])
    h_tilde = torch.tanh(W[:, 8:] + r * U[:, 8:])
    torch.testing.assert_close(cell(i, h), (1 - u) * h + u * h_tilde)


def test_extractor_equals_torch_gru_on_the_same_weights():
    """nn.GRU's z weights the OLD state (z = 1 − u): copy its rows, update gate negated."""
    torch.manual_seed(0)
    D, H, B, T = 5, 7, 4, 6
    gru = nn.GRU(D, H, batch_first=True)
    ext = InterestExtractor(D, H)
    sign = torch.cat([-torch.ones(H), torch.ones(2 * H)])[:, None]
    with torch.no_grad():
        for mine, w, b in ((ext.cell.W, gru.weight_ih_l0, gru.bias_ih_l0),
                           (ext.cell.U, gru.weight_hh_l0, gru.bias_hh_l0)):
            r, z, n = w.chunk(3)  # torch order (r, z, n); ours (u, r, h)
            br, bz, bn = b.chunk(3)
            mine.weight.copy_(torch.cat([z, r, n]) * sign)
            mine.bias.copy_(torch.cat([bz, br, bn]) * sign[:, 0])
    x = torch.randn(B, T, D)
    lengths = torch.tensor([6, 3, 1, 0])
    mask = sequence_mask(lengths, T)
    states = ext(x, mask)
    full, _ = gru(x)
    for b, L in enumerate(lengths.tolist()):  # right padding: real steps come first
        torch.testing.assert_close(states[b, :L], full[b, :L], atol=1e-6, rtol=1e-5)
    assert torch.all(states[3] == 0)  # an empty history keeps h0 = 0


def test_augru_attention_one_is_a_gru_step_and_zero_keeps_the_state():
    torch.manual_seed(0)
    augru, gru = AUGRUCell(3, 4), GRUCell(3, 4)
    gru.load_state_dict(augru.state_dict())
    i, h = torch.randn(5, 3), torch.randn(5, 4)
    torch.testing.assert_close(augru(i, h, torch.ones(5, 1)), gru(i, h))
    torch.testing.assert_close(augru(i, h, torch.zeros(5, 1)), h)
    a = torch.rand(5, 1)  # in between: the update gate scaled by a (11)-(12)
    W, U = augru.W(i), augru.U(h)
    u = a * torch.sigmoid(W[:, :4] + U[:, :4])
    h_tilde = torch.tanh(W[:, 8:] + torch.sigmoid(W[:, 4:8] + U[:, 4:8]) * U[:, 8:])
    torch.testing.assert_close(augru(i, h, a), (1 - u) * h + u * h_tilde)


def test_agru_attention_replaces_the_update_gate():
    torch.manual_seed(0)
    agru = AGRUCell(3, 4)
    i, h = torch.randn(5, 3), torch.randn(5, 4)
    torch.testing.assert_close(agru(i, h, torch.zeros(5, 1)), h)
    _, _, h_tilde = agru.gates(agru.W(i), h)
    torch.testing.assert_close(agru(i, h, torch.ones(5, 1)), h_tilde)


def test_padded_steps_never_change_the_state():
    torch.manual_seed(0)
    cell = AUGRUCell(3, 4)
    x, a = torch.randn(3, 5, 3), torch.rand(3, 5)
    lengths = torch.tensor([5, 2, 0])
    states, final = dynamic_rnn(cell, x, sequence_mask(lengths, 5), att=a)
    torch.testing.assert_close(final[0], states[0, 4])
    torch.testing.assert_close(final[1], states[1, 1])  # the last real step
    assert torch.all(states[1, 2:] == states[1, 1])
    assert torch.all(final[2] == 0)
    x2 = x.clone()
    x2[1, 2:] = 100.0  # garbage in the padding changes nothing
    _, final2 = dynamic_rnn(cell, x2, sequence_mask(lengths, 5), att=a)
    torch.testing.assert_close(final2, final)


# ---- auxiliary loss ---------------------------------------------------------------------------

def test_auxiliary_loss_equals_a_hand_computation_and_ignores_padding():
    torch.manual_seed(0)
    aux_net = nn.Linear(3 + 2, 1)
    h, e_b, e_neg = torch.randn(3, 4, 3), torch.randn(3, 4, 2), torch.randn(3, 4, 2)
    lengths = [4, 2, 1]
    mask = sequence_mask(torch.tensor(lengths), 4)
    terms = []
    for b, L in enumerate(lengths):
        for t in range(L - 1):  # pairs (t, t + 1) inside the real history only
            p = torch.sigmoid(aux_net(torch.cat([h[b, t], e_b[b, t + 1]])))
            q = torch.sigmoid(aux_net(torch.cat([h[b, t], e_neg[b, t + 1]])))
            terms.append(-torch.log(p) - torch.log(1 - q))
    expected = torch.stack(terms).mean()  # 3 + 1 + 0 = 4 pairs
    got = auxiliary_loss(aux_net, h, e_b, e_neg, mask)
    torch.testing.assert_close(got, expected)
    h2, e2 = h.clone(), e_b.clone()
    h2[1, 2:], e2[2, 1:] = 50.0, -50.0  # padded positions hold garbage: no effect
    torch.testing.assert_close(auxiliary_loss(aux_net, h2, e2, e_neg, mask), expected)


def test_auxiliary_loss_is_zero_without_any_pair():
    aux_net = nn.Linear(5, 1)
    mask = sequence_mask(torch.tensor([0, 1, 1]), 4)
    loss = auxiliary_loss(aux_net, torch.randn(3, 4, 3), torch.randn(3, 4, 2),
                          torch.randn(3, 4, 2), mask)
    assert loss.item() == 0.0


# ---- the whole model --------------------------------------------------------------------------

@pytest.mark.parametrize("evolution", ["aigru", "agru", "augru"])
def test_padding_invariance(evolution):
    meta = make_meta(max_len=12)
    model = small_dien(meta, evolution=evolution)
    batch = make_ctr_batch(meta, B=6, T=7, seed=1)
    with torch.no_grad():
        logits, out = model(batch, return_attention=True)
        logits2, out2 = model(extend_padding(batch, 5), return_attention=True)
        torch.testing.assert_close(logits2, logits, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(out2["attention"][:, :7], out["attention"])
        assert torch.all(out2["attention"][:, 7:] == 0)
        b1, b2 = as_tensors(batch), as_tensors(extend_padding(batch, 5))
        torch.testing.assert_close(model.extra_loss(b2, out2), model.extra_loss(b1, out))


def test_attention_is_a_distribution_over_real_steps():
    meta = make_meta()
    model = small_dien(meta)
    batch = make_ctr_batch(meta, B=6, seed=2)
    with torch.no_grad():
        _, out = model(batch, return_attention=True)
    a, L = out["attention"], torch.as_tensor(batch["hist_len"])
    expected = (L > 0).float()  # sums to 1, or to 0 for an empty history
    torch.testing.assert_close(a.sum(1), expected)
    assert torch.all(a[~sequence_mask(L, a.shape[1])] == 0)


@pytest.mark.parametrize("evolution", ["aigru", "agru", "augru"])
def test_short_histories_train_without_nan(evolution):
    """Lengths 0 and 1 broke the official auxiliary loss (mouna99/dien #35)."""
    meta = make_meta()
    model = small_dien(meta, evolution=evolution).train()
    batch = make_ctr_batch(meta, B=4, seed=3, lengths=[0, 1, 0, 1])
    loss, logs = model.loss(batch)
    loss.backward()
    assert np.isfinite(logs["loss"]) and logs["extra"] == 0.0
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_gradients_reach_every_block():
    meta = make_meta()
    model = small_dien(meta).train()
    batch = make_ctr_batch(meta, B=8, seed=4, lengths=[8, 5, 3, 7, 0, 2, 6, 4])
    loss, _ = model.loss(batch)
    loss.backward()
    for name in ("item_emb.table.weight", "extractor.cell.W.weight", "extractor.cell.U.weight",
                 "attention.query.weight", "evolution.cell.U.weight", "mlp.net.0.weight",
                 "aux_net.net.0.weight", "user_emb.table.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_alpha_zero_needs_no_negatives_and_bad_arguments_are_named():
    meta = make_meta()
    batch = make_ctr_batch(meta, B=4, seed=5)
    del batch["neg_hist_items"], batch["neg_hist_cats"]
    model = small_dien(meta, alpha=0.0)
    loss, logs = model.loss(batch)
    assert "extra" not in logs and np.isfinite(loss.item())
    with pytest.raises(KeyError, match="neg_hist_items"):
        small_dien(meta).loss(batch)
    with pytest.raises(ValueError, match="evolution"):
        small_dien(meta, evolution="lstm")
    with pytest.raises(ValueError, match="alpha"):
        small_dien(meta, alpha=-1.0)


# ---- exercise checkers ------------------------------------------------------------------------

def test_exercise_checkers_accept_the_solutions_and_reject_slips(capsys):
    from recbook.exercises import dien as ex
    assert ex.check_augru_update(ex.augru_update_reference)
    assert not ex.check_augru_update(lambda h, u, c, a: (1 - u) * h + u * c)  # a ignored
    assert ex.check_aux_loss(ex.aux_loss_reference)
    assert not ex.check_aux_loss(  # averages over padded pairs too
        lambda zp, zn, L: float((np.logaddexp(0, -zp) + np.logaddexp(0, zn)).mean()))
    assert ex.check_last_state(ex.last_state_reference)
    assert not ex.check_last_state(lambda s, L: s[:, -1])
    # the library's own loss agrees with the exercise's reference on the same logits
    z_pos, z_neg = np.random.default_rng(0).normal(size=(2, 3, 4))
    L = np.array([5, 2, 1])
    mask = sequence_mask(torch.as_tensor(L), 5)
    got = (torch.nn.functional.softplus(-torch.as_tensor(z_pos)) +
           torch.nn.functional.softplus(torch.as_tensor(z_neg)))[mask[:, 1:]].mean()
    np.testing.assert_allclose(got.item(), ex.aux_loss_reference(z_pos, z_neg, L), rtol=1e-6)
    capsys.readouterr()


def test_learns_on_the_built_in_data():
    from recbook.data import load_ctr
    from recbook.metrics import auc
    from recbook.torch.train import fit, predict
    data = load_ctr("synthetic", seed=0, n_users=200, max_len=10)
    model = DIEN(data.meta, item_dim=8, cat_dim=8, profile_dim=4, hidden=16, mlp=(32, 16),
                 att_hidden=(16, 8), aux=(16, 8), aux_activation="relu", use_user=False)
    history = fit(model, data.train, epochs=2, batch_size=64, lr=1e-2, seed=0)
    assert history.rows[-1]["train_extra"] < 0.9 * 2 * np.log(2)  # the auxiliary loss learned
    assert auc(data.test["label"], predict(model, data.test)) > 0.65  # trivial: 0.5


# ---- the fast paths equal the readable ones ----------------------------------------------------

@pytest.mark.parametrize("cell_cls", [GRUCell, AGRUCell, AUGRUCell])
def test_fused_recurrence_equals_the_step_by_step_loop_with_its_gradients(cell_cls):
    """dynamic_rnn's GatedRecurrence (hand-written backward) against cell.step under autograd,
    in float64: the same states and the same gradients for inputs, h0, weights and attention
    (padded steps and an empty history included), and torch's gradcheck passes."""
    torch.manual_seed(0)
    cell = cell_cls(5, 3).double()
    x = torch.randn(4, 6, 5, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    att = torch.rand(4, 6, dtype=torch.float64, requires_grad=True)
    mask = sequence_mask(torch.tensor([6, 3, 0, 1]), 6)
    a = None if cell_cls is GRUCell else att
    w, w_final = torch.randn(4, 6, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    inputs = [x, h0] + list(cell.parameters()) + ([att] if a is not None else [])
    results = []
    for fused in (True, False):
        states, final = dynamic_rnn(cell, x, mask, a, h0, fused=fused)
        grads = torch.autograd.grad((states * w).sum() + (final * w_final).sum(), inputs)
        results.append((states, final, grads))
    (s1, f1, g1), (s2, f2, g2) = results
    torch.testing.assert_close(s1, s2)
    torch.testing.assert_close(f1, f2)
    for p, q in zip(g1, g2):
        torch.testing.assert_close(p, q)
    assert torch.autograd.gradcheck(lambda x, h0, att: dynamic_rnn(cell, x, mask, att, h0)[0],
                                    (x, h0, att if a is not None else None))


@pytest.mark.parametrize("activation", ["sigmoid", "dice"])
def test_auxiliary_loss_of_an_mlp_equals_a_hand_computation_with_its_gradients(activation):
    """With an MLP aux_net the loss scores real pairs only and shares W_h h_t (Dice: every
    position, its batch statistics as before); the value and the gradients are eq. (6)'s."""
    from recbook.torch.layers import MLP
    torch.manual_seed(1)
    aux_net = MLP(3 + 2, (6, 4), activation, out_dim=1).train()
    h = torch.randn(3, 4, 3, requires_grad=True)
    e_b, e_neg = torch.randn(3, 4, 2), torch.randn(3, 4, 2)
    lengths = [4, 2, 1]
    mask = sequence_mask(torch.tensor(lengths), 4)
    got = auxiliary_loss(aux_net, h, e_b, e_neg, mask)
    if activation == "dice":  # batch statistics over all B·(T−1) positions of each call
        z_pos = aux_net(torch.cat([h[:, :-1], e_b[:, 1:]], -1)).squeeze(-1)
        z_neg = aux_net(torch.cat([h[:, :-1], e_neg[:, 1:]], -1)).squeeze(-1)
        pair = mask[:, 1:]
        expected = ((-torch.log(torch.sigmoid(z_pos)) - torch.log(1 - torch.sigmoid(z_neg)))
                    [pair].mean())
    else:
        terms = []
        for b, L in enumerate(lengths):
            for t in range(L - 1):
                p = torch.sigmoid(aux_net(torch.cat([h[b, t], e_b[b, t + 1]])[None]))[0, 0]
                q = torch.sigmoid(aux_net(torch.cat([h[b, t], e_neg[b, t + 1]])[None]))[0, 0]
                terms.append(-torch.log(p) - torch.log(1 - q))
        expected = torch.stack(terms).mean()
    torch.testing.assert_close(got, expected)
    params = [h] + list(aux_net.parameters())
    for p, q in zip(torch.autograd.grad(got, params), torch.autograd.grad(expected, params)):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("n_items, B, mapped", [(4, 12, True), (200, 3, False)])
def test_extra_loss_from_the_ids_equals_eq_6_on_the_looked_up_embeddings(n_items, B, mapped,
                                                                          monkeypatch):
    """DIEN.extra_loss scores the first aux layer's item part from the ids: from the mapped
    tables when they have fewer rows than there are ids (first case), else from lookups. Both
    give auxiliary_loss on the looked-up e_b, ê_b: the same value and the same gradients, in
    float64, and padding's row gets none."""
    from recbook.torch.layers import Embedding
    projected = []
    project = Embedding.project
    monkeypatch.setattr(Embedding, "project",
                        lambda self, W: projected.append(1) or project(self, W))
    meta = make_meta(n_items=n_items, n_cats=3)
    model = small_dien(meta).double().train()
    b = as_tensors(make_ctr_batch(meta, B=B, seed=6, lengths=None))
    h = torch.randn(B, meta.max_len, SMALL["hidden"], dtype=torch.float64, requires_grad=True)
    mask = sequence_mask(b["hist_len"], meta.max_len)
    params = [h] + [p for p in model.parameters()]
    got = model.extra_loss(b, {"interests": h})
    assert bool(projected) == mapped
    e_b = model.behaviours(b["hist_items"], b["hist_cats"])
    e_neg = model.behaviours(b["neg_hist_items"], b["neg_hist_cats"])
    expected = model.alpha * auxiliary_loss(model.aux_net, h, e_b, e_neg, mask)
    torch.testing.assert_close(got, expected)
    g1 = torch.autograd.grad(got, params, allow_unused=True)
    g2 = torch.autograd.grad(expected, params, allow_unused=True)
    for p, q in zip(g1, g2):
        assert (p is None) == (q is None)
        if p is not None:
            torch.testing.assert_close(p, q)
    item_grad = g1[[p is model.item_emb.table.weight for p in params].index(True)]
    assert torch.all(item_grad[0] == 0) and item_grad.abs().sum() > 0


def test_a_mapped_table_is_the_map_of_every_lookup_and_keeps_padding_zero():
    from recbook.torch.layers import Embedding
    torch.manual_seed(0)
    emb, W = Embedding(5, 3), torch.randn(4, 3, requires_grad=True)
    ids = torch.tensor([0, 2, 5, 2, 0])
    mapped = emb.project(W)
    assert mapped.shape == (6, 4) and torch.all(mapped[0] == 0)
    torch.testing.assert_close(mapped[ids], emb(ids) @ W.T)
    mapped[ids].sum().backward()
    assert torch.all(emb.table.weight.grad[0] == 0)
