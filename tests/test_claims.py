"""recbook.claims: the verdict rule at its boundaries, records written atomically and read back,
clear errors, and the table's "run chapter" text for claims without a record."""
import json
import os

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


def test_rule_boundaries():
    v = claims.pair_verdict
    # beyond the spread (0.01 + 0.01) on the primary metric and ordered on the other: reproduced
    assert v({"auc": [0.80, 0.82], "gauc": [0.7]}, {"auc": [0.75, 0.77], "gauc": [0.6]},
             ("auc", "gauc")) == "reproduced"
    # a gap of exactly the spread is not beyond it
    assert v({"auc": [0.79, 0.81]}, {"auc": [0.77, 0.79]}, ["auc"]) == "partly"
    # ordered on the primary, reversed on the other: partly
    assert v({"auc": [0.80, 0.82], "gauc": [0.5]}, {"auc": [0.70, 0.72], "gauc": [0.6]},
             ("auc", "gauc")) == "partly"
    # reversed on the primary, ordered on the other: partly; reversed on both or a tie: not
    assert v({"auc": [0.7], "gauc": [0.7]}, {"auc": [0.8], "gauc": [0.6]}, ("auc", "gauc")) == "partly"
    assert v({"auc": [0.7], "gauc": [0.5]}, {"auc": [0.8], "gauc": [0.6]}, ("auc", "gauc")) == "not"
    assert v({"auc": [0.7]}, {"auc": [0.7]}, ["auc"]) == "not"
    # reversed on the primary beyond the spread: not, even when a secondary metric agrees
    assert v({"auc": [0.70, 0.72], "gauc": [0.7]}, {"auc": [0.80, 0.82], "gauc": [0.6]},
             ("auc", "gauc")) == "not"
    assert v({"auc": [0.7]}, {"auc": [0.8]}, ["auc"], noise={"auc": 0.05}) == "not"
    # reversed within the spread while a secondary agrees: partly
    assert v({"auc": [0.78, 0.80], "gauc": [0.7]}, {"auc": [0.79, 0.81], "gauc": [0.6]},
             ("auc", "gauc")) == "partly"
    # one run a side has no spread: at best partly, unless the caller gives the noise
    assert v({"auc": [0.9]}, {"auc": [0.5]}, ["auc"]) == "partly"
    assert v({"auc": [0.9]}, {"auc": [0.5]}, ["auc"], noise={"auc": 0.1}) == "reproduced"
    assert v({"auc": [0.9]}, {"auc": [0.5]}, ["auc"], noise={"auc": 0.5}) == "partly"


def test_combine_and_chains():
    assert claims.combine(["reproduced", "reproduced"]) == "reproduced"
    assert claims.combine(["not", "not"]) == "not"
    assert claims.combine(["reproduced", "not"]) == "partly"
    results = {"A": {"m": [3, 3.1]}, "B": {"m": [2, 2.1]}, "C": {"m": [2.5, 2.6]}}
    assert claims.verdict(results, [("A", "B"), ("B", "C")], ["m"]) == "partly"
    assert claims.verdict(results, [("A", "B"), ("A", "C")], ["m"]) == "reproduced"
    with pytest.raises(ValueError, match="'D'"):
        claims.verdict(results, [("A", "D")], ["m"])
    with pytest.raises(ValueError, match="metric 'x'"):
        claims.verdict(results, [("A", "B")], ["x"])
    with pytest.raises(ValueError, match="'maybe'"):
        claims.combine(["maybe"])


def test_record_roundtrip_and_table(where):
    rec = claims.record("din.beats_base", "reproduced", "AUC 0.8 vs 0.7", "synthetic")
    assert rec["verdict"] == "reproduced" and rec["recbook"] and rec["time"]
    files = list(where.glob("*.json"))
    assert [f.name for f in files] == ["din.beats_base@synthetic.json"]
    assert json.loads(files[0].read_text()) == rec
    claims.record("din.beats_base", "partly", "AUC 0.74 vs 0.73", "movielens-1m")
    t = claims.table("din", evidence=True)
    assert list(t.columns[3:]) == ["synthetic", "synthetic: evidence", "movielens-1m",
                                   "movielens-1m: evidence"]
    assert t.loc["din.beats_base", "synthetic"] == "reproduced"
    assert t.loc["din.beats_base", "movielens-1m"] == "partly"
    assert t.loc["din.beats_base", "movielens-1m: evidence"] == "AUC 0.74 vs 0.73"
    # a claim without a record says which chapter to run
    assert t.loc["din.dice_beats_prelu", "synthetic"] == "run chapter DIN (din.ipynb)"
    assert t.loc["din.dice_beats_prelu", "movielens-1m"] == "—"
    assert set(claims.table().index) == set(claims.CLAIMS)
    page = claims.html_table("din")
    assert 'href="din.html#din-claims"' in page and "DIN beats the Base model" in page
    assert "din.beats_base" not in page and "zhou2018din" not in page  # ids and keys: table()
    # a rerun replaces the record
    claims.record("din.beats_base", "not", "AUC 0.7 vs 0.8", "synthetic")
    assert claims.table("din").loc["din.beats_base", "synthetic"] == "not"


def test_check_records_the_rule_and_the_numbers(where):
    rec = claims.check("dien.beats_din", {"DIEN": {"auc": [0.8, 0.81, 0.8]},
                                          "DIN": {"auc": [0.7, 0.71, 0.7]}},
                       [("DIEN", "DIN")], "auc", "synthetic", note="3 seeds")
    assert rec["verdict"] == "reproduced"
    assert rec["evidence"].startswith("auc: DIEN 0.8033 ± 0.0047, DIN 0.7033 ± 0.0047")
    assert rec["evidence"].endswith("3 seeds")
    assert claims.table("dien").loc["dien.beats_din", "synthetic"] == "reproduced"


def test_atomic_write_leaves_no_partial_file(where, monkeypatch):
    claims.record("bst.beats_din", "partly", "first", "synthetic")

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        claims.record("bst.beats_din", "not", "second", "synthetic")
    assert [p.name for p in where.iterdir()] == ["bst.beats_din@synthetic.json"]  # no temp file
    assert claims.table("bst").loc["bst.beats_din", "synthetic"] == "partly"  # old one intact


def test_errors_name_what_was_wrong(where):
    with pytest.raises(ValueError, match="unknown claim id 'din.nope'"):
        claims.record("din.nope", "reproduced", "", "synthetic")
    with pytest.raises(ValueError, match="'yes'"):
        claims.record("din.beats_base", "yes", "", "synthetic")
    with pytest.raises(ValueError, match="dataset"):
        claims.record("din.beats_base", "not", "", "")
    with pytest.raises(ValueError, match="no claims for chapter 'xyz'"):
        claims.table("xyz")
    where.mkdir(parents=True, exist_ok=True)
    (where / "broken.json").write_text("{not json")  # an unreadable file is skipped
    assert claims.table("din").loc["din.beats_base", "synthetic"].startswith("run chapter")


def test_directory_argument_and_default(tmp_path, monkeypatch):
    monkeypatch.delenv(claims.ENV_VAR, raising=False)
    monkeypatch.setenv("RECBOOK_DATA", str(tmp_path / "cache"))
    assert claims.claims_dir() == tmp_path / "cache" / "claims"
    claims.record("mind.beats_youtube", "not", "x", "synthetic", directory=tmp_path / "d")
    assert (tmp_path / "d" / "mind.beats_youtube@synthetic.json").exists()
