"""Bad inputs to the models (both frameworks), to fit and to retrieval: one row per input.

Each row names the input and what must happen: the error class and the words that name its
cause (the key, the shape, the range), or, for a valid edge case, the exact finite result.
Every case runs in PyTorch and in TensorFlow with the same expectation: the frameworks are
twins. Tiny models and batches keep the module fast. (Loaders and fetching: test_data_inputs.py.)
"""
from __future__ import annotations

import functools
import importlib

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import make_ctr_batch, make_meta
from recbook import retrieval
from recbook.data.samples import Dataset

torch.set_num_threads(1)
FRAMEWORKS = ("torch", "tf")
META = make_meta(n_users=20, n_items=30, n_cats=5, max_len=8)

# name -> (module, class, tiny constructor arguments); DIN's MLP uses Dice (batch statistics)
MODELS = {
    "DIN": ("din", "DIN", dict(item_dim=4, cat_dim=4, profile_dim=2, mlp=(8, 4),
                               att_hidden=(4,), activation="dice")),
    "DIEN": ("dien", "DIEN", dict(item_dim=4, cat_dim=4, profile_dim=2, hidden=6,
                                  att_hidden=(4,), mlp=(8, 4), aux=(4,))),
    "BST": ("bst", "BST", dict(item_dim=4, cat_dim=4, pos_dim=4, profile_dim=2, n_heads=2,
                               mlp=(8,), dropout=0.0, n_buckets=4)),
    "YouTubeDNN": ("youtube_dnn", "YouTubeDNN", dict(d=4, profile_dim=2, hidden=(8,), n_neg=5)),
    "MIND": ("mind", "MIND", dict(d=4, profile_dim=2, hidden=(8,), n_neg=5, K=2)),
    "ComiRecDR": ("comirec", "ComiRecDR", dict(d=4, K=2, n_neg=5)),
    "ComiRecSA": ("comirec", "ComiRecSA", dict(d=4, K=2, n_neg=5)),
    "GRU4Rec": ("gru4rec", "GRU4Rec", dict(layers=(4,), n_sample=3, sample_store_size=30)),
}
CTR = ("DIN", "DIEN", "BST")
SEQ = tuple(m for m in MODELS if m != "GRU4Rec")  # the models that read histories


def build(fw: str, name: str, seed: int = 0):
    """A fresh tiny model of ``name`` in framework ``fw``."""
    module, cls, kw = MODELS[name]
    if fw == "torch":
        torch.manual_seed(seed)
    else:
        import keras
        keras.utils.set_random_seed(seed)
    return getattr(importlib.import_module(f"recbook.{fw}.{module}"), cls)(META, **kw)


@functools.lru_cache(maxsize=None)
def cached(fw: str, name: str):
    """One model per (framework, name) for the rows whose input is refused before any weight
    or statistic is touched (the rows that check this build their own)."""
    return build(fw, name)


def batch(name: str, B: int = 6, **changes) -> dict:
    """The first B (<= 6) rows of a valid batch for model ``name``, then ``changes``."""
    if name == "GRU4Rec":
        rng = np.random.default_rng(0)
        b = {"input_item": rng.integers(1, META.n_items + 1, 6),
             "target_item": rng.integers(1, META.n_items + 1, 6), "reset": np.ones(6, bool)}
    else:
        b = make_ctr_batch(META, B=6, seed=1)
    b = {k: v[:B] for k, v in b.items()}
    b.update(changes)
    return b


def tensors(fw: str, b: dict) -> dict:
    if fw == "torch":
        return {k: torch.as_tensor(v) for k, v in b.items()}
    import tensorflow as tf
    return {k: tf.constant(v) for k, v in b.items()}


def loss(fw, model, b):
    """The training loss, in training mode."""
    if fw == "torch":
        model.train()
        return model.loss(b)[0]
    return model.loss(b, training=True)[0]


def call(fw, model, b):
    """The model's output in evaluation mode, as numpy (MIND's routing noise seeded)."""
    if fw == "torch":
        torch.manual_seed(0)
        model.eval()
        with torch.no_grad():
            return model(b).numpy()
    import keras
    keras.utils.set_random_seed(0)
    return np.asarray(model(b, training=False))


def fit(fw):
    return importlib.import_module(f"recbook.{fw}.train").fit


def fit_kw(fw):
    return {"device": "cpu"} if fw == "torch" else {}


