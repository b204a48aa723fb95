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


# ------------------------------------------------------------------ figures that cannot mislead

def test_learning_curves_mark_the_best_epoch_and_keep_the_legend_outside():
    h = {"epoch": list(range(1, 41)), "train_loss": list(np.linspace(1, 0.2, 40)),
         "valid_auc": [0.6 + 0.01 * e - 0.0004 * e * e for e in range(1, 41)]}
    fig = viz.learning_curves({"DIN": h}, metrics=("loss", "auc"), monitor="valid_auc",
                              logy=("loss",))
    ax_loss, ax_auc = fig.axes
    assert len(ax_auc.lines[0].get_xdata()) == 40  # every epoch
    stars = [ln for ln in ax_auc.lines if ln.get_marker() == "*"]
    assert len(stars) == 1 and stars[0].get_xdata()[0] == 12  # argmax of 0.01 e - 0.0004 e^2
    assert any(list(ln.get_xdata()) == [12, 12] for ln in ax_auc.lines)  # the vertical line
    assert ax_loss.get_yscale() == "log"
    legend = ax_auc.get_legend()
    assert legend is not None and ax_loss.get_legend() is None  # one legend, on the last panel
    assert legend.get_bbox_to_anchor().x0 >= ax_auc.get_window_extent().x1 - 1  # beside it
    assert "best epoch (kept)" in [t.get_text() for t in legend.get_texts()]


def test_learning_curves_use_the_epoch_fit_kept():
    from recbook.training import History
    h = History("run")
    h.rows = [{"epoch": e, "train_loss": 1.0 / e, "valid_auc": 0.7} for e in (1, 2, 3)]
    h.best = dict(h.rows[1])
    fig = viz.learning_curves(h, metrics=("auc",))
    stars = [ln for ln in fig.axes[0].lines if ln.get_marker() == "*"]
    assert [s.get_xdata()[0] for s in stars] == [2]


def test_log_ticks_are_plain_numbers():
    fig, ax = plt.subplots()
    ax.plot([0.01, 100], [1, 2])
    viz.log_ticks(ax, "x")
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert "0.01" in labels and "100" in labels and not any("10^" in s for s in labels)
    with pytest.raises(ValueError, match="axis"):
        viz.log_ticks(ax, "z")


def test_uniform_scale_is_symmetric_around_one_and_uniform_looks_uniform():
    w = np.array([[0.25, 0.25, 0.25, 0.25], [0.5, 0.3, 0.2, 0.0]])
    mask = np.array([[1, 1, 1, 1], [1, 1, 1, 0]], bool)
    fig = viz.attention_heatmap(w, mask=mask, scale="uniform")
    im = fig.axes[0].images[0]
    assert im.norm.vmin * im.norm.vmax == pytest.approx(1.0)  # log-symmetric around 1
    assert im.norm.vmax == pytest.approx(2.0)  # min_range: small deviations stay pale
    shown = im.get_array()
    np.testing.assert_allclose(shown[0], 1.0)  # the uniform row is exactly the centre colour
    np.testing.assert_allclose(shown[1, :3], [1.5, 0.9, 0.6])
    assert shown.mask[1, 3]  # padding blank
    centre = im.cmap(im.norm(1.0))
    assert min(centre[:3]) > 0.9  # white-ish: uniform looks like nothing
    # BST's near-uniform rows (0.0475..0.0477 of 21 positions) stay pale, not full-range colour
    near = np.full((2, 21), 1 / 21) + np.r_[1e-4, -1e-4, np.zeros(19)][None]
    im = viz.attention_heatmap(near, scale="uniform").axes[0].images[0]
    assert np.ptp(im.norm(im.get_array())) < 0.01
    # raw DIN weights (negative) are shifted before the ratio; a wide range is capped
    im = viz.attention_heatmap(np.array([[-1.0, 0.0, 3.0]]), scale="uniform").axes[0].images[0]
    np.testing.assert_allclose(im.get_array()[0], [1 / 2.4, 0.6, 2.4])  # 0, 1, 4 -> 0, .2, .8
    im = viz.attention_heatmap(np.array([[1.0, 1.0, 100.0]]), scale="uniform",
                               max_range=8).axes[0].images[0]
    assert im.norm.vmax == pytest.approx(8.0) and im.get_array()[0, 0] == pytest.approx(1 / 8)
    with pytest.raises(ValueError, match="scale"):
        viz.attention_heatmap(w, scale="log")


