"""recbook.claims: constructed seed results give each verdict label, the rule at its boundaries,
records per dataset written atomically and read back, the table's columns, evidence in full,
ComiRec-DR and -SA apart, clear errors."""
import json
import os

import numpy as np
import pytest

from recbook import claims


@pytest.fixture
def where(tmp_path, monkeypatch):
    monkeypatch.setenv(claims.ENV_VAR, str(tmp_path / "claims"))
    return tmp_path / "claims"


def test_every_claim_names_a_chapter_section_that_exists():
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    for c in claims.CLAIMS.values():
        text = (root / "chapters" / f"{c.chapter}.md").read_text()
        assert f"({c.label})=" in text, f"{c.id}: chapters/{c.chapter}.md lacks ({c.label})="
        assert c.id.startswith(c.chapter + "."), c.id


# constructed seed results: the same noise (sd 0.01 over 3 seeds), growing gaps
NOISE = np.array([-0.01, 0.0, 0.01])


def _seeds(mean):
    return list(mean + NOISE)


def test_each_label_from_constructed_seeds():
    e = claims.effect
    base = _seeds(0.70)
    # sd = 0.01, se = 0.01 * sqrt(2/3) = 0.00816
    assert e(_seeds(0.77), base).label == "reproduced"  # a large consistent win: 7 sd
    assert e(_seeds(0.72), base).label == "reproduced (small effect)"  # 2 sd, 2.4 s.e.
    assert e(_seeds(0.705), base).label == "tie / within noise"  # 0.6 s.e.
    assert e(_seeds(0.69), base).label == "tie / within noise"  # a small reversal is noise
    assert e(_seeds(0.65), base).label == "reversed"
    assert e([0.9], [0.5]).label == "cannot tell (one seed)"  # one run a side: no spread
    big = e(_seeds(0.77), base, "auc", names=("BST", "DIN"))
    assert big.d == pytest.approx(7.0) and big.t == pytest.approx(7.0 / np.sqrt(2 / 3))
    assert big.text() == "BST − DIN +0.0700 = 7.0 seed sd, 8.6 s.e. → reproduced"


def test_rule_boundaries():
    e = claims.effect
    base = _seeds(0.70)
    se = 0.01 * np.sqrt(2 / 3)
    assert e(_seeds(0.70 + 2 * se + 1e-6), base).label == "reproduced (small effect)"
    assert e(_seeds(0.70 + 2 * se - 1e-6), base).label == "tie / within noise"
    assert e(_seeds(0.73 - 1e-6), base).label == "reproduced (small effect)"  # under 3 sd
    assert e(_seeds(0.73 + 1e-6), base).label == "reproduced"
    assert e(_seeds(0.70 - 2 * se - 1e-6), base).label == "reversed"
    # one seed on one side only: the other side's spread is the noise (counted baselines)
    assert e(_seeds(0.8), [0.7]).label == "reproduced"
    assert e([0.7], _seeds(0.8)).label == "reversed"
    # no spread at all (deterministic): any gap counts, none is a tie
    assert e([0.8, 0.8], [0.7, 0.7]).label == "reproduced"
    assert e([0.7, 0.7], [0.7, 0.7]).label == "tie / within noise"
    # an explicit noise (e.g. two standard errors over test rows) replaces the seeds
    assert e([0.9], [0.5], noise=0.1).label == "reproduced"  # gap 0.4 > 2 * noise
    assert e([0.6], [0.5], noise=0.07).label == "reproduced (small effect)"
    assert e([0.52], [0.5], noise=0.05).label == "tie / within noise"
    assert e([0.4], [0.5], noise=0.05).label == "reversed"
    # a target size: capsule NMI 0.229 vs chance 0.172 is beyond a noise of 0.02, but under
    # the "2× chance" target (large from a gap of 0.172): a small effect, not a reproduction
    nmi = e([0.229], [0.172], "NMI", noise=0.02, large=0.172)
    assert nmi.label == "reproduced (small effect)"
    assert nmi.text() == "better − worse +0.0570 (large from +0.1720) vs noise 0.0200 → " \
                         "reproduced (small effect)"
    assert e([0.40], [0.172], noise=0.02, large=0.172).label == "reproduced"
    assert e(_seeds(0.75), _seeds(0.70), large=0.10).label == "reproduced (small effect)"
    assert claims.verdict({"A": {"m": _seeds(0.75)}, "B": {"m": _seeds(0.70)}}, [("A", "B")],
                          "m", large={"m": 0.04}) == "reproduced"
    with pytest.raises(ValueError, match="noise"):
        e([0.4], [0.5], "auc", noise=0.0)
    with pytest.raises(ValueError, match="non-finite"):
        e([np.nan, 0.4], [0.5])


