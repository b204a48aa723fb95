"""ComiRec-DR / ComiRec-SA (Cen et al. 2020): training throughput, serving latency and
throughput per framework, quick preset, built-in data, on this machine.

    .venv/bin/python bench/comirec.py [--steps 50] [--frameworks pytorch]

Serving a user = its interests, then the faiss index and the aggregation module at N = 50,
λ = 0. Prints a markdown section; bench/run.sh collects it into bench/RESULTS.md.
BENCH_THREADS sets both frameworks' threads (default 1). Shared machinery: bench/common.py.
"""
from __future__ import annotations

import common

from recbook import aggregation
from recbook.config import preset
from recbook.data import load_next_item


def main():
    args = common.parser(__doc__, steps=50).parse_args()
    common.threads()
    P = preset("comirec", "quick")
    data = load_next_item("synthetic", max_len=P["max_len"], seed=0, n_users=P["n_users"])
    item_cat = data.meta.item_cat

    def query(model, index, batch, to_numpy):
        return aggregation.controllable_topn(index, to_numpy(model.user_interests(batch)), item_cat, 50)

    results = []
    for name in ("ComiRecDR", "ComiRecSA"):
        for fw in common.frameworks(args):
            if fw == "pytorch":
                from recbook.torch import comirec
            else:
                from recbook.tf import comirec
            model = getattr(comirec, name)(data.meta, d=P["d"], K=P["K"], neg_ratio=P["neg_ratio"])
            results.append((name, fw, common.bench_retrieval(fw, model, data, P, args.steps, query)))
    common.report("ComiRec", f"Quick preset: d = {P['d']}, K = {P['K']}, L = {P['max_len']}, "
                  f"{P['neg_ratio']} x batch negatives, batch {P['batch_size']}, {args.steps} "
                  f"timed steps; latency and serving = interests + faiss + aggregation (N = 50, "
                  f"λ = 0)", results, "serving users/s")


if __name__ == "__main__":
    main()
