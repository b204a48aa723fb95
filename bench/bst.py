"""BST (Chen et al. 2019): training throughput, inference latency and scoring throughput per
framework, at the quick and the full preset's model sizes, built-in data, on this machine.

    .venv/bin/python bench/bst.py [--steps N] [--sizes quick,full] [--blocks 1] [--frameworks pytorch]

Prints a markdown section; bench/run.sh collects it into bench/RESULTS.md. BENCH_THREADS sets
both frameworks' threads (default 1). "full" = the paper's Table 3 (8 heads, MLP 1024-512-256,
L = 20, batch 256, Adagrad) with its embedding sizes, on built-in data shaped for them
(common.data_kwargs). Shared machinery: bench/common.py.
"""
from __future__ import annotations

import common

from recbook.data import load_ctr

def main():
    p = common.parser(__doc__, steps={"quick": 100, "full": 20})
    p.add_argument("--blocks", type=int, default=None, help="override n_blocks (b)")
    args = p.parse_args()
    common.threads()
    results, settings = [], []
    for size in common.sizes(args):
        P, steps = common.preset("bst", size), common.steps(args, size)
        if args.blocks:
            P["n_blocks"] = args.blocks
        data = load_ctr("synthetic", max_len=P["max_len"], seed=0, **common.data_kwargs(P, size))
        for fw in common.frameworks(args):
            model = common.build(fw, "bst", P, data.meta)  # the chapter's model
            results.append(("BST", fw, size, P["batch_size"],
                            common.bench_ctr(fw, model, data, P, steps)))
        settings.append(f"{size}: b = {P['n_blocks']} block(s), {P['n_heads']} heads, item/category/"
                        f"position {P['item_dim']}/{P['cat_dim']}/{P['pos_dim']}, MLP "
                        f"{'-'.join(map(str, P['mlp']))}, L = {P['max_len']}, batch "
                        f"{P['batch_size']}, {P['optimizer']}, {data.meta.n_items:,} items, "
                        f"{steps} timed steps")
    common.report("BST", settings, results, "scoring samples/s")


if __name__ == "__main__":
    main()