def test_combine_metrics_and_orderings():
    c = claims.combine
    assert c(["reproduced", "reproduced"]) == "reproduced"
    assert c(["reproduced", "reproduced (small effect)"]) == "reproduced (small effect)"
    assert c(["reproduced", "tie / within noise"]) == "tie / within noise"
    assert c(["tie / within noise", "reversed"]) == "reversed"
    assert c(["reproduced", "reversed"]) == "mixed"
    assert c(["reproduced", "cannot tell (one seed)"]) == "cannot tell (one seed)"
    v = claims.pair_verdict
    # the paper's two metrics: the claim holds as far as both hold
    assert v({"auc": _seeds(0.8), "gauc": _seeds(0.75)}, {"auc": _seeds(0.7), "gauc": _seeds(0.7)},
             ("auc", "gauc")) == "reproduced"
    assert v({"auc": _seeds(0.8), "gauc": _seeds(0.72)}, {"auc": _seeds(0.7), "gauc": _seeds(0.7)},
             ("auc", "gauc")) == "reproduced (small effect)"
    assert v({"auc": _seeds(0.8), "gauc": _seeds(0.6)}, {"auc": _seeds(0.7), "gauc": _seeds(0.7)},
             ("auc", "gauc")) == "mixed"
    results = {"A": {"m": _seeds(3)}, "B": {"m": _seeds(2)}, "C": {"m": _seeds(2.5)}}
    assert claims.verdict(results, [("A", "B"), ("B", "C")], ["m"]) == "mixed"  # A > B, B < C
    assert claims.verdict(results, [("A", "B"), ("A", "C")], ["m"]) == "reproduced"
    with pytest.raises(ValueError, match="'D'"):
        claims.verdict(results, [("A", "D")], ["m"])
    with pytest.raises(ValueError, match="metric 'x'"):
        claims.verdict(results, [("A", "B")], ["x"])
    with pytest.raises(ValueError, match="'maybe'"):
        claims.combine(["maybe"])
    with pytest.raises(ValueError, match="pairs"):
        claims.verdict(results, [("A", "B", "C")], ["m"])


def test_record_roundtrip_and_table(where):
    rec = claims.record("din.beats_base", "reproduced", "AUC 0.8 vs 0.7", "synthetic", seeds=3)
    assert rec["verdict"] == "reproduced" and rec["recbook"] and rec["time"]
    files = list(where.glob("*.json"))
    assert [f.name for f in files] == ["din.beats_base@synthetic.json"]
    assert json.loads(files[0].read_text()) == rec
    claims.record("din.beats_base", "tie / within noise", "AUC 0.74 vs 0.73", "movielens-100k",
                  seeds={"DIN": 3, "Base": 3})
    claims.record("din.beats_base", "reversed", "AUC 0.7 vs 0.72", "movielens-1m")
    t = claims.table("din", evidence=True)
    # one verdict column per dataset: built-in and MovieLens-100K always, others when recorded
    assert list(t.columns[3:]) == ["synthetic", "synthetic: evidence", "movielens-100k",
                                   "movielens-100k: evidence", "movielens-1m",
                                   "movielens-1m: evidence"]
    assert t.loc["din.beats_base", "synthetic"] == "reproduced · 3 seeds"
    assert t.loc["din.beats_base", "movielens-100k"] == "tie / within noise · 3 seeds"
    assert t.loc["din.beats_base", "movielens-1m"] == "reversed"  # no runs recorded
    assert t.loc["din.beats_base", "movielens-100k: evidence"] == "AUC 0.74 vs 0.73"
    # a claim without a record says which chapter (and section) to run
    assert t.loc["din.dice_beats_prelu", "synthetic"] == "run chapter DIN (din.ipynb)"
    assert t.loc["din.dice_beats_prelu", "movielens-100k"] == (
        "not measured on MovieLens-100K yet (DIN chapter)")
    assert t.loc["din.dice_beats_prelu", "movielens-1m"] == "—"
    assert set(claims.table().index) == set(claims.CLAIMS)
    assert list(claims.table("bst").columns[3:]) == ["synthetic", "movielens-100k"]
    page = claims.html_table("din")
    assert 'href="din.html#din-claims"' in page and "DIN beats the Base model" in page
    assert "<th>built-in</th>" in page and "<th>MovieLens-100K</th>" in page
    assert "<b>reproduced</b><br><small>3 seeds</small>" in page
    assert "din.beats_base" not in page and "zhou2018din" not in page  # ids and keys: table()
    # a rerun replaces the record
    claims.record("din.beats_base", "reversed", "AUC 0.7 vs 0.8", "synthetic")
    assert claims.table("din").loc["din.beats_base", "synthetic"] == "reversed"
    # a record of the old rule ("partly") is not shown as if it were this rule's
    claims.record("din.mba_helps", "mixed", "x", "synthetic")
    path = where / "din.mba_helps@synthetic.json"
    path.write_text(path.read_text().replace('"mixed"', '"partly"'))
    assert claims.table("din").loc["din.mba_helps", "synthetic"].startswith("run chapter")