def running_stats(fw, model):
    """Every Dice layer's running mean and variance, as numpy."""
    if fw == "torch":
        from recbook.torch.layers import Dice
        return [m.running_var.numpy().copy() for m in model.modules() if isinstance(m, Dice)] + \
            [m.running_mean.numpy().copy() for m in model.modules() if isinstance(m, Dice)]
    from recbook.tf.layers import Dice
    layers = [layer for layer in model._flatten_layers() if isinstance(layer, Dice)]
    return [v.numpy().copy() for layer in layers for v in (layer.running_var,
                                                          layer.running_mean)]


def raises(exc, *words):
    """Run ``f`` and check the error class and that the message holds every word."""
    def check(f):
        with pytest.raises(exc) as info:
            f()
        for w in words:
            assert w in str(info.value), f"{w!r} not in: {info.value}"
    return check


# ------------------------------------------------------------------ the batch, every model
N = META.n_items


def labels(value):
    return batch("x", label=np.full(6, value, np.float32))


def hist(**changes):
    return batch("x", **changes)


HIST = batch("x")["hist_items"]
ROWS = [
    # (id, models, run: (fw, model) -> anything, expectation)
    ("label 2.0 in the loss", CTR, lambda fw, m: loss(fw, m, labels(2.0)),
     raises(ValueError, "batch['label']", "0 or 1", "2.0")),
    ("label 0.5 in the loss", CTR, lambda fw, m: loss(fw, m, labels(0.5)),
     raises(ValueError, "batch['label']", "0.5")),
    ("label -1.0 in the loss", CTR, lambda fw, m: loss(fw, m, labels(-1.0)),
     raises(ValueError, "batch['label']", "-1.0")),
    ("label NaN in the loss", CTR, lambda fw, m: loss(fw, m, labels(np.nan)),
     raises(ValueError, "batch['label']", "nan")),
    ("label 2.0 as a tensor", CTR, lambda fw, m: loss(fw, m, tensors(fw, labels(2.0))),
     raises(ValueError, "batch['label']", "2.0")),
    ("label missing from the loss", CTR,
     lambda fw, m: loss(fw, m, {k: v for k, v in batch("x").items() if k != "label"}),
     raises(KeyError, "'label'")),
    ("an empty batch in the loss", tuple(MODELS),
     lambda fw, m: loss(fw, m, batch(type(m).__name__, B=0)),
     raises(ValueError, "batch size 0")),
    ("an empty batch in a call", tuple(MODELS),
     lambda fw, m: call(fw, m, batch(type(m).__name__, B=0)),
     raises(ValueError, "batch size 0")),
    ("hist_len 99 as a tensor", SEQ,
     lambda fw, m: call(fw, m, tensors(fw, hist(hist_len=np.full(6, 99)))),
     raises(ValueError, "batch['hist_len']", "99", "0..T=8")),
    ("hist_len -1 as a tensor", SEQ,
     lambda fw, m: call(fw, m, tensors(fw, hist(hist_len=np.full(6, -1)))),
     raises(ValueError, "batch['hist_len']", "-1")),
    ("target id past the catalogue, as a tensor", SEQ,
     lambda fw, m: call(fw, m, tensors(fw, hist(target_item=np.full(6, N + 1)))),
     raises(ValueError, "batch['target_item']", f"{N + 1}", f"1..{N}")),
    ("one tensor among numpy arrays", SEQ,
     lambda fw, m: call(fw, m, {**hist(), "hist_len": tensors(fw, {"h": np.full(6, 99)})["h"]}),
     raises(ValueError, "batch['hist_len']", "99")),
    ("history id past the catalogue", SEQ,
     lambda fw, m: call(fw, m, hist(hist_items=np.where(HIST > 0, N + 5, 0))),
     raises(ValueError, "batch['hist_items']", f"{N + 5}")),
    ("float ids", SEQ, lambda fw, m: call(fw, m, hist(hist_items=HIST.astype(np.float32))),
     raises(ValueError, "batch['hist_items']", "integer ids", "float32")),
    ("hist_items of rank 1", SEQ, lambda fw, m: call(fw, m, hist(hist_items=HIST[:, 0])),
     raises(ValueError, "batch['hist_items']", "[B, T]")),
    ("hist_cats wider than hist_items", SEQ,
     lambda fw, m: call(fw, m, hist(hist_cats=np.zeros((6, 9), np.int64))),
     raises(ValueError, "batch['hist_cats']", "width 9")),
    ("a missing key", SEQ,
     lambda fw, m: call(fw, m, {k: v for k, v in hist().items() if k != "hist_len"}),
     raises(KeyError, "'hist_len'")),
    ("a DataFrame as the batch", SEQ, lambda fw, m: call(fw, m, pd.DataFrame({"user": [1]})),
     raises(TypeError, "dict of arrays", "DataFrame")),
    ("GRU4Rec input id 0", ("GRU4Rec",),
     lambda fw, m: call(fw, m, batch("GRU4Rec", input_item=np.zeros(6, np.int64))),
     raises(ValueError, "batch['input_item']", "never padding")),
    ("GRU4Rec reset not bool", ("GRU4Rec",),
     lambda fw, m: call(fw, m, batch("GRU4Rec", reset=np.ones(6, np.int64))),
     raises(ValueError, "batch['reset']", "bool")),
    ("GRU4Rec target past the catalogue, as a tensor", ("GRU4Rec",),
     lambda fw, m: loss(fw, m, tensors(fw, batch("GRU4Rec", target_item=np.full(6, N + 1)))),
     raises(ValueError, "batch['target_item']", f"{N + 1}")),
]


