"""GRU4Rec training throughput per framework (quick preset, built-in sessions, CPU or GPU).

    .venv/bin/python bench/gru4rec.py [--steps 300]

Prints a markdown table (events/s and ms per mini-batch in training; events/s in full-catalogue
evaluation) to paste into bench/RESULTS.md. Events/s counts next-item targets per second.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import recbook  # noqa: F401  (quiets TensorFlow before its first import)
import numpy as np

from recbook.baselines import eval_batches, evaluate_next_item, item_support
from recbook.config import preset
from recbook.data import SessionParallelBatches, load_sessions

MODEL_ARGS = ("layers", "loss", "constrained_embedding", "embedding", "dropout_p_embed",
              "dropout_p_hidden", "n_sample", "sample_alpha", "logq", "bpreg", "elu_param",
              "sample_store_size")


def timed_steps(step, batches, n):
    it = iter(batches)
    for _ in range(10):  # warm-up (tracing, allocations)
        step(next(it))
    start = time.perf_counter()
    for _ in range(n):
        step(next(it))
    return time.perf_counter() - start


def bench_torch(data, supp, P, n):
    import torch
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    from recbook.torch.gru4rec import GRU4Rec, IndexedAdagradM
    model = GRU4Rec(data.meta, **{k: P[k] for k in MODEL_ARGS}, item_support=supp)
    opt = IndexedAdagradM(model.parameters(), lr=P["lr"])

    def step(b):
        opt.zero_grad()
        model.loss(b)[0].backward()
        opt.step()
    train_s = timed_steps(step, SessionParallelBatches(data.train, P["batch_size"]), n)
    model.eval()
    model.reset_state()
    start = time.perf_counter()
    with torch.no_grad():
        evaluate_next_item(model, eval_batches(data.test, 256))
    return train_s, time.perf_counter() - start


def bench_tf(data, supp, P, n):
    import tensorflow as tf
    from recbook.tf.gru4rec import GRU4Rec, adagrad_m
    model = GRU4Rec(data.meta, **{k: P[k] for k in MODEL_ARGS}, item_support=supp)
    opt = adagrad_m(P["lr"])

    @tf.function(reduce_retracing=True)
    def traced(b):
        with tf.GradientTape() as tape:
            loss, _ = model.loss(b, training=True)
        v = model.trainable_variables
        opt.apply_gradients(zip(tape.gradient(loss, v), v))

    train_s = timed_steps(lambda b: traced(model.prepare(b)),
                          SessionParallelBatches(data.train, P["batch_size"]), n)
    model.reset_state()
    start = time.perf_counter()
    evaluate_next_item(model, eval_batches(data.test, 256))
    return train_s, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    P = preset("gru4rec", "quick")
    data = load_sessions("synthetic", seed=0)
    supp = item_support(data.train.item, data.meta.n_items)
    n_eval = len(data.test) - data.test.session.nunique()
    print(f"GRU4Rec quick preset: layers {P['layers']}, batch {P['batch_size']}, "
          f"{P['n_sample']} extra samples, {data.meta.n_items} items; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs\n")
    print("| framework | train events/s | ms / mini-batch | eval events/s (full catalogue) |")
    print("| --- | --- | --- | --- |")
    for name, fn in (("PyTorch", bench_torch), ("TensorFlow", bench_tf)):
        train_s, eval_s = fn(data, supp, P, args.steps)
        print(f"| {name} | {args.steps * P['batch_size'] / train_s:,.0f} | "
              f"{1000 * train_s / args.steps:.1f} | {n_eval / eval_s:,.0f} |")


if __name__ == "__main__":
    main()
