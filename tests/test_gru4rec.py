"""GRU4Rec (PyTorch): state handling, gradients, the GRU variant, learning on built-in data."""
import numpy as np
import pytest
import torch

from recbook.torch import gru4rec as pt
from tests.conftest import make_meta

torch.set_num_threads(1)
N = 30
SUPP = np.r_[0, np.random.default_rng(0).integers(1, 20, N)]


def steps(T=4, B=4, seed=0):
    rng = np.random.default_rng(seed)
    for t in range(T):
        reset = np.ones(B, bool) if t == 0 else rng.random(B) < 0.4
        yield {"input_item": rng.integers(1, N + 1, B), "target_item": rng.integers(1, N + 1, B),
               "reset": reset}


def test_finished_session_state_never_leaks():
    meta = make_meta(n_items=N)
    m = pt.GRU4Rec(meta, layers=(6,), n_sample=0).eval()
    fresh = pt.GRU4Rec(meta, layers=(6,), n_sample=0).eval()
    fresh.load_state_dict(m.state_dict())
    rng = np.random.default_rng(1)
    for _ in range(3):  # row 1 builds up a state
        m({"input_item": rng.integers(1, N + 1, 2), "reset": np.array([False, False])})
    b = {"input_item": np.array([3, 7]), "reset": np.array([False, True])}  # row 1: new session
    s = m(b).detach()
    s_fresh = fresh({"input_item": np.array([3, 7]), "reset": np.array([True, True])}).detach()
    torch.testing.assert_close(s[1], s_fresh[1])  # exactly as if nothing came before
    assert not torch.allclose(s[0], s_fresh[0])  # the continuing row keeps its state


def test_no_backprop_through_time_and_gradients_reach_every_weight():
    meta = make_meta(n_items=N)
    m = pt.GRU4Rec(meta, layers=(6,), n_sample=5, item_support=SUPP, sample_store_size=50)
    b0, b1 = list(steps(T=2))
    m.loss(b0)
    assert not m.H[0].requires_grad  # the stored state is detached
    loss, logs = m.loss(b1)
    loss.backward()
    assert np.isfinite(logs["loss"])
    for name, p in m.named_parameters():
        assert p.grad is not None, name
        g = p.grad.coalesce().values() if p.grad.is_sparse else p.grad
        assert torch.isfinite(g).all() and g.abs().sum() > 0, name


def test_bad_input_is_named():
    meta = make_meta(n_items=N)
    m = pt.GRU4Rec(meta, layers=(6,), n_sample=0)
    with pytest.raises(ValueError, match="input_item"):
        m({"input_item": np.array([N + 1]), "reset": np.array([True])})
    with pytest.raises(KeyError, match="reset"):
        m({"input_item": np.array([1])})
    m({"input_item": np.array([1, 2]), "reset": np.array([True, True])})
    with pytest.raises(ValueError, match="reset all True"):
        m({"input_item": np.array([1, 2, 3]), "reset": np.array([False, True, True])})
    with pytest.raises(ValueError, match="loss"):
        pt.GRU4Rec(meta, loss="mse")


def test_reset_after_cell_is_torch_gru_cell():
    """reset_after=True is torch.nn.GRUCell as a function, its six bias vectors included:
    nn.GRUCell's weights copied in (gates reordered, z' = 1 − z: the update gate's signs flip,
    the paired gate biases added, b_hn kept apart) give its outputs. Without b_hn they differ,
    and the paper's cell (reset before U) differs on the same weights."""
    d_in, d = 4, 3
    torch.manual_seed(0)
    ref = torch.nn.GRUCell(d_in, d)
    with torch.no_grad():  # nonzero biases everywhere (nn.GRUCell draws them uniform)
        ref.bias_ih.normal_(), ref.bias_hh.normal_()
    ours = pt.GRUCell(d_in, d, reset_after=True)
    assert torch.equal(ours.b_hn, torch.zeros(d))  # the official port starts it at 0
    Wr, Wz, Wn = ref.weight_ih.chunk(3)
    Ur, Uz, Un = ref.weight_hh.chunk(3)
    bir, biz, bin_ = ref.bias_ih.chunk(3)
    bhr, bhz, bhn = ref.bias_hh.chunk(3)
    with torch.no_grad():  # ours: [candidate | reset | update], z_ours = 1 − z_torch
        ours.W.copy_(torch.cat([Wn, Wr, -Wz]).T)
        ours.U_h.copy_(Un.T)
        ours.U_rz.copy_(torch.cat([Ur, -Uz]).T)
        ours.b.copy_(torch.cat([bin_, bir + bhr, -(biz + bhz)]))
        ours.b_hn.copy_(bhn)
    x, h = torch.randn(5, d_in), torch.randn(5, d)
    torch.testing.assert_close(ours(x, h), ref(x, h))
    with torch.no_grad():
        ours.b_hn.zero_()
    assert not torch.allclose(ours(x, h), ref(x, h), atol=1e-3)
    paper = pt.GRUCell(d_in, d, reset_after=False)
    assert paper.b_hn is None and "b_hn" not in dict(paper.named_parameters())
    paper.load_state_dict({k: v for k, v in ours.state_dict().items() if k != "b_hn"})
    assert not torch.allclose(paper(x, h), ours(x, h), atol=1e-3)