def _cases():
    for rid, models, run, expect in ROWS:
        for name in models:
            for fw in FRAMEWORKS:
                yield pytest.param(fw, name, run, expect, id=f"{rid}-{name}-{fw}")


@pytest.mark.parametrize("fw, name, run, expect", list(_cases()))
def test_a_bad_batch_is_refused_by_name(fw, name, run, expect):
    expect(lambda: run(fw, cached(fw, name)))


# ------------------------------------------------------------------ batch statistics (Dice)
@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize("name", ["DIN", "DIEN"])
@pytest.mark.parametrize("rows", [0, 1])
def test_dice_refuses_0_or_1_training_rows_before_touching_its_statistics(fw, name, rows):
    m = build(fw, name)
    call(fw, m, batch(name))  # builds the Keras weights
    before = running_stats(fw, m)
    assert before, f"{name} has no Dice layer to check"
    words = ("batch size 0", "empty batch") if rows == 0 else \
        ("batch size 1", "training mode", "Dice", "variance is 0")
    raises(ValueError, *words)(lambda: loss(fw, m, batch(name, B=rows)))
    for a, b in zip(before, running_stats(fw, m)):
        np.testing.assert_array_equal(a, b)
    # evaluation uses the running statistics: one row is valid there, and finite
    out = call(fw, m, batch(name, B=1))
    assert out.shape == (1,) and np.isfinite(out).all()


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_fit_with_batch_size_1_and_dice_is_refused(fw):
    raises(ValueError, "batch size 1", "variance is 0", "batch_size >= 2")(
        lambda: fit(fw)(build(fw, "DIEN"), batch("DIEN"), epochs=1, batch_size=1, **fit_kw(fw)))


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_dice_layer_alone_refuses_one_training_row(fw):
    if fw == "torch":
        from recbook.torch.layers import Dice
        d = Dice(3).train()
        f = lambda: d(torch.ones(1, 3))  # noqa: E731
    else:
        import tensorflow as tf
        from recbook.tf.layers import Dice
        d = Dice(3)
        f = lambda: d(tf.ones((1, 3)), training=True)  # noqa: E731
    raises(ValueError, "batch size 1", "Dice")(f)


# ------------------------------------------------------------------ valid edge cases: exact
@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize("name", ["DIN", "YouTubeDNN"])
def test_unknown_keys_are_ignored_strings_and_ragged_alike(fw, name):
    m = cached(fw, name)
    b = batch(name)
    extra = dict(b, note=np.array(["a"] * 6),
                 ragged=np.array([[1], [1, 2], [3], [4, 5, 6], [], [7]], dtype=object))
    np.testing.assert_array_equal(call(fw, m, extra), call(fw, m, b))


@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize("name", SEQ)
def test_tensors_and_numpy_give_the_same_output(fw, name):
    m = cached(fw, name)
    b = batch(name)
    want = call(fw, m, b)
    np.testing.assert_allclose(call(fw, m, tensors(fw, b)), want, rtol=0, atol=0)
    assert np.isfinite(want).all()


