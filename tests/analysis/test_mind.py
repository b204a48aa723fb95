"""recbook.analysis.mind: routing read-out, capsule scores, one user's capsule tables."""
import numpy as np
import pandas as pd
import pytest
import torch

from recbook.analysis import mind as A
from recbook.data import load_next_item
from recbook.torch.mind import MIND
from recbook.torch.youtube_dnn import YouTubeDNN


@pytest.fixture(scope="module")
def data():
    return load_next_item("synthetic", max_len=12, seed=0, n_users=120)


@pytest.fixture(scope="module")
def model(data):
    torch.manual_seed(0)
    return MIND(data.meta, d=8, profile_dim=2, hidden=(8,), K=3, n_neg=10)


class ByCategory:
    """A stand-in MIND whose routing sends behaviour i to capsule hist_cats[i] % K: a known
    assignment (K'_u as Eq. 9 would give: all K capsules for the long rows used here)."""

    class extractor:
        K, sigma, iterations = 3, 1.0, 3

    def __call__(self, batch, return_attention=False, routing_logits=None):
        c = batch["hist_cats"] % self.extractor.K
        real = np.arange(c.shape[1]) < batch["hist_len"][:, None]
        w = np.eye(self.extractor.K)[c] * real[..., None]
        mask = np.ones((len(c), self.extractor.K), bool)
        return None, {"routing": w, "interest_mask": mask, "routing_iterations": w[:, None]}


def test_routing_repeats_for_a_seed_and_masks_padding(data, model):
    te = data.test
    w0, k0 = A.routing(model, te, seed=3)
    w1, _ = A.routing(model, te, seed=3, batch_size=7)  # batching does not change the draw
    w2, _ = A.routing(model, te, seed=4)
    np.testing.assert_allclose(w0, w1, atol=1e-6)
    assert not np.allclose(w0, w2)
    assert w0.shape == (len(te["user"]), 12, 3) and k0.shape == (len(te["user"]),)
    pad = np.arange(12)[None] >= te["hist_len"][:, None]
    assert (w0[pad] == 0).all()
    real = ~pad & (te["hist_len"] > 0)[:, None]
    np.testing.assert_allclose(w0[real].sum(-1), 1, atol=1e-5)


def test_known_assignment_gives_known_scores(data):
    te = data.test
    planted = [set(int(c) for c in row[:n]) for row, n in zip(te["hist_cats"], te["hist_len"])]
    got = A.alignment(ByCategory(), te, planted=planted)
    assert set(got) == {"nmi", "purity", "recovered"}
    # categories 1..n_cats folded onto 3 capsules: purity and NMI below 1 but far above chance
    assert got["nmi"].value > 2 * got["nmi"].baseline
    assert got["purity"].value > got["purity"].baseline


def test_perfect_routing_scores_one(data):
    te = {k: v.copy() for k, v in data.test.items()}
    te["hist_cats"] = np.where(te["hist_cats"] > 0, 1 + te["hist_cats"] % 3, 0)  # 3 categories
    got = A.alignment(ByCategory(), te)
    np.testing.assert_allclose(got["nmi"].value, 1.0)
    np.testing.assert_allclose(got["purity"].value, 1.0)


def test_nmi_by_iterations_restores_the_model(data, model):
    table = A.nmi_by_iterations(model, data.test, iterations=(1, 4))
    assert list(table.index) == [1, 4] and model.extractor.iterations == 3
    assert (table["random assignment"] > 0).all()
    with pytest.raises(ValueError, match="routing iterations must be >= 1"):
        with A.routing_iterations(model, 0):
            pass


def test_routing_needs_a_mind_model(data):
    with pytest.raises(TypeError, match="YouTubeDNN has no routing"):
        A.routing(YouTubeDNN(data.meta, d=8, profile_dim=2, hidden=(8,), n_neg=10), data.test)


def test_tables_of_one_user(data, model):
    te = data.test
    row = int(np.argmax(te["hist_len"] >= 8))
    names = {c: f"genre{c}" for c in range(data.meta.n_cats + 1)}
    table = A.routing_table(model, te, row, cat_names=names)
    assert table.shape[0] == te["hist_len"][row]
    assert "genre" in table.index[0] and table.columns.nlevels == 2
    caps = A.capsule_categories(model, te, row, data.meta.item_cat, cat_names=names, top=5)
    assert caps["behaviours"].sum() == te["hist_len"][row]
    assert all(sum(int(x.split()[-1]) for x in s.split(", ")) == 5
               for s in caps["top 5 retrieved"])


def test_planted_sets():
    interests = pd.DataFrame({"user": [1, 1, 2], "cat": [3, 4, 3]})
    assert A.planted_sets(interests, [2, 1, 9]) == [{3}, {3, 4}, set()]


def test_tensorflow_twin_routes_alike(data, model):
    tf_mind = pytest.importorskip("recbook.tf.mind")
    twin = tf_mind.MIND(data.meta, d=8, profile_dim=2, hidden=(8,), K=3, n_neg=10)
    twin({k: v[:2] for k, v in data.test.items()})  # build
    tf_mind.copy_from_torch(twin, model)
    w_torch, k_torch = A.routing(model, data.test, seed=1)
    w_tf, k_tf = A.routing(twin, data.test, seed=1)
    np.testing.assert_allclose(w_torch, w_tf, atol=1e-4)
    np.testing.assert_array_equal(k_torch, k_tf)


def test_seed_summaries():
    res = {("A", 0): {"r": 0.1}, ("A", 1): {"r": 0.3}, ("B", 0): {"r": 0.2}}
    assert A.by_model(res) == {"A": {"r": [0.1, 0.3]}, "B": {"r": [0.2]}}
    table = A.seed_table(res, ["r"])
    assert table.loc["A", "r"] == "0.2000 ± 0.1414" and table.loc["B", "seeds"] == 1
    with pytest.raises(KeyError, match="has no"):
        A.seed_table(res, ["r", "q"])
    with pytest.raises(ValueError, match="pairs"):
        A.by_model({"A": {"r": 1.0}})


def test_users_to_show_and_their_figure(data, model):
    te = data.test
    w, k = A.routing(model, te)
    rows = A.users_to_show(te, k, n=2, min_len=8, min_capsules=3)
    assert 0 < len(rows) <= 2
    for r in rows:
        assert te["hist_len"][r] >= 8 and k[r] >= 3
        assert (np.bincount(te["hist_cats"][r, :te["hist_len"][r]])[1:] >= 3).sum() >= 2
    fig = A.routing_figure(w, k, te, rows[0], marked={int(te["hist_cats"][rows[0], 0])})
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels[0].endswith("*") and len(labels) == te["hist_len"][rows[0]]


def test_runs_table():
    class H:
        def __init__(self, e):
            self.best = {"epoch": e}
    runs = A.Runs()
    for seed, (r, e) in enumerate([(0.1, 3), (0.3, 5)]):
        runs.results["A", seed] = {"r": r}
        runs.histories["A", seed] = H(e)
        runs.seconds["A", seed] = 2.0 + seed
    t = runs.table(["r"])
    assert t.loc["A", "best epochs"] == "3 5" and t.loc["A", "train s (mean)"] == 2.5
    assert list(runs.curves(1)) == ["A"] and runs.curves(1)["A"].best["epoch"] == 5
