"""recbook.measures: known attention / assignments / embeddings give the known score (perfect,
uniform, reversed), baselines are right, masks are respected, bad shapes name the argument."""
import numpy as np
import pytest

from recbook import measures as M

# two rows of 4 positions; row 1 has only 3 real positions
REL = np.array([[1, 1, 0, 0], [0, 1, 0, 0]], bool)
LEN = np.array([4, 3])


def test_attention_share_perfect_uniform_reversed():
    perfect = np.array([[0.5, 0.5, 0, 0], [0, 1, 0, 0.7]])  # the padded 0.7 must not count
    s = M.attention_share(perfect, REL, hist_len=LEN)
    assert s.value == pytest.approx(1.0) and s.baseline == pytest.approx((2 / 4 + 1 / 3) / 2)
    uniform = np.array([[0.25] * 4, [1 / 3] * 3 + [0.0]])
    s = M.attention_share(uniform, REL, hist_len=LEN)
    assert s.value == pytest.approx(s.baseline) and s.ratio == pytest.approx(1.0)
    reversed_ = np.array([[0, 0, 0.5, 0.5], [0.5, 0, 0.5, 0]])
    assert M.attention_share(reversed_, REL, hist_len=LEN).value == pytest.approx(0.0)
    # unnormalised softmax-like weights are normalised over the real positions
    s = M.attention_share(uniform * 7, REL, mask=np.arange(4)[None] < LEN[:, None])
    assert s.value == pytest.approx(s.baseline)
    np.testing.assert_allclose(s.per_row_baseline, [0.5, 1 / 3])


def test_attention_share_raw_weights_are_shifted_by_the_row_minimum():
    raw = np.array([[2.0, 1.0, -1.0, -1.0], [-3.0, -1.0, -3.0, 99.0]])  # negative: DIN-like
    s = M.attention_share(raw, REL, hist_len=LEN)
    # row 0: shifted 3, 2, 0, 0 -> share 1; row 1: 0, 2, 0 -> 1 (padding ignored)
    np.testing.assert_allclose(s.per_row, [1.0, 1.0])
    # a constant offset does not change anything; all-equal raw weights are uniform
    np.testing.assert_allclose(M.attention_share(raw + 5, REL, hist_len=LEN, shift="min").per_row,
                               [1.0, 1.0])
    flat = M.attention_share(np.full((2, 4), -2.0), REL, hist_len=LEN)
    assert flat.value == pytest.approx(flat.baseline)
    with pytest.raises(ValueError, match="negative"):
        M.attention_share(raw, REL, hist_len=LEN, shift="none")


def test_attention_share_leaves_out_rows_without_contrast():
    rel = np.array([[1, 1, 1, 0], [0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]], bool)
    lens = np.array([3, 4, 2, 0])  # all relevant / none relevant / all relevant / empty
    w = np.ones((4, 4))
    with pytest.raises(ValueError, match="no row counts"):
        M.attention_share(w, rel, hist_len=lens)
    rel[0, 2] = False  # row 0 now has 2 relevant of 3
    s = M.attention_share(w, rel, hist_len=lens)
    assert s.n == 1 and s.excluded == {"no real position": 1, "no relevant position": 1,
                                       "no irrelevant position": 1}
    assert "1 rows; 3 left out" in str(s)


def test_rank_corr_graded_binary_uniform_and_raw():
    graded = np.array([[3.0, 2.0, 1.0, 0.0], [0.0, 0.5, 0.2, 0.0]])
    same_order = np.array([[0.4, 0.3, 0.2, 0.1], [-1.0, 5.0, 2.0, 9.0]])  # raw, negative ok
    s = M.attention_rank_corr(same_order, graded, hist_len=LEN)
    np.testing.assert_allclose(s.per_row, [1.0, 1.0])
    assert s.baseline == 0.0
    assert M.attention_rank_corr(-same_order, graded, hist_len=LEN).value == pytest.approx(-1.0)
    assert M.attention_rank_corr(np.ones((2, 4)), graded, hist_len=LEN).value == 0.0
    # binary relevance, cross-checked with scipy on the real positions
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    w = rng.random((5, 6))
    rel = rng.random((5, 6)) < 0.4
    rel[:, 0], rel[:, 1] = True, False
    lens = np.array([6, 5, 4, 3, 2])
    s = M.attention_rank_corr(w, rel, hist_len=lens)
    want = [stats.spearmanr(w[b, :n], rel[b, :n]).statistic for b, n in enumerate(lens)]
    np.testing.assert_allclose(s.per_row, want)
    # constant relevance (here: no relevant position) is left out
    with pytest.raises(ValueError, match="constant relevance"):
        M.attention_rank_corr(w, np.zeros((5, 6)), hist_len=lens)


