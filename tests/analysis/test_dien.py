"""recbook.analysis.dien: the DIEN chapter's plumbing, on tiny data and a tiny model."""
import matplotlib
import numpy as np
import pytest
import torch

from recbook.analysis import dien as an
from recbook.data import load_ctr
from recbook.torch.dien import DIEN

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def tiny():
    data = load_ctr("synthetic", size="tiny", seed=0)
    torch.manual_seed(0)
    model = DIEN(data.meta, item_dim=4, cat_dim=4, profile_dim=2, hidden=6, att_hidden=(8,),
                 mlp=(8,), aux=(8,))
    return data, model


def test_recent_rows_keeps_each_users_last_rows_in_order():
    part = {"user": np.array([2, 1, 1, 2, 1, 2, 2]), "x": np.arange(7)}
    got = an.recent_rows(part, 2)
    assert got["x"].tolist() == [2, 4, 5, 6]  # user 1: rows 2, 4; user 2: rows 5, 6
    assert an.recent_rows(part, 10)["x"].tolist() == list(range(7))
    with pytest.raises(ValueError, match="per_user"):
        an.recent_rows(part, 0)


def test_same_category_and_shifted():
    part = {"hist_cats": np.array([[3, 1, 3, 3], [2, 2, 0, 0]]), "hist_len": np.array([4, 2]),
            "target_cat": np.array([3, 2])}
    same = an.same_category(part)
    assert same.tolist() == [[True, False, True, True], [True, True, False, False]]
    later = an.shifted(same, part["hist_len"], 1)
    assert later.tolist() == [[False, True, False, True], [False, True, False, False]]
    earlier = an.shifted(same, part["hist_len"], -1)
    assert earlier.tolist() == [[False, True, True, False], [True, False, False, False]]


def test_attention_weights_are_distributions_over_real_steps(tiny):
    data, model = tiny
    a = an.attention_weights(model, data.test, batch_size=7)
    L = data.test["hist_len"]
    real = np.arange(a.shape[1])[None, :] < L[:, None]
    assert a.shape == data.test["hist_items"].shape and isinstance(a, np.ndarray)
    np.testing.assert_allclose(a.sum(1)[L > 0], 1.0, atol=1e-5)
    assert (a[~real] == 0).all()


def test_evaluate_gives_auc_and_attention_share(tiny):
    data, model = tiny
    rel = data.test["relevant"]
    got = an.evaluate(model, data.test, rel)
    assert set(got) == {"auc", "gauc", "att_share"}
    assert 0 <= got["auc"] <= 1 and got["att_share"] > 0
    assert "att_share" not in an.evaluate(model, data.test)


def test_probe_candidates_repeats_one_row(tiny):
    data, _ = tiny
    items = [1, 2, 3]
    probe = an.probe_candidates(data.test, 0, items, data.meta.item_cat)
    assert probe["target_item"].tolist() == items
    assert probe["target_cat"].tolist() == data.meta.item_cat[items].tolist()
    assert (probe["hist_items"] == data.test["hist_items"][0]).all()


def test_interest_states_and_figure(tiny):
    data, model = tiny
    ev = data.source.events
    items, planted, lens = an.user_sequences(ev, [1, 2, 3], data.meta.max_len)
    assert items.shape == (3, data.meta.max_len) and (lens > 0).all()
    states = an.interest_states(model, items, lens, data.meta.item_cat)
    assert states.shape == (lens.sum(), 6)
    colour = planted[np.arange(data.meta.max_len)[None, :] < lens[:, None]]
    fig, r0 = an.interest_path_figure(an.pca2(states), colour, lens, "t")
    assert 0 <= r0 < 3 and len(fig.axes) == 2
    score = an.state_purity(states, colour, k=3)
    assert 0 <= score.value <= 1 and 0 <= score.baseline <= 1
    with pytest.raises(ValueError, match="sum"):
        an.interest_path_figure(an.pca2(states)[:-1], colour[:-1], lens, "t")


def test_seed_table_and_per_seed():
    runs = {"A": [{"auc": 0.7, "gauc": 0.6}, {"auc": 0.8, "gauc": 0.6}],
            "B": [{"auc": 0.5, "gauc": 0.5}]}
    t = an.seed_table(runs)
    assert t.loc["A", "auc mean"] == pytest.approx(0.75)
    assert t.loc["A", "auc std"] == pytest.approx(np.std([0.7, 0.8], ddof=1))
    assert t.loc["B", "auc std"] == 0 and t.loc["A", "seeds"] == 2
    assert an.per_seed(runs)["A"]["auc"] == [0.7, 0.8]
    with pytest.raises(ValueError, match="no runs"):
        an.seed_table({"C": []})


def test_item_embeddings_numpy(tiny):
    _, model = tiny
    e = an.item_embeddings(model)
    assert isinstance(e, np.ndarray) and e.shape == (model.meta.n_items + 1, 4)
    assert (e[0] == 0).all()


def test_pca2_rejects_bad_shapes():
    with pytest.raises(ValueError, match="pca2"):
        an.pca2(np.zeros(3))


def test_contrast_rows_prefer_mixed_rows():
    rel = np.zeros((6, 10), bool)
    rel[0, :9] = True   # nearly all relevant: no contrast
    rel[1, :3] = True   # 30 %
    rel[2, :4] = True   # 40 %
    rel[3, 5:] = True   # 50 %
    rel[4, :1] = True   # 10 %
    L = np.full(6, 10)
    assert sorted(an.contrast_rows(rel, L, n=3).tolist()) == [1, 2, 3]
    assert len(an.contrast_rows(rel, L, n=5)) == 5  # too few qualify: every row is a candidate
