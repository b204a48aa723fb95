"""ComiRec-DR / ComiRec-SA training and serving throughput per framework (quick preset,
built-in data, CPU or GPU).

    .venv/bin/python bench/comirec.py [--steps 50]

Prints a markdown table (training samples/s and ms per mini-batch; serving users/s through the
faiss index and the aggregation module at N = 50, λ = 0) to paste into bench/RESULTS.md.
BENCH_THREADS sets torch's intra-op threads (default 1).
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import recbook  # noqa: F401  (quiets TensorFlow before its first import)
import numpy as np

from recbook import aggregation
from recbook.config import preset
from recbook.data import iterate, load_next_item
from recbook.retrieval import ItemIndex


def batches(train, batch_size):
    while True:
        yield from iterate(train, batch_size, shuffle=True, seed=0, drop_last=True)


def timed(step, it, n):
    for _ in range(3):  # warm-up (tracing, allocations)
        step(next(it))
    start = time.perf_counter()
    for _ in range(n):
        step(next(it))
    return time.perf_counter() - start


def serve_seconds(model, arrays, item_cat, to_numpy):
    start = time.perf_counter()
    index = ItemIndex(to_numpy(model.item_embeddings()))
    for part in iterate(arrays, 512):
        aggregation.controllable_topn(index, to_numpy(model.user_interests(part)), item_cat, 50)
    return time.perf_counter() - start


def bench_torch(name, data, P, n):
    import torch
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    from recbook.torch import comirec
    model = getattr(comirec, name)(data.meta, d=P["d"], K=P["K"], neg_ratio=P["neg_ratio"])
    opt = torch.optim.Adam(model.parameters(), lr=P["lr"])

    def step(b):
        opt.zero_grad()
        model.loss(b)[0].backward()
        opt.step()

    train_s = timed(step, batches(data.train, P["batch_size"]), n)
    model.eval()
    with torch.no_grad():
        serve_s = serve_seconds(model, data.test, data.meta.item_cat,
                                lambda x: x.detach().cpu().numpy())
    return train_s, serve_s


def bench_tf(name, data, P, n):
    import keras
    import tensorflow as tf
    from recbook.tf import comirec
    model = getattr(comirec, name)(data.meta, d=P["d"], K=P["K"], neg_ratio=P["neg_ratio"])
    opt = keras.optimizers.Adam(P["lr"])

    @tf.function(reduce_retracing=True)
    def traced(b):
        with tf.GradientTape() as tape:
            loss, _ = model.loss(b, training=True)
        v = model.trainable_variables
        opt.apply_gradients(zip(tape.gradient(loss, v), v))

    train_s = timed(lambda b: traced(model.prepare(b)), batches(data.train, P["batch_size"]), n)
    return train_s, serve_seconds(model, data.test, data.meta.item_cat, np.asarray)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    P = preset("comirec", "quick")
    data = load_next_item("synthetic", max_len=P["max_len"], seed=0, n_users=P["n_users"])
    n_users = len(data.test["target_item"])
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}; ComiRec quick preset (d = {P['d']}, K = {P['K']}, "
          f"L = {P['max_len']}, {P['neg_ratio']} x batch negatives), batch {P['batch_size']}, "
          f"{args.steps} timed steps\n")
    print("| model | framework | train samples/s | ms / batch | serving users/s |")
    print("| --- | --- | --- | --- | --- |")
    for model in ("ComiRecDR", "ComiRecSA"):
        for fw, fn in (("PyTorch", bench_torch), ("TensorFlow", bench_tf)):
            train_s, serve_s = fn(model, data, P, args.steps)
            per = train_s / args.steps
            print(f"| {model} | {fw} | {P['batch_size'] / per:,.0f} | {1000 * per:.1f} | "
                  f"{n_users / serve_s:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
