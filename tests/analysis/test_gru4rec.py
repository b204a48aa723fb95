import numpy as np
import pandas as pd
import pytest

from recbook.analysis import gru4rec as g
from recbook.config import preset


@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_item_vectors_are_the_item_table_in_either_framework(framework):
    pytest.importorskip("torch" if framework == "torch" else "tensorflow")
    import importlib

    from recbook.data import load_sessions

    build = importlib.import_module(f"recbook.{framework}").build
    meta = load_sessions("synthetic", seed=0).meta
    model = build("gru4rec", "quick", meta)
    table = model.W_y.table.weight if framework == "torch" else model.W_y.table.embeddings
    w = g.item_vectors(model)
    assert isinstance(w, np.ndarray) and w.shape == (meta.n_items + 1, 64)
    np.testing.assert_array_equal(w, g.to_numpy(table))


def test_last_events_keeps_each_sessions_tail_in_order():
    df = pd.DataFrame({"session": [1, 1, 1, 2, 2, 3], "item": [1, 2, 3, 4, 5, 6]})
    out = g.last_events(df, 2)
    assert out.item.tolist() == [2, 3, 4, 5, 6]
    with pytest.raises(ValueError, match="n must be"):
        g.last_events(df, 1)
    with pytest.raises(KeyError, match="session"):
        g.last_events(df.drop(columns="session"), 2)


def test_run_seeds_collects_metrics_histories_and_purity():
    labels = np.array([0] + [1] * 20 + [2] * 20)
    clustered = np.zeros((41, 2))
    clustered[1:21, 0], clustered[21:, 1] = 1.0, 1.0  # two perfectly separated categories
    rng = np.random.default_rng(0)
    clustered[1:] += 0.01 * rng.normal(size=(40, 2))

    def run(seed):
        hist = {"epoch": [1, 2, 3], "train_loss": [3.0, 2.0, 1.0]}
        return hist, {"recall@20": 0.1 * seed, "mrr@20": 0.01}, clustered

    out = g.run_seeds(run, [1, 2, 3], labels, k=5)
    assert out.metrics["recall@20"] == pytest.approx([0.1, 0.2, 0.3])
    assert list(out.histories) == ["seed 1", "seed 2", "seed 3"] and out.epochs == [3, 3, 3]
    s = out.summary()
    assert s.mean == pytest.approx(1.0) and s.baseline_mean == pytest.approx(19 / 39)
    assert "×2.1" in g.purity_text(s) and "3 seeds" in g.purity_text(s)
    with pytest.raises(ValueError, match="at least one seed"):
        g.run_seeds(run, [], labels)


def test_mean_std_table_and_per_seed():
    res = {"a": {"recall@20": [0.1, 0.3], "mrr@20": [0.2, 0.2]}, "b": {"recall@20": 0.5,
                                                                       "mrr@20": 0.1}}
    t = g.mean_std_table(res, digits=2)
    assert t.loc["a", "recall@20"] == "0.20 ± 0.14" and t.loc["a", "runs"] == 2
    assert t.loc["b", "recall@20"] == "0.50" and t.loc["b", "runs"] == 1
    assert g.per_seed(res)["b"] == {"recall@20": [0.5], "mrr@20": [0.1]}
    with pytest.raises(KeyError, match="ndcg"):
        g.mean_std_table(res, metrics=("ndcg@20",))


def test_twin_text_and_target_text():
    pt, tf = g.SeedRuns(), g.SeedRuns()
    pt.metrics = {"recall@20": [0.10, 0.12, 0.14], "mrr@20": [0.01, 0.01, 0.01]}
    tf.metrics = {"recall@20": [0.16], "mrr@20": [0.01]}
    text = g.twin_text(pt, tf, ("recall@20",))
    assert "TensorFlow 0.1600 (1 run) vs PyTorch 0.1200 ± 0.0200 (3 seeds)" in text
    assert "2.0 PyTorch seed std apart (tie / within noise)" in text
    tf.metrics = {"recall@20": [0.20], "mrr@20": [0.01]}
    assert "(reproduced)" in g.twin_text(pt, tf, ("recall@20",))  # 4 sd: a real difference
    from recbook.measures import SeedSummary
    s = SeedSummary("p", "chance", 0.5, 0.0, 0.1, 0.0, 5.0, (0.5, 0.29), (0.1, 0.1))
    assert g.target_text(s) == "target 3× chance: NOT met in every seed"
    s = SeedSummary("p", "chance", 0.5, 0.0, 0.1, 0.0, 5.0, (0.5, 0.31), (0.1, 0.1))
    assert g.target_text(s) == "target 3× chance: met in every seed"
