"""The model base classes live in recbook/<fw>/base.py; their old import paths still work."""
import importlib

import pytest

BASES = ("RecModel", "CTRModel", "RetrievalModel")
OLD_HOMES = {"RecModel": "layers", "CTRModel": "layers", "RetrievalModel": "youtube_dnn"}


@pytest.mark.parametrize("fw", ["torch", "tf"])
def test_bases_in_base_module_and_old_paths(fw):
    base = importlib.import_module(f"recbook.{fw}.base")
    for name in BASES:
        cls = getattr(base, name)
        assert cls.__module__ == f"recbook.{fw}.base"
        old = importlib.import_module(f"recbook.{fw}.{OLD_HOMES[name]}")
        assert getattr(old, name) is cls, f"recbook.{fw}.{OLD_HOMES[name]}.{name}"
    layers = importlib.import_module(f"recbook.{fw}.layers")
    with pytest.raises(AttributeError, match="no attribute 'NoSuchBase'"):
        layers.NoSuchBase


@pytest.mark.parametrize("fw", ["torch", "tf"])
def test_every_model_derives_from_a_base(fw):
    base = importlib.import_module(f"recbook.{fw}.base")
    models = {"din": ("BaseModel", "DIN"), "dien": ("DIEN",), "bst": ("BST",),
              "youtube_dnn": ("YouTubeDNN",), "mind": ("MIND",), "comirec": ("ComiRec",),
              "gru4rec": ("GRU4Rec",)}
    for module, names in models.items():
        m = importlib.import_module(f"recbook.{fw}.{module}")
        for name in names:
            cls = getattr(m, name)
            assert issubclass(cls, base.RecModel), f"{fw}.{module}.{name}"
            kind = base.CTRModel if module in ("din", "dien", "bst") else \
                base.RetrievalModel if module in ("youtube_dnn", "mind", "comirec") else base.RecModel
            assert issubclass(cls, kind), f"{fw}.{module}.{name} is not a {kind.__name__}"


def test_twins_share_names():
    import recbook.tf.base as tf_base
    import recbook.torch.base as torch_base
    public = lambda m: {n for n in vars(m) if not n.startswith("_") and  # noqa: E731
                        getattr(getattr(m, n), "__module__", None) == m.__name__}
    assert public(torch_base) == set(BASES)
    # and TensorFlow's graph cache for scoring (torch runs eagerly: nothing to trace)
    assert public(tf_base) == set(BASES) | {"traced"}


# ---- TensorFlow: one traced graph per model for scoring and user vectors ----------------------

def _tracings(model, name):
    from recbook.tf.base import _GRAPHS
    return sum(f.experimental_get_tracing_count() for key, f in _GRAPHS.get(model, {}).items()
               if key[0] == name and f is not None)


def test_tf_predict_traces_once_and_equals_eager_calls(meta):
    import numpy as np

    from conftest import make_ctr_batch
    from recbook.tf import din, train
    model = din.DIN(meta, item_dim=4, cat_dim=4, profile_dim=2, mlp=(8,), att_hidden=(6,))
    arrays = make_ctr_batch(meta, B=23, seed=1)
    first = train.predict(model, arrays, batch_size=10)  # unbuilt: the first batch runs eagerly
    again = train.predict(model, arrays, batch_size=10)  # batches of 10, 10 and 3 rows
    train.predict(model, make_ctr_batch(meta, B=4, seed=2), batch_size=10)
    assert _tracings(model, "predict") == 1  # not again for the 3-row batch nor a new split
    eager = np.concatenate([np.asarray(model({k: v[i:i + 10] for k, v in arrays.items()}))
                            for i in range(0, 23, 10)])
    np.testing.assert_allclose(first, eager, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(again, eager, rtol=1e-6, atol=1e-6)


def test_tf_user_vectors_traced_equal_eager(meta):
    import numpy as np
    import tensorflow as tf

    from conftest import make_ctr_batch
    from recbook.tf import mind, youtube_dnn
    keys = ("gender", "age", "target_item", "target_cat", "hist_items", "hist_cats", "hist_len")
    batch = {k: v for k, v in make_ctr_batch(meta, B=7, seed=3).items() if k in keys}
    small = {k: v[:2] for k, v in batch.items()}
    for model in (youtube_dnn.YouTubeDNN(meta, d=6, profile_dim=3, hidden=(8,), n_neg=5),
                  mind.MIND(meta, d=6, profile_dim=3, hidden=(8,), n_neg=5, K=3)):
        model(batch)  # builds it
        logits = np.random.default_rng(0).normal(size=(7, meta.max_len, model.K))
        logits = logits.astype(np.float32)
        for rows in (batch, small, batch):
            n = len(rows["hist_len"])
            V = model.user_interests(rows, routing_logits=logits[:n])
            ref = model.interests(model.user_inputs(rows), routing_logits=logits[:n])[0]
            np.testing.assert_allclose(V, ref, rtol=1e-6, atol=1e-6)
        # a generator's draw is taken eagerly, before the graph: the same vectors as eagerly
        V = model.user_interests(batch, generator=tf.random.Generator.from_seed(5))
        ref = model.interests(model.user_inputs(batch),
                              generator=tf.random.Generator.from_seed(5))[0]
        np.testing.assert_allclose(V, ref, rtol=1e-6, atol=1e-6)
        assert _tracings(model, "user_vectors") <= 2  # with and without routing logits


def test_tf_embedding_lookup_zero_at_padding_and_equal_to_keras():
    import numpy as np
    import tensorflow as tf

    from recbook.tf.layers import Embedding
    emb = Embedding(9, 4)
    ids = tf.constant([[0, 3, 9], [1, 0, 0]], tf.int64)
    out = emb(ids).numpy()
    keras_lookup = emb.table(ids).numpy() * (ids.numpy() != 0)[..., None]
    np.testing.assert_array_equal(out, keras_lookup)
    assert not out[ids.numpy() == 0].any()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(emb(ids))
    grad = tf.convert_to_tensor(tape.gradient(loss, emb.table.embeddings))
    assert not grad.numpy()[0].any() and grad.numpy()[3].all()  # padding gets no gradient
