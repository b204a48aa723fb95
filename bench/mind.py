"""MIND (Li et al. 2019) and its YouTube DNN baseline: training throughput (sampled softmax),
serving latency and throughput per framework, at the quick and the full preset's model sizes,
built-in data, on this machine.

    .venv/bin/python bench/mind.py [--steps N] [--sizes quick,full] [--frameworks pytorch]

Serving a user = its interests, then each interest's faiss top-50 merged by score. "full" = d =
64, hidden 128, 1,280 negatives, batch 128 (ComiRec's setup for its MIND baseline) on built-in
data over 5,000 items (common.data_kwargs). Prints a markdown section; bench/run.sh collects it
into bench/RESULTS.md. BENCH_THREADS sets both frameworks' threads (default 1). Shared
machinery: bench/common.py.
"""
from __future__ import annotations

import common

from recbook.data import load_next_item
from recbook.retrieval import topk_multi_interest

def query(model, index, batch, to_numpy):
    return topk_multi_interest(index, to_numpy(model.user_interests(batch)), 50,
                               mask=to_numpy(model.interest_mask(batch)))


def main():
    args = common.parser(__doc__, steps={"quick": 50, "full": 20}).parse_args()
    common.threads()
    results, settings = [], []
    for size in common.sizes(args):
        P, steps = common.preset("mind", size), common.steps(args, size)
        data = load_next_item("synthetic", max_len=P["max_len"], seed=0,
                              **common.data_kwargs(P, size))
        for name in ("YouTube DNN", "MIND"):
            for fw in common.frameworks(args):
                key = "mind" if name == "MIND" else "youtube_dnn"
                model = common.build(fw, key, P, data.meta)
                results.append((name, fw, size, P["batch_size"],
                                common.bench_retrieval(fw, model, data, P, steps, query)))
        settings.append(f"{size}: d = {P['d']}, hidden {P['hidden']}, K = {P['K']}, L = "
                        f"{P['max_len']}, {P['n_neg']} negatives, batch {P['batch_size']}, "
                        f"{data.meta.n_items:,} items, {steps} timed steps")
    settings.append("latency and serving = interests + faiss top-50")
    common.report("MIND and YouTube DNN", settings, results, "serving users/s")


if __name__ == "__main__":
    main()
