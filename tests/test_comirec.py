"""ComiRec (PyTorch) and the controllable aggregation module: tiny sizes, CPU."""
import numpy as np
import pytest
import torch

from conftest import make_ctr_batch, make_meta
from recbook import aggregation, metrics
from recbook.retrieval import ItemIndex, topk_multi_interest
from recbook.torch import base, comirec
from recbook.torch.comirec import ComiRecDR, ComiRecSA
from recbook.torch.mind import squash

torch.set_num_threads(1)


@pytest.fixture
def meta():
    return make_meta(max_len=8)


def _batch(meta, B=6, lengths=None, T=None, seed=0):
    return make_ctr_batch(meta, B=B, T=T, seed=seed, lengths=lengths)


def _pad(batch, extra):
    """The same batch with ``extra`` more padded positions on the right."""
    out = dict(batch)
    for k in ("hist_items", "hist_cats"):
        out[k] = np.pad(batch[k], ((0, 0), (0, extra)))
    return out


# --------------------------------------------------------------------------- ComiRec-SA
def test_sa_padded_positions_get_exactly_zero_weight(meta):
    torch.manual_seed(0)
    model = ComiRecSA(meta, d=8, K=3)
    b = _batch(meta, lengths=[0, 1, 3, 5, 8, 2])
    _, att = model(b, return_attention=True)
    A = att["attention"]  # [B, K, T]
    assert A.shape == (6, 3, 8)
    mask = torch.arange(8)[None, :] < torch.as_tensor(b["hist_len"])[:, None]
    assert (A.masked_select(~mask[:, None, :].expand_as(A)) == 0).all()
    sums = A.sum(-1)
    assert torch.allclose(sums[1:], torch.ones_like(sums[1:]))
    assert (sums[0] == 0).all()  # an empty history: no weight anywhere, and no NaN


def test_sa_equals_the_equations(meta):
    """A = softmax(W2ᵀ tanh(W1 (H + P)))ᵀ over real positions, V_u = H A, one row at a time."""
    torch.manual_seed(1)
    model = ComiRecSA(meta, d=8, K=2)
    b = _batch(meta, lengths=[4, 7, 1, 8, 2, 5], seed=3)
    V = model.user_interests(b).detach()
    ex = model.extractor
    for r in range(6):
        n = int(b["hist_len"][r])
        H = model.emb.items(torch.as_tensor(b["hist_items"][r, :n]),
                            torch.as_tensor(b["hist_cats"][r, :n])).detach()  # [n, d]
        s = ex.W2(torch.tanh(ex.W1(H + ex.P[:n])))  # [n, K]
        A = torch.softmax(s, 0)  # eq. 6: each head normalised over the n behaviours
        assert torch.allclose(V[r], A.T @ H, atol=1e-6)  # eq. 7


def test_sa_starts_from_the_official_dense_initialisation(meta):
    """W1, W2: Glorot-uniform kernels and zero biases (tf.layers.dense / Keras), not torch's
    default Linear init, so the PyTorch and TensorFlow twins start from the same distribution."""
    torch.manual_seed(0)
    ex = ComiRecSA(meta, d=8, K=3).extractor
    for dense in (ex.W1, ex.W2):
        fan_out, fan_in = dense.weight.shape
        limit = (6 / (fan_in + fan_out)) ** 0.5
        assert (dense.bias == 0).all()
        assert dense.weight.abs().max() <= limit
        assert dense.weight.abs().max() > 0.8 * limit  # the whole Glorot range is used


def test_comirec_shares_the_retrieval_base_without_profile_or_tower(meta):
    """ComiRec is a RetrievalModel (not a YouTubeDNN missing its __init__): no profile keys,
    no ReLU tower, K interests kept, a batch without profile features is enough."""
    from recbook.torch.youtube_dnn import RetrievalModel, YouTubeDNN
    for cls in (ComiRecDR, ComiRecSA):
        model = cls(meta, d=8, K=3)
        assert isinstance(model, RetrievalModel) and not isinstance(model, YouTubeDNN)
        assert not hasattr(model, "tower") and len(model.emb.profile_emb) == 0
        b = {k: v for k, v in _batch(meta).items() if k not in meta.profile}
        assert model.user_interests(b).shape == (6, 3, 8)
        assert model(b).shape == (6,)


