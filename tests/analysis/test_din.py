"""recbook.analysis.din: the DIN chapter's plumbing."""
import numpy as np
import pytest

from recbook.analysis import din as A
from recbook.data import load_ctr


@pytest.fixture(scope="module")
def data():
    return load_ctr("synthetic", size="tiny", seed=0)


class Fake:
    """Returns its candidate id as the weight of every real position."""

    def __call__(self, batch, return_attention=False):
        w = np.where(np.arange(batch["hist_items"].shape[1])[None] < batch["hist_len"][:, None],
                     batch["target_item"][:, None].astype(float), 0.0)
        return np.zeros(len(w)), {"activation": w}


def test_activation_weights_in_order_across_batches(data):
    split = data.test
    w = A.activation_weights(Fake(), split, batch_size=3)
    real = np.arange(w.shape[1])[None] < split["hist_len"][:, None]
    assert w.shape == split["hist_items"].shape
    assert np.array_equal(w, np.where(real, split["target_item"][:, None], 0))


def test_activation_weights_torch_matches_direct_call(data):
    torch = pytest.importorskip("torch")
    from recbook.torch.din import DIN
    torch.manual_seed(0)
    model = DIN(data.meta, item_dim=4, cat_dim=4, profile_dim=2, mlp=(8,), att_hidden=(8,))
    w = A.activation_weights(model, data.test, batch_size=5)
    with torch.no_grad():
        direct = model(data.test, return_attention=True)[1]["activation"].numpy()
    assert np.allclose(w, direct, atol=1e-6)
    assert not model.training


def test_activation_weights_errors(data):
    class NoActivation:
        def __call__(self, batch, return_attention=False):
            return None, {"attention": None}
    with pytest.raises(KeyError, match="activation"):
        A.activation_weights(NoActivation(), data.test)


def test_rows_and_subsample(data):
    split = data.train
    n = len(split["label"])
    part = A.rows(split, [2, 0])
    assert part["user"].tolist() == [split["user"][2], split["user"][0]]
    sub = A.subsample(split, 10, seed=1)
    assert len(sub["label"]) == 10 and set(sub) == set(split)
    again = A.subsample(split, 10, seed=1)
    assert all(np.array_equal(sub[k], again[k]) for k in sub)
    assert len(A.subsample(split, n + 5)["label"]) == n
    with pytest.raises(IndexError, match="row indices"):
        A.rows(split, [n])
    with pytest.raises(ValueError, match="bool row mask"):
        A.rows(split, np.ones(n + 1, bool))
    with pytest.raises(ValueError, match="n must be"):
        A.subsample(split, 0)


def test_same_category():
    split = {"hist_cats": np.array([[1, 2, 1, 0], [3, 3, 0, 0]]),
             "hist_len": np.array([3, 1]), "target_cat": np.array([1, 3])}
    assert A.same_category(split).tolist() == [[True, False, True, False],
                                               [True, False, False, False]]


def test_popular_item_and_probe(data):
    split, meta = data.train, data.meta
    cat = int(split["target_cat"][split["label"] > 0][0])
    item = A.popular_item(split, cat)
    assert meta.item_cat[item] == cat
    clicked = split["target_item"][(split["label"] > 0) & (split["target_cat"] == cat)]
    assert (clicked == item).sum() == np.bincount(clicked).max()
    with pytest.raises(ValueError, match="category 999"):
        A.popular_item(split, 999)
    p = A.probe(split, 3, [item, 1], meta)
    assert p["target_item"].tolist() == [item, 1]
    assert p["target_cat"].tolist() == [cat, meta.item_cat[1]]
    assert (p["hist_items"] == split["hist_items"][3]).all()
    with pytest.raises(ValueError, match="item ids must lie"):
        A.probe(split, 0, [meta.n_items + 1], meta)


def test_seed_table_and_per_metric():
    runs = {"Base": [{"auc": 0.7, "gauc": 0.6}, {"auc": 0.8, "gauc": 0.6}],
            "DIN": [{"auc": 0.9, "gauc": 0.7}]}
    t = A.seed_table(runs, digits=2)
    assert t.loc["Base", "AUC"] == "0.75 ± 0.07" and t.loc["DIN", "GAUC"] == "0.70 ± 0.00"
    assert t.loc["Base", "seeds"] == 2
    assert A.per_metric(runs)["Base"] == {"auc": [0.7, 0.8], "gauc": [0.6, 0.6]}
    with pytest.raises(ValueError, match="'X' has no runs"):
        A.seed_table({"X": []})


def test_weight_groups():
    split = {"hist_cats": np.array([[1, 2, 1, 0], [3, 3, 4, 0]]),
             "hist_len": np.array([3, 3]), "target_cat": np.array([1, 3])}
    w = np.array([[4.0, 0.0, 2.0, 9.0], [6.0, 1.0, 3.0, 9.0]])
    rel = np.array([[True, False, False, False], [True, False, False, False]])
    g = A.weight_groups(w, split, rel)
    assert g.loc["relevant", "mean"] == 5.0 and g.loc["relevant", "positions"] == 2
    assert g.loc["same category, not relevant", "mean"] == 1.5
    assert g.loc["other category", "mean"] == 1.5 and g.loc["other category", "std"] == 1.5
    g2 = A.weight_groups(w, split)
    assert list(g2.index) == ["same category", "other category"]
    assert g2.loc["same category", "positions"] == 4
    with pytest.raises(ValueError, match="history shape"):
        A.weight_groups(w[:, :3], split)


def test_ctr_scores_and_variant_table():
    split = {"user": np.array([1, 1, 2, 2]), "label": np.array([1.0, 0.0, 0.0, 1.0])}
    s = A.ctr_scores(split, np.array([0.9, 0.1, 0.8, 0.2]))
    assert s["auc"] == 0.75 and s["gauc"] == 0.5
    res = {"Base": {"auc": 0.7, "gauc": 0.6, "seconds": 2.0},
           "DIN": {"auc": 0.8, "gauc": 0.6, "seconds": 4.0}}
    t = A.variant_table(res, n_train=100)
    assert t.loc["DIN", "RelaImpr AUC %"] == 50.0 and t.loc["DIN", "samples / s"] == 25
    with pytest.raises(KeyError, match="base model 'X'"):
        A.variant_table(res, 100, base="X")


def test_architecture_figure_has_both_panels():
    import matplotlib
    matplotlib.use("Agg")
    fig = A.architecture_figure()
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Base: sum pooling (eq. 1)", "DIN: weighted sum, weights from the ad"]
    texts = [t.get_text() for t in fig.axes[1].texts]
    assert texts.count("a(e_j, v_A)") == 3 and "Σ w_j e_j  (eq. 3)" in texts


def test_describe(data):
    text = A.describe(data)
    assert text.startswith(f"synthetic: {data.meta.n_users} users")
    assert "source: generated by recbook.data.synthetic" in text
    assert f"train {len(data.train['label'])}," in text and "planted:" in text
