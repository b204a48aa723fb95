import math

import numpy as np
import pytest
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score

from recbook import metrics as M


# ---------------------------------------------------------------- AUC / GAUC / RelaImpr / logloss

@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    s = rng.integers(0, 6, 300) / 5.0  # only six distinct scores: many ties
    assert M.auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_auc_ties_count_half_and_constant_is_half():
    assert M.auc([1, 0], [0.3, 0.3]) == 0.5
    assert M.auc([1, 0, 0], [0.5, 0.5, 0.1]) == pytest.approx(0.75)
    assert M.auc([0, 1, 1, 0], np.full(4, 2.0)) == 0.5


def test_auc_errors():
    with pytest.raises(ValueError, match="both classes"):
        M.auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="0/1"):
        M.auc([2, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="length"):
        M.auc([1, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="NaN"):
        M.auc([1, 0], [np.nan, 0.2])


def test_gauc_by_hand():
    # user 1: 3 impressions, AUC 1; user 2: 4 impressions, pairs (p1>n1),(p1>n2),(p2<n1),(p2=n2)
    # -> AUC = (1 + 1 + 0 + 0.5) / 4 = 0.625; user 3: single class, skipped
    users = [1, 1, 1, 2, 2, 2, 2, 3, 3]
    labels = [1, 0, 0, 1, 1, 0, 0, 1, 1]
    scores = [0.9, 0.1, 0.2, 0.8, 0.3, 0.5, 0.3, 0.0, 0.0]
    expected = (3 * 1.0 + 4 * 0.625) / 7
    assert M.gauc(users, labels, scores) == pytest.approx(expected)
    # weights = labels: weight each user by its clicks (1 and 2)
    assert M.gauc(users, labels, scores, weights=labels) == pytest.approx((1 + 2 * 0.625) / 3)
    # order of the rows does not matter
    p = np.random.default_rng(0).permutation(9)
    assert M.gauc(np.array(users)[p], np.array(labels)[p], np.array(scores)[p]) == \
        pytest.approx(expected)


def test_gauc_needs_a_two_class_user():
    with pytest.raises(ValueError, match="at least one user"):
        M.gauc([1, 1, 2], [1, 1, 0], [0.1, 0.2, 0.3])


def test_relaimpr():
    assert M.relaimpr(0.75, 0.70) == pytest.approx(0.25 / 0.20 - 1)
    assert M.relaimpr(0.70, 0.70) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="0.5"):
        M.relaimpr(0.7, 0.5)


def test_log_loss_matches_sklearn_and_clips():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 50)
    p = rng.uniform(0.01, 0.99, 50)
    assert M.log_loss(y, p) == pytest.approx(sk_log_loss(y, p))
    assert math.isfinite(M.log_loss([1, 0], [0.0, 1.0]))
    assert M.log_loss([1, 0], [0.0, 1.0]) == pytest.approx(-math.log(1e-7), rel=1e-6)
    with pytest.raises(ValueError, match="logits"):
        M.log_loss([1, 0], [2.0, -1.0])


# ---------------------------------------------------------------- ranking metrics at K

def test_single_target_by_hand():
    ranked = np.array([[5, 3, 7], [1, 2, 4], [9, 8, 6]])
    target = np.array([3, 4, 1])  # positions 2, 3, miss
    assert M.recall_at_k(ranked, target, 3) == pytest.approx(2 / 3)
    assert M.hit_rate_at_k(ranked, target, 3) == pytest.approx(2 / 3)
    assert M.mrr_at_k(ranked, target, 3) == pytest.approx((1 / 2 + 1 / 3) / 3)
    assert M.ndcg_at_k(ranked, target, 3) == pytest.approx(
        (1 / math.log2(3) + 1 / math.log2(4)) / 3)
    assert M.recall_at_k(ranked, target, 2) == pytest.approx(1 / 3)


