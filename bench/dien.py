"""DIEN (Zhou et al. 2019): training throughput (with the auxiliary loss), inference latency and
scoring throughput per framework, quick preset, built-in data, on this machine.

    .venv/bin/python bench/dien.py [--steps 50] [--evolution augru] [--frameworks pytorch]

Prints a markdown section; bench/run.sh collects it into bench/RESULTS.md. BENCH_THREADS sets
both frameworks' threads (default 1). The TensorFlow step is traced with tf.function as
recbook.tf.train.fit does; its one-off tracing is the "first step" column (paid once per chapter
run). Shared machinery: bench/common.py.
"""
from __future__ import annotations

import common

from recbook.config import preset
from recbook.data import load_ctr


def main():
    p = common.parser(__doc__, steps=50)
    p.add_argument("--evolution", default=None, help="aigru, agru or augru (default: the preset's)")
    args = p.parse_args()
    common.threads()
    P = preset("dien", "quick")
    if args.evolution:
        P["evolution"] = args.evolution
    data = load_ctr("synthetic", max_len=P["max_len"], seed=0, n_users=P["n_users"])
    results = []
    for fw in common.frameworks(args):
        if fw == "pytorch":
            from recbook.torch.dien import DIEN
        else:
            from recbook.tf.dien import DIEN
        model = DIEN.from_preset(data.meta, P)
        results.append((f"DIEN ({P['evolution']})", fw, common.bench_ctr(fw, model, data, P, args.steps)))
    common.report("DIEN", f"Quick preset: {P['evolution']}, alpha {P['alpha']}, T = {P['max_len']}, "
                  f"GRU {P['hidden']}, batch {P['batch_size']}, {args.steps} timed steps",
                  results, "scoring samples/s")


if __name__ == "__main__":
    main()