# ------------------------------------------------------------------ fit
FIT_ROWS = [
    ("the Dataset instead of data.train",
     lambda fw: Dataset("x", batch("DIN"), batch("DIN"), batch("DIN"), META),
     raises(TypeError, "whole Dataset", "data.train")),
    ("Python lists", lambda fw: {k: v.tolist() for k, v in batch("DIN").items()},
     raises(TypeError, "train['user']", "numpy array", "list")),
    ("a sessions DataFrame", lambda fw: pd.DataFrame({"session": [1, 1], "item": [1, 2]}),
     raises(TypeError, "DataFrame", "SessionParallelBatches")),
    ("a list of batches", lambda fw: [batch("DIN")],
     raises(TypeError, "dict of numpy arrays", "list")),
    ("arrays of different lengths", lambda fw: dict(batch("DIN"), label=np.zeros(3, np.float32)),
     raises(ValueError, "number of rows", "'label': 3")),
    ("zero rows", lambda fw: batch("DIN", B=0), raises(ValueError, "train has 0 rows")),
]


@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize("make_train, expect", [r[1:] for r in FIT_ROWS],
                         ids=[r[0] for r in FIT_ROWS])
def test_fit_refuses_training_data_it_cannot_use(fw, make_train, expect):
    expect(lambda: fit(fw)(cached(fw, "DIN"), make_train(fw), epochs=1, **fit_kw(fw)))


@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize("size", [0, -3, 2.5, True])
def test_fit_refuses_a_batch_size_below_1_or_not_an_integer(fw, size):
    raises(ValueError, "batch_size must be an integer >= 1", repr(size))(
        lambda: fit(fw)(cached(fw, "DIN"), batch("DIN"), batch_size=size, **fit_kw(fw)))


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_fit_refuses_the_other_frameworks_model(fw):
    other = "tf" if fw == "torch" else "torch"
    raises(TypeError, f"recbook.{fw}.train.fit", f"recbook.{other}.din.DIN",
           f"recbook.{other}.train.fit")(
        lambda: fit(fw)(cached(other, "DIN"), batch("DIN"), epochs=1, **fit_kw(fw)))


@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize("label", [2.0, 0.5, -1.0])
def test_fit_refuses_labels_outside_0_1(fw, label):
    m = build(fw, "DIN")
    raises(ValueError, "batch['label']", str(label))(
        lambda: fit(fw)(m, batch("DIN", label=np.full(6, label, np.float32)), epochs=1,
                        batch_size=3, **fit_kw(fw)))


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_gru4rec_adam_is_refused_alike_and_the_default_trains(fw):
    from recbook.data.samples import SessionParallelBatches
    sess = pd.DataFrame({"session": np.repeat([1, 2, 3, 4], 3), "item": np.arange(1, 13),
                         "time": np.arange(12)})
    epochs = lambda e: SessionParallelBatches(sess, 2)  # noqa: E731
    raises(ValueError, "GRU4Rec", "sparse", "adagrad_m")(
        lambda: fit(fw)(build(fw, "GRU4Rec"), epochs, epochs=1, optimizer="adam",
                        **fit_kw(fw)))
    h = fit(fw)(build(fw, "GRU4Rec"), epochs, epochs=1, lr=0.05, **fit_kw(fw))
    assert np.isfinite(h.rows[-1]["train_loss"])


# ------------------------------------------------------------------ the torch -> TF copy
def test_copy_from_torch_refuses_swapped_and_mismatched_models():
    from recbook.tf.din import copy_from_torch
    pt, k = cached("torch", "DIN"), cached("tf", "DIN")
    call("tf", k, batch("DIN"))
    raises(TypeError, "Keras model first", "swap")(lambda: copy_from_torch(pt, k))
    raises(TypeError, "models differ", "DIEN")(
        lambda: copy_from_torch(k, cached("torch", "DIEN")))
    raises(TypeError, "Keras model and its torch twin")(
        lambda: copy_from_torch(k, {"weights": 1}))


# ------------------------------------------------------------------ retrieval
def _index(fw):
    """An index over a YouTubeDNN's item vectors, given as that framework's tensor."""
    return retrieval.ItemIndex(cached(fw, "YouTubeDNN").item_embeddings(), use_faiss=False)


