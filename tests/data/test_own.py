"""A reader's own click log (DataFrame or CSV) in load_ctr / load_next_item / load_sessions."""
import numpy as np
import pandas as pd
import pytest

from recbook.data import load_ctr, load_next_item, load_sessions, validate
from recbook.data.own import load as own_load

CTR_KEYS = ["user", "target_item", "target_cat", "hist_items", "hist_cats", "hist_len", "label",
            "neg_hist_items", "neg_hist_cats", "hist_gaps"]


def log(n_users=12, n_items=15, per_user=8, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        t0 = pd.Timestamp("2024-03-01") + pd.Timedelta(hours=int(rng.integers(0, 48)))
        for k in range(per_user):
            i = int(rng.integers(0, n_items))
            rows.append({"user": f"u{u:02d}", "item": f"sku-{i}",
                         "time": t0 + pd.Timedelta(minutes=7 * k + (k >= per_user // 2) * 600),
                         "category": ["shoes", "books", "games"][i % 3]})
    return pd.DataFrame(rows)


def test_frame_in_every_loader_with_the_builtin_splits():
    df = log()
    d = load_ctr(df, max_len=5)
    assert d.name == "own" and d.source.origin == "own DataFrame"
    m = d.meta
    assert (m.n_users, m.n_cats, m.profile) == (12, 3, {})
    assert m.n_items == df.item.nunique() and m.max_len == 5
    for part in (d.train, d.valid, d.test):
        validate(part, m, CTR_KEYS)
    # ids follow the sorted raw values; vocab maps back; categories per item
    v = d.source.vocab
    assert list(v["user"][1:]) == sorted(df.user.unique())
    cat_of = dict(zip(df.item, df.category))
    for i in range(1, m.n_items + 1):
        assert v["cat"][m.item_cat[i]] == cat_of[v["item"][i]]
    # leave-last-out by time per user, as the built-in data: one positive per user in test
    assert (d.test["label"] == 1).sum() == 12 and len(np.unique(d.test["user"])) == 12
    n = load_next_item(df, split="time", max_len=5)
    validate(n.test, n.meta, ["target_item", "hist_items", "hist_len"])
    assert len(n.test["user"]) == 12
    s = load_sessions(df, valid=0.2, test=0.2)  # no session column: 30-minute cut per user
    assert set(s.train.columns) == {"session", "item", "time"}
    n_sessions = sum(p.session.nunique() for p in (s.train, s.valid, s.test))
    assert n_sessions <= 24 and len(s.train) > 0


def test_csv_renamed_columns_and_seconds(tmp_path):
    df = log().rename(columns={"user": "customer", "item": "sku", "time": "ts"})
    df["ts"] = (df.ts - pd.Timestamp(0)) // pd.Timedelta(seconds=1)
    df = df.drop(columns="category")
    path = tmp_path / "clicks.csv"
    df.to_csv(path, index=False)
    cols = {"user": "customer", "item": "sku", "time": "ts"}
    a = load_ctr(str(path), columns=cols)
    b = load_ctr(df, columns=cols)
    assert a.source.origin.startswith("own CSV file") and a.meta.n_cats == 1
    assert set(a.meta.item_cat[1:]) == {1}  # no category column: every item in "(none)"
    for k in a.test:
        np.testing.assert_array_equal(a.test[k], b.test[k])
    # datetimes and the same instants in seconds give the same events
    secs = own_load(df, columns=cols).events
    dates = own_load(df.assign(ts=pd.to_datetime(df.ts, unit="s")), columns=cols).events
    pd.testing.assert_frame_equal(secs, dates)


def test_session_column_without_user():
    df = log().drop(columns=["user", "category"])
    df["session"] = np.repeat(np.arange(24), 4)
    s = load_sessions(df, valid=0.2, test=0.2)
    assert sum(p.session.nunique() for p in (s.train, s.valid, s.test)) <= 24
    assert s.meta.n_cats == 1 and s.source.tasks == ("sessions",)
    with pytest.raises(KeyError, match="load_ctr needs a 'user' column.*load_sessions"):
        load_ctr(df)
    with pytest.raises(KeyError, match="load_next_item needs a 'user' column"):
        load_next_item(df)


def test_user_and_session_columns_keep_the_given_sessions():
    df = log(n_users=6)
    df["session"] = df.user + "-" + (df.groupby("user").cumcount() // 2).astype(str)
    s = load_sessions(df, valid=0.2, test=0.2)
    assert all(n == 2 for p in (s.train,) for n in p.groupby("session").size())


def test_errors_name_the_problem(tmp_path):
    df = log()
    with pytest.raises(KeyError, match="needs a 'time' column.*your columns"):
        load_ctr(df.drop(columns="time"))
    with pytest.raises(KeyError, match="needs a 'user' column \\(or a 'session'"):
        load_sessions(df.drop(columns="user"))
    with pytest.raises(KeyError, match="needs a 'stamp' column"):
        load_ctr(df, columns={"time": "stamp"})
    with pytest.raises(ValueError, match="columns= maps \\['when'\\]"):
        load_ctr(df, columns={"when": "time"})
    with pytest.raises(FileNotFoundError, match="no file .*missing.csv"):
        load_ctr(str(tmp_path / "missing.csv"))
    bad = df.copy()
    bad.loc[5, "item"] = None
    with pytest.raises(ValueError, match="column 'item' is empty in row 5"):
        load_ctr(bad)
    bad = df.assign(time="yesterday-ish")
    with pytest.raises(ValueError, match="'time' must hold seconds or dates"):
        load_ctr(bad)
    with pytest.raises(ValueError, match="whole seconds"):
        load_ctr(df.assign(time=np.linspace(0, 1, len(df))))
    bad = df.copy()
    bad.loc[bad.item == bad.item.iloc[0], "category"] = ["shoes", "books"] + \
        ["shoes"] * ((bad.item == bad.item.iloc[0]).sum() - 2)
    with pytest.raises(ValueError, match="has several categories.*one category per item"):
        load_ctr(bad)
    with pytest.raises(ValueError, match="no rows"):
        load_ctr(df.iloc[:0])
    with pytest.raises(ValueError, match="unknown dataset 'clicks.tsv'.*own log"):
        load_ctr("clicks.tsv")