def test_nmi_and_purity_match_sklearn():
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    for _ in range(5):
        a, b = rng.integers(0, 4, 30), rng.integers(0, 3, 30)
        assert M.nmi(a, b) == pytest.approx(skm.normalized_mutual_info_score(a, b))
    assert M.nmi([1, 1, 2, 2], [7, 7, 3, 3]) == pytest.approx(1.0)
    assert M.nmi([1, 1, 1], [0, 0, 0]) == 1.0
    assert M.purity([1, 1, 2, 2], [0, 0, 0, 1]) == pytest.approx(3 / 4)


def test_capsule_alignment_perfect_and_random_baseline():
    cats = np.array([[3, 3, 5, 5, 7, 7, 0], [2, 2, 2, 4, 4, 4, 4]])
    lens = np.array([6, 7])
    perfect = np.array([[1, 1, 0, 0, 2, 2, 0], [0, 0, 0, 1, 1, 1, 1]])
    got = M.capsule_alignment(perfect, cats, hist_len=lens, n_perm=50)
    assert got["nmi"].value == pytest.approx(1.0) and got["purity"].value == pytest.approx(1.0)
    assert got["nmi"].baseline < 0.6 and got["purity"].baseline < 0.9
    # routing [B, T, K] -> argmax; restricting to n_interests capsules changes the argmax
    routing = np.zeros((2, 7, 3))
    routing[np.arange(2)[:, None], np.arange(7)[None], perfect] = 1.0
    same = M.capsule_alignment(routing, cats, hist_len=lens, n_perm=50)
    assert same["nmi"].value == pytest.approx(1.0)
    assert same["nmi"].baseline == pytest.approx(got["nmi"].baseline)  # same seed, same perms
    routing[0, 4:6, 0] = 0.5  # second choice of the last pair
    one = M.capsule_alignment(routing, cats, hist_len=lens, n_interests=np.array([2, 2]))
    np.testing.assert_array_equal(M.assignments(routing, np.array([2, 2]))[0, :6],
                                  [1, 1, 0, 0, 0, 0])
    assert one["nmi"].per_row[0] < 1.0
    # one capsule for everything: NMI 0 and it equals its baseline
    flat = M.capsule_alignment(np.zeros((2, 7), int), cats, hist_len=lens)
    assert flat["nmi"].value == 0.0 and flat["nmi"].baseline == 0.0
    # users with one category or a single capsule are left out and counted
    got = M.capsule_alignment(perfect, np.array([[3] * 7, [2, 2, 2, 4, 4, 4, 4]]),
                              hist_len=lens, n_interests=np.array([3, 3]))
    assert got["nmi"].n == 1 and got["nmi"].excluded == {"a single category": 1}


def test_interests_recovered():
    cats = np.array([[3, 3, 3, 5, 5, 5, 8, 8], [2, 2, 4, 4, 6, 6, 0, 0]])
    lens = np.array([8, 6])
    good = np.array([[0, 0, 0, 1, 1, 1, 2, 2], [0, 0, 0, 0, 0, 0, 0, 0]])
    planted = np.array([[3, 5, 9, 0], [2, 4, 0, 0]])  # 9 never occurs in user 0's history
    s = M.interests_recovered(good, cats, planted, hist_len=lens, n_perm=30)
    np.testing.assert_allclose(s.per_row, [1.0, 0.0])  # user 1: one capsule, no majority
    assert s.per_row_baseline[0] < 1.0
    s = M.interests_recovered(good, cats, [{3}, {7}], hist_len=lens)
    assert s.n == 1 and s.excluded == {"no planted interest among the behaviours": 1}
    with pytest.raises(ValueError, match="planted"):
        M.interests_recovered(good, cats, [{3}], hist_len=lens)


