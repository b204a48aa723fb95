"""recbook.compare on tiny built-in data: every model of both families runs and returns finite
numbers; a seed repeats its result; a bad model name or a wrong family's data is refused."""
import math

import pytest
import torch

from recbook import compare

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def ranking():
    return compare.load("ranking", n_users=60, max_len=8)


@pytest.fixture(scope="module")
def retrieval():
    return compare.load("retrieval", n_users=80, max_len=8)


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setenv("RECBOOK_PROGRESS", "none")


def _finite(run):
    assert run.metrics and all(math.isfinite(v) for v in run.metrics.values()), run.metrics
    assert run.train_seconds >= 0 and math.isfinite(run.train_seconds)


@pytest.mark.parametrize("model", compare.RANKING)
def test_ranking_models_run(model, ranking):
    run = compare.run(model, ranking, epochs=1, seed=0)
    _finite(run)
    assert 0 <= run.metrics["auc"] <= 1 and run.n_params > 0


@pytest.mark.parametrize("model", compare.RETRIEVAL)
def test_retrieval_models_run(model, retrieval):
    run = compare.run(model, retrieval, epochs=1, seed=0)
    _finite(run)
    assert 0 <= run.metrics["recall@50"] <= run.metrics["hit_rate@50"] <= 1
    assert (run.n_params == 0) == (model in compare.COUNTED)


@pytest.mark.parametrize("model", ["DIN", "GRU4Rec", "MIND"])
def test_same_seed_same_result(model, ranking, retrieval):
    data = ranking if compare.family_of(model) == "ranking" else retrieval
    a, b = (compare.run(model, data, seed=3) for _ in range(2))
    assert a.metrics == b.metrics and a.n_params == b.n_params
    c = compare.run(model, data, seed=4)
    assert c.metrics != a.metrics, "another seed should give another run"


def test_run_all_and_summarise(retrieval):
    runs = compare.run_all(["most popular", "YouTube DNN"], retrieval, seeds=(0, 1))
    assert list(runs["model"]) == ["most popular", "most popular", "YouTube DNN", "YouTube DNN"]
    table = compare.summarise(runs, ["recall@50"])
    assert list(table.index) == ["most popular", "YouTube DNN"]
    assert table.loc["most popular", "recall@50"].endswith("± 0.0000")  # counted: no spread
    assert list(table["seeds"]) == [2, 2]
    per = compare.per_model(runs, "recall@50")
    assert len(per["YouTube DNN"]) == 2


def test_bad_input_is_refused(ranking):
    with pytest.raises(ValueError, match="unknown model 'DINO'.*ranking models: Base, DIN"):
        compare.run("DINO", ranking)
    with pytest.raises(ValueError, match="GRU4Rec is a retrieval model.*truth_items"):
        compare.run("GRU4Rec", ranking)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        compare.run("DIN", ranking, epochs=0)
    with pytest.raises(ValueError, match="family must be one of"):
        compare.load("ctr")


@pytest.mark.parametrize("model", ["DIN", "GRU4Rec", "YouTube DNN"])
def test_early_stopping_keeps_the_best_validation_epoch(model, ranking, retrieval):
    """With ``patience`` a run trains until the validation metric stops improving (``epochs`` is
    the cap) and tests the best epoch's weights; the epoch counts are in the run's row."""
    data = ranking if compare.family_of(model) == "ranking" else retrieval
    run = compare.run(model, data, epochs=4, seed=0, patience=1)
    _finite(run)
    assert 1 <= run.best_epoch <= run.epochs <= 4
    assert run.epochs == 4 or run.epochs == run.best_epoch + 1  # stopped one epoch after the best
    fixed = compare.run(model, data, epochs=2, seed=0)
    assert (fixed.epochs, fixed.best_epoch) == (2, 2)
    with pytest.raises(ValueError, match="patience"):
        compare.run(model, data, epochs=2, patience=0)


def test_train_rows_subsamples_training_only():
    full = compare.load("ranking", n_users=60, max_len=8)
    part = compare.load("ranking", n_users=60, max_len=8, train_rows=50)
    assert {len(v) for v in part.train.values()} == {50}
    assert len(part.test["label"]) == len(full.test["label"])
    again = compare.load("ranking", n_users=60, max_len=8, train_rows=50)
    assert (again.train["user"] == part.train["user"]).all()  # the draw repeats for a seed
    with pytest.raises(ValueError, match="train_rows"):
        compare.load("ranking", n_users=60, max_len=8, train_rows=0)


def test_ranks_side_by_side():
    import pandas as pd
    a = pd.DataFrame({"model": ["x", "x", "y", "y"], "auc": [0.6, 0.62, 0.7, 0.71]})
    b = pd.DataFrame({"model": ["x", "y"], "auc": [0.8, 0.7]})
    r = compare.ranks({"built-in": a, "real": b}, "auc")
    assert r.loc["x"].tolist() == [2, 1] and r.loc["y"].tolist() == [1, 2]


@pytest.mark.parametrize("model", compare.RANKING + compare.RETRIEVAL)
def test_every_model_runs_in_tensorflow_with_the_twins_parameter_count(model, ranking,
                                                                        retrieval):
    """framework="tf": the Comparison chapter for a TensorFlow-only reader. The same model
    (the twins have the same parameters) trains and scores in TensorFlow."""
    pytest.importorskip("tensorflow")
    data = ranking if compare.family_of(model) == "ranking" else retrieval
    tf_run = compare.run(model, data, epochs=1, seed=0, framework="tf")
    _finite(tf_run)
    assert tf_run.n_params == compare.run(model, data, epochs=1, seed=0).n_params


def test_framework_is_checked_and_follows_the_books_switch(ranking, monkeypatch):
    with pytest.raises(ValueError, match="framework must be one of"):
        compare.run("DIN", ranking, framework="pytorch")
    from recbook.book import Framework
    from recbook.torch import build, gru4rec, train
    fw = Framework.of("torch")  # what a run gets: the twin's own functions
    assert (fw.name, fw.build, fw.fit, fw.predict, fw.seed, fw.optimizer, fw.workers) == (
        "PyTorch", build, train.fit, train.predict, train.seed_everything, gru4rec.adagrad_m,
        None)
    assert fw.module("youtube_dnn").__name__ == "recbook.torch.youtube_dnn"
    monkeypatch.setenv("RECBOOK_FRAMEWORKS", "tensorflow")
    assert compare.default_framework() == "tf"
    monkeypatch.setenv("RECBOOK_FRAMEWORKS", "pytorch,tensorflow")
    assert compare.default_framework() == "torch"
