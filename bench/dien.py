"""DIEN (Zhou et al. 2019): training throughput (with the auxiliary loss), inference latency and
scoring throughput per framework, at the quick and the full preset's model sizes, built-in
data, on this machine.

    .venv/bin/python bench/dien.py [--steps N] [--sizes quick,full] [--evolution augru] [--frameworks pytorch]

Prints a markdown section; bench/run.sh collects it into bench/RESULTS.md. BENCH_THREADS sets
both frameworks' threads (default 1). The TensorFlow step is traced with tf.function as
recbook.tf.train.fit does; its one-off tracing is the "first step" column (paid once per chapter
run). "full" = the official code's sizes (embeddings 18 + 18, GRU 36, T = 100, batch 128) on
built-in data shaped for them (common.data_kwargs). Shared machinery: bench/common.py.
"""
from __future__ import annotations

import common

from recbook.data import load_ctr


def main():
    p = common.parser(__doc__, steps={"quick": 50, "full": 10})
    p.add_argument("--evolution", default=None, help="aigru, agru or augru (default: the preset's)")
    args = p.parse_args()
    common.threads()
    results, settings = [], []
    for size in common.sizes(args):
        P, steps = common.preset("dien", size), common.steps(args, size)
        if args.evolution:
            P["evolution"] = args.evolution
        data = load_ctr("synthetic", max_len=P["max_len"], seed=0, **common.data_kwargs(P, size))
        for fw in common.frameworks(args):
            model = common.build(fw, "dien", P, data.meta)
            results.append((f"DIEN ({P['evolution']})", fw, size, P["batch_size"],
                            common.bench_ctr(fw, model, data, P, steps)))
        settings.append(f"{size}: {P['evolution']}, alpha {P['alpha']}, item/category "
                        f"{P['item_dim']}/{P['cat_dim']}, GRU {P['hidden']}, T = {P['max_len']}, "
                        f"batch {P['batch_size']}, {data.meta.n_items:,} items, {steps} timed steps")
    common.report("DIEN", settings, results, "scoring samples/s")


if __name__ == "__main__":
    main()
