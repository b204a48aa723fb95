"""Independent training runs side by side, one per CPU core.

A chapter trains several models with three seeds each. On a CPU every run is single-threaded
(its matrices are small: a second thread only waits), and no run depends on another: each
seeds its own weights and batch order. So on a machine with two or more cores the runs can go
to forked worker processes, one per core. The results are the same as one after another
(same seeds, same arithmetic on one thread) and so is the printed log: each run's output is
kept and printed in the runs' order, as if they had run in turn. Only the wall clock changes.

They run one after another, in this process, when
- a GPU is present (the runs then share one device: nothing to gain, memory to lose),
- the platform cannot fork (Windows; macOS starts processes by spawn),
- ``RECBOOK_WORKERS=1`` (or ``workers=1``), or there is one core or one run,
- the function trains TensorFlow (its runtime does not survive a fork): pass ``workers=1``.

A run's side effects on this process (a global it assigns, a list it appends to) are lost in a
worker: a run returns everything the caller keeps.
"""
from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import sys

_JOB: tuple | None = None  # (fn, list of argument tuples), inherited by the forked workers
_IN_WORKER = False  # set in a worker: a run that calls starmap itself runs its inner jobs in turn


def cpu_cores() -> int:
    """Cores this process may use (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_workers() -> int:
    """``RECBOOK_WORKERS`` if set, else 1 on a GPU or without fork, else the number of cores."""
    env = os.environ.get("RECBOOK_WORKERS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"RECBOOK_WORKERS must be an integer >= 1, got {env!r}") from None
        if n < 1:
            raise ValueError(f"RECBOOK_WORKERS must be an integer >= 1, got {env!r}")
        return n
    if "fork" not in multiprocessing.get_all_start_methods() or sys.platform == "darwin":
        return 1
    if "torch" in sys.modules and sys.modules["torch"].cuda.is_available():
        return 1
    return cpu_cores()


def _run(i: int):
    """In a worker: run job ``i`` with its printed output kept, return (output, result)."""
    global _IN_WORKER
    _IN_WORKER = True
    fn, args = _JOB
    if "torch" in sys.modules:  # one thread per worker: the workers are the parallelism
        sys.modules["torch"].set_num_threads(1)
    os.environ["RECBOOK_PROGRESS"] = "log"  # a live progress bar cannot cross processes
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        result = fn(*args[i])
    return out.getvalue(), result


def starmap(fn, args, workers: int | None = None) -> list:
    """``[fn(*a) for a in args]``, on up to ``workers`` forked processes (default:
    ``default_workers()``). Results come back in the order of ``args`` and must be picklable
    (models, histories, arrays, dicts); each run's printed lines appear in that order too."""
    global _JOB
    args = [tuple(a) for a in args]
    n = default_workers() if workers is None else workers
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    n = 1 if _IN_WORKER else min(n, len(args))
    if n <= 1:
        return [fn(*a) for a in args]
    _JOB = (fn, args)
    try:
        results = []
        with multiprocessing.get_context("fork").Pool(n) as pool:
            for text, result in pool.imap(_run, range(len(args))):
                sys.stdout.write(text)
                sys.stdout.flush()
                results.append(result)
        return results
    finally:
        _JOB = None


def run_each(fn, keys, workers: int | None = None) -> dict:
    """``{key: fn(*key)}`` for every key (a tuple key is spread into arguments, any other key
    is one argument), the runs shared out by ``starmap``: the chapters' "every model, every
    seed" loops."""
    keys = list(keys)
    if len(set(keys)) != len(keys):
        raise ValueError(f"run_each needs distinct keys, got {keys}")
    args = [k if isinstance(k, tuple) else (k,) for k in keys]
    return dict(zip(keys, starmap(fn, args, workers)))
