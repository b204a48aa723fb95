"""DIN (Zhou et al. 2018): training throughput, inference latency and scoring throughput per
framework and variant, quick preset, built-in data, on this machine.

    .venv/bin/python bench/din.py [--steps 50] [--variant dice] [--frameworks pytorch]

Prints a markdown section; bench/run.sh collects it into bench/RESULTS.md. BENCH_THREADS sets
both frameworks' threads (default 1, what the chapter uses on a CPU). The TensorFlow step is
traced with tf.function, as recbook.tf.train.fit does; its one-off tracing is the "first step"
column. Shared machinery: bench/common.py.
"""
from __future__ import annotations

import common

from recbook.config import preset
from recbook.data import load_ctr

VARIANTS = {"base": ("BaseModel", {}), "prelu": ("DIN", {}), "dice": ("DIN", {"activation": "dice"}),
            "mba": ("DIN", {"mba_lambda": 0.01})}


def build(module, meta, train, P, variant):
    cls, kw = VARIANTS[variant]
    extra = {"att_hidden": P["att_hidden"]} if cls == "DIN" else {}
    return getattr(module, cls)(meta, item_dim=P["item_dim"], cat_dim=P["cat_dim"],
                                profile_dim=P["profile_dim"], mlp=P["mlp"], **extra,
                                **kw).set_id_counts(train)


def main():
    p = common.parser(__doc__, steps=50)
    p.add_argument("--variant", choices=sorted(VARIANTS), default="prelu")
    args = p.parse_args()
    common.threads()
    P = preset("din", "quick")
    data = load_ctr("synthetic", max_len=P["max_len"], seed=0, n_users=P["n_users"])
    results = []
    for fw in common.frameworks(args):
        if fw == "pytorch":
            from recbook.torch import din
            model = build(din, data.meta, data.train, P, args.variant)
            prepare = None
        else:
            from recbook.tf import din
            model = build(din, data.meta, data.train, P, args.variant)
            prepare = lambda b, m=model: m.prepare(b, ("label",))  # noqa: E731  (checks the label too)
        results.append((f"DIN ({args.variant})", fw,
                        common.bench_ctr(fw, model, data, P, args.steps, prepare)))
    common.report("DIN", f"Quick preset: batch {P['batch_size']}, history {P['max_len']}, "
                  f"{args.steps} timed steps", results, "scoring samples/s")


if __name__ == "__main__":
    main()