def test_target_sets_by_hand():
    ranked = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    truth = [{2, 4, 9}, {10, 11}]
    k = 4
    assert M.recall_at_k(ranked, truth, k) == pytest.approx((2 / 3 + 0) / 2)
    assert M.hit_rate_at_k(ranked, truth, k) == pytest.approx(0.5)
    assert M.mrr_at_k(ranked, truth, k) == pytest.approx((1 / 2) / 2)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal_truth = 1 + 1 / math.log2(3) + 1 / math.log2(4)  # min(|truth|=3, k=4) hits on top
    ideal_hits = 1 + 1 / math.log2(3)  # official ComiRec code: as many as the 2 hits
    assert M.ndcg_at_k(ranked, truth, k) == pytest.approx(dcg / ideal_truth / 2)
    assert M.ndcg_at_k(ranked, truth, k, ideal="hits") == pytest.approx(dcg / ideal_hits / 2)
    # a 0-padded matrix and repeated ids give the same answer as sets
    padded = np.array([[2, 4, 9, 4], [10, 11, 0, 0]])
    assert M.recall_at_k(ranked, padded, k) == pytest.approx((2 / 3) / 2)
    out = M.ranking_metrics(ranked, truth, ks=(2, 4))
    assert out["recall@4"] == pytest.approx(1 / 3) and out["recall@2"] == pytest.approx(1 / 6)


def test_recall_denominator_distinct_or_raw_with_repeated_future_items():
    """A user who revisits item 4 twice: the book divides by the 3 distinct future items,
    ComiRec's official evaluation by the 4 entries of the raw future list."""
    ranked = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    padded = np.array([[2, 4, 9, 4], [10, 11, 0, 0]])
    listed = [[2, 4, 9, 4], [10, 11]]
    for truth in (padded, listed):
        assert M.recall_at_k(ranked, truth, 4) == pytest.approx((2 / 3 + 0) / 2)
        assert M.recall_at_k(ranked, truth, 4, recall_denominator="raw") == pytest.approx(
            (2 / 4 + 0) / 2)
    # without repeats (and with sets, which cannot hold any) the two rules agree
    assert M.recall_at_k(ranked, [{2, 4, 9}, {10, 11}], 4, recall_denominator="raw") == \
        pytest.approx((2 / 3) / 2)
    # 0 padding is never part of the raw list; a user who came back 3 times to a hit item
    assert M.recall_at_k(np.array([[7, 1]]), np.array([[7, 7, 7, 0]]), 2,
                         recall_denominator="raw") == pytest.approx(1 / 3)
    out = M.ranking_metrics(ranked, padded, ks=(4,), recall_denominator="raw")
    assert out["recall@4"] == pytest.approx(1 / 4)
    # only recall changes: hit rate, NDCG and MRR read the distinct items either way
    base = M.ranking_metrics(ranked, padded, ks=(4,))
    assert {k: v for k, v in out.items() if k != "recall@4"} == \
        {k: v for k, v in base.items() if k != "recall@4"}
    with pytest.raises(ValueError, match="recall_denominator"):
        M.recall_at_k(ranked, padded, 4, recall_denominator="repeats")


def test_ndcg_ideal_is_capped_at_k():
    # five true items, all in a top-2 list -> NDCG 1 (the ideal counts min(5, 2) positions)
    assert M.ndcg_at_k(np.array([[1, 2]]), [{1, 2, 3, 4, 5}], 2) == pytest.approx(1.0)


def test_ranked_list_errors_and_zero_filler():
    with pytest.raises(ValueError, match="twice"):
        M.recall_at_k(np.array([[1, 1, 2]]), np.array([1]), 3)
    with pytest.raises(ValueError, match="k=4"):
        M.recall_at_k(np.array([[1, 2, 3]]), np.array([1]), 4)
    with pytest.raises(ValueError, match="no target"):
        M.recall_at_k(np.array([[1, 2, 3]]), [set()], 3)
    # 0 fills short lists and never hits, even against 0-padded truth
    assert M.recall_at_k(np.array([[0, 0, 3]]), np.array([[3, 0]]), 3) == 1.0
    assert M.hit_rate_at_k(np.array([[0, 0, 4]]), np.array([[3, 0]]), 3) == 0.0


# ---------------------------------------------------------------- full ranking

def test_rank_of_target_by_hand_and_padding_never_ranked():
    scores = np.array([[9.0, 0.5, 0.9, 0.1, 0.7]])  # column 0 (padding) has the top score
    assert M.rank_of_target(scores, [4]).tolist() == [2]
    assert M.rank_of_target(np.repeat(scores, 4, 0), [4, 2, 1, 3]).tolist() == [2, 1, 3, 4]
    with pytest.raises(ValueError, match="1..4"):
        M.rank_of_target(scores, [0])
    with pytest.raises(ValueError, match="1..4"):
        M.rank_of_target(scores, [5])