def test_evidence_is_never_truncated(where):
    long = {f"model {i} with a long name": {"auc": [0.7 + i / 100, 0.71 + i / 100, 0.72 + i / 100]}
            for i in range(4)}
    names = list(long)
    rec = claims.check("bst.time_positions", long, [(names[3], names[0]), (names[3], names[1])],
                       "auc", "synthetic", note="a note at the very end of a long evidence string")
    assert len(rec["evidence"]) > 300 and rec["evidence"].endswith("long evidence string")
    t = claims.table("bst", evidence=True)
    assert "long evidence string" in t._repr_html_()
    assert "long evidence string" in repr(t)
    shown = t.drop(columns=["paper", "chapter"])  # as the chapters display it
    assert type(shown) is claims.ClaimsTable and "long evidence string" in shown._repr_html_()
    assert "long evidence string" in claims.html_table("bst", evidence=True)


def test_check_records_the_rule_the_numbers_and_the_seeds(where):
    rec = claims.check("dien.beats_din", {"DIEN": {"auc": [0.8, 0.81, 0.8]},
                                          "DIN": {"auc": [0.7, 0.71, 0.7]}},
                       [("DIEN", "DIN")], "auc", "synthetic", note="3 seeds")
    assert rec["verdict"] == "reproduced"
    assert rec["evidence"].startswith("auc: DIEN 0.8033 ± 0.0058, DIN 0.7033 ± 0.0058 "
                                      "(DIEN − DIN +0.1000 = 17.3 seed sd, 21.2 s.e. → "
                                      "reproduced) (3 seeds)")
    assert rec["evidence"].endswith("3 seeds") and rec["seeds"] == {"DIEN": 3, "DIN": 3}
    assert claims.table("dien").loc["dien.beats_din", "synthetic"] == "reproduced · 3 seeds"
    rec = claims.check("dien.aux_helps", {"a": {"auc": [0.8]}, "b": {"auc": [0.7]}},
                       [("a", "b")], "auc", "movielens-100k")
    assert rec["verdict"] == "cannot tell (one seed)" and "1 seed" in rec["evidence"]
    assert rec["dataset"] == "movielens-100k"
    rec = claims.check("gru4rec.beats_baselines",
                       {"GRU4Rec": {"r": [0.3, 0.31, 0.32]}, "item-kNN": {"r": [0.2]},
                        "most popular": {"r": [0.1]}},
                       [("GRU4Rec", "item-kNN"), ("item-kNN", "most popular")], "r", "synthetic")
    assert rec["verdict"] == "cannot tell (one seed)"  # kNN vs popular: one run each
    assert rec["evidence"].endswith("(3/1 seeds)")


