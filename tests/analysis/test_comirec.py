"""recbook.analysis.comirec: known inputs give the known assignments, counts and tables."""
import matplotlib
import numpy as np
import pandas as pd
import pytest

from recbook.analysis import comirec as ac

matplotlib.use("Agg")


class FakeModel:
    """Items 1..4: items 1, 2 along axis 0 (category 1), items 3, 4 along axis 1 (category 2).
    Interest 0 points along axis 0, interest 1 along axis 1."""

    def __init__(self, key="routing", mask=None):
        self.key, self.mask = key, mask

    def item_embeddings(self):
        return np.array([[0, 0], [1, 0], [2, 0], [0, 1], [0, 2]], dtype=float)

    def user_interests(self, batch):
        return np.tile(np.array([[1.0, 0.0], [0.0, 1.0]]), (len(batch["hist_items"]), 1, 1))

    def interest_mask(self, batch):
        if self.mask is not None:
            return self.mask[:len(batch["hist_items"])]
        return np.ones((len(batch["hist_items"]), 2), dtype=bool)

    def __call__(self, batch, return_attention=False):
        B, T = batch["hist_items"].shape
        w = np.zeros((B, T, 2))
        w[..., 0] = np.isin(batch["hist_items"], (1, 2))
        w[..., 1] = 1 - w[..., 0]
        if self.key == "attention":
            return None, {"attention": np.swapaxes(w, 1, 2)}
        return None, {self.key: w}


def arrays():
    hist = np.array([[1, 3, 2, 4], [3, 4, 1, 0]])
    cats = np.where(np.isin(hist, (1, 2)), 1, 2) * (hist > 0)
    return {"hist_items": hist, "hist_cats": cats, "hist_len": np.array([4, 3]),
            "user": np.array([7, 8]), "truth_len": np.array([1, 2])}


def test_extractor_weights_reads_routing_and_transposes_attention():
    a = arrays()
    r = ac.extractor_weights(FakeModel("routing"), a, batch_size=1)
    s = ac.extractor_weights(FakeModel("attention"), a)
    assert r.shape == (2, 4, 2) and np.array_equal(r, s)
    assert r[0, 0].tolist() == [1, 0] and r[0, 1].tolist() == [0, 1]
    with pytest.raises(KeyError, match="neither 'routing' nor 'attention'"):
        ac.extractor_weights(FakeModel("other"), a)


def test_readout_assignment_picks_the_closest_existing_interest():
    a = arrays()
    assert ac.readout_assignment(FakeModel(), a).tolist()[0] == [0, 1, 0, 1]
    only_first = np.array([[True, False], [True, False]])
    assert (ac.readout_assignment(FakeModel(mask=only_first), a) == 0).all()


def test_interest_scores_perfect_split_beats_random():
    a = arrays()
    got = ac.interest_scores(FakeModel(), a, planted=np.array([[1, 2], [2, 0]]))
    assert got["extractor NMI"].value == pytest.approx(1.0)
    assert got["retrieval NMI"].value == pytest.approx(1.0)
    assert got["retrieval NMI"].baseline < 1.0
    assert got["interests recovered"].value == pytest.approx(1.0)


def test_planted_at_history_end_asks_for_the_last_history_time():
    class Source:
        events = pd.DataFrame({"user": [7, 7, 7, 8, 8, 8], "time": [30, 10, 20, 5, 6, 7]})

        def held_interests(self, users, times):
            self.asked = (list(users), list(times))
            return np.array([[1, 0], [2, 3]]), None

    src = Source()
    out = ac.planted_at_history_end(src, arrays())
    assert src.asked == ([7, 8], [20, 5]) and out.tolist() == [[1, 0], [2, 3]]
    with pytest.raises(ValueError, match="built-in"):
        ac.planted_at_history_end(None, arrays())
    bad = dict(arrays(), truth_len=np.array([3, 2]))
    with pytest.raises(ValueError, match="truth_len 3"):
        ac.planted_at_history_end(src, bad)


def test_largest_interest_share():
    assert ac.largest_interest_share(np.array([[0, 0, 1, 1], [2, 2, 2, 0]]),
                                     [4, 2]) == pytest.approx((0.5 + 1.0) / 2)
    with pytest.raises(ValueError):
        ac.largest_interest_share(np.zeros((1, 3), int), [0])


def test_train_seeds_and_seed_table():
    def train_one(name, build, seed):
        return build(), {"seed": seed}, {"recall@50": 0.1 * seed + (name == "B")}

    runs = ac.train_seeds({"A": lambda: "a", "B": lambda: "b"}, train_one, seeds=(0, 1, 2))
    assert runs["A"]["test"]["recall@50"] == pytest.approx([0.0, 0.1, 0.2])
    assert runs["B"]["models"] == ["b"] * 3
    table = ac.seed_table(runs, ["recall@50"])
    assert table.loc["A", "recall@50"] == "0.1000 ± 0.1000"
    with pytest.raises(ValueError):
        ac.train_seeds({}, train_one)


def test_lambda_figure_two_panels_and_shape_check():
    lams = [0, 0.1, 1]
    fig = ac.lambda_figure({"SA": np.random.default_rng(0).random((3, 3, 2))}, lams)
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["0", "0.1", "1"]
    with pytest.raises(ValueError, match=r"\[seeds, 3, 2\]"):
        ac.lambda_figure({"SA": np.zeros((3, 2, 2))}, lams)


def test_interest_genres_counts_every_genre_of_a_film():
    genres = [[], ["Action", "Comedy"], ["Drama"], ["Comedy"]]
    names = ["", "Action", "Comedy", "Drama"]
    t = ac.interest_genres([0, 1, 0, 3], [1, 2, 3, 2], 3, genres, names)
    assert t.index.tolist() == ["interest 0", "interest 1"]
    assert t.columns.tolist() == ["Action", "Comedy", "Drama"]
    assert t.loc["interest 0"].tolist() == [1, 2, 0] and t.loc["interest 1"].tolist() == [0, 0, 1]


def test_subsample_keeps_a_fraction_in_order():
    a = {"x": np.arange(1000), "y": np.arange(1000) * 2}
    s = ac.subsample(a, 0.25)
    assert 150 < len(s["x"]) < 350 and np.array_equal(s["y"], s["x"] * 2)
    assert (np.diff(s["x"]) > 0).all() and ac.subsample(a, None) is a
    with pytest.raises(ValueError, match="frac"):
        ac.subsample(a, 1.5)


def test_count_heatmap_writes_every_count():
    t = pd.DataFrame([[1, 0], [2, 5]], index=["interest 0", "interest 1"], columns=["A", "B"])
    fig = ac.count_heatmap(t, "x")
    texts = [x.get_text() for x in fig.axes[0].texts]
    assert sorted(texts) == ["0", "1", "2", "5"]