def test_neighbour_purity_perfect_random_and_padding():
    rng = np.random.default_rng(0)
    labels = np.r_[0, np.repeat([1, 2, 3, 4], 25)]  # row 0: padding
    centres = rng.normal(size=(5, 16)) * 10
    emb = centres[labels] + rng.normal(size=(101, 16))
    emb[0] = 0.0
    s = M.neighbour_purity(emb, labels, k=10)
    assert s.value == pytest.approx(1.0) and s.n == 100
    assert s.baseline == pytest.approx(24 / 99) and s.excluded == {"padding (label 0)": 1}
    noise = M.neighbour_purity(rng.normal(size=(101, 16)), labels, k=10)
    assert abs(noise.value - noise.baseline) < 0.08
    # unequal categories: chance is sum_c p_c (n_c - 1) / (N - 1)
    lab = np.r_[np.ones(30, int), np.full(10, 2)]
    s = M.neighbour_purity(rng.normal(size=(40, 4)), lab, k=5)
    assert s.baseline == pytest.approx((30 * 29 + 10 * 9) / 40 / 39)
    sample = M.neighbour_purity(emb, labels, k=10, n=20, seed=1)
    assert sample.n == 20 and sample.value == pytest.approx(1.0)


def test_over_seeds_and_mean_std():
    s = [M.attention_share(np.array([[v, 1 - v, 0.0]]), np.array([[1, 0, 0]]), hist_len=[2])
         for v in (0.6, 0.7, 0.8)]
    summary = M.over_seeds(s)
    assert summary.mean == pytest.approx(0.7) and summary.std == pytest.approx(0.1)
    assert summary.baseline_mean == pytest.approx(0.5) and summary.n_seeds == 3
    assert str(summary) == ("share on relevant 0.700 ± 0.100 vs uniform 0.500 ± 0.000 "
                            "(×1.40; 3 seeds)")
    assert M.mean_std([1.0, 2.0, 3.0], 2) == "2.00 ± 1.00 (3 seeds)"
    # a baseline of 0 (rank correlation of uniform weights) prints no ratio, never "×nan"
    corr = M.over_seeds([M.attention_rank_corr(np.array([[v, 1 - v, 0.1]]),
                                               np.array([[1, 0, 0]])) for v in (0.6, 0.7)])
    assert "nan" not in str(corr) and "(2 seeds)" in str(corr)
    with pytest.raises(ValueError, match="different measures"):
        M.over_seeds([s[0], M.attention_rank_corr(np.array([[0.6, 0.4]]), np.array([[1, 0]]))])


def test_bad_inputs_name_the_argument():
    w = np.ones((2, 4))
    with pytest.raises(ValueError, match="weights must have 2 dimensions"):
        M.attention_share(np.ones(4), REL)
    with pytest.raises(ValueError, match="relevant must have the shape"):
        M.attention_share(w, REL[:, :3])
    with pytest.raises(ValueError, match="hist_len"):
        M.attention_share(w, REL, hist_len=[5, 1])
    with pytest.raises(ValueError, match="mask must have shape"):
        M.attention_share(w, REL, mask=np.ones((2, 3), bool))
    with pytest.raises(ValueError, match="relevance"):
        M.attention_rank_corr(w, -np.ones((2, 4)))
    with pytest.raises(ValueError, match="cats must have shape"):
        M.capsule_alignment(np.zeros((2, 4), int), np.zeros((2, 3), int))
    with pytest.raises(ValueError, match="n_interests"):
        M.capsule_alignment(np.zeros((2, 4, 3)), np.ones((2, 4), int), n_interests=[4, 1])
    with pytest.raises(ValueError, match="labels must be"):
        M.neighbour_purity(np.ones((5, 2)), np.ones(4))
    with pytest.raises(ValueError, match="shift"):
        M.attention_share(w, REL, shift="max")
    with pytest.raises(ValueError, match="non-finite"):
        M.attention_share(np.full((2, 4), np.nan), REL)


def test_torch_tensors_are_converted():
    torch = pytest.importorskip("torch")
    w = torch.ones(2, 4, requires_grad=True)
    s = M.attention_share(w, torch.as_tensor(REL), hist_len=torch.as_tensor(LEN))
    assert s.value == pytest.approx(s.baseline)
