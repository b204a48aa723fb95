"""BST (PyTorch): attention written out == nn.MultiheadAttention, padding, empty histories,
time-gap positions, the target inside the sequence, learning, the exercise checkers.
TensorFlow: tests/test_bst_tf.py."""
import numpy as np
import pytest
import torch

from conftest import make_ctr_batch, make_meta
from recbook.torch.bst import (BST, MultiHeadSelfAttention, left_align, time_boundaries,
                               time_bucket)

torch.set_num_threads(1)

SMALL = dict(item_dim=8, cat_dim=4, pos_dim=4, profile_dim=2, n_heads=2, ffn_dim=8,
             mlp=(16, 8))


def model(seed=0, **kw):
    """A tiny BST in evaluation mode, seeded (meta.max_len = 8)."""
    torch.manual_seed(seed)
    return BST(make_meta(), **{**SMALL, **kw}).eval()


def widen(batch, extra):
    """The same batch with `extra` more padded columns."""
    out = dict(batch)
    for k in ("hist_items", "hist_cats", "neg_hist_items", "neg_hist_cats", "hist_gaps"):
        out[k] = np.pad(batch[k], ((0, 0), (0, extra)))
    return out


VARIANTS = [{}, {"pooling": "target"}, {"n_blocks": 2}, {"position": "index"},
            {"position": "sinusoidal"}, {"position": "none"}, {"target_in_sequence": False}]


def test_time_bucket_is_floor_log2_of_one_plus_the_gap():
    gaps = np.array([0, 0.5, 1, 2, 3, 60, 3600, 86400, 1e12], np.float32)
    want = np.minimum(np.floor(np.log2(1 + gaps.astype(np.float64))), 31)
    assert time_bucket(gaps).tolist() == want.tolist() == [0, 0, 1, 1, 2, 5, 11, 16, 31]
    assert len(time_boundaries(32)) == 31


def test_left_align_puts_the_most_recent_behaviour_next_to_the_target():
    x = torch.tensor([[5, 6, 7, 0], [9, 0, 0, 0], [0, 0, 0, 0]])
    got = left_align(x, torch.tensor([3, 1, 0]), 6)
    assert got.tolist() == [[0, 0, 0, 5, 6, 7], [0, 0, 0, 0, 0, 9], [0] * 6]


def test_attention_written_out_equals_torch_multihead_attention():
    """Eq. 1–3 by hand == nn.MultiheadAttention (no bias) on the same W^Q, W^K, W^V, W^H."""
    torch.manual_seed(0)
    d, h, B, L = 8, 2, 3, 5
    mine = MultiHeadSelfAttention(d, h)
    ref = torch.nn.MultiheadAttention(d, h, bias=False, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([mine.W_Q.weight, mine.W_K.weight, mine.W_V.weight]))
        ref.out_proj.weight.copy_(mine.W_H.weight)
    E = torch.randn(B, L, d)
    mask = torch.tensor([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1], [0, 0, 0, 0, 1]]).bool()
    S, A = mine(E, mask)
    S_ref, A_ref = ref(E, E, E, key_padding_mask=~mask, average_attn_weights=False)
    real = mask[:, :, None].expand(B, L, d)  # padded queries are never read: compare real rows
    torch.testing.assert_close(S[real], S_ref[real], rtol=0, atol=1e-6)
    rows = mask[:, None, :, None].expand(B, h, L, L)
    torch.testing.assert_close(A[rows], A_ref[rows], rtol=0, atol=1e-6)


@pytest.mark.parametrize("kw", VARIANTS)
def test_padded_keys_get_exactly_zero_attention(meta, kw):
    m = model(**kw)
    b = make_ctr_batch(meta, B=5, lengths=[0, 1, 3, 7, 8])
    _, att = m(b, return_attention=True)
    A = att["self_attention_blocks"]  # [B, b, h, slots, slots]
    L = 8
    real = torch.arange(L)[None] >= L - torch.as_tensor(b["hist_len"])[:, None]  # left-aligned
    if m.target_in_sequence:
        real = torch.cat([real, torch.ones(5, 1, dtype=torch.bool)], 1)
    key_pad = ~real[:, None, None, None, :].expand_as(A)
    assert (A[key_pad] == 0).all()  # exactly, not approximately
    rows = A.sum(-1)  # each real query's weights sum to 1
    torch.testing.assert_close(rows[real[:, None, None].expand_as(rows)],
                               torch.ones(int(real[:, None, None].expand_as(rows).sum())))
    if m.target_in_sequence:  # the target's row of an empty history attends to itself only
        assert (A[0, :, :, -1, -1] == 1).all()


