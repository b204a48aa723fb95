"""recbook.analysis.bst: layouts, target rows and recency summaries on hand-made attention."""
import numpy as np
import pytest
import torch

from recbook.analysis import bst as an
from recbook.data import load_ctr
from recbook.torch import bst as pt_bst


def test_to_history_layout_moves_left_aligned_slots_back():
    # L = 4; row 0 has 2 behaviours (slots 2, 3), row 1 has 4
    rows = np.array([[0.0, 0.0, 0.3, 0.7], [0.1, 0.2, 0.3, 0.4]])
    out = an.to_history_layout(rows, np.array([2, 4]))
    np.testing.assert_allclose(out, [[0.3, 0.7, 0.0, 0.0], [0.1, 0.2, 0.3, 0.4]])
    heads = np.stack([rows, 2 * rows], 1)  # [N, h, L]
    np.testing.assert_allclose(an.to_history_layout(heads, np.array([2, 4]))[:, 1], 2 * out)
    with pytest.raises(ValueError, match="hist_len"):
        an.to_history_layout(rows, np.array([5, 1]))


def test_target_row_and_share_against_uniform():
    L, n = 4, np.array([3, 4])
    A = np.zeros((2, 1, L + 1, L + 1))
    A[0, 0, -1, 1:] = [0.6, 0.1, 0.1, 0.2]  # slots 1..3 = behaviours 0..2, then the target
    A[1, 0, -1] = [0.25, 0.25, 0.25, 0.25, 0.0]
    row = an.target_row(A, n)
    np.testing.assert_allclose(row[0, 0], [0.6, 0.1, 0.1, 0.0])
    relevant = np.array([[True, False, False, False], [True, False, False, False]])
    s = an.share_on(row, relevant, n)
    # row 0: 0.6 / 0.8 of its history weight on the relevant one; row 1: uniform 1/4
    assert s.value == pytest.approx((0.75 + 0.25) / 2)
    assert s.baseline == pytest.approx((1 / 3 + 1 / 4) / 2)
    np.testing.assert_allclose(an.per_head_share(row, relevant, n), [s.ratio])
    with pytest.raises(ValueError, match="L \\+ 1"):
        an.target_row(A[:, :, :-1], n)


def test_by_recency_is_one_for_uniform_and_finds_the_latest():
    n = np.array([3, 5])
    uniform = (np.arange(5)[None, :] < n[:, None]) / n[:, None]
    np.testing.assert_allclose(an.by_recency(uniform, n, k=3), [1, 1, 1])
    latest = np.zeros((2, 5))
    latest[0, 2], latest[1, 4] = 1.0, 1.0  # all weight on the most recent behaviour
    r = an.by_recency(latest, n, k=4)
    np.testing.assert_allclose(r[:3], [4.0, 0.0, 0.0])  # (3 + 5) / 2 on k = 1
    assert r[3] == 0.0  # only the 5-long row has a 4th most recent


def test_same_category_genre_labels_and_subsample():
    split = {"hist_cats": np.array([[2, 3, 2, 0]]), "hist_len": np.array([3]),
             "target_cat": np.array([2]), "label": np.array([1])}
    np.testing.assert_array_equal(an.same_category(split["hist_cats"], split["target_cat"],
                                                   split["hist_len"]),
                                  [[True, False, True, False]])
    names = ["", "Action", "Comedy", "Documentary"]
    assert an.genre_labels(split, 0, names, width=5) == ["Comed", "Docum", "Comed", "Comed"]
    big = {"a": np.arange(10), "b": np.arange(10) * 2}
    part = an.subsample(big, 4, seed=1)
    assert len(part["a"]) == 4 and (np.diff(part["a"]) > 0).all()
    np.testing.assert_array_equal(part["b"], 2 * part["a"])
    assert an.subsample(big, 20)["a"] is big["a"]
    with pytest.raises(ValueError, match="differ in length"):
        an.subsample({"a": np.arange(3), "b": np.arange(4)}, 2)


def test_self_attention_of_a_model_lines_up_with_relevant():
    data = load_ctr("synthetic", size="tiny", seed=0)
    model = pt_bst.BST(data.meta, item_dim=8, cat_dim=4, pos_dim=4, n_heads=2, mlp=(8,),
                       pooling="target")
    A = an.self_attention(model, data.test, batch_size=7)
    N, L = len(data.test["label"]), data.meta.max_len
    assert A.shape == (N, 2, L + 1, L + 1)
    np.testing.assert_allclose(A[:, :, -1].sum(-1), 1.0, atol=1e-5)  # the target row is a softmax
    row = an.target_row(A, data.test["hist_len"])
    real = np.arange(L)[None, :] < data.test["hist_len"][:, None]
    assert (row[:, 0][~real] == 0).all() and (row[:, 0][real] > 0).all()
    with torch.no_grad():
        direct = model(data.test, return_attention=True)[1]["self_attention"].numpy()
    np.testing.assert_allclose(A, direct, atol=1e-6)


def test_seed_table_and_per_seed():
    runs = {("A", 0): {"auc": 0.7, "gauc": 0.6, "epochs": 3, "seconds": 1.0},
            ("A", 1): {"auc": 0.8, "gauc": 0.6, "epochs": 5, "seconds": 3.0},
            ("B", 0): {"auc": 0.65, "gauc": 0.5, "epochs": 2, "seconds": 2.0}}
    t = an.seed_table(runs)
    assert list(t.index) == ["A", "B"]
    assert t.loc["A", "AUC"] == "0.7500 ± 0.0707" and t.loc["B", "AUC"] == "0.6500"
    assert t.loc["A", "best epoch"] == 4.0 and t.loc["A", "seeds"] == 2
    assert an.per_seed(runs, "auc") == {"A": {"auc": [0.7, 0.8]}, "B": {"auc": [0.65]}}
