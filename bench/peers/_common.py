"""What the three peer comparisons share: one thread, offline imports, interleaved timing and the
markdown they print. Runs in bench/peers/.venv (no TensorFlow there, so bench/common.py, which
imports it, is not used).

Timing: recbook's step and the peer's step on the SAME mini-batch are run one after the other
and timed separately (time.perf_counter around each; CPU seconds with BENCH_CLOCK=cpu), so a load spike on the shared machine hits
both; throughput = samples / summed step seconds, warm-up steps excluded.
"""
from __future__ import annotations

import os
import sys
import time
import types

import numpy as np

WARMUP = 3  # untimed steps at the start of training (allocations, first-call costs)


def setup(threads: int = 1) -> None:
    """One thread for both libraries (torch.set_num_threads(1)), and no network.

    DeepCTR-Torch's __init__ starts a thread that asks PyPI for its latest version; a bench
    must not reach the network, so `requests.get` answers "not ok" (status 0) in this process.
    """
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    try:
        import requests
        requests.get = lambda *a, **k: types.SimpleNamespace(status_code=0)  # noqa: E731
    except ImportError:  # the peer then cannot import either; its import error says so
        sys.modules.setdefault("requests", types.SimpleNamespace(
            get=lambda *a, **k: types.SimpleNamespace(status_code=0),
            codes=types.SimpleNamespace(ok=200)))


def clock() -> float:
    """Wall-clock seconds, or with BENCH_CLOCK=cpu this process's CPU seconds (less distorted by
    other work on a shared machine; see bench/common.py)."""
    mode = os.environ.get("BENCH_CLOCK", "wall")
    if mode not in ("wall", "cpu"):
        raise ValueError(f"BENCH_CLOCK must be 'wall' or 'cpu', got {mode!r}")
    return time.process_time() if mode == "cpu" else time.perf_counter()


class Clock:
    """Summed seconds and samples of timed steps, warm-up steps left out."""

    def __init__(self):
        self.seconds, self.samples, self.calls = 0.0, 0, 0

    def __call__(self, step, batch_size: int, *args):
        start = clock()
        out = step(*args)
        took = clock() - start
        self.calls += 1
        if self.calls > WARMUP:
            self.seconds += took
            self.samples += batch_size
        return out

    @property
    def rate(self) -> float:
        return self.samples / self.seconds if self.seconds else float("nan")


def shuffled(n: int, batch_size: int, epoch: int, seed: int = 0):
    """Row indices of full mini-batches of one epoch: the same order for recbook and the peer."""
    order = np.random.default_rng(seed + epoch).permutation(n)
    for i in range(0, n - batch_size + 1, batch_size):
        yield order[i:i + batch_size]


def rows(arrays: dict, idx) -> dict:
    return {k: v[idx] for k, v in arrays.items()}


def fmt(x) -> str:
    if isinstance(x, str):
        return x
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    if isinstance(x, (int, np.integer)) or abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.4f}" if abs(x) < 1 else f"{x:.2f}"


def table(headers, body) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    out += ["| " + " | ".join(fmt(x) for x in row) + " |" for row in body]
    return "\n".join(out)


def ratio(a: float, b: float) -> float:
    return a / b if b and np.isfinite(a) and np.isfinite(b) else float("nan")


def failed(name: str, err: BaseException) -> str:
    """The exact error of a peer that could not run, one line (never a number in its place)."""
    msg = f"{type(err).__name__}: {err}".splitlines()[0][:300]
    return f"could not run {name}: `{msg}`"


def threads_line() -> str:
    import torch
    cpu = ", timed in CPU seconds of the process (BENCH_CLOCK=cpu)" \
        if os.environ.get("BENCH_CLOCK") == "cpu" else ""
    return (f"torch {torch.__version__}, torch.set_num_threads({torch.get_num_threads()}) for "
            f"both{cpu}; load average {os.getloadavg()[0]:.1f} at the end.")


