"""GRU4Rec losses, sample store and baselines: each against a hand computation."""
import math

import numpy as np
import pytest
import torch

import recbook  # noqa: F401
import tensorflow as tf

from recbook.baselines import (ItemKNN, MostPopular, SampleStore, eval_batches,
                               evaluate_next_item, item_support)
from recbook.torch import gru4rec_losses as L_pt
from recbook.tf import gru4rec_losses as L_tf

# Row 0's target is column 0, row 1's target column 1; column 2 is an extra sample.
R = np.array([[2.0, 0.5, -1.0],
              [1.0, 0.0, 3.0]], dtype=np.float32)


def sig(x):
    return 1 / (1 + math.exp(-x))


def hand(name):
    rows = []
    for i in range(2):
        r_i = R[i, i]
        negs = [R[i, j] for j in range(3) if j != i]
        e = [math.exp(x) for x in negs]
        s = [x / sum(e) for x in e]
        if name == "cross-entropy":
            rows.append(-math.log(math.exp(r_i) / sum(math.exp(x) for x in R[i])))
        elif name == "bpr":
            rows.append(-sum(math.log(sig(r_i - r)) for r in negs) / 2)
        elif name == "top1":
            rows.append(sum(sig(r - r_i) + sig(r * r) for r in negs) / 2)
        elif name == "top1-max":
            rows.append(sum(w * (sig(r - r_i) + sig(r * r)) for w, r in zip(s, negs)))
        elif name == "bpr-max":  # λ = 0.5
            rows.append(-math.log(sum(w * sig(r_i - r) for w, r in zip(s, negs)))
                        + 0.5 * sum(w * r * r for w, r in zip(s, negs)))
    return sum(rows) / 2


@pytest.mark.parametrize("name", L_pt.LOSSES)
def test_each_loss_equals_hand_computation(name):
    want = hand(name)
    got_pt = float(L_pt.gru4rec_loss(name, torch.tensor(R), bpreg=0.5))
    got_tf = float(L_tf.gru4rec_loss(name, tf.constant(R), bpreg=0.5))
    assert got_pt == pytest.approx(want, rel=1e-5)
    assert got_tf == pytest.approx(want, rel=1e-5)


def test_unknown_loss_is_named():
    with pytest.raises(ValueError, match="top2"):
        L_pt.gru4rec_loss("top2", torch.tensor(R))


def test_pairwise_losses_vanish_with_many_negatives_max_losses_do_not():
    """The CIKM'18 argument: averaged over many easy negatives, TOP1/BPR's gradient on the
    target score shrinks like 1/N_S; the softmax weights of the -max losses keep it."""
    rng = np.random.default_rng(0)
    grads = {}
    for n in (10, 1000):
        R = torch.tensor(np.c_[np.zeros(1), rng.normal(-10, 1, (1, n))], dtype=torch.float32)
        R[0, 1] = 1.0  # one hard negative among easy ones
        for name in ("top1", "bpr", "top1-max", "bpr-max"):
            Rg = R.clone().requires_grad_(True)
            L_pt.gru4rec_loss(name, Rg).backward()
            grads[name, n] = abs(float(Rg.grad[0, 0]))
    for name in ("top1", "bpr"):
        assert grads[name, 1000] < grads[name, 10] / 20
    for name in ("top1-max", "bpr-max"):
        assert grads[name, 1000] > grads[name, 10] / 2


def test_sample_store_never_returns_padding_and_follows_support():
    supp = np.array([50, 0, 1, 10, 100, 0], dtype=float)  # supp[0] is ignored (padding)
    store = SampleStore(supp, n_sample=100, alpha=0.5, store_size=1000, seed=0)
    draws = np.concatenate([store.get() for _ in range(300)])  # refills 30 times
    assert draws.min() >= 1 and not np.isin(draws, [1, 5]).any()
    freq = np.bincount(draws, minlength=6)[1:] / len(draws)
    want = np.array([0, 1, 10, 100, 0]) ** 0.5 / (1 + 10 ** 0.5 + 10)
    np.testing.assert_allclose(freq, want, atol=0.01)


def test_sample_store_rejects_bad_support():
    with pytest.raises(ValueError, match="support"):
        SampleStore(np.zeros(4), n_sample=2)


def test_item_knn_and_popularity_by_hand():
    # sessions: [1, 2], [1, 2, 3], [3, 4]
    sid = np.array([1, 1, 2, 2, 2, 3, 3])
    items = np.array([1, 2, 1, 2, 3, 3, 4])
    supp = item_support(items, 4)
    np.testing.assert_array_equal(supp, [0, 2, 2, 2, 1])
    knn = ItemKNN(sid, items, 4, lmbd=0.0, alpha=0.5)
    s = knn({"input_item": np.array([1, 3])})
    np.testing.assert_allclose(s[0], [0, 0, 2 / 2, 1 / 2, 0])  # cooc(1,2)=2, cooc(1,3)=1
    np.testing.assert_allclose(s[1], [0, 1 / 2, 1 / 2, 0, 1 / math.sqrt(2)])
    pop = MostPopular(supp)({"input_item": np.array([4])})
    np.testing.assert_array_equal(pop, [[0, 2, 2, 2, 1]])


