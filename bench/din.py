"""DIN (Zhou et al. 2018): training throughput, inference latency and scoring throughput per
framework and variant, at the quick and the full preset's model sizes, built-in data, on this
machine.

    .venv/bin/python bench/din.py [--steps N] [--sizes quick,full] [--variant dice] [--frameworks pytorch]

Prints a markdown section; bench/run.sh collects it into bench/RESULTS.md. BENCH_THREADS sets
both frameworks' threads (default 1, what the chapter uses on a CPU). The TensorFlow step is
traced with tf.function, as recbook.tf.train.fit does; its one-off tracing is the "first step"
column. "full" = the full preset's embedding sizes, MLPs, max_len 100, batch 32 and SGD, on
built-in data shaped for them (common.data_kwargs). Shared machinery: bench/common.py.
"""
from __future__ import annotations

import common

from recbook.data import load_ctr

# model and what each variant sets on top of the preset (the paper's DIN: unnormalised
# attention, no regulariser; "mba" adds the mini-batch aware regulariser)
PAPER = {"mba_lambda": 0.0, "attention": "none"}
VARIANTS = {"base": ("base_model", {"mba_lambda": 0.0}), "prelu": ("din", PAPER),
            "dice": ("din", {**PAPER, "activation": "dice"}),
            "mba": ("din", {**PAPER, "mba_lambda": 0.01})}


def build(fw, meta, train, P, variant):
    name, change = VARIANTS[variant]
    return common.build(fw, name, P, meta, **change).set_id_counts(train)


def main():
    p = common.parser(__doc__, steps={"quick": 50, "full": 20})
    p.add_argument("--variant", choices=sorted(VARIANTS), default="prelu")
    args = p.parse_args()
    common.threads()
    results, settings = [], []
    for size in common.sizes(args):
        P, steps = common.preset("din", size), common.steps(args, size)
        data = load_ctr("synthetic", max_len=P["max_len"], seed=0, **common.data_kwargs(P, size))
        for fw in common.frameworks(args):
            model = build(fw, data.meta, data.train, P, args.variant)
            # prepare=None: common.tf_train_step prepares as fit does (the label too)
            prepare = None
            results.append((f"DIN ({args.variant})", fw, size, P["batch_size"],
                            common.bench_ctr(fw, model, data, P, steps, prepare)))
        settings.append(f"{size}: item/category {P['item_dim']}/{P['cat_dim']}, MLP "
                        f"{'-'.join(map(str, P['mlp']))}, attention {P['att_activation']}, history "
                        f"{P['max_len']}, batch {P['batch_size']}, {P['optimizer']}, "
                        f"{data.meta.n_items:,} items, {steps} timed steps")
    common.report("DIN", settings, results, "scoring samples/s")


if __name__ == "__main__":
    main()
