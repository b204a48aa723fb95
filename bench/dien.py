"""DIEN training and scoring throughput per framework (quick preset, built-in data, CPU or GPU).

    .venv/bin/python bench/dien.py [--steps 50] [--evolution augru]

Prints a markdown table (training samples/s and ms per mini-batch, with the auxiliary loss;
scoring samples/s) to paste into bench/RESULTS.md. BENCH_THREADS sets torch's intra-op threads
(default 1). The TensorFlow step is traced with tf.function as recbook.tf.train.fit does; its
one-off tracing time is printed separately (it is paid once per chapter run).
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import recbook  # noqa: F401  (quiets TensorFlow before its first import)

from recbook.config import preset
from recbook.data import iterate, load_ctr


def batches(train, batch_size):
    while True:
        yield from iterate(train, batch_size, shuffle=True, seed=0, drop_last=True)


def timed(step, it, n):
    start = time.perf_counter()
    step(next(it))  # the first step: tracing (TF), allocations
    first = time.perf_counter() - start
    for _ in range(3):
        step(next(it))
    start = time.perf_counter()
    for _ in range(n):
        step(next(it))
    return first, time.perf_counter() - start


def bench_torch(data, P, n):
    import torch
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    from recbook.torch.dien import DIEN
    from recbook.torch.train import predict
    model = DIEN.from_preset(data.meta, P).train()
    opt = torch.optim.Adam(model.parameters(), lr=P["lr"])

    def step(b):
        opt.zero_grad()
        model.loss(b)[0].backward()
        opt.step()

    first, train_s = timed(step, batches(data.train, P["batch_size"]), n)
    start = time.perf_counter()
    predict(model, data.test)
    return first, train_s, time.perf_counter() - start


def bench_tf(data, P, n):
    import keras
    import tensorflow as tf
    from recbook.tf.dien import DIEN
    from recbook.tf.train import predict
    model = DIEN.from_preset(data.meta, P)
    opt = keras.optimizers.Adam(P["lr"])

    @tf.function(reduce_retracing=True)
    def traced(b):
        with tf.GradientTape() as tape:
            loss, _ = model.loss(b, training=True)
        v = model.trainable_variables
        opt.apply_gradients([(g, w) for g, w in zip(tape.gradient(loss, v), v) if g is not None])

    first, train_s = timed(lambda b: traced(model.prepare(b)),
                           batches(data.train, P["batch_size"]), n)
    start = time.perf_counter()
    predict(model, data.test)
    return first, train_s, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--evolution", default=None, help="aigru, agru or augru (the preset's)")
    args = parser.parse_args()
    P = preset("dien", "quick")
    if args.evolution:
        P["evolution"] = args.evolution
    data = load_ctr("synthetic", max_len=P["max_len"], seed=0, n_users=P["n_users"])
    n_test = len(data.test["label"])
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}; DIEN quick preset ({P['evolution']}, alpha "
          f"{P['alpha']}, T = {P['max_len']}, GRU {P['hidden']}), batch {P['batch_size']}, "
          f"{args.steps} timed steps\n")
    print("| framework | train samples/s | ms / batch | first step (s) | scoring samples/s |")
    print("| --- | --- | --- | --- | --- |")
    for name, fn in (("PyTorch", bench_torch), ("TensorFlow", bench_tf)):
        first, train_s, eval_s = fn(data, P, args.steps)
        per = train_s / args.steps
        print(f"| {name} | {P['batch_size'] / per:,.0f} | {1000 * per:.1f} | {first:.1f} | "
              f"{n_test / eval_s:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
