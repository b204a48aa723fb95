"""`check`: test a reader's function against a reference on random inputs.

A wrong answer is reported, never raised: a notebook (and the book build, which fails on any
cell error) keeps running while the reader still works on an exercise. Bugs of the checker itself
(a failing `reference` or `make_inputs`) do raise, since the reader cannot fix those.

A stub that still returns None (the `...  # your code here` cells) is "not attempted yet", printed
without the hint: the hint is for a wrong attempt, and under an untouched stub it would give the
answer away. Every verdict is also recorded (`verdict` below) for scripts/grade.py.
"""
from __future__ import annotations

import copy
import traceback

import numpy as np

from recbook.arrays import to_numpy

PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"
# Verdicts of the checks run so far in this process, oldest first: (name, status). The grading
# cells that scripts/grade.py appends read and clear it (recbook.exercises.grading).
VERDICTS: list[tuple[str, str]] = []


def verdict(name: str, status: str) -> None:
    """Record one check's outcome (PASSED, FAILED or NOT_ATTEMPTED)."""
    if status not in (PASSED, FAILED, NOT_ATTEMPTED):
        raise ValueError(f"status must be {PASSED!r}, {FAILED!r} or {NOT_ATTEMPTED!r}, got {status!r}")
    VERDICTS.append((name, status))


def not_attempted(label: str, what: str = "your function returns None") -> bool:
    """Print and record that an exercise is still the stub it was handed out as; returns False."""
    print(f"○ {label}: not attempted yet ({what}). Write it, then run this cell again.")
    verdict(label, NOT_ATTEMPTED)
    return False


def _to_numpy(x):
    """A framework tensor, numpy array or Python number as a numpy array (None stays None)."""
    if x is None or isinstance(x, (str, bytes)):
        return x
    return to_numpy(x)  # a torch tensor requiring grad or on a GPU, a TF tensor, a list


def _compare(got, want, atol: float, where: str = "output") -> str | None:
    """None when `got` matches `want` (recursively), else a sentence saying where they differ."""
    if isinstance(want, dict):
        if not isinstance(got, dict) or set(got) != set(want):
            keys = sorted(got) if isinstance(got, dict) else type(got).__name__
            return f"{where}: expected a dict with keys {sorted(want)}, got {keys}"
        for key in want:
            msg = _compare(got[key], want[key], atol, f"{where}[{key!r}]")
            if msg:
                return msg
        return None
    if isinstance(want, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(want):
            n = len(got) if isinstance(got, (tuple, list)) else type(got).__name__
            return f"{where}: expected a sequence of {len(want)} values, got {n}"
        for k, (g, w) in enumerate(zip(got, want)):
            msg = _compare(g, w, atol, f"{where}[{k}]")
            if msg:
                return msg
        return None
    want_a = _to_numpy(want)
    try:
        got_a = _to_numpy(got)
    except Exception:  # noqa: BLE001 - anything unconvertible is simply a wrong answer
        return f"{where}: expected an array, got {type(got).__name__}"
    if got_a is None or (got_a.dtype == object and want_a.dtype != object):
        return f"{where}: expected an array of shape {want_a.shape}, got {type(got).__name__}"
    if got_a.shape != want_a.shape:
        return f"{where}: expected shape {want_a.shape}, got shape {got_a.shape}"
    if want_a.dtype == bool or want_a.dtype.kind in "iub" and got_a.dtype.kind in "iub":
        bad = got_a != want_a
    else:
        got_f, want_f = got_a.astype(np.float64), want_a.astype(np.float64)
        same_nan = np.isnan(got_f) & np.isnan(want_f)
        bad = ~(np.isclose(got_f, want_f, atol=atol, rtol=0.0) | same_nan)
    if not bad.any():
        return None
    idx = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
    at = f" at index {idx}" if idx else ""
    return (
        f"{where}: {int(bad.sum())} of {bad.size} values differ (atol {atol:g}); first{at}: "
        f"expected {want_a[idx]!r}, got {got_a[idx]!r}"
    )


def _as_call(inputs):
    """make_inputs may return a tuple of positional arguments, a dict of keyword arguments, or a
    single argument."""
    if isinstance(inputs, tuple):
        return inputs, {}
    if isinstance(inputs, dict):
        return (), inputs
    return (inputs,), {}


def check(fn, reference, make_inputs, n: int = 20, atol: float = 1e-5, hint: str | None = None,
          seed: int = 0, name: str | None = None) -> bool:
    """Test `fn` against `reference` on `n` random inputs and print the verdict.

    make_inputs(rng) builds one input from a `numpy.random.Generator`: a tuple (positional
    arguments), a dict (keyword arguments) or a single argument. Each function gets its own deep
    copy, so a reader's in-place change cannot leak into the reference. Outputs may be numpy
    arrays, torch or TF tensors, numbers, or tuples/lists/dicts of them; they must agree within
    `atol`. Returns True when every input agrees. A wrong answer or an exception raised inside
    `fn` is printed (with `hint`), never raised. A function that returns None where the reference
    does not, or raises NotImplementedError, is the untouched stub: "not attempted yet", no hint.
    """
    if not callable(fn) or not callable(reference) or not callable(make_inputs):
        raise TypeError("check(fn, reference, make_inputs): all three must be callables")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    label = name or getattr(fn, "__name__", "your function")
    rng = np.random.default_rng(seed)
    for trial in range(n):
        inputs = make_inputs(rng)
        args, kwargs = _as_call(copy.deepcopy(inputs))
        want = reference(*args, **kwargs)
        args, kwargs = _as_call(copy.deepcopy(inputs))
        try:
            got = fn(*args, **kwargs)
        except NotImplementedError:
            return not_attempted(label, "your function raises NotImplementedError")
        except Exception as err:  # noqa: BLE001 - reported to the reader, not raised
            tb = traceback.extract_tb(err.__traceback__)[-1]
            print(
                f"✗ {label} raised {type(err).__name__}: {err}\n"
                f"  on random input #{trial + 1} (line {tb.lineno}: {tb.line})"
            )
            return _failed(label, hint)
        if got is None and want is not None and trial == 0:
            return not_attempted(label)
        problem = _compare(got, want, atol)
        if problem:
            print(f"✗ {label} is wrong on random input #{trial + 1} of {n}: {problem}")
            return _failed(label, hint)
    print(f"✓ {label} matches the reference on {n} random inputs.")
    verdict(label, PASSED)
    return True


def _failed(label: str, hint: str | None) -> bool:
    if hint:
        print(f"  Hint: {hint}")
    verdict(label, FAILED)
    return False