def test_reset_after_bias_is_trained():
    """b_hn is a parameter of the model (the optimiser moves it), only with reset_after."""
    meta = make_meta(n_items=N)
    m = pt.GRU4Rec(meta, layers=(6,), n_sample=3, reset_after=True)
    assert any(p is m.cells[0].b_hn for p in m.parameters())
    opt = pt.IndexedAdagradM(m.parameters(), lr=0.1)
    for b in steps():
        opt.zero_grad()
        m.loss(b)[0].backward()
        opt.step()
    assert m.cells[0].b_hn.abs().sum() > 0
    assert "cells.0.b_hn" not in pt.GRU4Rec(meta, layers=(6,)).state_dict()


def test_retrieval_vectors_reproduce_the_scores():
    meta = make_meta(n_items=N)
    m = pt.GRU4Rec(meta, layers=(6,), n_sample=0).eval()
    b = next(steps())
    u = m.user_interests(b)
    m.reset_state()
    s = m(b)
    assert u.shape == (4, 1, 7)
    torch.testing.assert_close((u[:, 0] @ m.item_embeddings().T)[:, 1:], s[:, 1:])


def test_learns_on_builtin_sessions_beyond_most_popular():
    from recbook.baselines import MostPopular, eval_batches, evaluate_next_item, item_support
    from recbook.data.samples import SessionParallelBatches, load_sessions
    ds = load_sessions("synthetic")
    supp = item_support(ds.train.item, ds.meta.n_items)
    torch.manual_seed(0)
    m = pt.GRU4Rec(ds.meta, layers=(32,), n_sample=64, logq=1.0, item_support=supp,
                   sample_store_size=64 * 500)
    opt = pt.IndexedAdagradM(m.parameters(), lr=0.1)
    for i, b in enumerate(SessionParallelBatches(ds.train, 64)):
        if i == 300:
            break
        opt.zero_grad()
        m.loss(b)[0].backward()
        opt.step()
    m.eval()
    m.reset_state()
    test = ds.test[ds.test.session <= 400]
    with torch.no_grad():
        got = evaluate_next_item(lambda b: m(b).numpy(), eval_batches(test, 128))
    pop = evaluate_next_item(MostPopular(supp), eval_batches(test, 128))
    assert got["recall@20"] > pop["recall@20"] + 0.15, (got, pop)
    assert got["mrr@20"] > 2 * pop["mrr@20"], (got, pop)


def epoch_sessions():
    """Toy sessions over the N items whose last steps shrink a batch of 3 to 1 row."""
    from tests.test_gru4rec_losses import toy_sessions
    sess = toy_sessions([3, 2, 4, 2, 5, 2, 7, 3])
    sess["item"] = (sess["item"] * 7) % N + 1
    return sess


def test_a_shrinking_batch_keeps_every_rows_own_state():
    """Over one epoch of the default iterator (the batch shrinks at the end) each row's scores
    are those of its session run alone from its start: state_index narrows the state right."""
    from recbook.data.samples import SessionParallelBatches
    meta = make_meta(n_items=N)
    m = pt.GRU4Rec(meta, layers=(6,), n_sample=0).eval()
    alone = pt.GRU4Rec(meta, layers=(6,), n_sample=0).eval()
    alone.load_state_dict(m.state_dict())
    sess = epoch_sessions()
    want = {}  # (session, input position) -> scores with that session alone
    for s, g in sess.groupby("session"):
        alone.reset_state()
        for t, x in enumerate(g.item.to_numpy()):
            want[s, x, t] = alone({"input_item": np.array([x]), "reset": np.array([t == 0])})[0]
    pos, sizes = {}, []
    with torch.no_grad():
        for b in SessionParallelBatches(sess, 3):
            s = m(b)
            sizes.append(len(s))
            for r, (sid, x, reset) in enumerate(zip(b["session"], b["input_item"], b["reset"])):
                pos[sid] = 0 if reset else pos[sid] + 1
                torch.testing.assert_close(s[r], want[sid, x, pos[sid]])
    assert sizes[0] == 3 and sizes[-1] == 1