def profile_top(step, calls, n_ops: int = 6) -> str:
    """The `n_ops` aten ops with the most self CPU time over `calls` (a list of argument
    tuples for `step`), as one markdown line: what a slower step spends its time on."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for args in calls:
            step(*args)
    ops = sorted((e for e in prof.key_averages() if e.key.startswith("aten::")),
                 key=lambda e: e.self_cpu_time_total, reverse=True)[:n_ops]
    total = sum(e.self_cpu_time_total for e in prof.key_averages()) or 1
    return ", ".join(f"`{e.key}` {100 * e.self_cpu_time_total / total:.0f} %" for e in ops)


def slower_profile(name: str, peer: str, ours_step, ours_calls, peer_step, peer_calls,
                   slower: bool = True) -> str:
    """Markdown lines with the top ops of both steps: printed when recbook was the slower one
    (``slower``), and for DIN and DIEN always (where the time goes, bench/peers/CAUSES.md)."""
    verdict = f"recbook slower than {peer}" if slower else f"recbook faster than {peer}"
    return (f"- **{name}: {verdict}.** Profile of {len(ours_calls)} training steps "
            f"(torch.profiler, self CPU time, after the timed run): recbook "
            f"{profile_top(ours_step, ours_calls)}; {peer} {profile_top(peer_step, peer_calls)}.")


# ---------------------------------------------------------------------------------------------
# --dataset movielens-100k: training to convergence, one rule for recbook and the peer

DATASETS = ("synthetic", "movielens-100k")
ML_CAP = 30  # default cap on epochs on MovieLens-100K (--epochs overrides it)


def add_args(parser) -> None:
    """--dataset, --epochs, --patience: the flags the three scripts share."""
    parser.add_argument("--dataset", choices=DATASETS, default="synthetic",
                        help="synthetic (default): the built-in data, a fixed number of epochs; "
                             "movielens-100k: the chapters' MovieLens-100K split and sizes, each "
                             "model trained to early stopping on its validation split")
    parser.add_argument("--epochs", type=int, default=None,
                        help="synthetic: the epochs (default: each quick preset's); "
                             f"movielens-100k: the cap on epochs (default {ML_CAP})")
    parser.add_argument("--patience", type=int, default=2,
                        help="movielens-100k: stop after this many epochs without a gain of the "
                             "validation metric (default 2)")


def check_args(args) -> None:
    if args.epochs is not None and args.epochs < 1:
        raise SystemExit(f"--epochs must be >= 1, got {args.epochs}")
    if args.patience < 1:
        raise SystemExit(f"--patience must be >= 1, got {args.patience}")


class Stopper:
    """Early stopping with the best weights kept, the same rule for both sides of a pair.

    ``patience`` None: train exactly ``cap`` epochs, no validation (the built-in data's fixed
    epochs). Otherwise: after every epoch ``update(model, value)`` with the validation metric
    (higher is better); training ends after ``patience`` epochs in a row without a strict gain,
    or at ``cap`` epochs; ``restore(model)`` loads the best epoch's weights (a deep copy of its
    state_dict, kept on the CPU).
    """

    def __init__(self, cap: int, patience: int | None):
        self.cap, self.patience = cap, patience
        self.epochs, self.best_epoch, self.best_value = 0, 0, None
        self.values: list[float] = []
        self._state = None

    @property
    def done(self) -> bool:
        if self.epochs >= self.cap:
            return True
        return (self.patience is not None and self.best_epoch > 0
                and self.epochs - self.best_epoch >= self.patience)

    def end_epoch(self) -> None:
        """An epoch of training ended (with ``patience`` None, nothing else happens)."""
        self.epochs += 1

    def update(self, model, value: float) -> None:
        """The validation metric of the epoch just ended; keeps the weights when it is the best."""
        import copy
        value = float(value)
        if not np.isfinite(value):
            raise FloatingPointError(f"validation metric is {value} after epoch {self.epochs}")
        self.values.append(value)
        if self.best_value is None or value > self.best_value:
            self.best_value, self.best_epoch = value, self.epochs
            self._state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})

    def restore(self, model) -> None:
        if self._state is not None:
            model.load_state_dict(self._state)

    @property
    def capped(self) -> bool:
        """Stopped by the cap while the last epoch was still the best (maybe not converged)."""
        return self.patience is not None and self.epochs >= self.cap and self.best_epoch == self.epochs

    def summary(self) -> str:
        """'best/run' for the table, e.g. '4 / 6', with ' (cap)' when the cap ended a rising run."""
        if self.patience is None:
            return f"{self.epochs} (fixed)"
        return f"{self.best_epoch} / {self.epochs}" + (" (cap)" if self.capped else "")

    def curve(self) -> str:
        return " ".join(f"{v:.4f}" for v in self.values)


def stoppers(args, fixed_epochs: int) -> tuple:
    """(cap, patience) for a pair: the fixed epochs on the built-in data, else the ML cap and
    patience."""
    if args.dataset == "synthetic":
        return (args.epochs or fixed_epochs), None
    return (args.epochs or ML_CAP), args.patience


def curves_line(rows) -> str:
    """One markdown line with each model's validation curve (name, Stopper) pairs."""
    return "- Validation curves (one value per epoch): " + "; ".join(
        f"{name}: {s.curve()}" for name, s in rows if s is not None and s.values) + "."