def test_truth_outlines_are_drawn_in_two_colours():
    w = np.full((2, 3), 1 / 3)
    truth = np.array([[1, 0, 1], [0, 1, 0]], bool)
    mask = np.array([[1, 1, 1], [1, 0, 0]], bool)  # (1, 1) is relevant but padded: not drawn
    ax = viz.attention_heatmap(w, mask=mask, truth=truth, scale="uniform").axes[0]
    assert len(ax.patches) == 2
    for p in ax.patches:
        assert p.get_edgecolor()[:3] == (0.0, 0.0, 0.0) and not p.get_fill()
        halo = p.get_path_effects()[0]
        assert halo._gc["foreground"] == "white"  # white halo around the black line
    with pytest.raises(ValueError, match="truth"):
        viz.attention_heatmap(w, truth=truth[:, :2])


def test_example_rows_prefer_contrast():
    rel = np.array([[1, 1, 0, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 0, 0], [1, 1, 0, 0, 0]], bool)
    lens = np.array([5, 5, 5, 2])  # row 3: both real positions relevant
    np.testing.assert_array_equal(viz.example_rows(rel, hist_len=lens, n=2), [0, 2])
    np.testing.assert_array_equal(viz.example_rows(rel, hist_len=lens, n=3), [0, 1, 2])


def test_tsne_title_gives_the_purity_of_the_embedding():
    from recbook import measures
    rng = np.random.default_rng(0)
    labels = np.repeat([1, 2, 3], 20)
    emb = rng.normal(size=(60, 5)) + labels[:, None] * 4.0
    fig = viz.tsne_embeddings(emb, labels, n=30, max_iter=250)
    want = measures.neighbour_purity(emb, labels, k=10)  # all 60 rows, not the 30 drawn
    assert fig.purity.value == pytest.approx(want.value) and fig.purity.n == 60
    title = fig.axes[0].get_title()
    assert f"share {want.value:.2f} vs chance {want.baseline:.2f}" in title
    assert "5-d embedding" in title
    assert viz.tsne_embeddings(emb, labels, n=30, max_iter=250, purity_k=None).purity is None


def test_seed_bars_mean_std_and_baselines():
    res = {"DIN": {"share": [0.40, 0.44, 0.42]}, "DIEN": {"share": [0.30, 0.31, 0.32]}}
    fig = viz.seed_bars(res, baselines={"DIN": {"share": 0.3}, "DIEN": {"share": [0.3] * 3}},
                        baseline_name="uniform")
    ax = fig.axes[0]
    assert len(ax.patches) == 2
    assert ax.patches[0].get_height() == pytest.approx(0.42)
    assert "0.420 ± 0.020" in [t.get_text() for t in ax.texts]
    assert sum(len(ln.get_xdata()) for ln in ax.lines if ln.get_marker() == "o") == 6  # seeds
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["uniform"]
    assert "3 seeds" in ax.get_title()
    fig = viz.seed_bars({"a": [1.0], "b": [2.0, 3.0]}, baselines={"value": 0.5})
    assert "1/2 seeds" in fig.axes[0].get_title()
    with pytest.raises(KeyError, match="ndcg"):
        viz.seed_bars(res, metrics=["ndcg"])
    with pytest.raises(ValueError, match="no values"):
        viz.seed_bars({"a": {"m": []}})
