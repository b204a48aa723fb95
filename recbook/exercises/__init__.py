"""Checkers for the chapters' exercises.

`check(fn, reference, make_inputs)` is the generic one; chapter-specific checkers live in
`recbook/exercises/<chapter>.py` and are built on it.
"""
from recbook.exercises.check import check

__all__ = ["check"]
