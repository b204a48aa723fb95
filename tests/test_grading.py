"""scripts/grade.py end to end: a student notebook generated from a chapter, answered right,
wrong and not at all by different students, graded by the command a teacher runs."""
import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
_spec = importlib.util.spec_from_file_location("grade", ROOT / "scripts" / "grade.py")
grade = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(grade)
student = grade.student

CHAPTER = "mind"  # its three exercises are numpy functions: no training is needed to grade them


def _reduced_student_notebook():
    """MIND's student notebook as `make sync` generates it, reduced to its install cell, numpy and
    its exercise section (the training cells before it would only cost time here)."""
    nb = student.student_notebook(ROOT / "chapters" / f"{CHAPTER}.md", ROOT)
    start = next(k for k, c in enumerate(nb.cells) if c.cell_type == "markdown"
                 and "\n## Exercises" in "\n" + c.source)
    install = next(c for c in nb.cells if c.cell_type == "code")
    nb.cells = [install, nbformat.v4.new_code_cell("import numpy as np")] + nb.cells[start:]
    return nb


def _solution(name: str) -> str:
    chapter = jupytext.read(ROOT / "chapters" / f"{CHAPTER}.md")
    return next(c.source for c in chapter.cells if "solution" in c.metadata.get("tags", [])
                and f"def {name}(" in c.source)


def _answer(nb, name: str, source: str) -> None:
    cell = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith(f"def {name}("))
    cell.source = source


@pytest.fixture
def submissions(tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    # ana: squash right, one routing iteration wrong, the interest number left blank.
    ana = _reduced_student_notebook()
    _answer(ana, "my_squash", _solution("my_squash"))
    _answer(ana, "my_routing_iteration", "def my_routing_iteration(b, e_hat, n):\n    return b, e_hat, b")
    nbformat.write(ana, folder / "ana.ipynb")
    # ben hands the notebook back untouched, but with a forged ✓ under every checker cell and a
    # checker cell rewritten to print one: neither saved outputs nor edited checkers count.
    ben = _reduced_student_notebook()
    for cell in ben.cells:
        if "check" in cell.metadata.get("recbook", {}):
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="✓ matches\n")]
    checker = next(c for c in ben.cells if "check" in c.metadata.get("recbook", {}))
    checker.source, checker.metadata = 'print("✓ squash matches the reference")', {}
    nbformat.write(ben, folder / "ben.ipynb")
    # cy's notebook, in a folder of its own, pastes the folded solution cell of the full notebook
    # (removed by the grader) and loops forever in another answer (stopped by the timeout).
    cy = _reduced_student_notebook()
    k = next(i for i, c in enumerate(cy.cells) if c.source.startswith("def my_interest_number("))
    cy.cells.insert(k + 1, nbformat.v4.new_code_cell("#@title Solution\n" + _solution("my_interest_number")))
    _answer(cy, "my_squash", "def my_squash(z):\n    while True:\n        pass")
    (folder / "cy").mkdir()
    nbformat.write(cy, folder / "cy" / "mind.ipynb")
    return folder


def test_grade_command_gives_the_table(submissions, tmp_path):
    out = tmp_path / "grades.csv"
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "grade.py"), str(submissions),
                             "--out", str(out), "--timeout", "20"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(csv.DictReader(out.open()))
    numbers = [e.number for e in student.book(ROOT)[0].values() if e.page == f"chapters/{CHAPTER}"]
    ex = [f"Exercise {n}" for n in numbers]  # squash, routing, interest number
    table = [[r["student"]] + [r[c] for c in ex] + [r["passed"]] for r in rows]
    assert table == [
        ["ana", "passed", "failed", "not attempted", "1/3"],
        ["ben", "not attempted", "not attempted", "not attempted", "0/3"],
        ["cy", "failed", "not attempted", "not attempted", "0/3"],
    ]
    assert rows[0]["notes"] == rows[1]["notes"] == ""
    assert rows[2]["notes"] == f"{ex[0]}: stopped by the cell timeout (does the answer ever return?)"
    assert "ana" in result.stdout and "1/3" in result.stdout and f"written {out}" in result.stdout


def test_bad_submissions_folder_is_named(tmp_path):
    assert grade.main([str(tmp_path / "nowhere")]) == 2
    (tmp_path / "x.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))
    with pytest.raises(ValueError, match="x.ipynb: which chapter is it"):
        grade.grade_notebook(tmp_path / "x.ipynb")
    with pytest.raises(ValueError, match="no student notebook .*'nope'"):
        grade.reference("nope")


def test_chapter_is_found_without_metadata():
    """Colab may drop the notebook's metadata: its checker cells still name the chapter."""
    nb = _reduced_student_notebook()
    nb.metadata = {}
    for cell in nb.cells:
        cell.metadata = {}
    assert grade.chapter_of(nb, Path("Copy of something.ipynb")) == CHAPTER
    assert grade.chapter_of(nbformat.v4.new_notebook(), Path("din.ipynb")) == "din"


def test_a_checker_that_raises_or_records_nothing_fails_the_exercise(capsys):
    from recbook.exercises import check
    from recbook.exercises.grading import exercise

    with exercise("ex-a", mark="M "):
        my_function  # noqa: F821 - a student deleted the function the checker reads
    with exercise("ex-b", mark="M "):
        pass
    with exercise("ex-c", mark="M "):
        check(lambda x: x, lambda x: x, lambda rng: rng.normal(size=2))
        check(lambda x: None, lambda x: x, lambda rng: rng.normal(size=2))
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("M ")]
    assert lines == [
        'M {"exercise": "ex-a", "status": "failed", "note": "the checker raised NameError: '
        'name \'my_function\' is not defined"}',
        'M {"exercise": "ex-b", "status": "failed", "note": "the checker recorded no verdict"}',
        'M {"exercise": "ex-c", "status": "failed", "note": ""}',
    ]


def test_frameworks_option_runs_one_frameworks_cells(tmp_path, monkeypatch):
    monkeypatch.delenv("RECBOOK_FRAMEWORKS", raising=False)
    nb = _reduced_student_notebook()
    _answer(nb, "my_squash", "%%pytorch\n" + _solution("my_squash"))
    nbformat.write(nb, tmp_path / "dan.ipynb")
    squash = nb.metadata["recbook"]["exercises"][0]["label"]
    _, result = grade.grade_notebook(tmp_path / "dan.ipynb", timeout=60, frameworks="pytorch")
    assert result[squash] == {"status": "passed", "note": ""}
    # Graded with TensorFlow only, the answer's PyTorch cell is skipped: the name is undefined.
    _, result = grade.grade_notebook(tmp_path / "dan.ipynb", timeout=60, frameworks="tensorflow")
    assert result[squash] == {"status": "failed", "note": "the checker raised NameError: name "
                                                          "'my_squash' is not defined"}
    assert "RECBOOK_FRAMEWORKS" not in os.environ  # the kernel's environment, not the grader's