# --------------------------------------------------------------------------- ComiRec-DR
def test_dr_empty_history_is_finite_and_zero(meta):
    torch.manual_seed(0)
    model = ComiRecDR(meta, d=8, K=4)
    b = _batch(meta, lengths=[0, 0, 3, 8, 1, 5])
    logits, att = model(b, return_attention=True)
    V = model.user_interests(b)
    assert torch.isfinite(logits).all() and torch.isfinite(V).all()
    assert (V[:2] == 0).all()  # nothing routed: every capsule is squash(0) = 0
    loss, _ = model.loss(b)
    assert torch.isfinite(loss)
    w = att["routing"]  # [B, T, K]
    assert (w[:2] == 0).all()
    mask = torch.arange(8)[None, :] < torch.as_tensor(b["hist_len"])[:, None]
    assert torch.allclose(w.sum(-1), mask.float())  # softmax over interests, 0 at padding
    # b_ij = 0 at the start: the first iteration spreads every behaviour evenly
    first = att["routing_iterations"][:, 0]
    assert torch.allclose(first[mask], torch.full_like(first[mask], 1 / 4))


def test_dr_equals_algorithm_1(meta):
    """A slow loop straight from Algorithm 1 with one W_ij per (position i, interest j)."""
    torch.manual_seed(2)
    model = ComiRecDR(meta, d=6, K=3, iterations=3)
    b = _batch(meta, lengths=[5, 8, 1, 3, 2, 7], seed=4)
    V = model.user_interests(b).detach()
    W = model.extractor.W.detach()
    for r in range(6):
        n = int(b["hist_len"][r])
        e = model.emb.items(torch.as_tensor(b["hist_items"][r, :n]),
                            torch.as_tensor(b["hist_cats"][r, :n])).detach()
        c_hat = torch.stack([torch.stack([W[i, j] @ e[i] for j in range(3)]) for i in range(n)])
        logit = torch.zeros(n, 3)
        for it in range(3):
            c = torch.softmax(logit, 1)  # eq. 4: over interests j
            v = torch.stack([squash((c[:, j:j + 1] * c_hat[:, j]).sum(0)) for j in range(3)])
            logit = logit + torch.einsum("jd,ijd->ij", v, c_hat)
        assert torch.allclose(V[r], v, atol=1e-5)


@pytest.mark.parametrize("cls", [ComiRecDR, ComiRecSA])
def test_padding_invariance_and_too_long_history(meta, cls):
    torch.manual_seed(0)
    model = cls(meta, d=8, K=3)
    b = _batch(meta, T=5, lengths=[0, 2, 5, 3, 1, 4])
    V = model.user_interests(b)
    V_pad = model.user_interests(_pad(b, 3))  # T = 8 = max_len
    assert torch.allclose(V, V_pad, atol=1e-6)
    b["target_item"][:] = 1
    b["target_cat"][:] = meta.item_cat[1]
    assert torch.allclose(model(b), model(_pad(b, 3)), atol=1e-6)
    with pytest.raises(ValueError, match="hist_items"):  # the batch checker names the key
        model.user_interests(_pad(b, 4))


