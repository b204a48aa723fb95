import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from recbook import viz  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _history(shift=0.0):
    return {"epoch": [1, 2, 3], "train_loss": [0.7, 0.6, 0.5], "valid_loss": [0.7, 0.65, 0.6],
            "train_auc": [0.6, 0.7, 0.75], "valid_auc": [0.6 + shift, None, 0.7]}


class _History:
    def as_dict(self):
        return _history()


def test_learning_curves_single_and_overlaid():
    fig = viz.learning_curves(_history())
    assert len(fig.axes) == 2
    assert len(fig.axes[0].lines) == 2  # train and valid loss
    fig = viz.learning_curves({"DIN": _history(), "Base": _History()}, metrics=("auc",))
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.lines) == 4
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {
        "DIN train", "DIN valid", "Base train", "Base valid"}
    assert np.isnan(ax.lines[1].get_ydata()[1])  # None becomes a gap


def test_learning_curves_errors():
    with pytest.raises(KeyError, match="gauc"):
        viz.learning_curves(_history(), metrics=("gauc",))
    bad = _history()
    bad["train_loss"] = [0.5]
    with pytest.raises(ValueError, match="train_loss"):
        viz.learning_curves(bad)


class _FakeTensor:
    """Quacks like a torch tensor that requires grad: np.asarray alone would not do."""

    def __init__(self, a):
        self.a = a

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.a


def test_attention_heatmap_padding_truth_and_empty_row():
    hist = np.array([[3, 7, 9, 0], [4, 0, 0, 0], [0, 0, 0, 0]])  # last row: no history at all
    w = np.array([[0.2, 0.5, 0.3, 0.9], [1.0, 0.4, 0.4, 0.4], [0.25, 0.25, 0.25, 0.25]])
    truth = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], bool)
    fig = viz.attention_heatmap(w, hist, truth=truth, title="DIN")
    assert len(fig.axes) == 2  # heatmap and colorbar
    ax = fig.axes[0]
    shown = ax.images[0].get_array()
    assert shown.mask.tolist() == (hist == 0).tolist()  # padded cells are blank
    assert len(ax.patches) == 2  # one box per relevant position
    assert sorted(t.get_text() for t in ax.texts) == ["3", "4", "7", "9"]
    # every row padded, a torch-like tensor, column labels
    fig = viz.attention_heatmap(_FakeTensor(np.zeros((2, 3))), ["a", "b", "c"],
                                mask=np.zeros((2, 3), bool))
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="weights"):
        viz.attention_heatmap(np.zeros(3))
    with pytest.raises(ValueError, match="labels"):
        viz.attention_heatmap(np.zeros((2, 3)), np.zeros(5))


def test_tsne_embeddings_legend_and_colorbar():
    rng = np.random.default_rng(0)
    labels = np.repeat([1, 2, 3], 20)
    emb = rng.normal(size=(60, 5)) + labels[:, None] * 4.0
    fig = viz.tsne_embeddings(emb, labels, n=45, seed=0, label_names={1: "a", 2: "b", 3: "c"},
                              max_iter=250)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert {t.get_text() for t in ax.get_legend().get_texts()} <= {"a", "b", "c"}
    assert sum(len(c.get_offsets()) for c in ax.collections) == 45
    many = np.arange(30)  # more than 20 classes -> colorbar
    fig = viz.tsne_embeddings(rng.normal(size=(30, 4)), many, n=30, max_iter=250)
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="labels"):
        viz.tsne_embeddings(emb, labels[:10])


def test_metric_bars():
    res = {"Base": {"auc": 0.70, "gauc": 0.68}, "DIN": {"auc": 0.73, "gauc": 0.71},
           "DIEN": {"auc": 0.74}}
    fig = viz.metric_bars(res)
    assert len(fig.axes) == 2
    assert len(fig.axes[0].patches) == 3
    assert "0.7300" in [t.get_text() for t in fig.axes[0].texts]
    assert len(fig.axes[1].texts) == 2  # DIEN has no gauc: no value written
    with pytest.raises(KeyError, match="ndcg"):
        viz.metric_bars(res, metrics=["ndcg"])
