import numpy as np
import pandas as pd
import pytest

from recbook.data import (Meta, SessionParallelBatches, ctr_samples, generate,
                          impressions_from_events, load_ctr, load_next_item, load_sessions,
                          next_item_samples, sessions, split_last, split_users, validate)

CTR_KEYS = {"user", "gender", "age", "target_item", "target_cat", "hist_items", "hist_cats",
            "hist_len", "hist_gaps", "neg_hist_items", "neg_hist_cats", "label", "relevant"}


@pytest.fixture(scope="module")
def ctr():
    return load_ctr(size="tiny", seed=2)


def test_ctr_keys_shapes_dtypes(ctr):
    T = ctr.meta.max_len
    for part in (ctr.train, ctr.valid, ctr.test):
        assert set(part) == CTR_KEYS
        B = len(part["label"])
        for k, v in part.items():
            assert v.shape == ((B, T) if v.ndim == 2 else (B,)), k
            want = {"label": "f", "hist_gaps": "f", "relevant": "b"}.get(k, "i")
            assert v.dtype.kind == want, k
        validate(part, ctr.meta)


def test_histories_match_a_slow_reference_and_never_leak(ctr):
    ev, imp = ctr.source.events, split_last(ctr.source.impressions)[0]
    a, T = ctr.train, ctr.meta.max_len
    for b in range(0, len(imp), 7):
        past = ev[(ev.user == imp.user[b]) & (ev.time < imp.time[b])].tail(T)
        n = len(past)
        assert a["hist_len"][b] == n
        np.testing.assert_array_equal(a["hist_items"][b, :n], past.item)
        assert (a["hist_items"][b, n:] == 0).all() and (a["hist_cats"][b, n:] == 0).all()
        np.testing.assert_allclose(a["hist_gaps"][b, :n], imp.time[b] - past.time)
    mask = np.arange(T)[None] < a["hist_len"][:, None]
    assert (a["hist_gaps"][mask] > 0).all()  # strictly before the target: no leakage
    rel = mask & (a["hist_cats"] == a["target_cat"][:, None]) & (a["hist_gaps"] <= 3 * 86400)
    np.testing.assert_array_equal(a["relevant"], rel)


def test_negative_history_never_clicked(ctr):
    ev, a = ctr.source.events, ctr.train
    clicked = set(zip(ev.user, ev.item))
    mask = np.arange(ctr.meta.max_len)[None] < a["hist_len"][:, None]
    assert (a["neg_hist_items"][mask] > 0).all() and (a["neg_hist_items"][~mask] == 0).all()
    rows, cols = np.nonzero(mask)
    assert not any((u, i) in clicked for u, i in zip(a["user"][rows], a["neg_hist_items"][rows, cols]))
    np.testing.assert_array_equal(a["neg_hist_cats"][mask], ctr.meta.item_cat[a["neg_hist_items"][mask]])


def test_leave_last_out_is_disjoint_and_ordered(ctr):
    tr, va, te = split_last(ctr.source.impressions)
    assert len(tr) + len(va) + len(te) == len(ctr.source.impressions)
    assert set(tr.page) & set(te.page) == set() and set(va.page) & set(te.page) == set()
    last_tr, t_va, t_te = tr.groupby("user").time.max(), va.groupby("user").time.min(), te.groupby("user").time.min()
    assert (last_tr < t_va.reindex(last_tr.index)).all() and (t_va < t_te.reindex(t_va.index)).all()
    assert te.groupby("user").page.nunique().max() == 1


def real_like():
    """A tiny real-style log: no impressions, no sessions."""
    item_cat = np.array([0, 1, 1, 2, 2, 3, 3], dtype=np.int64)
    meta = Meta(n_users=3, n_items=6, n_cats=3, item_cat=item_cat, profile={}, max_len=3)
    events = pd.DataFrame({"user": [2, 1, 1, 1, 1, 2, 3, 3],
                           "item": [5, 1, 2, 3, 4, 6, 1, 2],
                           "time": [50, 10, 20, 30, 10_000, 60, 5, 7]})
    return events, meta


def test_real_dataset_path_positive_plus_sampled_negative():
    events, meta = real_like()
    imp = impressions_from_events(events, meta, seed=0)
    pos, neg = imp[imp.label == 1], imp[imp.label == 0]
    assert len(pos) == len(neg) == 5  # every event after a user's first, one negative each
    clicked = set(zip(events.user, events.item))
    assert not any((u, i) in clicked for u, i in zip(neg.user, neg.item)) and (neg.item > 0).all()
    a = ctr_samples(events, imp, meta, seed=0)
    validate(a, meta)
    assert "relevant" not in a and (a["hist_len"] >= 1).all()


