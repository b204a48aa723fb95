"""recbook.parallel: runs in forked workers give the results and the printed log of runs in turn."""
import multiprocessing
import os

import numpy as np
import pytest
import torch

from recbook import parallel

fork_only = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                               reason="no fork on this platform")


def train_one(seed, steps=30):
    """A tiny seeded regression: prints a line, returns the model, a float and the worker pid."""
    torch.manual_seed(seed)
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(64, 4)
    y = x.sum(1, keepdim=True)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
    print(f"seed {seed} loss {loss.item():.6f}")
    return model, loss.item(), os.getpid()


@fork_only
def test_workers_give_the_results_and_log_of_runs_in_turn(capsys):
    seeds = [(s,) for s in range(5)]
    par = parallel.starmap(train_one, seeds, workers=2)
    par_log = capsys.readouterr().out
    seq = parallel.starmap(train_one, seeds, workers=1)
    seq_log = capsys.readouterr().out
    assert [r[1] for r in par] == [r[1] for r in seq]           # bit-identical losses
    for (m1, _, _), (m2, _, _) in zip(par, seq):                 # and weights
        assert torch.equal(m1.weight, m2.weight) and torch.equal(m1.bias, m2.bias)
    assert par_log == seq_log and par_log.splitlines()[0].startswith("seed 0 ")
    assert {r[2] for r in par} - {os.getpid()}                   # really in other processes
    assert {r[2] for r in seq} == {os.getpid()}


def _inner(x):
    return parallel.starmap(lambda y: (y, os.getpid()), [(x,), (x + 1,)])


@fork_only
def test_a_run_that_starts_runs_itself_runs_them_in_turn():
    out = parallel.starmap(_inner, [(0,), (10,)], workers=2)
    assert [[v for v, _ in r] for r in out] == [[0, 1], [10, 11]]
    assert all(len({pid for _, pid in r}) == 1 for r in out)     # inner runs in the worker


def _boom(x):
    if x == 2:
        raise ValueError(f"run {x} failed")
    return x


@fork_only
def test_an_error_in_a_worker_reaches_the_caller():
    with pytest.raises(ValueError, match="run 2 failed"):
        parallel.starmap(_boom, [(i,) for i in range(4)], workers=2)
    assert parallel.starmap(_boom, [(0,), (1,)], workers=2) == [0, 1]  # the pool recovers


def test_workers_setting_is_checked(monkeypatch):
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("RECBOOK_WORKERS", bad)
        with pytest.raises(ValueError, match="RECBOOK_WORKERS"):
            parallel.default_workers()
    monkeypatch.setenv("RECBOOK_WORKERS", "3")
    assert parallel.default_workers() == 3
    monkeypatch.delenv("RECBOOK_WORKERS")
    assert 1 <= parallel.default_workers() <= parallel.cpu_cores()
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="workers must be"):
            parallel.starmap(_boom, [(0,)], workers=bad)


def test_one_worker_runs_in_this_process_and_keeps_side_effects():
    seen = []
    out = parallel.starmap(lambda a, b: seen.append(a + b) or a * b, [(1, 2), (3, 4)], workers=1)
    assert out == [2, 12] and seen == [3, 7]
    assert parallel.starmap(_boom, [], workers=2) == []


def test_a_gpu_runs_in_turn(monkeypatch):
    monkeypatch.delenv("RECBOOK_WORKERS", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert parallel.default_workers() == 1


@fork_only
def test_numpy_results_cross_the_process_boundary():
    out = parallel.starmap(lambda n: np.arange(n, dtype=np.float32), [(3,), (5,)], workers=2)
    assert [a.tolist() for a in out] == [[0, 1, 2], [0, 1, 2, 3, 4]]
