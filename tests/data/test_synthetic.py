import numpy as np
import pandas as pd
import pytest

from recbook.data import generate

SMALL = dict(n_users=300, n_items=200, n_cats=10, max_len=30, min_events=20, max_events=40)


@pytest.fixture(scope="module")
def small():
    return generate(seed=1, **SMALL)


def test_deterministic_by_seed():
    a, b, c = generate("tiny", seed=3), generate("tiny", seed=3), generate("tiny", seed=4)
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.impressions, b.impressions)
    np.testing.assert_array_equal(a.successors, b.successors)
    assert not a.events.item.equals(c.events.item)


def test_log_follows_the_data_contract(small):
    ev, m = small.events, small.meta
    assert (ev.cat.to_numpy() == m.item_cat[ev.item]).all()
    assert ev.item.between(1, m.n_items).all() and ev.user.between(1, m.n_users).all()
    assert (ev.groupby("user").time.diff().dropna() > 0).all()  # sorted, strictly later
    assert (ev.groupby("user").session.diff().dropna() >= 0).all()
    assert set(small.users.columns) == {"user", "gender", "age"}
    assert small.users.gender.between(1, 2).all() and small.users.age.between(1, 7).all()
    assert m.profile == {"gender": 2, "age": 7}
    s = small.successors
    assert (s[0] == 0).all() and (s[1:] >= 1).all()
    assert (s[1:] != np.arange(1, m.n_items + 1)[:, None]).all()  # never its own successor
    assert (m.item_cat[s[1:]] == m.item_cat[1:, None]).all()     # same category


def test_successor_transitions_are_planted():
    def rate(data):
        ev = data.events
        same = (ev.session.to_numpy()[1:] == ev.session.to_numpy()[:-1])
        prev, nxt = ev.item.to_numpy()[:-1][same], ev.item.to_numpy()[1:][same]
        return (data.successors[prev] == nxt[:, None]).any(1).mean()
    planted, none = rate(generate(seed=1, **SMALL)), rate(generate(seed=1, gamma=0.0, **SMALL))
    # chance is high in small categories (popular items are successors of many items)
    assert planted > 0.4 and planted > none + 0.2


def test_interests_drift_and_noise(small):
    it = small.interests
    sets = it.groupby(["user", "session"]).cat.apply(frozenset)
    changed = sets.groupby(level="user").nunique() > 1
    assert changed.mean() > 0.5  # most users' interest sets change over their timeline
    still = generate(seed=1, drift=0.0, noise=0.0, **SMALL)
    s2 = still.interests.groupby(["user", "session"]).cat.apply(frozenset)
    assert (s2.groupby(level="user").nunique() == 1).all()
    assert (still.events.cat == still.events.interest).all()
    off = (small.events.cat != small.events.interest).mean()
    assert 0.01 < off < 0.1  # noise 0.05, minus noise draws that land in the active category
    # events follow the held interests: the active category is one the user holds then
    ev = small.events.merge(it, left_on=["session", "interest"], right_on=["session", "cat"])
    assert len(ev) == len(small.events)


def test_profile_shifts_category_prior(small):
    ev = small.events
    p = small.prior[ev.user, ev.cat]
    assert p.mean() > 1.5 / small.meta.n_cats  # users click categories their profile favours
    assert not np.allclose(small.prior[1], small.prior[1:].mean(0))


def test_clicks_follow_relevant_history(small):
    imp = small.impressions
    assert imp.label.isin([0, 1]).all() and 0.2 < imp.label.mean() < 0.8
    assert imp.groupby("page").item.apply(lambda s: s.is_unique).all()
    by_source = imp.groupby("source").label.mean()
    assert by_source["interest"] > by_source["random"] + 0.2
    assert by_source["successor"] > by_source["random"] + 0.3
    # labels are noisy draws of the true logit, not a deterministic rule
    hi = imp[imp.logit > 1.0]
    assert 0.5 < hi.label.mean() < 1.0


def test_held_interests_lookup(small):
    ev = small.events.iloc[[0, 10, 100]]
    cats, w = small.held_interests(ev.user, ev.time)
    assert cats.shape == (3, small.config.max_interests)
    assert all(c in row for c, row in zip(ev.interest, cats))
    np.testing.assert_allclose(w.sum(1), 1.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="available"):
        generate("huge")
    with pytest.raises(TypeError, match="n_user"):
        generate("tiny", n_user=3)
