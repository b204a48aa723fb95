#!/usr/bin/env python
"""Grade a folder of students' notebooks: one table, student × exercise.

    python scripts/grade.py SUBMISSIONS [--out grades.csv] [--timeout 900] [--chapter din]
                                        [--frameworks pytorch]
    make grade SUBMISSIONS=dir

SUBMISSIONS holds `<student>.ipynb` files, or one folder per student with that student's
notebooks (`<student>/din.ipynb`, ...). A notebook's chapter comes from its metadata (the student
notebooks carry it), else from --chapter, else from its file name.

Nothing saved in a submission is trusted. Each notebook is executed afresh in its own kernel
(nbclient, a cell timeout, errors allowed so one broken cell does not hide the other exercises),
with its outputs discarded first, any solution cell removed, and the student's copies of the
checker cells replaced: after the student's cells, the grader runs each exercise's checker as it
is in this repository's student/chapters/<chapter>.ipynb and reads the verdict it prints behind a
mark made afresh for the run. What this cannot stop is code that deliberately rewrites recbook's
checkers inside the kernel; read a suspicious notebook.

The table is printed and written as CSV: one row per student, one column per exercise ("passed",
"failed" or "not attempted"; an exercise of a chapter the student did not hand in is "not
attempted"), the number passed, and notes (why an exercise failed when the checker could not say).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import sys
import tempfile
import textwrap
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bookctl  # noqa: E402
import student  # noqa: E402

ROOT = bookctl.ROOT
NOT_ATTEMPTED, FAILED = "not attempted", "failed"


def reference(chapter: str, root: Path = ROOT):
    """This repository's student notebook of `chapter`: its exercises and checker sources."""
    path = Path(root) / student.NOTEBOOKS / f"{chapter}.ipynb"
    if not path.exists():
        known = sorted(p.stem for p in (Path(root) / student.NOTEBOOKS).glob("*.ipynb"))
        raise ValueError(f"no student notebook {path.relative_to(root)} for chapter {chapter!r}; "
                         f"chapters: {', '.join(known)}")
    return student.exercises_of(nbformat.read(path, as_version=4))


def submissions(folder: Path) -> list[tuple[str, Path]]:
    """(student, notebook) pairs: top-level notebooks are named by their file, notebooks in a
    sub-folder by that folder. Checkpoints and hidden folders are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder of notebooks")
    out = []
    for path in sorted(folder.rglob("*.ipynb")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") or part == ".ipynb_checkpoints" for part in rel.parts):
            continue
        out.append((rel.stem if len(rel.parts) == 1 else rel.parts[0], path))
    if not out:
        raise ValueError(f"{folder} holds no .ipynb file")
    return out


def chapter_of(nb, path: Path, default: str | None = None, root: Path = ROOT) -> str:
    """The chapter a submission belongs to: its metadata, else `default` (--chapter), else the
    chapter whose checker cells it holds (Colab may drop metadata and renames a saved copy
    "Copy of din.ipynb"), else its file name."""
    chapter = nb.metadata.get("recbook", {}).get("chapter") or default
    if chapter:
        return chapter
    sources = {c.source.strip() for c in nb.cells if c.cell_type == "code"}
    best, hits = None, 0
    for ref in sorted((Path(root) / student.NOTEBOOKS).glob("*.ipynb")):
        checks = student.exercises_of(nbformat.read(ref, as_version=4))[1].values()
        n = sum(src.strip() in sources for src in checks)
        if n > hits:
            best, hits = ref.stem, n
    if best:
        return best
    if (Path(root) / student.NOTEBOOKS / f"{path.stem}.ipynb").exists():
        return path.stem
    raise ValueError(f"{path}: which chapter is it? Its metadata does not say (recbook.chapter), it "
                     "holds no chapter's checker cell and its name is not a chapter's; pass --chapter")


def grading_notebook(nb, exercises: list[dict], checks: dict[str, str], mark: str):
    """The notebook to execute: the student's cells without outputs, solution cells or checker
    cells, then one grading cell per exercise running this repository's checker."""
    canonical = {src.strip() for src in checks.values()}
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue  # Markdown is not executed; raw cells neither
        if (bookctl.SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])
                or cell.source.lstrip().startswith(bookctl.SOLUTION_TITLE)
                or "check" in cell.get("metadata", {}).get("recbook", {})
                or cell.source.strip() in canonical):
            continue
        cells.append(nbformat.v4.new_code_cell(cell.source))
    for ex in exercises:
        body = textwrap.indent(checks[ex["label"]].strip() or "pass", "    ")
        cells.append(nbformat.v4.new_code_cell(
            "import recbook.exercises.grading as _recbook_grading\n"
            f"with _recbook_grading.exercise({ex['label']!r}, mark={mark!r}):\n{body}"))
    out = nbformat.v4.new_notebook(metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})
    out.cells = cells
    return out


