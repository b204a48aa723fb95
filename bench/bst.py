"""BST (Chen et al. 2019): training throughput, inference latency and scoring throughput per
framework, quick preset, built-in data, on this machine (CPU, or the GPU when there is one).

    .venv/bin/python bench/bst.py [--steps 100] [--blocks 1] [--frameworks pytorch]

Prints a markdown section; bench/run.sh collects it into bench/RESULTS.md. BENCH_THREADS sets
both frameworks' threads (default 1). Shared machinery: bench/common.py.
"""
from __future__ import annotations

import common

from recbook.config import preset
from recbook.data import load_ctr

MODEL_ARGS = ("item_dim", "cat_dim", "pos_dim", "profile_dim", "n_heads", "n_blocks", "ffn_dim",
              "dropout", "mlp", "position", "n_buckets")


def main():
    p = common.parser(__doc__, steps=100)
    p.add_argument("--blocks", type=int, default=None, help="override n_blocks (b)")
    args = p.parse_args()
    common.threads()
    P = preset("bst", "quick")
    if args.blocks:
        P["n_blocks"] = args.blocks
    data = load_ctr("synthetic", max_len=P["max_len"], seed=0, n_users=P["n_users"])
    results = []
    for fw in common.frameworks(args):
        if fw == "pytorch":
            from recbook.torch.bst import BST
        else:
            from recbook.tf.bst import BST
        model = BST(data.meta, **{k: P[k] for k in MODEL_ARGS})
        results.append(("BST", fw, common.bench_ctr(fw, model, data, P, args.steps)))
    common.report("BST", f"Quick preset: b = {P['n_blocks']} block(s), L = {P['max_len']}, batch "
                  f"{P['batch_size']}, {args.steps} timed steps", results, "scoring samples/s")


if __name__ == "__main__":
    main()