def test_empty_history_is_a_valid_sample():
    events, meta = real_like()
    imp = pd.DataFrame({"user": [1, 3], "time": [1, 100], "item": [6, 3], "label": [0, 1]})
    a = ctr_samples(events, imp, meta)
    np.testing.assert_array_equal(a["hist_len"], [0, 2])
    assert (a["hist_items"][0] == 0).all() and (a["neg_hist_items"][0] == 0).all()
    validate(a, meta)


def test_next_item_samples_and_user_split():
    events, meta = real_like()
    a = next_item_samples(events, meta)
    np.testing.assert_array_equal(a["target_item"], [2, 3, 4, 6, 2])
    np.testing.assert_array_equal(a["hist_items"][2], [1, 2, 3])
    np.testing.assert_array_equal(a["hist_len"], [1, 2, 3, 1, 1])
    tr, va, te = split_users(np.arange(1, 101), seed=0)
    assert (len(tr), len(va), len(te)) == (80, 10, 10)
    assert len(set(tr) | set(va) | set(te)) == 100


def test_load_next_item_splits():
    by_user = load_next_item(size="tiny", seed=0)
    u = [set(p["user"]) for p in (by_user.train, by_user.valid, by_user.test)]
    assert not (u[0] & u[1] or u[0] & u[2] or u[1] & u[2])
    ev = by_user.source.events
    for part in (by_user.valid, by_user.test):
        validate(part, by_user.meta)
        b = 0
        seq = ev[ev.user == part["user"][b]].item.to_numpy()
        n, k = len(seq), part["truth_len"][b]
        np.testing.assert_array_equal(part["truth_items"][b, :k], seq[n - k:])
        assert part["target_item"][b] == seq[n - k]
        assert part["hist_len"][b] == min(n - k, by_user.meta.max_len)
    by_time = load_next_item(size="tiny", seed=0, split="time")
    last = ev.groupby("user").item.last()
    np.testing.assert_array_equal(by_time.test["target_item"], last.loc[by_time.test["user"]])


def test_sessions_from_gaps_and_split():
    events, _ = real_like()
    s = sessions(events, gap=1000)
    # user 1 breaks at t=10000, leaving a one-event session (dropped); ids follow start time:
    # user 3 (t=5), user 1 (t=10), user 2 (t=50)
    assert s.groupby("session").item.apply(list).tolist() == [[1, 2], [1, 2, 3], [5, 6]]
    assert (s.groupby("session").time.diff().dropna() > 0).all()
    d = load_sessions(size="tiny", seed=0)
    assert set(d.test.item) <= set(d.train.item)
    assert d.train.time.max() <= d.test.groupby("session").time.max().min() or len(d.test) == 0


def test_session_parallel_batches():
    d = load_sessions(size="tiny", seed=0).train
    seqs = {s: g.item.tolist() for s, g in d.groupby("session")}
    it = SessionParallelBatches(d, 4, shrink=False)  # stop early (default: shrink)
    seen, rows = {}, [None] * 4
    for step, b in enumerate(it):
        assert set(b) == {"input_item", "target_item", "reset", "session", "state_index",
                          "full_size"}
        assert b["reset"].all() if step == 0 else True
        for r in range(4):
            s = b["session"][r]
            if b["reset"][r]:
                assert s not in seen  # a reset starts an unseen session
                seen[s] = []
            else:
                assert s == rows[r]  # no reset: the row continues its session
            rows[r] = s
            seen[s].append((b["input_item"][r], b["target_item"][r]))
    # every session is visited, except (as in the official code) up to B - 1 at the very end
    # when iteration stops because a row found no session left
    assert set(seqs) - set(seen) <= set(range(len(seqs) - 2, len(seqs) + 1))
    for s, pairs in seen.items():
        full = list(zip(seqs[s][:-1], seqs[s][1:]))
        assert pairs == full[:len(pairs)]  # in order; only the last ones may be cut short
    assert sum(len(p) == len(seqs[s]) - 1 for s, p in seen.items()) >= len(seqs) - 4
    order1 = [b["session"].tolist() for b in SessionParallelBatches(d, 4, True, seed=0)]
    order2 = [b["session"].tolist() for b in SessionParallelBatches(d, 4, True, seed=0)]
    assert order1 == order2
    with pytest.raises(ValueError, match="batch_size"):
        SessionParallelBatches(d, 10**6)


def test_unknown_dataset_lists_the_available_ones():
    with pytest.raises(ValueError, match="available: synthetic"):
        load_ctr("movielens")