def run(nb, timeout: int, workdir: Path, frameworks: str | None) -> str | None:
    """Execute `nb` in place in `workdir`; None, or why the run stopped early."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    # The kernel's environment: plain log lines, maybe one framework, and the chapters' claim
    # records kept out of the teacher's own (recbook.claims.claims_dir).
    env = {**os.environ, "RECBOOK_PROGRESS": "log", "RECBOOK_CLAIMS": str(Path(workdir) / "claims")}
    if frameworks:
        env["RECBOOK_FRAMEWORKS"] = frameworks
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            interrupt_on_timeout=True, resources={"metadata": {"path": str(workdir)}})
    try:
        client.execute(env=env)
    except DeadKernelError as err:
        return f"the kernel died ({err})"
    except Exception as err:  # noqa: BLE001 - reported in the table, the other students go on
        return f"{type(err).__name__}: {err}"
    return None


def verdicts(nb, mark: str) -> dict[str, dict]:
    out = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                for line in output.get("text", "").splitlines():
                    if line.startswith(mark):
                        v = json.loads(line[len(mark):])
                        out[v["exercise"]] = v
    return out


def grade_notebook(path: Path, chapter: str | None = None, timeout: int = 900,
                   frameworks: str | None = None) -> tuple[str, dict[str, dict]]:
    """Grade one submitted notebook: (chapter, {label: {"status", "note"}}). It runs in an empty
    folder of its own, as on Colab: whatever it writes is deleted afterwards."""
    nb = nbformat.read(path, as_version=4)
    chapter = chapter_of(nb, path, chapter)
    exercises, checks = reference(chapter)
    mark = f"RECBOOK-GRADE-{secrets.token_hex(8)} "
    run_nb = grading_notebook(nb, exercises, checks, mark)
    with tempfile.TemporaryDirectory(prefix="recbook-grade-") as workdir:
        stopped = run(run_nb, timeout, Path(workdir), frameworks)
    found = verdicts(run_nb, mark)
    out = {}
    for ex in exercises:
        v = found.get(ex["label"])
        out[ex["label"]] = ({"status": v["status"], "note": v["note"]} if v else
                            {"status": FAILED, "note": stopped or "the checker did not run (a cell timed out?)"})
    return chapter, out


def column(exercise: dict) -> str:
    """An exercise's column: its number in the book, or its label when it has none."""
    return f"Exercise {exercise['number']}" if exercise["number"] is not None else exercise["label"]


def grade(folder: Path, chapter: str | None = None, timeout: int = 900,
          frameworks: str | None = None) -> tuple[list[str], list[dict]]:
    """The table: (columns, rows) with one row per student."""
    results: dict[str, dict[str, dict]] = {}
    chapters: set[str] = set()
    for name, path in submissions(folder):
        print(f"grading {path.relative_to(folder)} ...", file=sys.stderr, flush=True)
        ch, res = grade_notebook(path, chapter, timeout, frameworks=frameworks)
        chapters.add(ch)
        results.setdefault(name, {}).update(res)
    exercises = sorted((ex for ch in chapters for ex in reference(ch)[0]),
                       key=lambda e: (e["number"] is None, e["number"] or 0, e["label"]))
    columns = ["student"] + [column(e) for e in exercises] + ["passed", "notes"]
    rows = []
    for name in sorted(results):
        row = {"student": name}
        notes = []
        for e in exercises:
            r = results[name].get(e["label"], {"status": NOT_ATTEMPTED, "note": "not handed in"})
            row[column(e)] = r["status"]
            if r["note"]:
                notes.append(f"{column(e)}: {r['note']}")
        passed = sum(row[column(e)] == "passed" for e in exercises)
        row["passed"] = f"{passed}/{len(exercises)}"
        row["notes"] = "; ".join(notes)
        rows.append(row)
    return columns, rows


def table(columns: list[str], rows: list[dict]) -> str:
    shown = [c for c in columns if c != "notes"]
    width = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in shown}
    lines = ["  ".join(c.ljust(width[c]) for c in shown)]
    lines += ["  ".join(str(r[c]).ljust(width[c]) for c in shown) for r in rows]
    lines += [f"{r['student']}: {r['notes']}" for r in rows if r["notes"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", type=Path, help="folder of students' notebooks")
    parser.add_argument("--out", type=Path, help="CSV file (default SUBMISSIONS/grades.csv)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell (default 900)")
    parser.add_argument("--chapter", help="chapter of notebooks whose metadata does not say")
    parser.add_argument("--frameworks", help='e.g. "pytorch": run one framework\'s cells only')
    args = parser.parse_args(argv)
    try:
        columns, rows = grade(args.submissions, args.chapter, args.timeout, args.frameworks)
    except ValueError as err:
        print(f"grade.py: {err}", file=sys.stderr)
        return 2
    out = args.out or args.submissions / "grades.csv"
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    print(table(columns, rows))
    print(f"\nwritten {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
