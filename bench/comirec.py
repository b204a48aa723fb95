"""ComiRec-DR / ComiRec-SA (Cen et al. 2020): training throughput, serving latency and
throughput per framework, at the quick and the full preset's model sizes, built-in data, on
this machine.

    .venv/bin/python bench/comirec.py [--steps N] [--sizes quick,full] [--frameworks pytorch]

Serving a user = its interests, then the faiss index and the aggregation module at N = 50,
λ = 0. "full" = the official Books setting (d = 64, K = 4, batch 128, 10 x batch negatives) on
built-in data over 5,000 items (common.data_kwargs). Prints a markdown section; bench/run.sh
collects it into bench/RESULTS.md. BENCH_THREADS sets both frameworks' threads (default 1).
Shared machinery: bench/common.py.
"""
from __future__ import annotations

import common

from recbook import aggregation
from recbook.data import load_next_item


def main():
    args = common.parser(__doc__, steps={"quick": 50, "full": 20}).parse_args()
    common.threads()
    results, settings = [], []
    for size in common.sizes(args):
        P, steps = common.preset("comirec", size), common.steps(args, size)
        data = load_next_item("synthetic", max_len=P["max_len"], seed=0,
                              **common.data_kwargs(P, size))
        item_cat = data.meta.item_cat

        def query(model, index, batch, to_numpy, item_cat=item_cat):
            return aggregation.controllable_topn(index, to_numpy(model.user_interests(batch)),
                                                 item_cat, 50)

        for name in ("ComiRecDR", "ComiRecSA"):
            for fw in common.frameworks(args):
                key = {"ComiRecDR": "comirec_dr", "ComiRecSA": "comirec_sa"}[name]
                model = common.build(fw, key, P, data.meta)
                results.append((name, fw, size, P["batch_size"],
                                common.bench_retrieval(fw, model, data, P, steps, query)))
        settings.append(f"{size}: d = {P['d']}, K = {P['K']}, L = {P['max_len']}, "
                        f"{P['neg_ratio']} x batch negatives, batch {P['batch_size']}, "
                        f"{data.meta.n_items:,} items, {steps} timed steps")
    settings.append("latency and serving = interests + faiss + aggregation (N = 50, λ = 0)")
    common.report("ComiRec", settings, results, "serving users/s")


if __name__ == "__main__":
    main()
