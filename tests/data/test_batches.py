import numpy as np
import pytest

from recbook.data import Meta, iterate, pad_histories, validate


def meta(max_len=4):
    item_cat = np.array([0, 1, 1, 2, 2, 3], dtype=np.int64)  # 5 items, 3 categories
    return Meta(n_users=3, n_items=5, n_cats=3, item_cat=item_cat,
                profile={"gender": 2, "age": 7}, max_len=max_len)


def batch():
    items, lens = pad_histories([[1, 2, 3], [], [5, 4, 3, 2]], 4)
    cats = np.where(items > 0, meta().item_cat[items], 0)
    mask = np.arange(4)[None] < lens[:, None]
    return {"user": np.array([1, 2, 3]), "gender": np.array([1, 2, 1]), "age": np.array([7, 1, 3]),
            "target_item": np.array([4, 1, 5]), "target_cat": np.array([2, 1, 3]),
            "hist_items": items, "hist_cats": cats, "hist_len": lens,
            "neg_hist_items": np.where(mask, 5, 0), "neg_hist_cats": np.where(mask, 3, 0),
            "hist_gaps": np.where(mask, 10.0, 0.0).astype(np.float32),
            "relevant": mask & (cats == 2), "label": np.array([1, 0, 1], dtype=np.float32)}


def test_pad_histories_keeps_most_recent_right_padded():
    out, lens = pad_histories([[1, 2, 3, 4, 5], [7], []], 3)
    assert out.dtype == np.int64 and out.shape == (3, 3)
    np.testing.assert_array_equal(out, [[3, 4, 5], [7, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(lens, [3, 1, 0])
    assert pad_histories([[1, 2]], 0)[0].shape == (1, 0)


def test_iterate_covers_rows_once_and_shuffles_by_seed():
    arrays = {"a": np.arange(10), "b": np.arange(10) * 2}
    got = np.concatenate([b["a"] for b in iterate(arrays, 3)])
    np.testing.assert_array_equal(got, np.arange(10))
    s1 = [b["a"] for b in iterate(arrays, 4, shuffle=True, seed=1)]
    s2 = [b["a"] for b in iterate(arrays, 4, shuffle=True, seed=1)]
    assert all((x == y).all() for x, y in zip(s1, s2))
    assert not (np.concatenate(s1) == np.arange(10)).all()
    assert sorted(np.concatenate(s1)) == list(range(10))
    for b in iterate(arrays, 4, shuffle=True, seed=2):
        np.testing.assert_array_equal(b["b"], b["a"] * 2)  # rows stay aligned across keys
    assert [len(b["a"]) for b in iterate(arrays, 4, drop_last=True)] == [4, 4]
    with pytest.raises(ValueError, match="first dimension"):
        next(iterate({"a": np.arange(3), "b": np.arange(4)}, 2))


def test_valid_batch_and_empty_history_pass():
    validate(batch(), meta())
    validate(batch(), meta(), keys=["hist_items", "hist_len"])


def bad(key, value):
    b = batch()
    b[key] = value
    return b


@pytest.mark.parametrize("key,value,message", [
    ("hist_items", batch()["hist_items"].astype(np.float32), "integer ids"),
    ("label", np.array([1, 0, 1]), "float"),
    ("relevant", batch()["relevant"].astype(np.int64), "bool"),
    ("target_item", np.array([[4], [1], [5]]), r"shape \[B\]"),
    ("hist_cats", np.zeros(3, dtype=np.int64), r"shape \[B, T\]"),
    ("user", np.array([1, 2]), r"batch size 3, but batch\['user'\] has 2"),
    ("age", np.array([1, 2]), r"'age'\] has batch size 2, but batch\['user'\] has 3"),
    ("hist_gaps", np.zeros((3, 5), dtype=np.float32), "history width 5"),
    ("target_item", np.array([4, 6, 5]), r"'target_item'.*id 6.*1\.\.5"),
    ("hist_cats", np.where(batch()["hist_cats"] > 0, 4, 0), r"'hist_cats'.*id 4.*0\.\.3"),
    ("user", np.array([1, -1, 3]), r"'user'.*id -1"),
    ("age", np.array([8, 1, 1]), r"'age'.*id 8.*0\.\.7"),
    ("target_cat", np.array([0, 1, 3]), "never padding"),
    ("hist_len", np.array([3, 0, 5]), r"'hist_len'.*5.*0\.\.T=4"),
    ("label", np.array([1, 0.5, 0], dtype=np.float32), "0 or 1"),
])
def test_validate_names_the_bad_key(key, value, message):
    with pytest.raises(ValueError, match=message):
        validate(bad(key, value), meta())


def test_validate_positions_and_lengths():
    b = batch()
    b["hist_items"][0, 1] = 0
    with pytest.raises(ValueError, match=r"'hist_items'\] is 0 \(padding\) at real position \(0, 1\)"):
        validate(b, meta())
    b = batch()
    b["neg_hist_items"][1, 0] = 2
    with pytest.raises(ValueError, match=r"'neg_hist_items'\] is 2 at padded position"):
        validate(b, meta())
    with pytest.raises(ValueError, match="longer than max_len=3"):
        validate(batch(), meta(max_len=3))
    b = batch()
    b["hist_gaps"][0, 0] = -1.0
    with pytest.raises(ValueError, match="hist_gaps"):
        validate(b, meta())
    b = batch()
    b["relevant"][1, 2] = True
    with pytest.raises(ValueError, match="relevant.*padded"):
        validate(b, meta())


def test_validate_missing_key():
    b = batch()
    del b["hist_len"]
    with pytest.raises(KeyError, match="hist_len"):
        validate(b, meta(), keys=["hist_items", "hist_len"])


def test_subsample_by_count_or_fraction():
    from recbook.data.batches import subsample
    split = {"a": np.arange(100), "b": np.arange(100) * 2}
    part = subsample(split, n=10, seed=1)
    assert len(part["a"]) == 10 and (np.diff(part["a"]) > 0).all()  # order kept
    assert (part["b"] == part["a"] * 2).all()  # every array alike
    assert (subsample(split, n=10, seed=1)["a"] == part["a"]).all()  # the draw repeats
    assert subsample(split, n=500)["a"] is split["a"]
    half = subsample(split, frac=0.5, seed=0)
    assert 30 < len(half["a"]) < 70 and subsample(split, frac=1) is split
    for kwargs, words in (({}, "exactly one"), ({"n": 3, "frac": 0.5}, "exactly one"),
                          ({"n": 0}, "n must be"), ({"frac": 1.5}, "frac must be")):
        with pytest.raises(ValueError, match=words):
            subsample(split, **kwargs)
    with pytest.raises(ValueError, match="differ in length"):
        subsample({"a": np.arange(3), "b": np.arange(4)}, n=2)
