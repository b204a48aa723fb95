"""MIND and YouTube DNN in PyTorch: squash, B2I routing, dynamic K, label-aware attention, model."""
import math

import numpy as np
import pytest
import torch

from conftest import make_ctr_batch, make_meta
from recbook.torch import mind as M
from recbook.torch.layers import as_tensors, sequence_mask
from recbook.torch.youtube_dnn import YouTubeDNN, evaluate_retrieval

torch.set_num_threads(1)
SMALL = dict(d=6, profile_dim=3, hidden=(8,), n_neg=10)
RETRIEVAL_KEYS = ("user", "gender", "age", "target_item", "target_cat", "hist_items",
                  "hist_cats", "hist_len")


def retrieval_batch(meta, **kw):
    b = make_ctr_batch(meta, **kw)
    return {k: b[k] for k in RETRIEVAL_KEYS}


# --- squash (eq. 7) ------------------------------------------------------------------------

def test_squash_keeps_direction_and_maps_length_into_unit_interval():
    z = torch.randn(50, 7) * torch.logspace(-3, 3, 50)[:, None]
    s = M.squash(z)
    n = z.norm(dim=-1)
    np.testing.assert_allclose(s.norm(dim=-1), n**2 / (1 + n**2), rtol=1e-5, atol=1e-7)
    cos = (s * z).sum(-1) / (s.norm(dim=-1) * n)
    np.testing.assert_allclose(cos, torch.ones(50), atol=1e-5)
    assert (s.norm(dim=-1) < 1).all()


def test_squash_of_zero_is_zero_with_a_finite_gradient():
    z = torch.zeros(3, 4, requires_grad=True)
    s = M.squash(z)
    s.sum().backward()
    assert torch.equal(s, torch.zeros(3, 4)) and torch.isfinite(z.grad).all()


# --- dynamic interest number (eq. 9) --------------------------------------------------------

def test_dynamic_interest_number_is_the_papers_log2_floored():
    lengths = torch.arange(0, 70)
    got = M.dynamic_interest_number(lengths, K=4)
    want = [max(1, min(4, math.floor(math.log2(n)))) if n > 0 else 1 for n in range(70)]
    assert got.tolist() == want
    assert got[3] == 1 and got[4] == 2 and got[8] == 3  # log2|I_u|, not log2(1 + |I_u|)


# --- routing ------------------------------------------------------------------------------

def routing_inputs(B=4, T=6, K=3, d=5, lengths=(6, 3, 1, 0), seed=0):
    g = torch.Generator().manual_seed(seed)
    u_hat = torch.randn(B, T, d, generator=g)
    b = torch.randn(B, T, K, generator=g)
    return u_hat, b, sequence_mask(torch.tensor(lengths), T)


def test_coupling_of_padded_behaviours_is_exactly_zero_and_real_rows_sum_to_one():
    u_hat, b, mask = routing_inputs()
    _, coupling = M.dynamic_routing(u_hat, b, mask, iterations=3)
    for w in coupling:
        assert torch.all(w[~mask] == 0)
        np.testing.assert_allclose(w[mask].sum(-1), torch.ones(int(mask.sum())), atol=1e-6)


def test_routing_with_every_behaviour_masked_is_finite_and_zero():
    u_hat, b, _ = routing_inputs()
    mask = torch.zeros(4, 6, dtype=torch.bool)
    u_hat.requires_grad_(True)
    u, coupling = M.dynamic_routing(u_hat, b, mask)
    u.sum().backward()
    assert torch.equal(u, torch.zeros_like(u)) and torch.isfinite(u_hat.grad).all()
    assert all(torch.equal(w, torch.zeros_like(w)) for w in coupling)


def test_padding_never_changes_the_capsules():
    u_hat, b, mask = routing_inputs()
    u1, _ = M.dynamic_routing(u_hat, b, mask)
    junk_u, junk_b = u_hat.clone(), b.clone()
    junk_u[~mask] = 1e3
    junk_b[~mask] = -7.0
    u2, _ = M.dynamic_routing(junk_u, junk_b, mask)
    torch.testing.assert_close(u1, u2)


def test_dynamic_k_masks_the_unused_capsules():
    u_hat, b, mask = routing_inputs(K=4, lengths=(6, 5, 2, 0), T=6)
    k_user = M.dynamic_interest_number(mask.sum(1), 4)  # 2, 2, 1, 1
    cmask = M.interest_mask(k_user, 4)
    u, coupling = M.dynamic_routing(u_hat, b, mask, cmask)
    assert cmask.sum(1).tolist() == [2, 2, 1, 1]
    assert torch.all(u[~cmask] == 0) and torch.all(coupling[-1].permute(0, 2, 1)[~cmask] == 0)
    real = mask[:, :, None] & cmask[:, None, :]
    assert (coupling[-1][real] > 0).all()