@pytest.mark.parametrize("loss", ["cross-entropy", "bpr-max"])
def test_loss_is_the_sum_over_rows_divided_by_the_full_batch_size(loss):
    """The official normalisation: Σ_rows L_s / B, also on the epoch's last, shrunken steps."""
    from recbook.data.samples import SessionParallelBatches
    meta = make_meta(n_items=N)
    args = dict(layers=(6,), n_sample=4, item_support=SUPP, sample_store_size=40, loss=loss,
                logq=1.0, elu_param=0.5, bpreg=0.5)
    m, ref = pt.GRU4Rec(meta, **args).eval(), pt.GRU4Rec(meta, **args).eval()
    ref.load_state_dict(m.state_dict())
    shrunk = 0
    for b in SessionParallelBatches(epoch_sessions(), 3):
        got, _ = m.loss(b)
        t = ref.prepare(b, ("target_item",))
        h = ref.step(t)
        R = ref.score_matrix(h, t["target_item"], torch.as_tensor(ref.store.get()))
        if loss == "cross-entropy":  # − Σ_s log softmax(R)_ss, written out
            per_row = -torch.log(torch.softmax(R, 1).diagonal())
        else:  # BPR-max with ELU, written out (CIKM'18 eq. and the official ELU)
            O = torch.nn.functional.elu(R, 0.5)
            eye = torch.eye(*O.shape, dtype=torch.bool)
            s = torch.softmax(O.masked_fill(eye, -np.inf), 1)
            r_i = O.diagonal()[:, None]
            per_row = -torch.log((torch.sigmoid(r_i - O) * s).sum(1)) + 0.5 * (s * O ** 2).sum(1)
        torch.testing.assert_close(got, per_row.sum() / 3)
        shrunk += len(h) < 3
    assert shrunk >= 2
    with pytest.raises(ValueError, match="full_size"):
        m.loss({**b, "full_size": np.int64(0)})


def test_state_index_errors_are_named():
    meta = make_meta(n_items=N)
    m = pt.GRU4Rec(meta, layers=(6,), n_sample=0)
    m({"input_item": np.array([1, 2, 3]), "reset": np.array([True, True, True])})
    with pytest.raises(ValueError, match="state_index"):
        m({"input_item": np.array([1, 2]), "reset": np.array([False, False]),
           "state_index": np.array([0, 3])})
    with pytest.raises(ValueError, match="state_index"):
        m({"input_item": np.array([1, 2]), "reset": np.array([False, False]),
           "state_index": np.array([0])})
    s = m({"input_item": np.array([1, 2]), "reset": np.array([False, False]),
           "state_index": np.array([0, 2])})
    assert s.shape == (2, N + 1)
    with pytest.raises(ValueError, match="min_rows=2"):
        m.loss({"input_item": np.array([1]), "target_item": np.array([2]),
                "reset": np.array([False]), "state_index": np.array([0])})


def test_padding_row_stays_zero_and_a_padding_input_is_refused():
    """The item tables have no padding mask in the backward pass (it copied the whole sparse
    gradient every step): row 0 stays zero because no training step reads it."""
    from recbook.data.samples import SessionParallelBatches
    meta = make_meta(n_items=N)
    m = pt.GRU4Rec(meta, layers=(6,), n_sample=4, item_support=SUPP, sample_store_size=40)
    opt = pt.IndexedAdagradM(m.parameters(), lr=0.1, momentum=0.2)
    for b in SessionParallelBatches(epoch_sessions(), 3):
        opt.zero_grad()
        m.loss(b)[0].backward()
        opt.step()
    assert (m.W_y.table.weight[0] == 0).all() and (m.b_y.table.weight[0] == 0).all()
    assert (m.W_y.table.weight[1:] != 0).any()
    with pytest.raises(ValueError, match="padding id 0"):
        m.loss({"input_item": np.array([0, 2]), "target_item": np.array([2, 3]),
                "reset": np.array([True, True])})
