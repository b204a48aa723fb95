"""faiss retrieval against brute-force numpy: top-50 maximum-inner-product search over 10^5 and
10^6 items (d = 64, float32), queries/s at equal recall, on this machine.

    .venv/bin/python bench/faiss_vs_numpy.py [--items 100000,1000000] [--queries 1000] [--k 50]

Three searches per catalogue size, all answering the same queries as one batch:
  - numpy exact: recbook.retrieval.ItemIndex(use_faiss=False) (matmul + argpartition in chunks);
    its top-k is the reference every recall is measured against;
  - faiss exact: recbook.retrieval.ItemIndex (faiss IndexFlatIP, what MIND and ComiRec serve with);
  - faiss IVF: IndexIVFFlat (inner product, sqrt(N) lists), not in recbook; nprobe is the smallest
    whose recall@k reaches 0.99 x the faiss exact recall (doubling, then bisection).
Recall@k = |top-k found ∩ exact top-k| / k, averaged over queries. The vectors are a Gaussian
mixture (N / 100 clusters, spread 0.5 around them; queries drawn alike), as trained item
embeddings cluster by category. The advantage of IVF depends on that structure: at --spread 1.0
(clusters overlapping) it needed about half its lists for 0.99 recall and was no faster than
exact search.
BENCH_THREADS (default 1) sets numpy's BLAS and faiss's OpenMP threads. Prints a markdown
section; bench/run.sh collects it into bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

THREADS = int(os.environ.get("BENCH_THREADS", "1"))
# BLAS and OpenMP read these when they load: set them before numpy and faiss are imported.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(THREADS)

import common  # noqa: E402  (after the thread variables)
import faiss  # noqa: E402
import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from recbook.retrieval import ItemIndex  # noqa: E402


def vectors(n_items: int, n_queries: int, d: int, spread: float, seed: int = 0):
    """Item embeddings [n_items + 1, d] (row 0 = padding, as recbook's models give them) and
    queries [n_queries, d]: a mixture of n_items / 100 Gaussian clusters, standard deviation
    `spread` around standard-normal centres (at 1.0 neighbouring clusters overlap so much that
    IVF needs half its lists for 0.99 recall: no structure left to exploit)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(n_items // 100, 1), d), dtype=np.float32)
    items = np.zeros((n_items + 1, d), np.float32)
    items[1:] = centres[rng.integers(len(centres), size=n_items)]
    items[1:] += spread * rng.standard_normal((n_items, d), dtype=np.float32)
    queries = centres[rng.integers(len(centres), size=n_queries)]
    queries += spread * rng.standard_normal((n_queries, d), dtype=np.float32)
    return items, queries


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean over rows of |found_row ∩ exact_row| / k (ids are distinct within a row)."""
    return float((found[:, :, None] == exact[:, None, :]).any(axis=2).mean())


def timed_search(search, queries, repeats: int = 3):
    """(median seconds of `search(queries)`, its ids); one run only when a run takes > 3 s."""
    start = time.perf_counter()
    ids = search(queries)
    times = [time.perf_counter() - start]
    if times[0] <= 3:
        times = [common.seconds(search, queries) for _ in range(repeats)]
    return statistics.median(times), ids


def ivf_index(items: np.ndarray, seed: int = 0):
    """IndexIVFFlat over items 1..N with sqrt(N) inverted lists, trained on 64 points a list."""
    x = items[1:]
    n_list = int(round(np.sqrt(len(x))))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(x.shape[1]), x.shape[1], n_list,
                               faiss.METRIC_INNER_PRODUCT)
    sample = np.random.default_rng(seed).choice(len(x), size=min(len(x), 64 * n_list), replace=False)
    index.train(x[np.sort(sample)])
    index.add(x)
    return index, n_list


def smallest_nprobe(index, n_list: int, queries, k: int, exact_ids, target: float):
    """The smallest nprobe whose recall@k reaches `target`, and every (nprobe, recall) tried."""
    tried = {}

    def rec(nprobe):
        if nprobe not in tried:
            index.nprobe = nprobe
            tried[nprobe] = recall(index.search(queries, k)[1] + 1, exact_ids)
        return tried[nprobe]

    hi = 1
    while rec(hi) < target and hi < n_list:
        hi = min(2 * hi, n_list)
    lo = hi // 2  # rec(lo) < target (or lo = 0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if rec(mid) >= target else (mid, hi)
    return hi, sorted(tried.items())


def bench(n_items: int, n_queries: int, d: int, k: int, spread: float):
    items, queries = vectors(n_items, n_queries, d, spread)
    rows, notes = [], []

    start = time.perf_counter()
    brute = ItemIndex(items, use_faiss=False)
    build = time.perf_counter() - start
    sec, exact_ids = timed_search(lambda q: brute.search(q, k)[1], queries)
    rows.append([f"{n_items:,}", "numpy exact (ItemIndex, use_faiss=False)", "–", "1 (reference)",
                 n_queries / sec, build, "yes: exact (the reference)"])

    start = time.perf_counter()
    flat = ItemIndex(items)
    build = time.perf_counter() - start
    sec, flat_ids = timed_search(lambda q: flat.search(q, k)[1], queries)
    flat_recall = recall(flat_ids, exact_ids)
    rows.append([f"{n_items:,}", "faiss exact (ItemIndex: IndexFlatIP)", "–", f"{flat_recall:.4f}",
                 n_queries / sec, build, "yes: exact"])

    start = time.perf_counter()
    ivf, n_list = ivf_index(items)
    build = time.perf_counter() - start
    target = 0.99 * flat_recall
    nprobe, tried = smallest_nprobe(ivf, n_list, queries, k, exact_ids, target)
    ivf.nprobe = nprobe
    sec, ivf_ids = timed_search(lambda q: ivf.search(q, k)[1] + 1, queries)
    ivf_recall = recall(ivf_ids, exact_ids)
    rows.append([f"{n_items:,}", f"faiss IVF (IndexIVFFlat, {n_list} lists)", f"{nprobe}",
                 f"{ivf_recall:.4f}", n_queries / sec, build,
                 "yes: ≥ 0.99 x exact" if ivf_recall >= target else "no: best nprobe below target"])
    notes.append(f"{n_items:,} items: nprobe tried (recall@{k}): "
                 + ", ".join(f"{p} ({r:.3f})" for p, r in tried))
    return rows, notes


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", default="100000,1000000", help="comma-separated catalogue sizes")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--k", type=int, default=50)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--spread", type=float, default=0.5,
                   help="standard deviation of the items around their cluster centre")
    args = p.parse_args()
    sizes = [int(x) for x in args.items.split(",") if x.strip()]
    if not sizes or min(sizes) <= args.k or args.k < 1 or args.queries < 1:
        raise SystemExit(f"--items must all exceed --k={args.k} >= 1, got {args.items!r}")
    faiss.omp_set_num_threads(THREADS)
    rows, notes = [], []
    with threadpool_limits(THREADS):
        for n in sizes:
            r, n_ = bench(n, args.queries, args.d, args.k, args.spread)
            rows += r
            notes += n_
    headers = ["items", "method", "nprobe", f"recall@{args.k} vs exact", "queries/s",
               "index build (s)", "at equal recall"]
    print(f"## faiss retrieval against brute-force numpy\n\n{common.stamp()}\n"
          f"Top-{args.k} maximum inner product for {args.queries:,} queries (one batch call), "
          f"d = {args.d}, float32, on a Gaussian mixture of items (N / 100 standard-normal "
          f"centres, spread {args.spread}; queries drawn like the items). queries/s = {args.queries:,} / the median seconds of the "
          f"call (a single run when one takes over 3 s). Recall is against numpy's exact top-"
          f"{args.k}; the IVF row's nprobe is the smallest reaching 0.99 x the faiss exact "
          f"recall, so all three rows of a size are at equal recall (the exact ones at 1.0 up "
          f"to ties). Threads: BENCH_THREADS={THREADS} for numpy's BLAS and faiss's OpenMP "
          f"(faiss {faiss.__version__}, numpy {np.__version__}; load "
          f"{os.getloadavg()[0]:.1f}). Script: `bench/faiss_vs_numpy.py`.\n\n"
          f"{common.table(headers, rows)}\n\n" + "\n".join(f"- {n}" for n in notes) + "\n",
          flush=True)


if __name__ == "__main__":
    main()
