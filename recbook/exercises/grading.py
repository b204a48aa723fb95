"""The kernel side of scripts/grade.py: one exercise's checker run and its verdict reported.

scripts/grade.py appends to a student's notebook, for each exercise, a cell

    with recbook.exercises.grading.exercise("din-ex-dice", mark="RECBOOK-GRADE-<nonce>"):
        <the exercise's checker cell, as in this repository's student notebook>

and reads the one line it prints. The verdict combines what the checkers recorded
(`recbook.exercises.check.VERDICTS`): passed when every check passed, not attempted when every
one found the untouched stub, failed otherwise, also when the checker raised (e.g. a student
deleted the function it checks) or recorded nothing.
"""
from __future__ import annotations

import json
from contextlib import contextmanager

from recbook.exercises.check import FAILED, NOT_ATTEMPTED, PASSED, VERDICTS


def combine(statuses: list[str]) -> str:
    """One exercise's status from the statuses its checker recorded."""
    if statuses and all(s == PASSED for s in statuses):
        return PASSED
    if statuses and all(s == NOT_ATTEMPTED for s in statuses):
        return NOT_ATTEMPTED
    return FAILED


@contextmanager
def exercise(label: str, mark: str):
    """Run the body (a checker cell) and print `mark` + the verdict as JSON on one line."""
    start, note = len(VERDICTS), ""
    try:
        yield
    except Exception as err:  # noqa: BLE001 - a failed exercise, not a failed grading run
        note = f"the checker raised {type(err).__name__}: {err}"
    except KeyboardInterrupt:  # how nbclient stops a cell that runs past the grader's timeout
        note = "stopped by the cell timeout (does the answer ever return?)"
    statuses = [status for _, status in VERDICTS[start:]]
    if not statuses and not note:
        note = "the checker recorded no verdict"
    status = FAILED if note else combine(statuses)
    print(mark + json.dumps({"exercise": label, "status": status, "note": note}), flush=True)