def slow_b2i(e_hat, b, L, K_u, r):
    """Algorithm 1 written with loops over one user: behaviours 0..L-1, capsules 0..K_u-1."""
    b = b[:L, :K_u].clone()
    for _ in range(r):
        w = torch.softmax(b, dim=1)  # each behaviour spreads over the capsules
        u = []
        for j in range(K_u):
            z = sum(w[i, j] * e_hat[i] for i in range(L))
            u.append(z.norm() ** 2 / (1 + z.norm() ** 2) * z / z.norm())
        for i in range(L):
            for j in range(K_u):
                b[i, j] = b[i, j] + u[j] @ e_hat[i]
    return torch.stack(u)


def test_routing_equals_a_loop_over_algorithm_1():
    u_hat, b, mask = routing_inputs(K=3, lengths=(6, 4, 2, 1))
    cmask = M.interest_mask(torch.tensor([3, 2, 1, 1]), 3)
    u, _ = M.dynamic_routing(u_hat, b, mask, cmask, iterations=3)
    for row, (L, K_u) in enumerate([(6, 3), (4, 2), (2, 1), (1, 1)]):
        want = slow_b2i(u_hat[row], b[row], L, K_u, 3)
        torch.testing.assert_close(u[row, :K_u], want, atol=1e-5, rtol=1e-5)


def test_gradients_flow_only_through_the_last_iteration():
    """With one iteration or three, d u / d u_hat is the last iteration's (w held constant)."""
    u_hat, b, mask = routing_inputs(lengths=(6, 6, 6, 6))
    u_hat.requires_grad_(True)
    u, coupling = M.dynamic_routing(u_hat, b, mask, iterations=3)
    (g,) = torch.autograd.grad(u.sum(), u_hat)
    w = coupling[-1].detach()
    x = u_hat.detach().clone().requires_grad_(True)
    u_ref = M.squash(torch.einsum("btk,btd->bkd", w, x))
    (g_ref,) = torch.autograd.grad(u_ref.sum(), x)
    torch.testing.assert_close(g, g_ref)


def test_routing_logits_are_drawn_afresh_and_a_generator_fixes_them(meta):
    ext = M.MultiInterestExtractor(d=5, K=3)
    e = torch.randn(2, meta.max_len, 5)
    L = torch.tensor([8, 5])
    u1, _, _ = ext(e, L)
    u2, _, _ = ext(e, L)
    assert not torch.allclose(u1, u2)  # no routing state carried from one call to the next
    assert not any("logit" in n for n, _ in ext.named_buffers())
    a, _, _ = ext(e, L, generator=torch.Generator().manual_seed(3))
    c, _, _ = ext(e, L, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, c)


# --- label-aware attention (eq. 10) ---------------------------------------------------------

def test_label_aware_attention_p0_is_the_mean_and_large_p_is_the_hard_max():
    g = torch.Generator().manual_seed(0)
    V = torch.randn(5, 4, 6, generator=g) * 2
    e = torch.randn(5, 6, generator=g)
    v0, a0 = M.label_aware_attention(V, e, p=0)
    torch.testing.assert_close(v0, V.mean(1))
    s = (V * e[:, None]).sum(-1)
    best = s.argmax(1)
    top2 = s.topk(2, dim=1).values
    assert ((top2[:, 0].abs() > 1) | (top2[:, 1].abs() > 1)).all()  # |x|^p must separate them
    v_big, a_big = M.label_aware_attention(V, e, p=60)
    torch.testing.assert_close(v_big, V[torch.arange(5), best], atol=1e-4, rtol=1e-4)
    assert torch.isfinite(a_big).all()


def test_label_aware_attention_respects_the_interest_mask():
    V = torch.randn(3, 4, 6)
    e = torch.randn(3, 6)
    mask = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    v, a = M.label_aware_attention(V, e, p=0, mask=mask)
    assert torch.all(a[~mask] == 0)
    torch.testing.assert_close(v[0], V[0, :2].mean(0))
    torch.testing.assert_close(v[1], V[1, 0])
    with pytest.raises(ValueError, match="p must be >= 0"):
        M.label_aware_attention(V, e, p=-1)


# --- the models -----------------------------------------------------------------------------

@pytest.mark.parametrize("Model", [YouTubeDNN, M.MIND])
def test_shapes_empty_history_and_gradients(meta, Model):
    torch.manual_seed(0)
    model = Model(meta, **SMALL)
    batch = retrieval_batch(meta)
    assert batch["hist_len"][0] == 0
    logits, att = model(batch, return_attention=True)
    V = model.user_interests(batch)
    K = 1 if Model is YouTubeDNN else model.K
    assert logits.shape == (6,) and V.shape == (6, K, 6) and torch.isfinite(V).all()
    assert model.item_embeddings().shape == (meta.n_items + 1, 6)
    assert torch.all(model.item_embeddings()[0] == 0)
    loss, logs = model.loss(batch)
    loss.backward()
    assert math.isfinite(logs["loss"])
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    if Model is M.MIND:
        assert att["routing"].shape == (6, meta.max_len, K)
        assert att["routing_iterations"].shape == (6, 3, meta.max_len, K)
        assert att["label_attention"].shape == (6, K)
        # dynamic K: the empty history keeps one interest, the others are exactly 0
        assert model.interest_mask(batch)[0].tolist() == [True] + [False] * (K - 1)
        assert torch.all(V[0, 1:] == 0)