@pytest.mark.parametrize("kw", VARIANTS)
def test_padding_never_changes_a_result(meta, kw):
    m = model(**kw)
    b = make_ctr_batch(meta, B=6, T=5, seed=1)
    logits, att = m(b, return_attention=True)
    logits2, att2 = m(widen(b, 3), return_attention=True)
    torch.testing.assert_close(logits2, logits, rtol=0, atol=1e-6)
    torch.testing.assert_close(att2["self_attention"], att["self_attention"], rtol=0, atol=1e-6)
    # outputs at the real positions do not depend on what the padded slots hold
    bt = m.prepare(b)
    F, _ = m.encode(bt)
    if "hist_gaps" not in bt:  # prepare converts only what the model reads
        return
    junk = dict(bt, hist_gaps=bt["hist_gaps"] + 7.0 * (bt["hist_gaps"] == 0))
    F2, _ = m.encode(junk)
    torch.testing.assert_close(F2, F, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kw", VARIANTS)
def test_empty_history_is_finite(meta, kw):
    m = model(**kw)
    b = make_ctr_batch(meta, B=3, lengths=[0, 0, 0])
    logits, att = m(b, return_attention=True)
    assert torch.isfinite(logits).all() and torch.isfinite(att["self_attention"]).all()
    m.train()
    loss, _ = m.loss(b)
    loss.backward()
    assert torch.isfinite(loss)


def test_the_target_inside_the_sequence_changes_how_the_history_is_read(meta):
    """With v_t in the sequence every behaviour's output depends on the candidate; without it
    the history is encoded once, whatever the candidate (what DIN's activation unit adds)."""
    b = make_ctr_batch(meta, B=4, lengths=[2, 4, 6, 8], seed=2)
    other = dict(b, target_item=b["target_item"] % meta.n_items + 1)
    other["target_cat"] = meta.item_cat[other["target_item"]]
    for inside in (True, False):
        m = model(target_in_sequence=inside)
        F1, _ = m.encode(m.prepare(b))
        F2, _ = m.encode(m.prepare(other))
        changed = (F1[:, :8] - F2[:, :8]).abs().max().item()
        assert (changed > 1e-3) if inside else (changed == 0)


def test_time_gaps_are_the_positions(meta):
    """pos(v_i) = t(v_t) − t(v_i): moving the gaps across a bucket edge changes the logits only
    for position="time"; the index and sinusoidal positions see the order alone."""
    b = make_ctr_batch(meta, B=4, lengths=[2, 4, 6, 8], seed=3)
    later = dict(b, hist_gaps=(b["hist_gaps"] * 64).astype(np.float32))
    for position in ("time", "index", "sinusoidal", "none"):
        m = model(position=position)
        diff = (m(b) - m(later)).abs().max().item()
        assert (diff > 1e-4) if position == "time" else (diff == 0), position
    m = model()
    ids = m.positions(torch.tensor([[0.0, 5.0, 86400.0, 0.0]]),
                      torch.tensor([[False, True, True, True]]))
    want = m.pos_emb(torch.tensor([[0, 1 + 2, 1 + 16, 1 + 0]]))  # bucket + 1; 0 = padding
    torch.testing.assert_close(ids, want, rtol=0, atol=0)


def test_bad_arguments_and_batches_get_clear_errors(meta):
    with pytest.raises(ValueError, match="position must be"):
        BST(meta, position="learned")
    with pytest.raises(ValueError, match="pooling must be"):
        BST(meta, pooling="mean")
    with pytest.raises(ValueError, match="needs target_in_sequence"):
        BST(meta, pooling="target", target_in_sequence=False)
    with pytest.raises(ValueError, match="divisible by the number of heads"):
        BST(meta, item_dim=8, cat_dim=4, pos_dim=3, n_heads=2)
    b = make_ctr_batch(meta, B=3)
    with pytest.raises(KeyError, match="hist_gaps"):
        model()({k: v for k, v in b.items() if k != "hist_gaps"})
    model(position="index")({k: v for k, v in b.items() if k != "hist_gaps"})  # not needed
    with pytest.raises(ValueError, match="hist_gaps"):
        model()(dict(b, hist_gaps=-b["hist_gaps"] - 1))


@pytest.mark.parametrize("kw", [{}, {"n_blocks": 2}])
def test_gradients_flow_to_every_parameter(meta, kw):
    m = model(**kw).train()
    b = make_ctr_batch(meta, B=16, seed=8)
    m.loss(b)[0].backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_learns_the_planted_order_on_the_builtin_data():
    """A few hundred Adam steps on a small built-in dataset: test AUC clearly above chance and
    above a model that sees the target and profile alone (no history)."""
    from recbook.data import load_ctr
    from recbook.metrics import auc
    from recbook.torch.train import fit, predict
    ds = load_ctr(max_len=10, n_users=400, n_items=200, n_cats=8, impressions_per_user=8)
    kw = dict(item_dim=8, cat_dim=8, pos_dim=8, profile_dim=4, n_heads=2, ffn_dim=24,
              mlp=(32,), dropout=0.0)
    scores = {}
    for name, length in [("bst", None), ("no history", 0)]:
        torch.manual_seed(0)
        m = BST(ds.meta, **kw)
        train = ds.train if length is None else dict(
            ds.train, hist_len=0 * ds.train["hist_len"],
            **{k: 0 * ds.train[k] for k in ("hist_items", "hist_cats", "hist_gaps",
                                             "neg_hist_items", "neg_hist_cats")})
        fit(m, train, epochs=2, batch_size=64, lr=3e-3, seed=0)
        test = ds.test if length is None else dict(
            ds.test, hist_len=0 * ds.test["hist_len"],
            **{k: 0 * ds.test[k] for k in ("hist_items", "hist_cats", "hist_gaps",
                                            "neg_hist_items", "neg_hist_cats")})
        scores[name] = auc(ds.test["label"], predict(m, test))
    assert scores["bst"] > 0.75, scores  # measured 0.80 (no history: 0.64)
    assert scores["bst"] > scores["no history"] + 0.08, scores


def test_exercise_checkers_accept_recbook_and_reject_wrong_answers(capsys):
    """The chapter's checkers agree with the model's own code, and catch the usual mistakes."""
    from recbook.exercises import bst as ex

    assert ex.check_time_bucket(lambda g, n: time_bucket(g, n))
    assert not ex.check_time_bucket(lambda g, n: np.floor(np.log2(1 + g)))  # no cap

    def head(E, W_Q, W_K, W_V, mask):  # eq. 1 in torch with recbook's masked softmax
        from recbook.torch.layers import masked_softmax
        E, W_Q, W_K, W_V = (torch.as_tensor(x) for x in (E, W_Q, W_K, W_V))
        s = (E @ W_Q) @ (E @ W_K).T / np.sqrt(W_Q.shape[1])
        A = masked_softmax(s, torch.as_tensor(mask)[None, :].expand_as(s))
        return A @ (E @ W_V), A

    assert ex.check_attention_head(head)
    assert not ex.check_attention_head(
        lambda E, Q, K, V, m: ex.attention_head_reference(E, Q, K, V, np.ones_like(m)))

    def sequence(items, n, target, L):
        seq = left_align(torch.as_tensor(items), torch.as_tensor(n), L)
        seq = torch.cat([seq, torch.as_tensor(target)[:, None]], 1)
        return seq, seq != 0

    assert ex.check_sequence(sequence)
    assert not ex.check_sequence(  # right-aligned padding kept: the classic mistake
        lambda items, n, target, L: ex.sequence_reference(items, np.full_like(n, items.shape[1]),
                                                          target, L))
