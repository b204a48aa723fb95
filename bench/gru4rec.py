"""GRU4Rec (Hidasi et al. 2016, 2018): training throughput (session-parallel mini-batches,
sampled loss), next-item latency and full-catalogue evaluation throughput per framework, at the
quick and the full preset's model sizes, built-in sessions, on this machine.

    .venv/bin/python bench/gru4rec.py [--steps N] [--sizes quick,full] [--frameworks pytorch]

Throughput counts events (next-item targets) per second; latency is one GRU step plus the
scores of every item for B sessions. "full" = the official best RSC15 setting (100 units, batch
32, 2048 extra samples) on built-in sessions over 5,000 items (common.data_kwargs). Prints a
markdown section; bench/run.sh collects it into bench/RESULTS.md. BENCH_THREADS sets both
frameworks' threads (default 1). Shared machinery: bench/common.py.
"""
from __future__ import annotations

import common
import numpy as np

from recbook.baselines import eval_batches, evaluate_next_item, item_support
from recbook.data import SessionParallelBatches, load_sessions

def bench(fw, data, supp, P, steps):
    batches = iter(SessionParallelBatches(data.train, P["batch_size"]))
    if fw == "pytorch":
        from recbook.torch.gru4rec import IndexedAdagradM
        model = common.build(fw, "gru4rec", P, data.meta, item_support=supp)
        step = common.torch_train_step(model, IndexedAdagradM(model.parameters(), lr=P["lr"]))
        infer = common.torch_infer(model)
    else:
        from recbook.tf.gru4rec import adagrad_m
        model = common.build(fw, "gru4rec", P, data.meta, item_support=supp)
        step = common.tf_train_step(model, adagrad_m(P["lr"]))
        # prepare sizes the hidden state eagerly before the traced forward
        infer = common.tf_infer(model, model.prepare)  # no loss keys: no negatives drawn
    out = common.train_numbers(step, batches, steps, P["batch_size"])
    # Latency: every row starts a session (reset), so each call may change the batch size.
    items = np.asarray(data.test["item"], dtype=np.int64)
    probe = {"input_item": items, "reset": np.ones(len(items), dtype=bool)}
    n_eval = len(data.test) - data.test.session.nunique()

    def evaluate():
        model.reset_state()
        evaluate_next_item(infer, eval_batches(data.test, 256))

    model.reset_state()
    out.update(common.inference_numbers(infer, probe, evaluate, n_eval))
    return out


def main():
    args = common.parser(__doc__, steps={"quick": 300, "full": 100}).parse_args()
    common.threads()
    results, settings = [], []
    for size in common.sizes(args):
        P, steps = common.preset("gru4rec", size), common.steps(args, size)
        data = load_sessions("synthetic", seed=0, **common.data_kwargs(P, size))
        supp = item_support(data.train.item, data.meta.n_items)
        results += [("GRU4Rec", fw, size, P["batch_size"], bench(fw, data, supp, P, steps))
                    for fw in common.frameworks(args)]
        settings.append(f"{size}: layers {P['layers']}, loss {P['loss']}, batch {P['batch_size']}, "
                        f"{P['n_sample']} extra samples, {data.meta.n_items:,} items, {steps} "
                        f"timed steps")
    common.report("GRU4Rec", settings, results, "eval events/s (full catalogue)", sample="events")


if __name__ == "__main__":
    main()