Q = np.ones((2, 4), np.float32)
RETRIEVAL_ROWS = [
    ("k = 0", lambda ix: ix.search(Q, 0), raises(ValueError, "k=0", f"1..n_items={N}")),
    ("k past the catalogue", lambda ix: ix.search(Q, N + 1), raises(ValueError, f"k={N + 1}")),
    ("k = 2.5", lambda ix: ix.search(Q, 2.5), raises(TypeError, "k must be an integer", "2.5")),
    ("k = None", lambda ix: ix.search(Q, None),
     raises(TypeError, "k must be an integer", "None")),
    ("k = True", lambda ix: ix.search(Q, True),
     raises(TypeError, "k must be an integer", "bool")),
    ("queries of another width", lambda ix: ix.search(np.ones((2, 3)), 2),
     raises(ValueError, "queries have dimension 3", "the items 4")),
    ("queries of rank 1", lambda ix: ix.search(np.ones(4), 2),
     raises(ValueError, "queries", "2-D")),
    ("a NaN query", lambda ix: ix.search(np.full((2, 4), np.nan), 2),
     raises(ValueError, "queries contains NaN")),
    ("string queries", lambda ix: ix.search(np.array([["a"] * 4]), 2),
     raises(ValueError, "queries must hold numbers")),
    ("exclude of float ids", lambda ix: ix.search(Q, 2, exclude=np.full((2, 2), 1.5)),
     raises(ValueError, "exclude must hold integer")),
    ("exclude past the catalogue", lambda ix: ix.search(Q, 2, exclude=np.full((2, 2), 99)),
     raises(ValueError, "exclude ids", f"0..{N}")),
    ("interests of rank 4",
     lambda ix: retrieval.topk_multi_interest(ix, np.ones((2, 2, 4, 1)), 2),
     raises(ValueError, "interests must be [B, K, d]")),
    ("K = 0 interests", lambda ix: retrieval.topk_multi_interest(ix, np.ones((2, 0, 4)), 2),
     raises(ValueError, "K=0")),
    ("a mask of the wrong shape", lambda ix: retrieval.topk_multi_interest(
        ix, np.ones((2, 3, 4)), 2, mask=np.ones((3, 3), bool)),
     raises(ValueError, "mask must be [B, K]")),
    ("a float mask", lambda ix: retrieval.topk_multi_interest(
        ix, np.ones((2, 3, 4)), 2, mask=np.full((2, 3), 0.5)),
     raises(ValueError, "mask must be bool")),
    ("every interest masked", lambda ix: retrieval.topk_multi_interest(
        ix, np.ones((2, 3, 4)), 2, mask=np.zeros((2, 3), bool)),
     raises(ValueError, "no interest left")),
    ("no cut-off in ks", lambda ix: retrieval.recall_eval(ix, Q, np.array([1, 2]), ks=()),
     raises(ValueError, "ks must name at least one")),
    ("a cut-off of 0 in ks", lambda ix: retrieval.recall_eval(ix, Q, np.array([1, 2]), ks=(0,)),
     raises(ValueError, "ks=0")),
]


@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize("run, expect", [r[1:] for r in RETRIEVAL_ROWS],
                         ids=[r[0] for r in RETRIEVAL_ROWS])
def test_retrieval_refuses_bad_arguments_by_name(fw, run, expect):
    expect(lambda: run(_index(fw)))


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_retrieval_catalogue_without_items_and_nan_embeddings(fw):
    emb = cached(fw, "YouTubeDNN").item_embeddings()
    one_row = emb[:1]
    raises(ValueError, "item_embeddings", ">= 2 rows")(lambda: retrieval.ItemIndex(one_row))
    bad = np.array(emb.detach() if fw == "torch" else emb)
    bad[3, 0] = np.nan
    raises(ValueError, "item_embeddings contains NaN")(lambda: retrieval.ItemIndex(bad))


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_retrieval_valid_edge_cases_give_exact_results(fw):
    ix = _index(fw)
    s, i = ix.search(np.ones((0, 4), np.float32), 3)  # no query row: empty, not an error
    assert s.shape == (0, 3) and i.shape == (0, 3)
    everything = np.tile(np.arange(1, N + 1), (2, 1))  # exclusion leaves no candidate
    s, i = ix.search(Q, 2, exclude=everything)
    np.testing.assert_array_equal(i, np.zeros((2, 2), np.int64))
    assert np.isneginf(s).all()
    s, i = ix.search(Q, np.int64(3))  # a numpy integer is a valid k
    assert i.shape == (2, 3) and np.isfinite(s).all() and (i >= 1).all()
