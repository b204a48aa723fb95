"""MIND and YouTube DNN training and serving throughput per framework (quick preset, built-in
data, CPU or GPU).

    .venv/bin/python bench/mind.py [--steps 50]

Prints a markdown table (training samples/s and ms per mini-batch of the sampled-softmax step;
serving users/s: user interests, then each interest's faiss top-50 merged by score) to paste
into bench/RESULTS.md. BENCH_THREADS sets torch's intra-op threads (default 1).
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import recbook  # noqa: F401  (quiets TensorFlow before its first import)
import numpy as np

from recbook.config import preset
from recbook.data import iterate, load_next_item
from recbook.retrieval import ItemIndex, topk_multi_interest

BASE_KEYS = ("d", "profile_dim", "hidden", "n_neg")
MIND_KEYS = BASE_KEYS + ("K", "dynamic_k", "iterations", "p", "routing_sigma")


def endless(train, batch_size):
    while True:
        yield from iterate(train, batch_size, shuffle=True, seed=0, drop_last=True)


def seconds_for(step, batches, n):
    for _ in range(3):  # warm-up: tracing, allocations
        step(next(batches))
    start = time.perf_counter()
    for _ in range(n):
        step(next(batches))
    return time.perf_counter() - start


def serve_seconds(model, arrays, to_numpy):
    start = time.perf_counter()
    index = ItemIndex(to_numpy(model.item_embeddings()))
    for part in iterate(arrays, 512):
        topk_multi_interest(index, to_numpy(model.user_interests(part)), 50,
                            mask=to_numpy(model.interest_mask(part)))
    return time.perf_counter() - start


def bench_torch(name, data, P, n):
    import torch
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    from recbook.torch.mind import MIND
    from recbook.torch.youtube_dnn import YouTubeDNN
    model = MIND(data.meta, **{k: P[k] for k in MIND_KEYS}) if name == "MIND" else \
        YouTubeDNN(data.meta, **{k: P[k] for k in BASE_KEYS})
    opt = torch.optim.Adam(model.parameters(), lr=P["lr"])

    def step(b):
        opt.zero_grad()
        model.loss(b)[0].backward()
        opt.step()

    train_s = seconds_for(step, endless(data.train, P["batch_size"]), n)
    model.eval()
    with torch.no_grad():
        serve_s = serve_seconds(model, data.test, lambda x: x.detach().cpu().numpy())
    return train_s, serve_s


def bench_tf(name, data, P, n):
    import keras
    import tensorflow as tf
    from recbook.tf.mind import MIND
    from recbook.tf.youtube_dnn import YouTubeDNN
    model = MIND(data.meta, **{k: P[k] for k in MIND_KEYS}) if name == "MIND" else \
        YouTubeDNN(data.meta, **{k: P[k] for k in BASE_KEYS})
    opt = keras.optimizers.Adam(P["lr"])

    @tf.function(reduce_retracing=True)
    def traced(b):
        with tf.GradientTape() as tape:
            loss, _ = model.loss(b, training=True)
        v = model.trainable_variables
        opt.apply_gradients(zip(tape.gradient(loss, v), v))

    train_s = seconds_for(lambda b: traced(model.prepare(b)),
                          endless(data.train, P["batch_size"]), n)
    return train_s, serve_seconds(model, data.test, np.asarray)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    P = preset("mind", "quick")
    data = load_next_item("synthetic", max_len=P["max_len"], seed=0, n_users=P["n_users"])
    n_users = len(data.test["target_item"])
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}; MIND quick preset (d = {P['d']}, K = {P['K']}, "
          f"L = {P['max_len']}, {P['n_neg']} negatives), batch {P['batch_size']}, "
          f"{args.steps} timed steps\n")
    print("| model | framework | train samples/s | ms / batch | serving users/s |")
    print("| --- | --- | --- | --- | --- |")
    for model in ("YouTube DNN", "MIND"):
        for fw, fn in (("PyTorch", bench_torch), ("TensorFlow", bench_tf)):
            train_s, serve_s = fn(model, data, P, args.steps)
            per = train_s / args.steps
            print(f"| {model} | {fw} | {P['batch_size'] / per:,.0f} | {1000 * per:.1f} | "
                  f"{n_users / serve_s:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