@pytest.mark.parametrize("cls", [ComiRecDR, ComiRecSA])
def test_gradients_reach_every_weight(meta, cls):
    torch.manual_seed(0)
    model = cls(meta, d=8, K=3)
    b = _batch(meta, B=16, lengths=np.r_[np.full(15, 8), 0], seed=5)
    loss, logs = model.loss(b)
    loss.backward()
    assert np.isfinite(logs["loss"])
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_hard_readout_and_official_negatives(meta, monkeypatch):
    torch.manual_seed(0)
    model = ComiRecSA(meta, d=8, K=3)
    V = torch.randn(5, 3, 8)
    e = torch.randn(5, 8)
    v, extra = model.training_vector(V, e, None)
    k = torch.tensor([max(range(3), key=lambda j: float(V[r, j] @ e[r])) for r in range(5)])
    assert (extra["readout"] == k).all()  # eq. 8: the interest closest to the target
    assert torch.equal(v, V[torch.arange(5), k])
    seen = {}

    def spy(user, items, target, n_neg, **kw):
        seen["n_neg"] = n_neg
        return (user * 0).sum()

    monkeypatch.setattr(base, "sampled_softmax_loss", spy)  # the shared loss
    model.loss(_batch(meta, B=7))
    assert seen["n_neg"] == 70  # 10 × batch size, as the official code
    ComiRecSA(meta, d=8, K=3, n_neg=33).loss(_batch(meta, B=7))
    assert seen["n_neg"] == 33


@pytest.mark.parametrize("cls", [ComiRecDR, ComiRecSA])
def test_serving_shapes(meta, cls):
    """user_interests [B, K, d], item_embeddings [N + 1, d] with a zero padding row, all K kept."""
    model = cls(meta, d=8, K=3)
    b = _batch(meta)
    assert model.user_interests(b).shape == (6, 3, 8)
    assert model.interest_mask(b).shape == (6, 3) and bool(model.interest_mask(b).all())
    E = model.item_embeddings()
    assert E.shape == (meta.n_items + 1, 8) and (E[0] == 0).all()


def test_bad_arguments(meta):
    with pytest.raises(ValueError, match="K"):
        ComiRecDR(meta, K=0)
    with pytest.raises(ValueError, match="n_neg"):
        ComiRecSA(meta, n_neg=0)


def test_learns_on_builtin_data():
    """Recall@20 on held-out users rises far above a random ranking after ~150 steps."""
    from recbook.data import load_next_item
    from recbook.torch.train import fit
    from recbook.torch.youtube_dnn import evaluate_retrieval

    ds = load_next_item("synthetic", size="tiny", seed=0, n_users=300, n_items=200,
                        n_cats=10, max_len=15, min_events=15, max_events=30)
    valid = {**ds.valid, "truth": ds.valid["truth_items"]}
    random_recall = 20 / ds.meta.n_items
    for cls, lr in ((ComiRecSA, 5e-3), (ComiRecDR, 5e-3)):
        torch.manual_seed(0)
        model = cls(ds.meta, d=16, K=4)
        before = evaluate_retrieval(model, valid)["recall@20"]
        fit(model, ds.train, epochs=3, batch_size=128, lr=lr)
        after = evaluate_retrieval(model, valid)["recall@20"]
        assert after > 2 * random_recall and after > before + 0.05, (cls.__name__, before, after)


# --------------------------------------------------------------------------- aggregation
CAT = np.array([0, 1, 1, 1, 2, 2, 3, 4, 1, 2], dtype=np.int64)  # item -> category


def test_greedy_lambda_zero_is_top_n():
    rng = np.random.default_rng(0)
    ids = np.array([rng.permutation(np.arange(1, 10)) for _ in range(4)])
    scores = rng.normal(size=ids.shape)
    out = aggregation.greedy_select(scores, ids, CAT, 5, lam=0.0)
    expected = np.take_along_axis(ids, np.argsort(-scores, axis=1)[:, :5], 1)
    assert (out == expected).all()


