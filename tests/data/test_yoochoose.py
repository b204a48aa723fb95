"""YooChoose (RSC15): a tiny yoochoose-clicks.dat (SessionID,Timestamp,ItemID,Category, ISO
timestamps with milliseconds and a Z) -> GRU4Rec's official preprocessing, exactly."""
import numpy as np
import pandas as pd
import pytest

from recbook.data import (ManualDownloadError, SessionParallelBatches, load_ctr,
                          load_sessions, validate)
from recbook.data import yoochoose

A, B, C, D, E = 214536502, 214536500, 214577561, 214718203, 214662742
# session, day (April 2014), hh:mm, [(item, category)]
SESSIONS = [
    (11, 1, "10:00", [(A, "0"), (B, "S"), (A, "0")]),
    (12, 1, "11:00", [(B, "1"), (C, "2")]),
    (13, 1, "12:00", [(A, "0")]),                       # length 1: removed first
    (14, 2, "09:00", [(A, "0"), (D, "3")]),             # D has 1 click -> [A] -> removed
    (15, 2, "08:00", [(C, "2"), (B, "1"), (C, "2")]),
    (16, 3, "09:00", [(A, "0"), (B, "S"), (C, "2")]),   # last day of train_full -> valid
    (17, 4, "08:00", [(B, "1"), (E, "0"), (C, "2")]),   # test; E unseen in train -> [B, C]
    (18, 4, "09:00", [(E, "0"), (E, "0"), (E, "0")]),   # test; only E -> dropped
    (19, 4, "10:00", [(E, "0"), (A, "0")]),             # test; [A] -> dropped
]


def _write(path):
    lines = []
    for sid, day, hhmm, clicks in SESSIONS:
        for k, (item, cat) in enumerate(clicks):
            lines.append(f"{sid},2014-04-{day:02d}T{hhmm}:{k:02d}.{123 + k}Z,{item},{cat}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_read_raw(tmp_path):
    df = yoochoose.read(_write(tmp_path / "yoochoose-clicks.dat"), chunksize=5)
    assert len(df) == 22 and df.session.tolist()[:3] == [11, 11, 11]
    assert df.time.iloc[0] == pytest.approx(1396346400.123)  # 2014-04-01T10:00:00.123Z, UTC
    assert df.cat.tolist()[:2] == ["0", "S"] and df.item.iloc[1] == B


def test_gru4rec_preprocessing_exact(tmp_path):
    data = yoochoose.load(_write(tmp_path / "yoochoose-clicks.dat"))
    # items that survive the filters, ids in raw-id order: B, A, C, E
    assert data.vocab["item"].tolist() == [0, B, A, C, E]
    # category = most frequent value: A "0", B "1" (3x vs "S" 2x), C "2", E "0"
    assert data.vocab["cat"].tolist() == ["", "0", "1", "2"]
    assert data.meta.item_cat.tolist() == [0, 2, 1, 3, 1]
    train, valid, test = data.session_split
    assert train.session.tolist() == [1, 1, 1, 2, 2, 3, 3, 3]  # sessions 11, 12, 15
    assert train.item.tolist() == [2, 1, 2, 1, 3, 3, 1, 3]
    assert valid.session.tolist() == [1, 1, 1] and valid.item.tolist() == [2, 1, 3]  # 16
    assert test.session.tolist() == [1, 1] and test.item.tolist() == [1, 3]  # 17 minus E
    full = data.vocab["train_full"]
    assert full.session.nunique() == 4 and len(full) == 11
    assert (np.diff(train.time.to_numpy()[:3]) > 0).all()


def test_load_sessions_feeds_gru4rec(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBOOK_DATA", str(tmp_path))
    (tmp_path / "yoochoose").mkdir()
    _write(tmp_path / "yoochoose" / "yoochoose-clicks.dat")
    d = load_sessions("yoochoose")
    assert isinstance(d.train, pd.DataFrame) and len(d.test) == 2
    steps = list(SessionParallelBatches(d.train, batch_size=2))
    for step in steps:
        validate({k: step[k] for k in ("input_item", "target_item", "reset")}, d.meta)
    assert steps[0]["input_item"].tolist() == [2, 1] and steps[0]["target_item"].tolist() == [1, 3]
    with pytest.raises(ValueError, match="load_sessions"):
        load_ctr("yoochoose")


def test_missing_file_says_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBOOK_DATA", str(tmp_path))
    with pytest.raises(ManualDownloadError) as e:
        load_sessions("yoochoose")
    assert "RecSys Challenge 2015" in str(e.value)
    assert str(tmp_path / "yoochoose" / "yoochoose-clicks.dat") in str(e.value)


def test_bad_timestamp(tmp_path):
    path = tmp_path / "yoochoose-clicks.dat"
    path.write_text("1,2014-04-07 10:51:09,214536502,0\n")
    with pytest.raises(ValueError, match="2014-04-07T10:51:09.277Z"):
        yoochoose.load(path)