def test_comirec_models_get_a_row_each(where):
    ids = claims.table("comirec").index
    assert {"comirec.dr_beats_mind", "comirec.sa_beats_mind", "comirec.controllable_dr",
            "comirec.controllable_sa"} <= set(ids)
    for i in claims.CLAIMS:  # no row pools the two models
        text = claims.CLAIMS[i].text
        assert not ("ComiRec-DR" in text and "ComiRec-SA" in text), i
        assert "DR or SA" not in text, i
    # the chapters' old pooled call still runs and records one row per model
    res = {"ComiRec-DR": {"recall@50": [0.5, 0.52, 0.51]}, "ComiRec-SA": {"recall@50": [0.4, 0.41,
                                                                                          0.42]},
           "MIND": {"recall@50": [0.45, 0.46, 0.47]}}
    recs = claims.check("comirec.beats_mind", res, [("ComiRec-DR", "MIND"), ("ComiRec-SA", "MIND")],
                        "recall@50", "synthetic")
    assert [r["claim"] for r in recs] == ["comirec.dr_beats_mind", "comirec.sa_beats_mind"]
    t = claims.table("comirec")
    assert t.loc["comirec.dr_beats_mind", "synthetic"] == "reproduced · 3 seeds"
    assert t.loc["comirec.sa_beats_mind", "synthetic"] == "reversed · 3 seeds"
    # the pooled λ claim cannot be split: recorded under its old id, shown in no table
    claims.check("comirec.controllable", {"a": {"d": [0.5, 0.6]}, "b": {"d": [0.3, 0.35]}},
                 [("a", "b")], "d", "synthetic")
    assert "comirec.controllable" not in claims.table().index
    with pytest.raises(ValueError, match="split"):
        claims.check("comirec.beats_mind", res, [("MIND", "MIND")], "recall@50", "synthetic")


def test_atomic_write_leaves_no_partial_file(where, monkeypatch):
    claims.record("bst.beats_din", "mixed", "first", "synthetic")

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        claims.record("bst.beats_din", "reversed", "second", "synthetic")
    assert [p.name for p in where.iterdir()] == ["bst.beats_din@synthetic.json"]  # no temp file
    assert claims.table("bst").loc["bst.beats_din", "synthetic"] == "mixed"  # old one intact


def test_errors_name_what_was_wrong(where):
    with pytest.raises(ValueError, match="unknown claim id 'din.nope'"):
        claims.record("din.nope", "reproduced", "", "synthetic")
    with pytest.raises(ValueError, match="'yes'"):
        claims.record("din.beats_base", "yes", "", "synthetic")
    with pytest.raises(ValueError, match="dataset"):
        claims.record("din.beats_base", "reversed", "", "")
    with pytest.raises(ValueError, match="no claims for chapter 'xyz'"):
        claims.table("xyz")
    where.mkdir(parents=True, exist_ok=True)
    (where / "broken.json").write_text("{not json")  # an unreadable file is skipped
    assert claims.table("din").loc["din.beats_base", "synthetic"].startswith("run chapter")


def test_directory_argument_and_default(tmp_path, monkeypatch):
    monkeypatch.delenv(claims.ENV_VAR, raising=False)
    monkeypatch.setenv("RECBOOK_DATA", str(tmp_path / "cache"))
    assert claims.claims_dir() == tmp_path / "cache" / "claims"
    claims.record("mind.beats_youtube", "reversed", "x", "synthetic", directory=tmp_path / "d")
    assert (tmp_path / "d" / "mind.beats_youtube@synthetic.json").exists()


def test_read_only_data_cache_falls_back_for_records(tmp_path, monkeypatch):
    """A read-only $RECBOOK_DATA (or one naming a file) must not break the claims cell."""
    import tempfile
    monkeypatch.delenv(claims.ENV_VAR, raising=False)
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("RECBOOK_DATA", str(tmp_path / "file"))
    with pytest.warns(UserWarning, match="recbook-claims.*is a file"):
        rec = claims.record("din.beats_base", "reproduced", "AUC 0.8 vs 0.7", "synthetic")
    assert (tmp_path / "tmp" / "recbook-claims" / "din.beats_base@synthetic.json").exists()
    assert rec["verdict"] == "reproduced"
    ro = tmp_path / "ro"
    ro.mkdir()
    monkeypatch.setenv("RECBOOK_DATA", str(ro))
    real = type(ro).write_text

    def read_only(self, *a, **k):  # root ignores chmod: refuse writes under ro/ by hand
        if ro in self.parents:
            raise OSError(30, "Read-only file system", str(self))
        return real(self, *a, **k)
    monkeypatch.setattr(type(ro), "write_text", read_only)
    with pytest.warns(UserWarning, match="is not writable"):
        assert claims.claims_dir() == tmp_path / "tmp" / "recbook-claims"