def test_item_knn_counts_repeats_as_the_official_code():
    """Official CoOccurence: each event of item i counts the distinct items of its session, so
    with a repeat (session [1, 2, 1]) cooc(1, 2) = 2 but cooc(2, 1) = 1 (SᵀS would give 2)."""
    sid = np.array([1, 1, 1, 2, 2, 3, 3])
    items = np.array([1, 2, 1, 1, 3, 2, 3])  # sessions [1, 2, 1], [1, 3], [2, 3]
    knn = ItemKNN(sid, items, 3, lmbd=0.0, alpha=0.5)
    s = knn({"input_item": np.array([1, 2])})
    supp = np.array([0, 3, 2, 2.0])  # supp_1 = 3 events
    np.testing.assert_allclose(s[0], [0, 0, 2 / np.sqrt(3 * 2), 1 / np.sqrt(3 * 2)])
    np.testing.assert_allclose(s[1], [0, 1 / np.sqrt(supp[2] * supp[1]), 0, 1 / 2])


def test_eval_batches_visit_every_event_once_and_reset_exactly_at_starts():
    import pandas as pd
    lens = [2, 5, 3, 2, 4]
    sid = np.repeat(np.arange(1, 6), lens)
    items = np.arange(1, len(sid) + 1)
    sess = pd.DataFrame({"session": sid, "item": items, "time": np.arange(len(sid))})
    first = {s: items[sid == s][0] for s in range(1, 6)}
    seen = []
    for b in eval_batches(sess, 2):
        v = b["valid"]
        for x, y, r in zip(b["input_item"][v], b["target_item"][v], b["reset"][v]):
            assert y == x + 1 and sid[y - 1] == sid[x - 1]  # target: next event, same session
            assert r == (x == first[sid[x - 1]])  # reset exactly at a session's first event
            seen.append(y)
    want = [i for i in items if i != first[sid[i - 1]]]  # every event but each session's first
    assert sorted(seen) == want


def test_evaluate_next_item_metrics_by_hand():
    def rec(batch):  # ranks the target 1st for row 0 and 3rd for row 1
        return np.array([[0, 5, 1, 1, 1], [0, 5, 4, 3, 0]], float)
    batch = {"input_item": np.array([1, 1]), "target_item": np.array([1, 3]),
             "reset": np.array([True, True])}
    out = evaluate_next_item(rec, [batch], k=2)
    assert out["recall@2"] == 0.5 and out["mrr@2"] == 0.5
    out = evaluate_next_item(rec, [batch], k=3)
    assert evaluate_next_item(rec, [{**batch, "valid": np.array([True, False])}], k=1)[
        "recall@1"] == 1.0  # idle rows are skipped
    assert out["mrr@3"] == pytest.approx((1 + 1 / 3) / 2)
    assert out["ndcg@3"] == pytest.approx((1 + 1 / 2) / 2)


def test_exercise_checkers_accept_the_reference_and_reject_a_wrong_answer(capsys):
    from recbook.exercises import gru4rec as ex
    R = np.random.default_rng(0).normal(0, 2, (3, 5))
    want = float(L_pt.bpr_max(torch.tensor(R), bpreg=0.7))
    assert ex.bpr_max_reference(R, 0.7) == pytest.approx(want, rel=1e-6)
    assert ex.check_bpr_max(ex.bpr_max_reference)
    assert not ex.check_bpr_max(lambda R, bpreg: ex.bpr_max_reference(R, 0.0))
    assert ex.check_logq(ex.logq_reference)
    assert not ex.check_logq(lambda R, ids, support, alpha: R - np.log(support[ids])[None, :])
    assert "✗" in capsys.readouterr().out


def toy_sessions(lens):
    """Sessions 1.. of the given lengths; item ids count the events 1, 2, ... in order."""
    import pandas as pd
    sid = np.repeat(np.arange(1, len(lens) + 1), lens)
    return pd.DataFrame({"session": sid, "item": np.arange(1, len(sid) + 1),
                         "time": np.arange(len(sid))})


def test_one_epoch_visits_every_target_once_and_the_batch_shrinks_at_the_end():
    from recbook.data.samples import SessionParallelBatches
    sess = toy_sessions([3, 2, 4, 2, 5, 2, 7])
    sid, items = sess.session.to_numpy(), sess.item.to_numpy()
    first = {s: items[sid == s][0] for s in np.unique(sid)}
    prev, targets, sizes = None, [], []
    for step, b in enumerate(SessionParallelBatches(sess, 3)):
        assert step < len(items)  # it ends
        assert b["full_size"] == 3 and len(b["state_index"]) == len(b["input_item"])
        sizes.append(len(b["input_item"]))
        for x, y, r, k in zip(b["input_item"], b["target_item"], b["reset"], b["state_index"]):
            assert y == x + 1 and sid[y - 1] == sid[x - 1]  # the next event of the same session
            assert r == (x == first[sid[x - 1]])  # reset exactly where a session starts
            if not r:
                assert prev[k] == x - 1  # the row carries on the state of its own session
            targets.append(y)
        prev = b["input_item"]
    # every target (every event but a session's first) exactly once
    assert sorted(targets) == sorted(set(items) - set(first.values()))
    assert sizes[0] == 3 and sizes[-1] == 1 and sizes == sorted(sizes, reverse=True)
    # the ICLR'16 ending stops when a row finds no session left: the same steps until then,
    # and the running sessions' tails (here 9 of the 18 targets) are never trained on
    full = [b["target_item"].tolist() for b in SessionParallelBatches(sess, 3)]
    cut = [b["target_item"].tolist() for b in SessionParallelBatches(sess, 3, shrink=False)]
    assert cut == full[:len(cut)] and all(len(t) == 3 for t in cut)
    assert sum(map(len, cut)) == 9 and len(full[len(cut)]) < 3
    # min_rows=2 (no extra samples: a lone row has no negative) stops before the 1-row steps
    two = [len(b["reset"]) for b in SessionParallelBatches(sess, 3, min_rows=2)]
    assert min(two) == 2 and len(two) == sizes.index(1)
    with pytest.raises(ValueError, match="min_rows"):
        SessionParallelBatches(sess, 3, min_rows=4)