def test_greedy_large_lambda_maximises_category_coverage():
    # scores favour category 1 (items 1, 2, 3, 8); categories 2, 3, 4 score lower
    ids = np.array([[1, 2, 3, 8, 4, 6, 7, 5]])
    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]])
    top = aggregation.greedy_select(scores, ids, CAT, 4, lam=0.0)
    assert top.tolist() == [[1, 2, 3, 8]]  # one category
    div = aggregation.greedy_select(scores, ids, CAT, 4, lam=10.0)
    assert div.tolist() == [[1, 4, 6, 7]]  # the best item of each of the 4 categories
    assert aggregation.diversity_at_n(top, CAT) == 0.0
    assert aggregation.diversity_at_n(div, CAT) == 1.0
    # a small λ only swaps in an item whose score loss is below λ times the repetition
    mid = aggregation.greedy_select(scores, ids, CAT, 4, lam=0.12)
    assert mid.tolist() == [[1, 2, 4, 3]]  # 0.8-0.12 > 0.5; 0.5 > 0.7-0.24; 0.46 > 0.4


def test_greedy_short_lists_and_errors():
    ids = np.array([[4, 1, 0, 0]])
    out = aggregation.greedy_select(np.array([[1.0, 2.0, -np.inf, -np.inf]]), ids, CAT, 3, 0.5)
    assert out.tolist() == [[1, 4, 0]]
    with pytest.raises(ValueError, match="lam"):
        aggregation.greedy_select(np.zeros((1, 4)), ids, CAT, 2, -1.0)
    with pytest.raises(ValueError, match="same shape"):
        aggregation.greedy_select(np.zeros((1, 3)), ids, CAT, 2, 0.0)
    with pytest.raises(ValueError, match="ids must lie"):
        aggregation.greedy_select(np.zeros((1, 4)), ids + 20, CAT, 2, 0.0)


def test_diversity_by_hand():
    # [1, 4, 6]: categories 1, 2, 3 -> 3 different pairs of 3; [1, 2, 4]: 1, 1, 2 -> 2 of 3;
    # [1, 2, 0]: one pair, same category -> 0
    ids = np.array([[1, 4, 6], [1, 2, 4], [1, 2, 0]])
    assert aggregation.diversity_at_n(ids, CAT) == pytest.approx((1 + 2 / 3 + 0) / 3)


def test_controllable_topn_lambda_zero_equals_merged_top_n():
    rng = np.random.default_rng(3)
    n_items = 9
    emb = rng.normal(size=(n_items + 1, 4)).astype(np.float32)
    index = ItemIndex(emb)
    V = rng.normal(size=(5, 3, 4)).astype(np.float32)
    mask = np.ones((5, 3), bool)
    mask[1, 2] = False
    got = aggregation.controllable_topn(index, V, CAT, 4, lam=0.0, mask=mask)
    _, expected = topk_multi_interest(index, V, 4, mask=mask)
    assert (got == expected).all()
    s, i = aggregation.candidates(index, V, 4, mask=mask)
    for r in range(5):  # each candidate once, with f(u, i) = max over existing interests
        real = i[r][i[r] != 0]
        assert len(set(real)) == len(real)
        f = (V[r][mask[r]] @ emb[real].T).max(0)
        np.testing.assert_allclose(s[r][: len(real)], f, rtol=1e-5)
    diverse = aggregation.controllable_topn(index, V, CAT, 4, lam=100.0, mask=mask)
    assert aggregation.diversity_at_n(diverse, CAT) >= aggregation.diversity_at_n(got, CAT)


def test_metrics_by_hand_official_and_textbook_ndcg():
    """Recall, HitRate, NDCG@3 of one ranked list against a truth set of 4 items."""
    ranked = np.array([[5, 1, 7, 2]])
    truth = [{1, 2, 3, 9}]
    r = metrics.ranking_metrics(ranked, truth, ks=(3,), ideal="truth")
    dcg = 1 / np.log2(3)  # one hit, at position 2
    assert r["recall@3"] == pytest.approx(1 / 4)
    assert r["hit_rate@3"] == 1.0
    assert r["ndcg@3"] == pytest.approx(dcg / (1 + 1 / np.log2(3) + 1 / np.log2(4)))
    official = metrics.ranking_metrics(ranked, truth, ks=(3,), ideal="hits")
    assert official["ndcg@3"] == pytest.approx(dcg / 1.0)  # THUDM/ComiRec after a3489df