def test_constant_scores_do_not_get_perfect_metrics():
    b, n = 6, 50
    scores = np.zeros((b, n + 1))
    target = np.arange(1, b + 1)
    assert (M.rank_of_target(scores, target) == n).all()  # conservative: last
    assert (M.rank_of_target(scores, target, ties="median") == (n + 1) / 2).all()
    assert (M.rank_of_target(scores, target, ties="standard") == 1).all()  # why it is not default
    assert M.rank_metrics(M.rank_of_target(scores, target), ks=(20,))["recall@20"] == 0.0


def test_ties_partial():
    scores = np.array([[0.0, 0.9, 0.5, 0.5, 0.5, 0.1]])
    for ties, r in (("conservative", 4), ("standard", 2), ("median", 3)):
        assert M.rank_of_target(scores, [3], ties=ties).tolist() == [r]


def test_exclude_history():
    scores = np.array([[0.0, 0.9, 0.8, 0.7, 0.6], [0.0, 0.9, 0.8, 0.7, 0.6]])
    hist = np.array([[1, 2, 0], [1, 4, 0]])
    ranks = M.rank_of_target(scores, [3, 4], exclude=hist)
    assert ranks.tolist() == [1, 3]  # row 2: target 4 is in its history but is never removed
    assert M.rank_of_target(scores, [3, 4]).tolist() == [3, 4]


def test_rank_metrics_by_hand():
    out = M.rank_metrics(np.array([1, 2, 30]), ks=(20,))
    assert out["recall@20"] == pytest.approx(2 / 3)
    assert out["mrr@20"] == pytest.approx((1 + 0.5) / 3)
    assert out["ndcg@20"] == pytest.approx((1 + 1 / math.log2(3)) / 3)


def test_evaluate_full_ranking_streams_and_matches_one_shot():
    rng = np.random.default_rng(0)
    n_items, b = 40, 7
    emb = rng.normal(size=(n_items + 1, 4))
    batches = [{"user_vec": rng.normal(size=(b, 4)),
                "target_item": rng.integers(1, n_items + 1, b),
                "hist_items": np.c_[rng.integers(1, n_items + 1, (b, 3)), np.zeros((b, 2), int)]}
               for _ in range(3)]
    score_fn = lambda batch: batch["user_vec"] @ emb.T  # noqa: E731
    out = M.evaluate_full_ranking(score_fn, batches, ks=(5, 10), exclude_history=True)
    ranks = np.concatenate([M.rank_of_target(score_fn(x), x["target_item"], x["hist_items"])
                            for x in batches])
    assert out["n"] == 3 * b
    assert out["recall@5"] == pytest.approx(np.mean(ranks <= 5))
    assert out["mrr@10"] == pytest.approx(np.mean(np.where(ranks <= 10, 1 / ranks, 0)))
    with pytest.raises(KeyError, match="target_item"):
        M.evaluate_full_ranking(score_fn, [{"user_vec": batches[0]["user_vec"]}])


def test_sampled_rank():
    rng = np.random.default_rng(3)
    n_items, b = 500, 20
    scores = rng.normal(size=(b, n_items + 1))
    target = rng.integers(1, n_items + 1, b)
    full = M.rank_of_target(scores, target)
    sampled = M.sampled_rank(scores, target, n_negatives=100, seed=1)
    assert ((sampled >= 1) & (sampled <= 101)).all()
    assert (sampled <= full).all()  # fewer competitors can only improve the rank
    assert (sampled == M.sampled_rank(scores, target, n_negatives=100, seed=1)).all()
    # constant scores: the target is last among the 101 too
    assert (M.sampled_rank(np.zeros((2, 201)), [1, 2]) == 101).all()
    # popularity sampling only draws items with popularity > 0
    pop = np.zeros(n_items + 1)
    pop[1:102] = 1.0
    target = np.full(b, 1)
    sc = np.zeros((b, n_items + 1))
    sc[:, 1] = 1.0
    sc[:, 102:] = 2.0  # zero-popularity items score higher but are never drawn
    assert (M.sampled_rank(sc, target, popularity=pop) == 1).all()
    with pytest.raises(ValueError, match="candidate negatives"):
        M.sampled_rank(np.zeros((1, 11)), [1], n_negatives=100)