def test_mind_padding_invariance(meta):
    torch.manual_seed(0)
    model = M.MIND(meta, **SMALL).eval()
    batch = retrieval_batch(meta, T=5, lengths=[5, 3, 2, 0, 1, 4])
    longer = {k: v.copy() for k, v in batch.items()}
    for k in ("hist_items", "hist_cats"):
        longer[k] = np.concatenate([batch[k], np.zeros((6, 3), np.int64)], 1)
    b0 = np.random.default_rng(1).normal(size=(6, 8, model.K)).astype(np.float32)
    V = model.user_interests(batch, routing_logits=b0[:, :5])
    V_long = model.user_interests(longer, routing_logits=b0)  # junk logits at the padding
    torch.testing.assert_close(V, V_long)


def test_bad_input_is_named(meta):
    model = M.MIND(meta, **SMALL)
    batch = retrieval_batch(meta)
    with pytest.raises(KeyError, match="hist_len"):
        model.user_interests({k: v for k, v in batch.items() if k != "hist_len"})
    real = np.arange(meta.max_len)[None] < batch["hist_len"][:, None]
    bad = dict(batch, hist_items=np.where(real, meta.n_items + 1, 0))
    with pytest.raises(ValueError, match="hist_items"):
        model.user_interests(bad)
    with pytest.raises(ValueError, match="routing_logits"):
        model.user_interests(batch, routing_logits=np.zeros((6, 2, model.K), np.float32))


def test_retrieval_evaluation_masks_unused_interests(meta):
    torch.manual_seed(0)
    model = M.MIND(meta, **SMALL)
    batch = retrieval_batch(meta, B=12, seed=3)
    out = evaluate_retrieval(model, batch, ks=(5, 10), seed=0)
    assert set(out) >= {"hit_rate@5", "recall@10"} and 0 <= out["recall@10"] <= 1
    assert out == evaluate_retrieval(model, batch, ks=(5, 10), seed=0)  # seeded routing repeats


def test_learns_on_the_built_in_data():
    """A few hundred steps on tiny planted data: Recall@20 clearly above a random ranking."""
    from recbook.data.samples import load_next_item
    from recbook.torch.train import fit

    ds = load_next_item("synthetic", size="tiny", seed=0)
    torch.manual_seed(0)
    model = M.MIND(ds.meta, d=16, profile_dim=4, hidden=(32,), n_neg=40, K=2, p=2.0)
    fit(model, ds.train, epochs=25, batch_size=64, lr=5e-3, seed=0)
    got = evaluate_retrieval(model, ds.test, ks=(20,))
    chance = 20 / ds.meta.n_items  # a random top-20 hits a truth item this often per item
    assert got["recall@20"] > 2 * chance, got


# --- exercise checkers ---------------------------------------------------------------------

def test_exercise_checkers_accept_the_library_and_reject_wrong_answers(capsys):
    from recbook.exercises import mind as ex

    def lib_iteration(b, e_hat, n):
        b, e_hat = torch.tensor(b), torch.tensor(e_hat)
        mask = torch.arange(len(b))[None] < n
        w = M.routing_softmax(b[None], mask)[0]
        u = M.squash(w.T @ e_hat)
        return w, u, b + e_hat @ u.T

    assert ex.check_squash(lambda z: M.squash(torch.tensor(z)).numpy())
    assert ex.check_routing_iteration(lib_iteration)
    assert ex.check_interest_number(
        lambda L, K: M.dynamic_interest_number(torch.tensor(L), K).numpy())
    capsys.readouterr()
    assert not ex.check_squash(lambda z: z / (1 + np.linalg.norm(z, axis=-1, keepdims=True)))
    assert not ex.check_interest_number(  # the log2(1 + |I_u|) variant
        lambda L, K: np.clip(np.floor(np.log2(np.asarray(L) + 1)), 1, K).astype(np.int64))

    def over_behaviours(b, e_hat, n):  # DeepMatch's axis: wrong for eq. 6
        w, u, b_new = lib_iteration(b, e_hat, n)
        w = torch.softmax(torch.tensor(b), 0)
        return w, u, b_new
    assert not ex.check_routing_iteration(over_behaviours)
    assert "✗" in capsys.readouterr().out
